"""The live figures: the case records' service-level figures, kept up to date from the queue's events.

``recordings/figures.py`` computes the figures of any period in the database (SQL
aggregates). The wall needs today's figures, the last 15 minutes of each queue and
the day's 15-minute buckets every second, on every node; running that SQL each
second would tie the wall's cost to the day's volume. So each node folds the
results of the queue, in log order, into one :class:`CaseFacts` per case (the
columns the SQL reads) and keeps per-bucket sums of each case's contribution,
subtracting a case's old contribution and adding its new one whenever an event
changes it.

Both ways share the definitions: :func:`contribution` is the per-case row of the
SQL's inner select, :class:`Sums` its outer sums, and :func:`figures_of` the one
place the published figures are divided out (the SQL calls it too). A test runs a
scripted day through both and compares every figure (``tests/test_sla_figures.py``).

Pure: no I/O, and time comes in with the results.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, fields
from typing import Any

from .commands import Result
from .events import (
    Answered,
    CaseClosed,
    CaseNoted,
    CaseRated,
    Event,
    Offered,
    TicketClosed,
    TicketOpened,
    Transferred,
    WrappedUp,
)

CHINA_UTC_OFFSET_S = 8 * 3600
LIVE_BUCKET_S = 900  # the wall's buckets: 15 minutes of China time
CLERK_OUTCOMES = ("resolved", "referred", "unresolved")
ABANDON_OUTCOMES = ("cancelled", "abandoned")
CITIZEN_ENDED = "citizen_ended"


@dataclass
class Sums:
    """What the figures are divided out of: counts and sums over a set of cases."""

    requests: int = 0
    answered: int = 0
    answered_within_sla: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_sum: float = 0.0
    handled: int = 0
    handle_sum: float = 0.0
    resolved: int = 0
    rated: int = 0
    positive: int = 0
    expired: int = 0
    offers: int = 0
    answers: int = 0
    transfers: int = 0
    complaints: int = 0
    followups_open: int = 0

    def add(self, other: Sums, sign: int = 1) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + sign * getattr(other, f.name))

    @property
    def empty(self) -> bool:
        return self.requests == 0


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _round(value: float | None) -> float | None:
    # Microseconds are noise in a mean of seconds (and float sums differ in the last bits by database).
    return round(value, 3) if value is not None else None


def figures_of(s: Any) -> dict[str, Any]:
    """The published figures (docs/sla.md) of a :class:`Sums`, or of an SQL row with the same names;
    rates are None where there is nothing to divide by."""
    answered, abandoned, short = int(s.answered), int(s.abandoned), int(s.short_abandoned)
    long_abandoned = abandoned - short
    within, handled, rated = int(s.answered_within_sla), int(s.handled), int(s.rated)
    wait_sum = float(s.wait_sum) if s.wait_sum is not None else 0.0
    handle_sum = float(s.handle_sum) if s.handle_sum is not None else 0.0
    return {
        "requests": int(s.requests),
        "answered": answered,
        "answered_within_sla": within,
        "abandoned": abandoned,
        "short_abandoned": short,
        "service_level": _ratio(within, answered + long_abandoned),
        "asa_s": _round(_ratio(wait_sum, answered)),
        "abandon_rate": _ratio(long_abandoned, answered + long_abandoned),
        "aht_s": _round(_ratio(handle_sum, handled)),
        "resolution_rate": _ratio(int(s.resolved), handled),
        "rated": rated,
        "positive_rate": _ratio(int(s.positive), rated),
        "expired": int(s.expired),
        "offers": int(s.offers),
        "agent_answer_rate": _ratio(int(s.answers), int(s.offers)),
        "transfers": int(s.transfers),
        "complaints": int(s.complaints),
        "followups_open": int(s.followups_open),
    }


@dataclass
class CaseFacts:
    """One case as the figures see it: the case record's columns they read."""

    case_id: str
    requested_at: float
    target_region: str
    skill: str
    matter_code: str = ""
    channel: str = ""
    origin_region: str = ""
    clerk_id: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    wrapped_at: float | None = None  # the last `wrapped_up` line
    rating: int | None = None
    offers: int = 0  # offers made to clerks, ...
    answers: int = 0  # ... and accepted (more than one after a transfer)
    transfers: int = 0
    followup_closed: bool = False  # a 差评's follow-up was closed


