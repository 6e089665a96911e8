"""Working days in China time, for the 差评 follow-up deadlines ("1, 5, 15": contact within one working day,
fix within five or fifteen). Pure: dates in, dates out.

A working day is Monday to Friday unless it is a public holiday, or a weekend day named as a make-up
working day (调休). Both lists come from a YAML file (``RVW_HOLIDAYS``; the default is this year's
schedule in ``server/data/holidays.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import yaml

CHINA = timezone(timedelta(hours=8))


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def load(cls, path: str | Path) -> WorkCalendar:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CalendarError(f"{path}: {exc}") from None
        except ValueError as exc:  # YAML's own date parsing: 2026-13-01
            raise CalendarError(f"{path}: {exc}: not a date (YYYY-MM-DD)") from None
        if not isinstance(data, dict):
            raise CalendarError(f"{path}: expected `holidays:` and `workdays:` lists of dates")
        return cls(frozenset(_dates(path, data, "holidays")), frozenset(_dates(path, data, "workdays")))

    def is_working(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day.weekday() < 5 or day in self.workdays

    def after(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself not counted)."""
        found = 0
        while found < n:
            day += timedelta(days=1)
            if self.is_working(day):
                found += 1
        return day

    def due(self, opened_at: float, n: int) -> float:
        """When a deadline of ``n`` working days from ``opened_at`` (epoch seconds) runs out: the end
        (24:00 China time) of the ``n``-th working day after the day it was opened."""
        opened = datetime.fromtimestamp(opened_at, UTC).astimezone(CHINA).date()
        last = self.after(opened, n)
        return datetime.combine(last + timedelta(days=1), time(0), CHINA).timestamp()


def _dates(path: str | Path, data: dict[str, object], key: str) -> Iterable[date]:
    values = data.get(key) or []
    if not isinstance(values, list):
        raise CalendarError(f"{path}: `{key}` must be a list of dates")
    for v in values:
        if isinstance(v, datetime):
            yield v.date()
        elif isinstance(v, date):
            yield v
        else:
            try:
                yield date.fromisoformat(str(v))
            except ValueError:
                raise CalendarError(f"{path}: `{key}` has {v!r}, not a date (YYYY-MM-DD)") from None
