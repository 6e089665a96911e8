"""Service-level figures as SQL aggregates over the case records (docs/sla.md, "Figures").

One query per answer: an inner select turns each case requested in ``[start, end)`` into its
times and flags (response time, abandon length, handle time, its bucket), an outer select sums
them with ``SUM(CASE ...)`` and ``GROUP BY``. The same SQL runs on SQLite and PostgreSQL: times
become epoch seconds by a construct compiled per dialect, and a bucket is the integer index
``floor((epoch + 8 h) / width)``, so both databases put a request in the same bucket and bucket
boundaries fall on China time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, and_, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from queueing.clock import to_datetime

from .models import Case, CaseEvent

CHINA_UTC_OFFSET_S = 8 * 3600
GROUP_COLUMNS = ("target_region", "matter_code", "skill", "clerk_id", "channel", "origin_region")
BUCKETS = {"15m": 900, "1h": 3600, "1d": 86400}
CLERK_OUTCOMES = ("resolved", "referred", "unresolved")
ABANDON_OUTCOMES = ("cancelled", "abandoned")


class epoch(FunctionElement[float]):
    """Epoch seconds (with the fraction) of a time column."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds from strftime of the first 19
    # characters, the fraction from the rest. strftime of the whole text rounds to milliseconds, so
    # a fraction of .9995 or more came out a second late; julianday() would lose microseconds too.
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"(CAST(strftime('%s', substr({col}, 1, 19)) AS REAL) + CAST(substr({col}, 20) AS REAL))"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(EXTRACT(EPOCH FROM {col}) AS DOUBLE PRECISION)"


class bucket_index(FunctionElement[int]):
    """``floor((epoch(col) + 8 h) / width)``: which bucket of ``width`` seconds, in China time."""

    type = Integer()
    inherit_cache = True


