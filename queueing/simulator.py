"""The real routing core in virtual time: Poisson arrivals, exponential handle times, optional abandonment.

:func:`simulate` drives :class:`queueing.routing.Router` (the same code that routes live citizens) with an
event-driven loop over virtual time: the next arrival, the next case end, the next abandon and the router's
own next deadline, whichever comes first. Clerks are always available and accept every offer at the moment
it is made, so a citizen's answer time is the time the router kept them queued. Without abandonment this is
the M/M/N queue of Erlang C (``queueing.erlang``), which the tests hold the simulation to.

Statistics follow ../shared/DOMAIN.md "Response SLA" (and ``docs/sla.md``): service level = answered within
``sla_s`` / (answered + abandoned that waited at least ``short_abandon_s`` + expired, when the router's
``max_wait_s`` is on). Only arrivals at or after
``warmup_s`` are counted, so that a run starting empty can be compared with the steady state; after the last
arrival the queue is drained (nobody new arrives) so every counted citizen has an outcome.

Deterministic: three ``random.Random`` streams seeded from ``seed`` draw the arrival intervals, the handle
times and the patiences, each citizen's on arrival; equal times are taken in the order they were scheduled.
So one seed gives the same citizens, arriving at the same times and needing the same handle times, whatever
the patience or staffing (common random numbers: a comparison between two runs is not blurred by chance). And
the draws do not depend on the router's choices: without abandonment, a first-come-first-served router that
never leaves a clerk idle while someone waits gives every citizen exactly the wait of the FCFS recursion over
the same times, whichever clerk it picks (the tests check this).

The router's cost per operation grows with the number waiting (``next_deadline``/``tick`` scan every
ticket, and positions are sent to every waiting citizen once a second per queue), so an overloaded run
(offered load at or above the clerks, nobody giving up) slows down as its queue grows: minutes for thousands
waiting.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field, fields
from typing import Any

from .events import TicketOpened
from .routing import Answered, Event, Offered, Router, TicketClosed

REGION = "310000"  # any province works; one queue is modelled
SKILL = "general"
POSITION_INTERVAL_S = 1.0  # as the server runs it (RVW_POSITION_INTERVAL_SECONDS)

OFFERED = 0
ANSWERED = 1
EXPIRED = 2  # the router ended the request after max_wait_s

# Kinds of scheduled event; equal times are broken by the order they were scheduled in.
_CASE_END = 0
_ABANDON = 1


class _Core:
    """Every call the simulator makes to the routing core, in one place.

    The router's surface for connections (and its event classes) may change; only this adapter should
    need to follow. It hands back what the simulator needs of the router's events as plain tuples:
    ``(OFFERED, ticket_id, clerk_id)``, ``(ANSWERED, ticket_id, clerk_id)`` and ``(EXPIRED, ticket_id, "")``.
    """

    def __init__(self, aht_s: float, max_wait_s: float | None) -> None:
        # Offers are accepted the instant they are made and nobody disconnects, so neither time-out
        # bites; they are the router's defaults, kept for realism. Erlang C has no expiry: None
        # turns the router's max_wait_s off.
        self.estimates: dict[str, int | None] = {}  # ticket id -> the estimate given on asking
        self.router = Router(
            offer_timeout_s=15.0,
            reconnect_grace_s=30.0,
            aht_s=aht_s,
            max_wait_s=math.inf if max_wait_s is None else max_wait_s,
            position_interval_s=POSITION_INTERVAL_S,
        )

    @staticmethod
    def _seen(events: list[Event]) -> list[tuple[int, str, str]]:
        seen: list[tuple[int, str, str]] = []
        for event in events:
            if isinstance(event, Offered):
                seen.append((OFFERED, event.ticket.ticket_id, event.clerk_id))
            elif isinstance(event, Answered):
                seen.append((ANSWERED, event.ticket.ticket_id, event.clerk_id))
            elif isinstance(event, TicketClosed) and event.reason == "expired":
                seen.append((EXPIRED, event.ticket.ticket_id, ""))
        return seen

    @staticmethod
    def _conn(citizen_id: str) -> str:
        return f"sim/{citizen_id}"  # one connection per citizen, on one node

    def clerk_on_duty(self, now: float, clerk_id: str) -> list[tuple[int, str, str]]:
        return self._seen(self.router.set_clerk(now, clerk_id, REGION, [SKILL], "available"))

    def arrive(self, now: float, ticket_id: str, case_id: str, citizen_id: str) -> list[tuple[int, str, str]]:
        # The core treats a request from a citizen with no open connection as already gone.
        events = list(self.router.citizen_connected(now, citizen_id, self._conn(citizen_id)))
        events += self.router.request(
            now,
            ticket_id=ticket_id,
            case_id=case_id,
            citizen_id=citizen_id,
            target_region=REGION,
            skill=SKILL,
            matter_code="SIM",
            origin_region=REGION,
            channel="web",
            priority="normal",
        )
        for event in events:
            if isinstance(event, TicketOpened):
                self.estimates[ticket_id] = event.estimated_wait_s
        return self._seen(events)

    def accept(self, now: float, clerk_id: str, ticket_id: str) -> list[tuple[int, str, str]]:
        return self._seen(self.router.accept(now, clerk_id, ticket_id))

    def end_case(self, now: float, clerk_id: str, case_id: str, citizen_id: str) -> list[tuple[int, str, str]]:
        events = self.router.end_case(now, clerk_id, case_id)
        events += self.router.citizen_disconnected(now, citizen_id, self._conn(citizen_id))
        return self._seen(events)

    def give_up(self, now: float, citizen_id: str, ticket_id: str) -> list[tuple[int, str, str]]:
        events = self.router.cancel(now, citizen_id, ticket_id)
        events += self.router.citizen_disconnected(now, citizen_id, self._conn(citizen_id))
        return self._seen(events)

    def tick(self, now: float) -> list[tuple[int, str, str]]:
        return self._seen(self.router.tick(now))

    def left(self, now: float, citizen_id: str) -> list[tuple[int, str, str]]:
        """The citizen's request ended without them (expired): they close the page."""
        return self._seen(self.router.citizen_disconnected(now, citizen_id, self._conn(citizen_id)))

    def next_deadline(self) -> float | None:
        deadline = self.router.next_deadline()
        return deadline if deadline is not None and deadline < math.inf else None


