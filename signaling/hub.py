"""The hub: applies queue operations and carries out what they cause.

Namespaces parse and authorise; the hub turns routing events into Socket.IO
messages and case-record lines. Rooms make this work across nodes: every
citizen is in ``citizen:<id>`` on /citizen and every clerk in ``clerk:<id>`` on
/clerk, so with the Redis manager an emit reaches them wherever they are
connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

from queueing.backend import Operation, QueueBackend
from queueing.clock import Clock, iso
from queueing.routing import (
    Answered,
    CaseClosed,
    ClerkChanged,
    Event,
    Offered,
    OfferEnded,
    PositionChanged,
    Router,
    TicketClosed,
)
from queueing.stats import service_level
from recordings.store import CaseStore, Directory
from server.catalog import Catalog
from server.config import Settings

from .const import CITIZEN_NS, CLERK_NS, SUPERVISOR_NS
from .ice import ice_servers

log = logging.getLogger(__name__)

CHINA_UTC_OFFSET_S = 8 * 3600  # China Standard Time has no daylight saving


def citizen_room(citizen_id: str) -> str:
    return f"citizen:{citizen_id}"


def clerk_room(clerk_id: str) -> str:
    return f"clerk:{clerk_id}"


def start_of_day(now: float) -> float:
    """Midnight (China time) of the day that contains ``now``, as epoch seconds."""
    local = now + CHINA_UTC_OFFSET_S
    return local - (local % 86400) - CHINA_UTC_OFFSET_S


class Hub:
    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        backend: QueueBackend,
        store: CaseStore,
        directory: Directory,
        catalog: Catalog,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.sio = sio
        self.backend = backend
        self.store = store
        self.directory = directory
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.supervisors: dict[str, Any] = {}  # this node's supervisor connections
        self._closed = False

    # ---- task ownership -----------------------------------------------

    def defer(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` after the current handler has returned (and its ack is queued)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._ticker()), loop.create_task(self._dashboard_loop())]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pending = [*self._loops, *self._tasks]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # ---- helpers ------------------------------------------------------

    def ice(self, user: str) -> list[dict[str, Any]]:
        s = self.settings
        return ice_servers(
            s.ice_servers,
            turn_secret=s.turn_secret,
            turn_urls=s.turn_urls,
            user=user,
            now=self.clock.now(),
            ttl_s=s.turn_ttl_s,
        )

    async def apply(self, op: Operation) -> list[Event]:
        events = await self.backend.apply(op)
        later = await self.carry_out(events)
        for emit in later:
            self.defer(emit())
        return events

    async def _record(self, case_id: str, **kwargs: Any) -> None:
        try:
            await self.store.record(case_id, at=self.clock.now(), **kwargs)
        except Exception:
            log.exception("could not record %s for case %s", kwargs.get("event"), case_id)

    async def carry_out(self, events: list[Event]) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """Send and record what the events say; return the emits that must follow the ack."""
        later: list[Callable[[], Coroutine[Any, Any, None]]] = []
        now = self.clock.now()
        for ev in events:
            if isinstance(ev, PositionChanged):
                await self.sio.emit(
                    "queue_update",
                    {"ticket_id": ev.ticket_id, "position": ev.position, "estimated_wait_s": ev.estimated_wait_s},
                    room=citizen_room(ev.citizen_id),
                    namespace=CITIZEN_NS,
                )
            elif isinstance(ev, Offered):
                t = ev.ticket
                matter = self.catalog.get(t.matter_code)
                await self.sio.emit(
                    "offer",
                    {
                        "ticket_id": t.ticket_id,
                        "case_id": t.case_id,
                        "matter_code": t.matter_code,
                        "matter_name": matter.name_zh if matter else t.matter_code,
                        "matter_name_en": matter.name_en if matter else t.matter_code,
                        "origin_region": t.origin_region,
                        "target_region": t.region,
                        "channel": t.channel,
                        "priority": t.priority,
                        "waited_s": round(now - t.requested_at, 1),
                        "expires_in_s": round(ev.expires_at - now, 1),
                    },
                    room=clerk_room(ev.clerk_id),
                    namespace=CLERK_NS,
                )
                await self._record(
                    t.case_id, event="offered", actor="system", detail={"clerk_id": ev.clerk_id}, offered_at=now
                )
            elif isinstance(ev, OfferEnded):
                await self.sio.emit(
                    "offer_withdrawn",
                    {"ticket_id": ev.ticket_id, "case_id": ev.case_id, "reason": ev.reason},
                    room=clerk_room(ev.clerk_id),
                    namespace=CLERK_NS,
                )
                actor = f"clerk:{ev.clerk_id}" if ev.reason == "declined" else "system"
                await self._record(
                    ev.case_id, event=f"offer_{ev.reason}", actor=actor, detail={"clerk_id": ev.clerk_id}
                )
            elif isinstance(ev, Answered):
                t = ev.ticket
                clerk = await self.directory.user(ev.clerk_id)
                display_name = clerk.display_name if clerk else ev.clerk_id
                await self.sio.emit(
                    "matched",
                    {
                        "ticket_id": t.ticket_id,
                        "case_id": t.case_id,
                        "clerk": {"display_name": display_name, "region": t.region},
                        "ice_servers": self.ice(f"citizen-{t.citizen_id}"),
                    },
                    room=citizen_room(t.citizen_id),
                    namespace=CITIZEN_NS,
                )
                await self._record(
                    t.case_id,
                    event="answered",
                    actor=f"clerk:{ev.clerk_id}",
                    answered_at=now,
                    clerk_id=ev.clerk_id,
                )
                later.append(self._matched_to_clerk(ev))
            elif isinstance(ev, TicketClosed):
                t = ev.ticket
                await self.sio.emit(
                    "case_ended",
                    {"case_id": t.case_id, "ticket_id": t.ticket_id, "outcome": ev.reason},
                    room=citizen_room(t.citizen_id),
                    namespace=CITIZEN_NS,
                )
                actor = f"citizen:{t.citizen_id}" if ev.reason == "cancelled" else "system"
                # An abandon ends when the citizen left, not when the grace ran out: that is
                # how long they waited, and what tells a short abandon (docs/sla.md).
                ended = t.gone_since if ev.reason == "abandoned" and t.gone_since is not None else now
                detail = {"gone_since": iso(t.gone_since)} if ev.reason == "abandoned" else None
                await self._record(
                    t.case_id, event=ev.reason, actor=actor, detail=detail, ended_at=ended, outcome=ev.reason
                )
            elif isinstance(ev, ClerkChanged):
                await self.sio.emit(
                    "status",
                    {"status": ev.status, "reason": ev.reason},
                    room=clerk_room(ev.clerk_id),
                    namespace=CLERK_NS,
                )
            elif isinstance(ev, CaseClosed):
                pass  # the end_case handler records the outcome and tells the citizen
        return later

    def _matched_to_clerk(self, ev: Answered) -> Callable[[], Coroutine[Any, Any, None]]:
        t = ev.ticket

        async def emit() -> None:
            await self.sio.emit(
                "matched",
                {
                    "ticket_id": t.ticket_id,
                    "case_id": t.case_id,
                    "citizen": {"origin_region": t.origin_region, "channel": t.channel},
                    "matter_code": t.matter_code,
                    "ice_servers": self.ice(f"clerk-{ev.clerk_id}"),
                },
                room=clerk_room(ev.clerk_id),
                namespace=CLERK_NS,
            )

        return emit

    # ---- background loops ---------------------------------------------

    async def tick(self) -> list[Event]:
        """Apply the deadlines that have passed (offer time-outs, reconnect grace)."""
        return await self.apply(lambda router, now: router.tick(now))

    async def _ticker(self) -> None:
        while True:
            wait = 0.5
            try:
                deadline = await self.backend.read(lambda r: r.next_deadline())
                now = self.clock.now()
                if deadline is not None and deadline <= now:
                    await self.tick()
                    deadline = await self.backend.read(lambda r: r.next_deadline())
                if deadline is not None:
                    wait = min(0.5, max(0.01, deadline - self.clock.now()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue ticker pass failed; retrying")
                wait = 1.0
            await self.clock.wait(wait)

    async def dashboard(self) -> dict[str, Any]:
        now = self.clock.now()
        snap = await self.backend.read(lambda r: r.snapshot(now))
        times = await self.store.times_since(start_of_day(now))
        names = await self.directory.display_names()
        for clerk in snap["clerks"]:
            clerk["display_name"] = names.get(clerk["clerk_id"], clerk["clerk_id"])
        alert_after = self.settings.sla_seconds * 0.75
        waiting = await self.backend.read(lambda r: _waiting(r, now))
        snap["alerts"] = [w for w in waiting if w["waited_s"] >= alert_after]
        snap["today"] = service_level(
            times, sla_s=self.settings.sla_seconds, short_abandon_s=self.settings.short_abandon_s
        )
        snap["at"] = now
        snap["sla_s"] = self.settings.sla_seconds
        return snap

    async def _dashboard_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.dashboard_interval_s)
            if not self.supervisors:
                continue
            try:
                data = await self.dashboard()
                # Only this node's supervisors: every node sends to its own.
                await self.sio.emit("dashboard", data, room="supervisors", namespace=SUPERVISOR_NS, ignore_queue=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dashboard pass failed")


def _waiting(router: Router, now: float) -> list[dict[str, Any]]:
    return sorted(
        (
            {
                "ticket_id": t.ticket_id,
                "region": t.region,
                "skill": t.skill,
                "matter_code": t.matter_code,
                "waited_s": round(now - t.requested_at, 1),
                "state": t.state.value,
            }
            for t in router.tickets.values()
        ),
        key=lambda w: -w["waited_s"],
    )