def contribution(c: CaseFacts, sla_s: float, short_abandon_s: float) -> Sums:
    """What one case adds to the sums: the SQL's per-case row (recordings/figures.py, ``_per_case``)."""
    s = Sums(requests=1)
    if c.answered_at is not None:
        wait = c.answered_at - c.requested_at
        s.answered = 1
        s.wait_sum = wait
        s.answered_within_sla = 1 if wait <= sla_s else 0
        if c.ended_at is not None and c.outcome in CLERK_OUTCOMES:
            s.handled = 1
            s.handle_sum = (c.wrapped_at if c.wrapped_at is not None else c.ended_at) - c.answered_at
            s.resolved = 1 if c.outcome == "resolved" else 0
    elif c.ended_at is not None and c.outcome in ABANDON_OUTCOMES:
        s.abandoned = 1
        s.short_abandoned = 1 if c.ended_at - c.requested_at < short_abandon_s else 0
    if c.outcome == "expired" and c.answered_at is None:
        s.expired = 1
    if c.rating is not None:
        s.rated = 1
        s.positive = 1 if c.rating >= 4 else 0
        s.complaints = 1 if c.rating <= 2 else 0
        s.followups_open = 1 if c.rating <= 2 and not c.followup_closed else 0
    s.offers, s.answers, s.transfers = c.offers, c.answers, c.transfers
    return s


def bucket_of(ts: float, width: int) -> int:
    """The China-time bucket of ``width`` seconds a time falls in (as the SQL: whole seconds)."""
    return (int(ts) + CHINA_UTC_OFFSET_S) // width


def bucket_start(index: int, width: int) -> float:
    """The epoch seconds at which bucket ``index`` of ``width`` seconds (China time) begins."""
    return float(index * width - CHINA_UTC_OFFSET_S)


QueueKey = tuple[str, str]  # (target province, skill)