def _parts(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    col, width = (compiler.process(c, **kw) for c in element.clauses)
    return col, width


@compiles(bucket_index, "sqlite")
def _bucket_sqlite(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> str:
    col, width = _parts(element, compiler, **kw)
    # Integer division of whole seconds is the floor (times after 1970); widths are whole seconds.
    return f"((CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) + {CHINA_UTC_OFFSET_S}) / {width})"


@compiles(bucket_index, "postgresql")
def _bucket_pg(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> str:
    col, width = _parts(element, compiler, **kw)
    return f"CAST(FLOOR((EXTRACT(EPOCH FROM {col}) + {CHINA_UTC_OFFSET_S}) / {width}) AS BIGINT)"


@dataclass(frozen=True)
class FigureQuery:
    """What to count: requests in ``[start, end)`` (epoch seconds), optionally grouped or bucketed."""

    start: float
    end: float
    sla_s: float
    short_abandon_s: float
    group_by: tuple[str, ...] = ()
    bucket_s: int | None = None

    def __post_init__(self) -> None:
        unknown = [g for g in self.group_by if g not in GROUP_COLUMNS]
        if unknown:
            raise ValueError(f"cannot group by {unknown[0]!r}")
        if self.bucket_s is not None and self.bucket_s not in BUCKETS.values():
            raise ValueError(f"no bucket of {self.bucket_s} s")


def _per_case(q: FigureQuery) -> Any:
    """One row per case requested in the window: its keys, times and flags."""
    # When the clerk finished wrapping up after the citizen hung up: the `wrapped_up` line's time.
    wrapped_at = (
        select(func.max(CaseEvent.at))
        .where(CaseEvent.case_id == Case.case_id, CaseEvent.event == "wrapped_up")
        .correlate(Case)
        .scalar_subquery()
    )
    answered = Case.answered_at.is_not(None)
    abandoned = and_(Case.answered_at.is_(None), Case.ended_at.is_not(None), Case.outcome.in_(ABANDON_OUTCOMES))
    handled = and_(answered, Case.ended_at.is_not(None), Case.outcome.in_(CLERK_OUTCOMES))
    cols: list[Any] = [getattr(Case, g).label(g) for g in q.group_by]
    if q.bucket_s is not None:
        # The width as SQL text, not a bound value: it is part of the statement (and of its cache key).
        cols.append(bucket_index(Case.requested_at, literal_column(str(int(q.bucket_s)))).label("bucket"))
    cols += [
        case((answered, 1), else_=0).label("answered"),
        case((answered, epoch(Case.answered_at) - epoch(Case.requested_at)), else_=None).label("wait_s"),
        case((abandoned, 1), else_=0).label("abandoned"),
        case((abandoned, epoch(Case.ended_at) - epoch(Case.requested_at)), else_=None).label("abandon_s"),
        case((handled, 1), else_=0).label("handled"),
        case((handled, epoch(func.coalesce(wrapped_at, Case.ended_at)) - epoch(Case.answered_at)), else_=None).label(
            "handle_s"
        ),
        case((and_(handled, Case.outcome == "resolved"), 1), else_=0).label("resolved"),
        Case.rating_level.label("rating"),
    ]
    return (
        select(*cols)
        .where(Case.requested_at >= to_datetime(q.start), Case.requested_at < to_datetime(q.end))
        .subquery("per_case")
    )


def _sums(c: Any, q: FigureQuery) -> list[ColumnElement[Any]]:
    def count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return [
        func.count().label("requests"),
        func.coalesce(func.sum(c.answered), 0).label("answered"),
        count_if(and_(c.answered == 1, c.wait_s <= q.sla_s)).label("answered_within_sla"),
        func.coalesce(func.sum(c.abandoned), 0).label("abandoned"),
        count_if(and_(c.abandoned == 1, c.abandon_s < q.short_abandon_s)).label("short_abandoned"),
        func.sum(c.wait_s).label("wait_sum"),
        func.coalesce(func.sum(c.handled), 0).label("handled"),
        func.sum(c.handle_s).label("handle_sum"),
        func.coalesce(func.sum(c.resolved), 0).label("resolved"),
        func.count(c.rating).label("rated"),
        count_if(c.rating >= 4).label("positive"),
    ]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _figures(row: Any) -> dict[str, Any]:
    """The published figures of one aggregate row (the divisions; null where nothing to divide by)."""
    answered, abandoned, short = int(row.answered), int(row.abandoned), int(row.short_abandoned)
    long_abandoned = abandoned - short
    within, handled, rated = int(row.answered_within_sla), int(row.handled), int(row.rated)
    wait_sum = float(row.wait_sum) if row.wait_sum is not None else 0.0
    handle_sum = float(row.handle_sum) if row.handle_sum is not None else 0.0
    return {
        "requests": int(row.requests),
        "answered": answered,
        "answered_within_sla": within,
        "abandoned": abandoned,
        "short_abandoned": short,
        "service_level": _ratio(within, answered + long_abandoned),
        "asa_s": _round(_ratio(wait_sum, answered)),
        "abandon_rate": _ratio(long_abandoned, answered + long_abandoned),
        "aht_s": _round(_ratio(handle_sum, handled)),
        "resolution_rate": _ratio(int(row.resolved), handled),
        "rated": rated,
        "positive_rate": _ratio(int(row.positive), rated),
    }


def _round(value: float | None) -> float | None:
    # Microseconds are noise in a mean of seconds (and float sums differ in the last bits by database).
    return round(value, 3) if value is not None else None


def bucket_start(index: int, width: int) -> float:
    """The epoch seconds at which bucket ``index`` of ``width`` seconds (China time) begins."""
    return float(index * width - CHINA_UTC_OFFSET_S)


async def figures(sessions: async_sessionmaker[AsyncSession], q: FigureQuery) -> dict[str, Any]:
    """``{"total", "groups", "buckets"}``: the figures of the whole window, of each group (when
    ``q.group_by``, keys as ``{"key": {column: value}}``) and of each bucket that has requests
    (when ``q.bucket_s``, as ``{"bucket_start": epoch seconds}``)."""
    async with sessions() as session:
        total = _per_case(FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s))
        row = (await session.execute(select(*_sums(total.c, q)))).one()
        out: dict[str, Any] = {"total": _figures(row), "groups": [], "buckets": []}
        if q.group_by:
            sub = _per_case(FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s, q.group_by))
            keys = [sub.c[g] for g in q.group_by]
            rows = await session.execute(
                select(*keys, *_sums(sub.c, q)).group_by(*keys).order_by(*(k.asc().nulls_first() for k in keys))
            )
            out["groups"] = [{"key": {g: r._mapping[g] for g in q.group_by}, **_figures(r)} for r in rows]
        if q.bucket_s is not None:
            sub = _per_case(FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s, bucket_s=q.bucket_s))
            rows = await session.execute(
                select(sub.c.bucket, *_sums(sub.c, q)).group_by(sub.c.bucket).order_by(sub.c.bucket)
            )
            out["buckets"] = [{"bucket_start": bucket_start(int(r.bucket), q.bucket_s), **_figures(r)} for r in rows]
        return out
