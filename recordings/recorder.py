"""The recorder: turns queue events into case-record writes, each exactly once.

It is the only writer of what the queue decides (requested, offered, answered,
ended, ...) into the case records. Results arrive in log order and are written
in batches, one transaction each (a group commit: 50 requests in flight cost
one commit, not 50).

* Embedded (one process): the local queue hands it every result; a request's
  ack waits for its batch to commit (:meth:`Recorder.wait_written`), which is
  what makes a crash right after the ack lose nothing.
* Several nodes: only the node that holds the writer's lease records. It reads
  the events stream from the position stored in the database and moves that
  position in the same transaction as the writes, so a take-over resumes exactly
  where the last recorder stopped: nothing is written twice or skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from queueing.clock import iso
from queueing.commands import Result
from queueing.events import (
    Answered,
    CaseClosed,
    CaseRequeued,
    ClerkAway,
    ClerkBack,
    ClerkStatusChanged,
    Event,
    Offered,
    OfferEnded,
    Supervised,
    TicketClosed,
    TicketOpened,
    Transferred,
    WrappedUp,
)

from .store import CaseStore, RecordOp

log = logging.getLogger(__name__)

BATCH_MAX = 500
CLOSE_WAIT_S = 10.0
CITIZEN_ENDED = "citizen_ended"


def position_name(prefix: str) -> str:
    """The recorder's row in ``queue_positions``: one per Redis prefix, so two deployments that
    share a database (each with its own Redis prefix) never skip each other's records."""
    return f"recorder:{prefix}"


def record_ops(result: Result) -> list[RecordOp]:
    """The case-record changes one result makes; every line at the result's log time."""
    ops: list[RecordOp] = []
    for ev in result.events:
        ops.extend(_ops(ev, result.at))
    return ops


def _ops(ev: Event, at: float) -> list[RecordOp]:
    def line(case_id: str, event: str, actor: str, detail: dict[str, Any] | None = None, **cols: Any) -> RecordOp:
        return RecordOp("record", case_id, {"at": at, "event": event, "actor": actor, "detail": detail, **cols})

    if isinstance(ev, TicketOpened):
        t = ev.ticket
        return [
            RecordOp(
                "create",
                t.case_id,
                {
                    "at": t.requested_at,
                    "actor": f"citizen:{t.citizen_id}",
                    "case_id": t.case_id,
                    "ticket_id": t.ticket_id,
                    "matter_code": t.matter_code,
                    "skill": t.skill,
                    "origin_region": t.origin_region,
                    "target_region": t.region,
                    "channel": t.channel,
                    "kiosk_id": t.kiosk_id,
                    "citizen_id": t.citizen_id,
                    "priority": t.priority,
                    "language": t.language,
                },
            )
        ]
    if isinstance(ev, Offered):
        return [
            line(
                ev.ticket.case_id,
                "offered",
                "system",
                {"clerk_id": ev.clerk_id},
                offered_at=ev.at,
                increment=("offers",),
            )
        ]
    if isinstance(ev, OfferEnded):
        actor = f"clerk:{ev.clerk_id}" if ev.reason == "declined" else "system"
        return [line(ev.case_id, f"offer_{ev.reason}", actor, {"clerk_id": ev.clerk_id})]
    if isinstance(ev, Answered):
        return [
            line(
                ev.ticket.case_id,
                "answered",
                f"clerk:{ev.clerk_id}",
                answered_at=ev.at,
                clerk_id=ev.clerk_id,
                increment=("answers",),
            )
        ]
    if isinstance(ev, TicketClosed):
        t = ev.ticket
        actor = f"citizen:{t.citizen_id}" if ev.reason == "cancelled" else "system"
        detail = {"gone_since": iso(t.gone_since)} if ev.reason == "abandoned" else None
        return [line(t.case_id, ev.reason, actor, detail, ended_at=ev.ended_at, outcome=ev.reason)]
    if isinstance(ev, CaseClosed):
        if ev.by == "clerk":
            return [
                line(
                    ev.case_id,
                    "ended",
                    f"clerk:{ev.clerk_id}",
                    {"outcome": ev.outcome},
                    ended_at=ev.at,
                    outcome=ev.outcome,
                    notes=ev.notes,
                )
            ]
        # The clerk's wrap-up may be written first: keep an outcome already there.
        return [
            line(
                ev.case_id,
                "citizen_hung_up",
                f"citizen:{ev.citizen_id}",
                keep_existing=True,
                ended_at=ev.at,
                outcome=CITIZEN_ENDED,
            )
        ]
    if isinstance(ev, WrappedUp):
        return [
            line(
                ev.case_id,
                "wrapped_up",
                f"clerk:{ev.clerk_id}",
                {"outcome": ev.outcome},
                outcome=ev.outcome,
                notes=ev.notes,
                wrapped_at=at,
            )
        ]
    if isinstance(ev, Transferred):
        t = ev.ticket
        detail = {
            "from_region": ev.from_region,
            "from_skill": ev.from_skill,
            "to_region": t.region,
            "to_skill": t.skill,
            "matter_code": t.matter_code,
            "note": ev.note,
        }
        return [
            line(
                t.case_id,
                "transferred",
                ev.by or f"clerk:{ev.from_clerk}",
                detail,
                target_region=t.region,
                skill=t.skill,
                matter_code=t.matter_code,
                increment=("transfers",),
            )
        ]
    if isinstance(ev, ClerkStatusChanged):
        return [
            RecordOp("status", "", {"clerk_id": ev.clerk_id, "region": ev.region, "status": ev.status, "at": ev.at})
        ]
    if isinstance(ev, Supervised):
        return [line(ev.case_id, ev.action, ev.by, {"clerk_id": ev.clerk_id, **ev.detail})] if ev.case_id else []
    if isinstance(ev, ClerkAway):
        return [line(ev.case_id, "clerk_connection_lost", f"clerk:{ev.clerk_id}")]
    if isinstance(ev, ClerkBack):
        return [line(ev.case_id, "clerk_back", f"clerk:{ev.clerk_id}")]
    if isinstance(ev, CaseRequeued):
        return [line(ev.ticket.case_id, "requeued", "system", {"clerk_id": ev.clerk_id})]
    return []