@dataclass
class Tally:
    """Today's cases of every queue, folded from the queue's results; figures by bucket and queue.

    ``fold`` takes results in log order; ``load`` takes case records (from the database at
    start-up). Both set each fact absolutely, never by increment, so a result folded twice, or
    folded after the record it produced was loaded, changes nothing.
    """

    sla_s: float
    short_abandon_s: float
    bucket_s: int = LIVE_BUCKET_S
    facts: dict[str, CaseFacts] = field(default_factory=dict)
    cells: dict[tuple[int, str, str], Sums] = field(default_factory=dict)  # (bucket, region, skill)
    order: list[tuple[float, str]] = field(default_factory=list)  # (requested_at, case id), sorted

    # ---- input ------------------------------------------------------------

    def load(self, rows: list[dict[str, Any]]) -> None:
        """Case records (``recordings.figures.case_facts``): each replaces what is known of its case."""
        for row in rows:
            facts = CaseFacts(**row)
            old = self.facts.get(facts.case_id)
            self._replace(old, facts)

    def fold(self, result: Result) -> None:
        for ev in result.events:
            self.apply(ev, result.at)

    def apply(self, ev: Event, at: float) -> None:
        if isinstance(ev, TicketOpened):
            t = ev.ticket
            if t.case_id not in self.facts:
                self._replace(
                    None,
                    CaseFacts(
                        t.case_id,
                        t.requested_at,
                        t.region,
                        t.skill,
                        t.matter_code,
                        t.channel,
                        t.origin_region,
                    ),
                )
            return
        case_id = _case_of(ev)
        old = self.facts.get(case_id) if case_id else None
        if old is None:
            return  # a case of an earlier day (or one this node never heard opened)
        new = CaseFacts(**old.__dict__)
        if isinstance(ev, Offered):
            new.offers = old.offers + 1
        elif isinstance(ev, Answered):
            new.answers = old.answers + 1
            new.answered_at = old.answered_at if old.answered_at is not None else ev.at
            new.clerk_id = ev.clerk_id
            new.target_region, new.skill, new.matter_code = ev.ticket.region, ev.ticket.skill, ev.ticket.matter_code
        elif isinstance(ev, TicketClosed):
            new.ended_at = old.ended_at if old.ended_at is not None else ev.ended_at
            new.outcome = ev.reason
        elif isinstance(ev, CaseClosed):
            if ev.by == "clerk":
                new.ended_at = old.ended_at if old.ended_at is not None else ev.at
                new.outcome = ev.outcome
            else:  # the citizen hung up: the clerk's wrap-up may already have set the outcome
                new.ended_at = old.ended_at if old.ended_at is not None else ev.at
                new.outcome = old.outcome if old.outcome is not None else CITIZEN_ENDED
        elif isinstance(ev, WrappedUp):
            new.outcome = ev.outcome
            new.wrapped_at = at if old.wrapped_at is None else max(old.wrapped_at, at)
        elif isinstance(ev, Transferred):
            new.transfers = old.transfers + 1
            new.target_region, new.skill, new.matter_code = ev.ticket.region, ev.ticket.skill, ev.ticket.matter_code
        elif isinstance(ev, CaseRated):
            new.rating = ev.level
        elif isinstance(ev, CaseNoted) and ev.kind == "followup_closed":
            new.followup_closed = True
        else:
            return
        self._replace(old, new)

    def forget_before(self, start: float) -> None:
        """Drop the cases requested before ``start`` (yesterday's, once the wall no longer shows them)."""
        cut = bisect.bisect_left(self.order, (start, ""))
        for _, case_id in self.order[:cut]:
            facts = self.facts.pop(case_id, None)
            if facts is not None:
                self._account(facts, -1)
        del self.order[:cut]

    # ---- output -----------------------------------------------------------

    def sums(self, start: float, end: float, key: QueueKey | None = None, regions: set[str] | None = None) -> Sums:
        """The sums of the cases requested in ``[start, end)``, whole buckets (bounds on bucket edges),
        of one queue or of the ``regions`` (None: all)."""
        lo, hi = bucket_of(start, self.bucket_s), bucket_of(end, self.bucket_s)
        total = Sums()
        for (b, region, skill), s in self.cells.items():
            if lo <= b < hi and (key is None or key == (region, skill)) and (regions is None or region in regions):
                total.add(s)
        return total

    def buckets(self, start: float, end: float, regions: set[str] | None = None) -> list[dict[str, Any]]:
        """Figures per bucket of the cases requested in ``[start, end)``: only buckets with requests."""
        lo, hi = bucket_of(start, self.bucket_s), bucket_of(end, self.bucket_s)
        by_bucket: dict[int, Sums] = {}
        for (b, region, _), s in self.cells.items():
            if lo <= b < hi and (regions is None or region in regions):
                by_bucket.setdefault(b, Sums()).add(s)
        return [
            {"bucket_start": bucket_start(b, self.bucket_s), **figures_of(s)}
            for b, s in sorted(by_bucket.items())
            if not s.empty
        ]

    def recent(self, start: float, end: float) -> dict[QueueKey, Sums]:
        """Sums per queue of the cases requested in ``[start, end)``, to the second (a rolling window)."""
        out: dict[QueueKey, Sums] = {}
        lo = bisect.bisect_left(self.order, (start, ""))
        for requested_at, case_id in self.order[lo:]:
            if requested_at >= end:
                break
            facts = self.facts.get(case_id)
            if facts is not None:
                key = (facts.target_region, facts.skill)
                out.setdefault(key, Sums()).add(contribution(facts, self.sla_s, self.short_abandon_s))
        return out

    def handled_recently(self, start: float, end: float) -> dict[QueueKey, tuple[int, float]]:
        """Per queue, (cases handled, their total handle time) of the cases requested in ``[start, end)``."""
        return {k: (s.handled, s.handle_sum) for k, s in self.recent(start, end).items()}

    # ---- internals --------------------------------------------------------

    def _replace(self, old: CaseFacts | None, new: CaseFacts) -> None:
        if old is not None:
            self._account(old, -1)
        else:
            bisect.insort(self.order, (new.requested_at, new.case_id))
        self.facts[new.case_id] = new
        self._account(new, 1)

    def _account(self, facts: CaseFacts, sign: int) -> None:
        cell = (bucket_of(facts.requested_at, self.bucket_s), facts.target_region, facts.skill)
        sums = self.cells.setdefault(cell, Sums())
        sums.add(contribution(facts, self.sla_s, self.short_abandon_s), sign)
        if sums.empty and sign < 0:
            del self.cells[cell]


def _case_of(ev: Event) -> str | None:
    if isinstance(ev, Answered | TicketClosed | Transferred | Offered):
        return ev.ticket.case_id
    if isinstance(ev, CaseClosed | WrappedUp | CaseRated | CaseNoted):
        return ev.case_id
    return None
