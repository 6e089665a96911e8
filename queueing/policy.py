"""The routing file (``RVW_ROUTING``): eligibility, skill levels and overflow, as data.

Without a file every clerk serves their own province and the skills on their
account, all at level 1, and no queue overflows. A file (YAML) may say::

    clerks:                       # by user name
      js_clerk:
        skills: {social_insurance: 3, housing_fund: 1}   # replaces the account's skills
    overflow:
      - queue: 310000/social_insurance   # province/skill
        after_s: 30
        to: [310000/general]              # these clerks may take it after 30 s

Levels are 1-5, higher is better: an offer goes to the best level first, then to
the clerk idle longest. The core never reads this file: it gets a
:class:`~queueing.routing.RoutingPolicy` and each clerk's skills with levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .routing import Overflow, RoutingPolicy, province_of

QUEUE_RE = re.compile(r"^([1-9][0-9]{5})/([A-Za-z0-9_.-]{1,64})$")


class RoutingFileError(ValueError):
    pass


@dataclass(frozen=True)
class RoutingFile:
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    clerks: dict[str, dict[str, int]] = field(default_factory=dict)

    def for_clerk(self, username: str, account_skills: list[str]) -> tuple[list[str], dict[str, int]]:
        """The skills a clerk serves and their levels."""
        levels = self.clerks.get(username)
        if levels is None:
            return sorted(account_skills), {}
        return sorted(levels), dict(sorted(levels.items()))


def _queue(raw: Any, where: str) -> tuple[str, str]:
    match = QUEUE_RE.match(str(raw))
    if not match:
        raise RoutingFileError(
            f"{where}: a queue is 'province/skill' (for example 310000/social_insurance), got {raw!r}"
        )
    return province_of(match.group(1)), match.group(2)


def parse(data: Any) -> RoutingFile:
    if data is None:
        return RoutingFile()
    if not isinstance(data, dict) or set(data) - {"clerks", "overflow"}:
        raise RoutingFileError("the routing file is a mapping with 'clerks' and/or 'overflow'")
    clerks: dict[str, dict[str, int]] = {}
    for name, spec in (data.get("clerks") or {}).items():
        skills = spec.get("skills") if isinstance(spec, dict) else None
        if not isinstance(skills, dict) or not skills:
            raise RoutingFileError(f"clerks.{name}: give 'skills' as a mapping of skill to level (1-5)")
        levels: dict[str, int] = {}
        for skill, level in skills.items():
            if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
                raise RoutingFileError(f"clerks.{name}.skills.{skill}: the level must be a whole number 1-5")
            levels[str(skill)] = level
        clerks[str(name)] = levels
    overflow: dict[tuple[str, str], Overflow] = {}
    for i, rule in enumerate(data.get("overflow") or []):
        where = f"overflow[{i}]"
        if not isinstance(rule, dict) or set(rule) != {"queue", "after_s", "to"}:
            raise RoutingFileError(f"{where}: give exactly queue, after_s and to")
        after = rule["after_s"]
        if not isinstance(after, int | float) or isinstance(after, bool) or after < 0:
            raise RoutingFileError(f"{where}.after_s: seconds, zero or more")
        targets = rule["to"] if isinstance(rule["to"], list) else [rule["to"]]
        key = _queue(rule["queue"], where + ".queue")
        if key in overflow:
            raise RoutingFileError(f"{where}: {rule['queue']} overflows twice")
        overflow[key] = Overflow(float(after), tuple(_queue(t, where + ".to") for t in targets))
    return RoutingFile(RoutingPolicy(overflow), clerks)


def load(path: str | Path) -> RoutingFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingFileError(f"cannot read the routing file {path}: {exc}") from None
    try:
        return parse(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise RoutingFileError(f"the routing file {path} is not YAML: {exc}") from None
