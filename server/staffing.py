"""REST: staffing what-ifs, ``GET /api/staffing`` (issue 7 §3, "how many clerks it takes").

Erlang C (``queueing.erlang``) answers at once; with ``simulate=1`` the real routing core is also run in
virtual time (``queueing.simulator``) for the same inputs, so a supervisor sees the model beside the code
that will route the citizens. Parameters are parsed and checked here, at the edge, in a fixed order
(``arrivals_per_hour``, ``aht_s``, ``sla_s``, ``goal``, ``clerks``, ``simulate``, ``hours``, ``seed``); every
bad value is a 400 ``bad_request`` naming the parameter.

The simulation is CPU work in pure Python: it runs in a worker thread (the loop's default executor), so the event
loop keeps serving (it still shares the GIL: the bounds below keep a run to about a second or two), and one
at a time per process; a second request while one runs is answered 503 ``unavailable``. A thread cannot be
cancelled, so a run whose client has gone finishes anyway: its cost is what the bounds are for.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from queueing.erlang import ErlangC, clerks_needed, erlang_c, offered_load
from queueing.simulator import simulate

from .api import ApiError, json_response, require_user
from .services import SERVICES

routes = web.RouteTableDef()

MAX_ARRIVALS_PER_HOUR = 100_000.0
MAX_AHT_S = 86_400.0
MAX_SLA_S = 86_400.0
MAX_CLERKS = 10_000
DEFAULT_GOAL = 0.9

# The simulation's size. Its cost grows with the arrivals it draws and, per arrival, with the clerks on
# duty and the number waiting (the router scans them): measured, about 3 µs per clerk per arrival (1e6
# arrivals × clerks, 3-4.5 s), and 8 hours of 2,500 an hour with ~110 waiting on average took 6-8 s.
DEFAULT_HOURS = 8.0
MAX_HOURS = 24.0
MAX_SIMULATED_ARRIVALS = 10_000.0  # arrivals_per_hour × hours
MAX_SIMULATED_CLERKS = 500
MAX_SIMULATED_WORK = 500_000.0  # arrivals_per_hour × hours × clerks: about 2 s at most
MAX_SIMULATED_QUEUE = 50.0  # Erlang C's mean number waiting, Lq = P_wait · A / (N − A)
MAX_SEED = 2**31 - 1

_INTEGER = re.compile(r"[0-9]{1,10}")
_FLAGS = {"1": True, "true": True, "0": False, "false": False}

# One simulation at a time in this process; released by the worker thread itself, when the run ends.
_simulating = threading.BoundedSemaphore(1)


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def _number(query: Mapping[str, str], name: str, default: float | None, *, low: float, high: float) -> float:
    """A finite number with ``low < value <= high``."""
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise _bad(f"{name} is required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(f"{name} must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value) or not low < value <= high:
        raise _bad(f"{name} must be a number above {low:g} and at most {high:g}, got {raw[:40]!r}")
    return value


def _integer(query: Mapping[str, str], name: str, *, low: int, high: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise _bad(f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}")
    return int(raw)


@dataclass(frozen=True)
class StaffingQuery:
    """What ``GET /api/staffing`` was asked, checked."""

    arrivals_per_hour: float
    aht_s: float
    sla_s: float
    goal: float
    clerks: int | None
    simulate: bool
    hours: float
    seed: int

    @classmethod
    def parse(cls, query: Mapping[str, str], default_sla_s: float) -> StaffingQuery:
        arrivals = _number(query, "arrivals_per_hour", None, low=0.0, high=MAX_ARRIVALS_PER_HOUR)
        aht_s = _number(query, "aht_s", None, low=0.0, high=MAX_AHT_S)
        sla_s = _number(query, "sla_s", default_sla_s, low=0.0, high=MAX_SLA_S)
        goal = _number(query, "goal", DEFAULT_GOAL, low=0.0, high=1.0)
        if goal >= 1.0:
            # Never reached while anyone arrives: some citizens always wait.
            raise _bad("goal must be a share between 0 and 1 (exclusive), e.g. 0.9")
        clerks = _integer(query, "clerks", low=1, high=MAX_CLERKS)
        flag = query.get("simulate", "0")
        if flag not in _FLAGS:
            raise _bad(f"simulate must be 1 or 0, got {flag[:40]!r}")
        hours = _number(query, "hours", DEFAULT_HOURS, low=0.0, high=MAX_HOURS)
        seed = _integer(query, "seed", low=0, high=MAX_SEED) or 0
        return cls(arrivals, aht_s, sla_s, goal, clerks, _FLAGS[flag], hours, seed)


def _figures(result: ErlangC) -> dict[str, Any]:
    return {
        "clerks": result.clerks,
        "stable": True,
        "service_level": result.service_level,
        "asa_s": result.asa_s,
        "occupancy": result.occupancy,
        "p_wait": result.p_wait,
    }


def _unstable(clerks: int) -> dict[str, Any]:
    """N clerks at or below the offered load: the queue grows without bound, and everyone waits."""
    return {"clerks": clerks, "stable": False, "service_level": 0.0, "asa_s": None, "occupancy": 1.0, "p_wait": 1.0}


def staffing(q: StaffingQuery) -> dict[str, Any]:
    """Erlang C's answer to ``q`` (without the simulation); raises :class:`ApiError` beyond the bounds."""
    load = offered_load(q.arrivals_per_hour, q.aht_s)
    if load >= MAX_CLERKS:
        raise _bad(f"the offered load ({load:.0f} Erlangs) needs more than {MAX_CLERKS} clerks")
    needed = clerks_needed(q.arrivals_per_hour, q.aht_s, q.sla_s, q.goal)
    if needed.clerks > MAX_CLERKS:
        raise _bad(f"meeting the goal takes more than {MAX_CLERKS} clerks")
    if q.clerks is None:
        figures = _figures(needed)
    elif q.clerks <= load:
        figures = _unstable(q.clerks)
    else:
        figures = _figures(erlang_c(q.arrivals_per_hour, q.aht_s, q.clerks, q.sla_s))
    return {
        "arrivals_per_hour": q.arrivals_per_hour,
        "aht_s": q.aht_s,
        "sla_s": q.sla_s,
        "goal": q.goal,
        "offered_load": load,
        "clerks_needed": needed.clerks,
        **figures,
    }


