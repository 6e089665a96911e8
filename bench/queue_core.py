"""The cost of one dispatch in the pure routing core (``queueing.routing.Router``), with few and many waiting.

No server, no I/O: one router per size, ``position_interval_s=1.0`` as the server's default (positions sent at
most once a second per queue). One queue (Shanghai, social insurance), ``waiting`` web citizens in it, each
connected; one clerk. Each repetition, at virtual time ``now``:

1. ``end_case`` of the clerk's case: the clerk is freed and the router offers the head of the queue
   (timed: "end_case → offer", the dispatch);
2. ``accept`` of that offer (timed);
3. a new citizen connects and ``request``s (timed), so the queue stays at ``waiting``;

then ``now`` moves on by ``step_s``. Positions change with every accept, so the router renumbers the whole queue
when the interval has passed: that flush lands on about one operation in ``1 / step_s`` and is timed on its own
("accept with a position flush", every position changed). Sizes are measured in alternating blocks so that the
machine's noise falls on both; the summary is the median over every repetition.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from queueing.events import Offered
from queueing.routing import Router

REGION = "310000"
SKILL = "social_insurance"
CLERK = "clerk-bench"
START = 1_790_000_000.0


class Line:
    """One queue with one clerk, kept at ``waiting`` citizens."""

    def __init__(self, waiting: int, step_s: float) -> None:
        self.router = Router(position_interval_s=1.0)
        self.step_s = step_s
        self.now = START
        self.n = 0
        self.router.set_clerk(self.now, CLERK, REGION, [SKILL], "available")
        offered = self.request()  # the clerk's first case
        assert offered is not None, "the lone available clerk was not offered the first request"
        self.router.accept(self.now, CLERK, offered)
        self.case = next(iter(self.router.cases))
        for _ in range(waiting):
            self.request()
        self.waiting = len(self.router.tickets)

    def request(self) -> str | None:
        """A new citizen connects and asks; the ticket offered by the events, if any."""
        self.n += 1
        citizen = f"c{self.n:08d}"
        self.router.citizen_connected(self.now, citizen, f"bench/{citizen}")
        events = self.router.request(
            self.now,
            ticket_id=f"T{self.n:08d}",
            case_id=f"RVW{self.n:016d}",
            citizen_id=citizen,
            target_region=REGION,
            skill=SKILL,
            matter_code="SB-ZY-001",
            origin_region="320500",
            channel="web",
        )
        return offered_ticket(events)

    def once(self) -> tuple[int, int, int, int]:
        """One repetition; (end_case ns, accept ns, request ns, events of the accept)."""
        r = self.router
        t0 = time.perf_counter_ns()
        events = r.end_case(self.now, CLERK, self.case, "resolved", "")
        t1 = time.perf_counter_ns()
        ticket = offered_ticket(events)
        if ticket is None:
            raise RuntimeError("end_case offered nothing to the freed clerk")
        t2 = time.perf_counter_ns()
        accepted = r.accept(self.now, CLERK, ticket)
        t3 = time.perf_counter_ns()
        self.case = next(iter(r.cases))  # one clerk, one open case
        t4 = time.perf_counter_ns()
        self.request()
        t5 = time.perf_counter_ns()
        self.now += self.step_s
        return t1 - t0, t3 - t2, t5 - t4, len(accepted)

    def flush_cost(self) -> tuple[int, int]:
        """(ns, position events) of an accept that renumbers the whole queue (the interval has passed)."""
        r = self.router
        self.now += 1.0
        events = r.end_case(self.now, CLERK, self.case, "resolved", "")
        ticket = offered_ticket(events)
        assert ticket is not None
        self.now += 1.0
        t0 = time.perf_counter_ns()
        accepted = r.accept(self.now, CLERK, ticket)
        t1 = time.perf_counter_ns()
        self.case = next(iter(r.cases))
        self.request()  # the queue stays at its size
        return t1 - t0, len(accepted)


def offered_ticket(events: list[Any]) -> str | None:
    for e in events:
        if isinstance(e, Offered):
            return e.ticket.ticket_id
    return None


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1e3


def measure(sizes: tuple[int, ...], reps: int, blocks: int, step_s: float) -> dict[str, Any]:
    """Median µs of end_case → offer, accept and request for each size, and the ratio largest/smallest."""
    per_block = max(1, reps // blocks)
    samples: dict[int, dict[str, list[int]]] = {n: {"end_case": [], "accept": [], "request": []} for n in sizes}
    flush: dict[int, list[tuple[int, int]]] = {n: [] for n in sizes}
    fill_s: dict[int, float] = {}
    lines: dict[int, Line] = {}
    for n in sizes:
        t0 = time.perf_counter()
        lines[n] = Line(n, step_s)
        fill_s[n] = time.perf_counter() - t0
    gc.collect()
    for _ in range(blocks):
        for n in sizes:
            line = lines[n]
            s = samples[n]
            for _ in range(per_block):
                e, a, r, _count = line.once()
                s["end_case"].append(e)
                s["accept"].append(a)
                s["request"].append(r)
            flush[n].append(line.flush_cost())
    out: dict[str, Any] = {"sizes": {}, "reps": per_block * blocks, "blocks": blocks, "step_s": step_s}
    for n in sizes:
        s = samples[n]
        out["sizes"][str(n)] = {
            "waiting": lines[n].waiting,
            "waiting_after": len(lines[n].router.tickets),
            "fill_s": round(fill_s[n], 3),
            **{
                f"{k}_{stat}_us": fn(v)
                for k, v in s.items()
                for stat, fn in (
                    ("median", lambda v: statistics.median(v) / 1e3),
                    ("p99", lambda v: percentile(v, 0.99)),
                    ("mean", lambda v: statistics.fmean(v) / 1e3),
                )
            },
            "flush_accept_median_ms": statistics.median(f[0] for f in flush[n]) / 1e6,
            "flush_events": max(f[1] for f in flush[n]),
        }
    small, large = str(min(sizes)), str(max(sizes))
    out["ratio"] = {
        k: out["sizes"][large][f"{k}_median_us"] / out["sizes"][small][f"{k}_median_us"]
        for k in ("end_case", "accept", "request")
    }
    return out
