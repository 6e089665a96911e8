"""The gateway: turns queue events into messages to this node's own sockets.

Every node hears every result of the queue, in log order, and emits only to
the sockets connected to it (``ignore_queue=True``): a client is connected to
one node, so it hears each event once, whichever node applied the command.
Results wait in a queue of their own and are emitted by one task, so a slow
socket never holds up the writer, and order is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from queueing.commands import Result
from queueing.events import (
    Answered,
    CaseClosed,
    CaseRequeued,
    CitizenResumed,
    ClerkAway,
    ClerkBack,
    ClerkChanged,
    ConnectionReplaced,
    Event,
    NodeLost,
    Offered,
    OfferEnded,
    PositionChanged,
    ServiceLevelAlert,
    TicketClosed,
    TicketOpened,
    Transferred,
    WaitAlert,
)
from server.catalog import DELTA, Catalog

from . import messages
from .const import CITIZEN_NS, CLERK_NS, SUPERVISOR_NS
from .wall import wall_room

log = logging.getLogger(__name__)

EXPIRED_MESSAGE = (
    "等候时间过长，本次求助已结束，请重新发起 / The wait was too long; this request has ended, please ask again"
)


def citizen_room(citizen_id: str) -> str:
    return f"citizen:{citizen_id}"


def clerk_room(clerk_id: str) -> str:
    return f"clerk:{clerk_id}"


class Gateway:
    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        catalog: Catalog,
        node: str,
        ice: Callable[[str], list[dict[str, Any]]],
        reconnect_grace_s: float,
        drop_local: Callable[[], Awaitable[None]],
    ) -> None:
        self.sio = sio
        self.catalog = catalog
        self.node = node
        self.ice = ice
        self.reconnect_grace_s = reconnect_grace_s
        self.drop_local = drop_local
        self._inbox: asyncio.Queue[Result] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.delivered = 0

    def accept(self, result: Result) -> None:
        """A queue sink: keep the result for the emitting task."""
        if result.events and not self._closed:
            self._inbox.put_nowait(result)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rvw-gateway")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            result = await self._inbox.get()
            # Let the command's own handler send its ack first: clients read the ack, then what followed.
            await asyncio.sleep(0)
            for event in result.events:
                try:
                    await self.emit_event(event)
                except Exception:
                    log.exception("could not emit %s", type(event).__name__)
            self.delivered += 1

    async def _to_citizen(self, citizen_id: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, room=citizen_room(citizen_id), namespace=CITIZEN_NS, ignore_queue=True)

    async def _to_clerk(self, clerk_id: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, room=clerk_room(clerk_id), namespace=CLERK_NS, ignore_queue=True)

    async def emit_event(self, ev: Event) -> None:
        if isinstance(ev, PositionChanged):
            await self._to_citizen(
                ev.citizen_id, "queue_update", messages.queue_update(ev.ticket_id, ev.position, ev.estimated_wait_s)
            )
        elif isinstance(ev, Offered):
            await self._to_clerk(
                ev.clerk_id, "offer", messages.offer(self.catalog, ev.ticket, now=ev.at, expires_at=ev.expires_at)
            )
        elif isinstance(ev, OfferEnded):
            await self._to_clerk(
                ev.clerk_id, "offer_withdrawn", messages.offer_withdrawn(ev.ticket_id, ev.case_id, ev.reason)
            )
        elif isinstance(ev, Answered):
            t = ev.ticket
            await self._to_citizen(
                t.citizen_id,
                "matched",
                messages.matched_citizen(
                    ticket_id=t.ticket_id,
                    case_id=t.case_id,
                    clerk_name=ev.clerk_name or ev.clerk_id,
                    clerk_region=t.region,
                    ice_servers=self.ice(f"citizen-{t.citizen_id}"),
                ),
            )
            await self._to_clerk(
                ev.clerk_id,
                "matched",
                messages.matched_clerk(
                    ticket_id=t.ticket_id,
                    case_id=t.case_id,
                    origin_region=t.origin_region,
                    channel=t.channel,
                    matter_code=t.matter_code,
                    ice_servers=self.ice(f"clerk-{ev.clerk_id}"),
                ),
            )
        elif isinstance(ev, TicketClosed):
            data = messages.case_ended(ev.ticket.case_id, ev.reason, ticket_id=ev.ticket.ticket_id)
            if ev.reason == "expired":
                data["message"] = EXPIRED_MESSAGE
            await self._to_citizen(ev.ticket.citizen_id, "case_ended", data)
        elif isinstance(ev, ClerkChanged):
            await self._to_clerk(ev.clerk_id, "status", messages.status(ev.status, ev.reason))
        elif isinstance(ev, CaseClosed):
            if ev.by == "clerk":
                await self._to_citizen(ev.citizen_id, "case_ended", messages.case_ended(ev.case_id, ev.outcome))
            else:
                await self._to_clerk(ev.clerk_id, "case_ended", messages.case_ended(ev.case_id, messages.CITIZEN_ENDED))
        elif isinstance(ev, Transferred):
            await self._to_citizen(ev.ticket.citizen_id, "transferred", messages.transferred(ev.ticket, ev.note))
        elif isinstance(ev, CaseRequeued):
            await self._to_citizen(ev.ticket.citizen_id, "requeued", messages.transferred(ev.ticket, ""))
        elif isinstance(ev, ClerkAway):
            await self._to_citizen(ev.citizen_id, "clerk_away", messages.clerk_away(ev.case_id, self.reconnect_grace_s))
        elif isinstance(ev, ClerkBack):
            await self._to_citizen(ev.citizen_id, "clerk_back", messages.case_ref(ev.case_id))
        elif isinstance(ev, CitizenResumed):
            await self._to_clerk(ev.clerk_id, "citizen_resumed", messages.case_ref(ev.case_id))
        elif isinstance(ev, ConnectionReplaced):
            node, _, sid = ev.conn.rpartition("/")
            if node == self.node:
                # One live connection per citizen: the older one is told, then closed (a
                # server-side disconnect, so its client does not reconnect by itself).
                await self.sio.emit("replaced", messages.replaced(), to=sid, namespace=CITIZEN_NS, ignore_queue=True)
                await self.sio.disconnect(sid, namespace=CITIZEN_NS, ignore_queue=True)
        elif isinstance(ev, NodeLost):
            if ev.node == self.node:
                # This node was declared dead (a long pause?): its sockets no longer count in the
                # queue. Drop them; their clients come back with their resume tokens.
                log.warning("this node was declared dead by the queue's writer; dropping its connections")
                await self.drop_local()
        elif isinstance(ev, WaitAlert | ServiceLevelAlert):
            # Every node tells its own supervisors (each wall is connected to one node): those
            # of the whole delta and those of the queue's province.
            data = messages.alert(ev)
            for scope in (DELTA, ev.ticket.region if isinstance(ev, WaitAlert) else ev.region):
                await self.sio.emit("alert", data, room=wall_room(scope), namespace=SUPERVISOR_NS, ignore_queue=True)
        elif isinstance(ev, TicketOpened):
            pass  # the requester hears of it in the ack