class Recorder:
    """Writes results handed to it (:meth:`accept`) in order, in batches."""

    def __init__(self, store: CaseStore) -> None:
        self.store = store
        self._pending: list[Result] = []
        self._more = asyncio.Event()
        self._written = asyncio.Condition()
        self.written = 0  # results written (or found to need nothing)
        self.received = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def accept(self, result: Result) -> None:
        """A queue sink: keep the result for the next batch."""
        self.received += 1
        self._pending.append(result)
        self._more.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rvw-recorder")

    async def close(self) -> None:
        """Write what is pending, then stop; safe twice. A batch being written is finished, not
        cancelled half-way (and then written again)."""
        if self._closed:
            return
        self._closed = True
        self._more.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), CLOSE_WAIT_S)
            except TimeoutError:
                log.error("case records still pending at shutdown: %s results not written", len(self._pending))
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

    async def wait_written(self, count: int | None = None, within: float = 10.0) -> None:
        """Wait until the first ``count`` results received (default: all so far) are written."""
        target = self.received if count is None else count

        async def reached() -> None:
            async with self._written:
                await self._written.wait_for(lambda: self.written >= target)

        await asyncio.wait_for(reached(), within)

    async def _run(self) -> None:
        while True:
            await self._more.wait()
            self._more.clear()
            while self._pending:
                try:
                    await self._flush()
                except Exception:
                    log.exception("could not write case records; retrying")
                    await asyncio.sleep(0.5)
            if self._closed:
                return

    async def _flush(self) -> None:
        batch = self._pending[:BATCH_MAX]
        ops = [op for r in batch for op in record_ops(r)]
        if ops:
            await self.store.write_batch(ops)
        del self._pending[: len(batch)]
        async with self._written:
            self.written += len(batch)
            self._written.notify_all()


class StreamRecorder:
    """The recorder of several nodes: reads the events stream from the database's position.

    ``read`` returns up to ``count`` (entry id, result) pairs after an entry id (or from
    the start with None), blocking briefly when there are none.
    """

    def __init__(
        self,
        store: CaseStore,
        read: Callable[[str | None, int], Awaitable[list[tuple[str, Result]]]],
        name: str,
    ) -> None:
        self.store = store
        self.read = read
        self.name = name
        self.position: str | None = None

    async def run(self) -> None:
        """Record until cancelled (the caller runs this while it holds the writer's lease)."""
        self.position = await self.store.position(self.name)
        backoff = 0.1
        while True:
            try:
                entries = await self.read(self.position, BATCH_MAX)
                if not entries:
                    continue
                ops = [op for _, r in entries for op in record_ops(r)]
                new = entries[-1][0]
                if not await self.store.write_batch(ops, (self.name, self.position, new)):
                    # Someone else recorded meanwhile: take their position and go on from there.
                    self.position = await self.store.position(self.name)
                    continue
                self.position = new
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording from the events stream failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
