"""The supervisors' wall: one computation per node and second, shared by every wall connected to it.

The wall owns this node's live figures (:class:`queueing.tally.Tally`): loaded from
the case records at start-up, then folded from every result of the queue (it is a
queue sink like the gateway). Once a second it builds the board: queues with their
waiting, oldest wait, 15-minute service level, clerks staffed and needed (Erlang C
from the last hour); clerks with their status and time in it; the citizens waiting,
longest first; today's figures and their 15-minute buckets. It then cuts one view
per scope that has a wall open (the delta, or one province) and emits each to its
room, so 50 supervisors cost one computation and a handful of emits.

It also watches each queue's service level over the last 15 minutes and raises a
``service_level`` alert when it drops under ``RVW_SLA_GOAL`` (with at least
``RVW_SLA_ALERT_MIN_REQUESTS`` requests counting), once until it recovers; the
node that holds the writer's lease posts it to the webhook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from queueing.backend import QueueService
from queueing.clock import Clock
from queueing.commands import Command, Result, ServiceLevelChanged
from queueing.erlang import clerks_needed
from queueing.routing import queue_name
from queueing.tally import Tally, figures_of
from recordings.figures import case_facts
from recordings.store import Directory
from server.catalog import DELTA, PROVINCES
from server.config import Settings

from .const import SUPERVISOR_NS

log = logging.getLogger(__name__)

CHINA_UTC_OFFSET_S = 8 * 3600
RECENT_S = 900  # a queue's service level: the last 15 minutes
HOUR_S = 3600  # staffing: arrivals and handle time of the last hour
WAITING_SHOWN = 200  # the longest waits each view lists (the count is always whole)
ROSTER_TTL_S = 30.0  # clerk accounts (names, regions) are read again after this
STATUSES = ("available", "offered", "busy", "wrap_up", "missed", "break", "offline")


def start_of_day(now: float) -> float:
    """Midnight (China time) of the day that contains ``now``, as epoch seconds."""
    local = now + CHINA_UTC_OFFSET_S
    return local - (local % 86400) - CHINA_UTC_OFFSET_S


def wall_room(scope: str) -> str:
    """The room of the walls of one scope: ``delta`` or a province code."""
    return f"wall:{scope}"


def scope_name(region: str) -> str:
    return DELTA if region == DELTA else region[:2] + "0000"


def in_scope(scope: str, region: str) -> bool:
    return scope == DELTA or region[:2] == scope[:2]


class Wall:
    """Owns the live figures, the board's loop and the service-level alerts. ``start()``/``close()``."""

    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        queue: QueueService,
        directory: Directory,
        sessions: Any,
        settings: Settings,
        clock: Clock,
        submit: Callable[[Command], Awaitable[Result]] | None = None,
        leading: bool = False,
    ) -> None:
        self.sio = sio
        self.queue = queue
        self.directory = directory
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.submit = submit  # hands the queue a service-level change (the core raises the alert once)
        self.leading = leading  # this node judges service levels: the one process, or the writer's node
        self.tally = Tally(settings.sla_seconds, settings.short_abandon_s)
        self.scopes: dict[str, int] = {}  # scope -> walls open on this node
        self.below_goal: set[tuple[str, str]] = set()  # queues under the goal at the last pass
        self._raised: set[str] = set()  # queues whose alert the core held at the last look
        self._last_board: tuple[float, dict[str, Any] | None] = (0.0, None)  # (loop time, board)
        self.passes = 0
        self._buffer: list[Result] | None = []  # results heard before the records were loaded
        self._roster: tuple[float, list[tuple[str, str, str]]] = (-1e18, [])
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # ---- queue sink and life cycle -------------------------------------------

    def accept(self, result: Result) -> None:
        """A queue sink: fold the result into the live figures."""
        if self._buffer is not None:
            self._buffer.append(result)
        elif result.events:
            self.tally.fold(result)

    async def load(self) -> None:
        """Today's case records (and the last 15 minutes of yesterday), then what was heard meanwhile."""
        now = self.clock.now()
        start = min(start_of_day(now), now - RECENT_S)
        rows = await case_facts(self.sessions, start, now + 86400 * 2)
        self.tally.load(rows)
        buffered, self._buffer = self._buffer or [], None
        for result in buffered:
            self.tally.fold(result)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rvw-wall")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def lead(self) -> None:
        """Several nodes: judge service levels while this runs (the writer's node runs it while it
        holds the lease), so that one wall, not every node's, reports them to the queue."""
        self.leading = True
        try:
            await asyncio.Event().wait()
        finally:
            self.leading = False

    def join(self, scope: str) -> None:
        self.scopes[scope] = self.scopes.get(scope, 0) + 1

    def leave(self, scope: str) -> None:
        left = self.scopes.get(scope, 0) - 1
        if left > 0:
            self.scopes[scope] = left
        else:
            self.scopes.pop(scope, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        every = self.settings.dashboard_interval_s
        due = loop.time() + every
        while True:
            # On a fixed beat (a pass's own time does not push the next one later), skipping beats missed.
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + every, loop.time())
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("wall pass failed")

    async def tick(self) -> None:
        """One pass: service-level alerts (always: the webhook needs them), then the open walls' views."""
        now = self.clock.now()
        self.tally.forget_before(min(start_of_day(now), now - RECENT_S))
        recent = self.tally.recent(now - RECENT_S, now)
        snap: dict[str, Any] | None = None
        if self.leading and self.submit is not None:
            low = self._under_goal(recent)
            if low or self._raised:  # the queue's word is needed only when something is or was under
                snap = await self.queue.summary(now)
                self._raised = set(snap.get("sl_below", []))
            await self._service_levels(low, self._raised)
        if not self.scopes:
            return
        board = await self.board(now, recent, snap)
        self._last_board = (asyncio.get_running_loop().time(), board)
        self.passes += 1
        for scope in list(self.scopes):
            await self.sio.emit(
                "dashboard", self.view(board, scope), room=wall_room(scope), namespace=SUPERVISOR_NS, ignore_queue=True
            )

    # ---- the board -------------------------------------------------------------

    async def _clerk_roster(self, now: float) -> list[tuple[str, str, str]]:
        at, roster = self._roster
        if now - at >= ROSTER_TTL_S or now < at:
            roster = await self.directory.clerks()
            self._roster = (now, roster)
        return roster

    async def board(
        self, now: float, recent: dict[tuple[str, str], Any] | None = None, snap: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Everything every scope's view is cut from (computed once per pass)."""
        if recent is None:
            recent = self.tally.recent(now - RECENT_S, now)
        hour = self.tally.recent(now - HOUR_S, now)
        if snap is None:
            snap = await self.queue.summary(now)
        roster = await self._clerk_roster(now)
        names = {cid: name for cid, name, _ in roster}
        queues = {(q["region"], q["skill"]): q for q in snap.get("queues", [])}
        for key in set(recent) | set(hour):
            queues.setdefault(
                key, {"region": key[0], "skill": key[1], "waiting": 0, "offered": 0, "oldest_wait_s": 0.0, "staffed": 0}
            )
        out_queues = []
        for key, q in sorted(queues.items()):
            last = figures_of(recent[key]) if key in recent else None
            q = dict(q)
            q["service_level_15m"] = last["service_level"] if last else None
            q["requests_15m"] = last["requests"] if last else 0
            q["arrivals_1h"] = hour[key].requests if key in hour else 0
            q["needed"] = self._needed(hour.get(key))
            out_queues.append(q)
        clerks = []
        seen = set()
        for c in snap.get("clerks", []):
            seen.add(c["clerk_id"])
            since = float(c.get("since") or 0.0)
            clerks.append(
                {
                    **c,
                    "display_name": names.get(c["clerk_id"], c["clerk_id"]),
                    "in_status_s": round(now - since, 1) if since else None,
                }
            )
        for cid, name, region in roster:
            if cid not in seen:
                clerks.append(
                    {
                        "clerk_id": cid,
                        "display_name": name,
                        "region": region[:2] + "0000",
                        "status": "offline",
                        "case_id": None,
                        "since": None,
                        "in_status_s": None,
                        "skills": [],
                    }
                )
        return {
            "at": now,
            "queues": out_queues,
            "clerks": clerks,
            "waiting": snap.get("waiting", []),
            "open_cases": snap.get("open_cases", 0),
        }

    def _needed(self, last_hour: Any) -> int | None:
        """Clerks Erlang C asks for, from the last hour's arrivals and handle time (the default
        handle time until some case of the hour was handled); None when nobody arrived."""
        s = self.settings
        if last_hour is None or last_hour.requests == 0:
            return None
        aht = last_hour.handle_sum / last_hour.handled if last_hour.handled else s.aht_s
        try:
            return clerks_needed(float(last_hour.requests), max(aht, 1.0), s.sla_seconds, s.sla_goal).clerks
        except ValueError:
            return None

    def view(self, board: dict[str, Any], scope: str) -> dict[str, Any]:
        """What the walls of one scope see: the board cut to their provinces."""
        s = self.settings
        now = board["at"]
        regions = None if scope == DELTA else {scope}
        day = start_of_day(now)
        waiting = [w for w in board["waiting"] if in_scope(scope, w["region"])]
        clerks = [c for c in board["clerks"] if in_scope(scope, c["region"])]
        by_status: dict[str, int] = {}
        for c in clerks:
            by_status[c["status"]] = by_status.get(c["status"], 0) + 1
        alert_after = min(s.prebreach_s, s.sla_seconds)
        today = figures_of(self.tally.sums(day, day + 86400, regions=regions))
        return {
            "at": now,
            "scope": scope,
            "provinces": sorted(PROVINCES) if regions is None else sorted(regions),
            "sla_s": s.sla_seconds,
            "prebreach_s": s.prebreach_s,
            "goal": s.sla_goal,
            "queues": [q for q in board["queues"] if in_scope(scope, q["region"])],
            "clerks": clerks,
            "clerks_by_status": by_status,
            "open_cases": sum(1 for c in clerks if c["status"] in ("busy", "wrap_up")),
            "waiting": waiting[:WAITING_SHOWN],
            "waiting_total": len(waiting),
            # How many have waited past the pre-breach time (the longest of them are in `waiting`; sent
            # once, not twice: with everyone past it, a second list doubled every push).
            "past_prebreach": sum(1 for w in waiting if w["waited_s"] >= alert_after),
            "today": {**today, "sla_s": s.sla_seconds, "goal": s.sla_goal},
            "chart": {
                "bucket_s": self.tally.bucket_s,
                "buckets": [
                    {"start": b["bucket_start"], **{k: b[k] for k in ("requests", "answered", "service_level")}}
                    for b in self.tally.buckets(day, day + 86400, regions=regions)
                ],
            },
        }

    async def dashboard(self, scope: str) -> dict[str, Any]:
        """One view now (a wall that just connected, or ``GET /api/dashboard``). The last pass's board
        is reused while it is younger than a pass: 50 walls reconnecting at once build one board, not 50."""
        mono = asyncio.get_running_loop().time()
        made, board = self._last_board
        if board is None or mono - made >= self.settings.dashboard_interval_s or mono < made:
            board = await self.board(self.clock.now())
            self._last_board = (mono, board)
        return self.view(board, scope)

    # ---- service-level alerts -----------------------------------------------------

    def _under_goal(self, recent: dict[tuple[str, str], Any]) -> dict[tuple[str, str], tuple[float, int]]:
        """The queues whose last 15 minutes are under the goal, with enough requests counting to tell."""
        s = self.settings
        low: dict[tuple[str, str], tuple[float, int]] = {}
        for key, sums in recent.items():
            counted = sums.answered + sums.abandoned - sums.short_abandoned
            level = figures_of(sums)["service_level"]
            if counted >= s.sla_alert_min_requests and level is not None and level < s.sla_goal:
                low[key] = (level, counted)
        self.below_goal = set(low)
        return low

    async def _service_levels(self, low: dict[tuple[str, str], tuple[float, int]], raised: set[str]) -> None:
        """Tell the queue of each queue that went under the goal, or came back, since its last word
        (``raised``: the queues whose alert the core holds). The core raises each alert once."""
        assert self.submit is not None
        for key, (level, counted) in sorted(low.items()):
            if queue_name(key) not in raised:
                await self.submit(
                    ServiceLevelChanged(
                        key[0], key[1], True, round(level, 4), counted, RECENT_S, self.settings.sla_goal
                    )
                )
        for name in sorted(raised):
            region, _, skill = name.partition("/")
            if (region, skill) not in low:  # back at the goal, or too quiet to tell: may alert again
                await self.submit(ServiceLevelChanged(region, skill, False))