def _check_simulation(q: StaffingQuery, answer: dict[str, Any]) -> None:
    """Refuse a simulation that would cost too much (see the bounds above)."""
    clerks = answer["clerks"]
    if q.arrivals_per_hour * q.hours > MAX_SIMULATED_ARRIVALS:
        raise _bad(
            f"too large to simulate: arrivals_per_hour × hours may be at most {MAX_SIMULATED_ARRIVALS:g} "
            f"(asked {q.arrivals_per_hour * q.hours:g}); shorten hours"
        )
    if clerks > MAX_SIMULATED_CLERKS:
        raise _bad(f"too large to simulate: at most {MAX_SIMULATED_CLERKS} clerks (asked {clerks})")
    if q.arrivals_per_hour * q.hours * clerks > MAX_SIMULATED_WORK:
        raise _bad(
            f"too large to simulate: arrivals_per_hour × hours × clerks may be at most {MAX_SIMULATED_WORK:g} "
            f"(asked {q.arrivals_per_hour * q.hours * clerks:g}); shorten hours"
        )
    queue = answer["p_wait"] * answer["offered_load"] / (clerks - answer["offered_load"])
    if queue > MAX_SIMULATED_QUEUE:
        raise _bad(
            f"too heavy to simulate: about {queue:.0f} citizens would wait on average (at most "
            f"{MAX_SIMULATED_QUEUE:g}); add clerks"
        )


def _simulate(q: StaffingQuery, clerks: int) -> dict[str, Any]:
    """In the worker thread: the run, then the slot is freed (taken by the handler)."""
    try:
        result = simulate(
            arrivals_per_hour=q.arrivals_per_hour,
            aht_s=q.aht_s,
            clerks=clerks,
            duration_s=q.hours * 3600.0,
            seed=q.seed,
            sla_s=q.sla_s,
        )
    finally:
        _simulating.release()
    return {
        "hours": q.hours,
        "seed": q.seed,
        "service_level": result.service_level,
        "asa_s": result.asa_s,
        "occupancy": result.occupancy,
        "arrivals": result.arrivals,
        "answered": result.answered,
    }


@routes.get("/api/staffing")
async def get_staffing(request: web.Request) -> web.Response:
    """How many clerks a queue needs (Erlang C), or what N clerks would give; optionally simulated."""
    await require_user(request, "supervisor", "auditor")
    q = StaffingQuery.parse(request.query, request.app[SERVICES].settings.sla_seconds)
    answer = staffing(q)
    if q.simulate:
        if not answer["stable"]:
            answer["simulated"] = None  # the queue would only grow: nothing steady to measure
        else:
            _check_simulation(q, answer)
            if not _simulating.acquire(blocking=False):
                raise ApiError(503, "unavailable", "another staffing simulation is running; try again shortly")
            try:
                run = asyncio.get_running_loop().run_in_executor(None, _simulate, q, answer["clerks"])
            except BaseException:
                _simulating.release()  # never started (the executor is shut down): the worker cannot free it
                raise
            answer["simulated"] = await run
    return json_response(answer)