@dataclass(frozen=True)
class Outcome:
    """One simulated citizen, kept when :func:`simulate` is asked to (``keep_outcomes``)."""

    number: int  # arrival order, from 1
    requested_at: float
    handle_s: float  # drawn on arrival; used if answered
    answered_at: float | None
    ended_at: float  # the case ended, the citizen gave up, or the request expired
    outcome: str  # answered | abandoned | expired
    estimated_wait_s: int | None = None  # what the citizen was told on asking (None: unknown)


@dataclass(frozen=True)
class SimulationResult:
    """What a run measured: arrivals at or after ``warmup_s`` only."""

    arrivals_per_hour: float
    aht_s: float
    clerks: int
    duration_s: float
    warmup_s: float
    sla_s: float
    short_abandon_s: float
    patience_s: float | None
    max_wait_s: float | None
    seed: int
    arrivals: int
    answered: int
    answered_within_sla: int
    abandoned: int
    short_abandoned: int
    expired: int  # ended by the router after max_wait_s: counted as not met
    service_level: float | None  # answered within sla_s / (answered + abandoned that are not short + expired)
    asa_s: float | None  # mean answer time of the answered
    abandon_rate: float | None  # abandoned (short ones included) / arrivals
    occupancy: float  # busy clerk-seconds within [warmup_s, duration_s] / (clerks × its length)
    mean_handle_s: float | None  # the handle times the answered actually drew (their AHT)
    outcomes: tuple[Outcome, ...] = field(default=(), repr=False)  # every arrival, with keep_outcomes

    @property
    def arrivals_per_hour_measured(self) -> float:
        """The arrival rate this run drew, over the measured window."""
        return self.arrivals / (self.duration_s - self.warmup_s) * 3600.0

    def to_dict(self) -> dict[str, Any]:
        """The figures, without the per-citizen outcomes."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "outcomes"}


def simulate(
    *,
    arrivals_per_hour: float,
    aht_s: float,
    clerks: int,
    duration_s: float,
    seed: int = 0,
    patience_s: float | None = None,
    sla_s: float = 60.0,
    short_abandon_s: float = 10.0,
    warmup_s: float = 0.0,
    max_wait_s: float | None = None,
    keep_outcomes: bool = False,
) -> SimulationResult:
    """Run the routing core for ``duration_s`` seconds of arrivals, then drain the queue.

    ``patience_s``: mean of the exponential time a waiting citizen gives up after (cancels); ``None``
    means nobody gives up. ``max_wait_s``: the router's expiry of a request (``None``, the default,
    turns it off as Erlang C assumes; the server's own default is 600 s). ``keep_outcomes`` keeps
    every arrival's times in ``outcomes`` (memory grows with the run).
    """
    if isinstance(clerks, bool) or not isinstance(clerks, int) or clerks < 1:
        raise ValueError(f"clerks must be a positive integer, got {clerks!r}")
    if not math.isfinite(arrivals_per_hour) or arrivals_per_hour < 0:
        raise ValueError(f"arrivals_per_hour must be a non-negative number, got {arrivals_per_hour!r}")
    for name, value in (("aht_s", aht_s), ("duration_s", duration_s)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    for name, maybe in (("patience_s", patience_s), ("max_wait_s", max_wait_s)):
        if maybe is not None and (not math.isfinite(maybe) or maybe <= 0):
            raise ValueError(f"{name} must be positive, got {maybe!r}")
    for name, value in (("sla_s", sla_s), ("short_abandon_s", short_abandon_s)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if not math.isfinite(warmup_s) or not 0 <= warmup_s < duration_s:
        raise ValueError(f"warmup_s must be at least 0 and less than duration_s, got {warmup_s!r}")

    # String seeds are hashed with SHA-512 by random.seed, the same in every process.
    arrivals_rng, handle_rng, patience_rng = (random.Random(f"rvw-simulate/{seed}/{s}") for s in ("a", "h", "p"))
    arrival_rate = arrivals_per_hour / 3600.0
    end_rate = 1.0 / aht_s
    give_up_rate = 1.0 / patience_s if patience_s is not None else 0.0
    inf = math.inf

    core = _Core(aht_s, max_wait_s)
    # Case ends and abandons as (time, order, kind, citizen number, clerk id). Arrivals are not kept
    # here: only the next one is known at any time.
    scheduled: list[tuple[float, int, int, int, str]] = []
    order = 0
    waiting: dict[str, tuple[int, float, float]] = {}  # ticket id -> (number, requested_at, handle_s)
    kept: dict[int, Outcome] = {}

    counted = answered = met = abandoned = short = expired = 0
    wait_sum = handle_sum = busy_s = 0.0

    def carry_out(now: float, seen: list[tuple[int, str, str]]) -> None:
        """Accept every offer at once; start the case of every answer."""
        nonlocal order, answered, met, expired, wait_sum, handle_sum, busy_s
        while seen:
            kind, ticket_id, clerk_id = seen.pop(0)
            if kind == OFFERED:
                seen += core.accept(now, clerk_id, ticket_id)
                continue
            number, requested_at, handle_s = waiting.pop(ticket_id)
            if kind == EXPIRED:
                expired += requested_at >= warmup_s
                told = core.estimates.pop(ticket_id, None)
                if keep_outcomes:
                    kept[number] = Outcome(number, requested_at, handle_s, None, now, "expired", told)
                seen += core.left(now, f"c{number}")
                continue
            ends_at = now + handle_s
            order += 1
            heapq.heappush(scheduled, (ends_at, order, _CASE_END, number, clerk_id))
            if keep_outcomes:
                told = core.estimates.pop(ticket_id, None)
                kept[number] = Outcome(number, requested_at, handle_s, now, ends_at, "answered", told)
            else:
                core.estimates.pop(ticket_id, None)
            if requested_at >= warmup_s:
                wait = now - requested_at
                answered += 1
                wait_sum += wait
                handle_sum += handle_s
                if wait <= sla_s:
                    met += 1
            busy_s += max(0.0, min(ends_at, duration_s) - max(now, warmup_s))

    now = 0.0
    for i in range(clerks):
        carry_out(now, core.clerk_on_duty(now, f"clerk-{i + 1:04d}"))

    number = 0
    next_arrival = arrivals_rng.expovariate(arrival_rate) if arrival_rate > 0 else inf
    while True:
        if next_arrival >= duration_s:
            next_arrival = inf
        next_scheduled = scheduled[0][0] if scheduled else inf
        deadline = core.next_deadline()
        if deadline is not None and deadline <= next_arrival and deadline <= next_scheduled:
            now = max(now, deadline)
            carry_out(now, core.tick(now))
            # The router tests some deadlines as `now - since >= limit`, which rounding can make false at
            # exactly `since + limit`, the time next_deadline() gave; a tick a few ulps later applies them.
            for _ in range(8):
                after = core.next_deadline()
                if after is None or after > now:
                    break
                now = math.nextafter(now, inf)
                carry_out(now, core.tick(now))
            else:
                raise RuntimeError(f"the router's deadline {after} did not pass when ticked at {now}")
            continue
        if next_arrival == inf and next_scheduled == inf:
            break
        if next_arrival <= next_scheduled:
            now = next_arrival
            number += 1
            ticket_id = f"t{number}"
            waiting[ticket_id] = (number, now, handle_rng.expovariate(end_rate))
            counted += now >= warmup_s
            if patience_s is not None:
                order += 1
                heapq.heappush(scheduled, (now + patience_rng.expovariate(give_up_rate), order, _ABANDON, number, ""))
            next_arrival = now + arrivals_rng.expovariate(arrival_rate)
            carry_out(now, core.arrive(now, ticket_id, f"k{number}", f"c{number}"))
            continue
        now, _, kind, n, clerk_id = heapq.heappop(scheduled)
        if kind == _CASE_END:
            carry_out(now, core.end_case(now, clerk_id, f"k{n}", f"c{n}"))
            continue
        ticket_id = f"t{n}"
        if ticket_id not in waiting:
            continue  # answered (or expired) before they would have given up
        _, requested_at, handle_s = waiting.pop(ticket_id)
        told = core.estimates.pop(ticket_id, None)
        if keep_outcomes:
            kept[n] = Outcome(n, requested_at, handle_s, None, now, "abandoned", told)
        if requested_at >= warmup_s:
            abandoned += 1
            short += now - requested_at < short_abandon_s
        carry_out(now, core.give_up(now, f"c{n}", ticket_id))
    if waiting:
        raise RuntimeError(f"{len(waiting)} citizens were left waiting with every clerk free and no deadline")

    denominator = answered + abandoned - short + expired
    return SimulationResult(
        arrivals_per_hour=arrivals_per_hour,
        aht_s=aht_s,
        clerks=clerks,
        duration_s=duration_s,
        warmup_s=warmup_s,
        sla_s=sla_s,
        short_abandon_s=short_abandon_s,
        patience_s=patience_s,
        max_wait_s=max_wait_s,
        seed=seed,
        arrivals=counted,
        answered=answered,
        answered_within_sla=met,
        abandoned=abandoned,
        short_abandoned=short,
        expired=expired,
        service_level=met / denominator if denominator else None,
        asa_s=wait_sum / answered if answered else None,
        abandon_rate=abandoned / counted if counted else None,
        occupancy=busy_s / (clerks * (duration_s - warmup_s)),
        mean_handle_s=handle_sum / answered if answered else None,
        outcomes=tuple(kept[k] for k in sorted(kept)),
    )
