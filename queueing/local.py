"""The embedded queue: this process is the writer (no Redis).

Commands are applied at once, in the order they are submitted; results go to
the sinks (the gateway, the recorder) in the same order. A deadline task
applies ``Tick`` commands when the core's next deadline passes on the clock.
Nothing here is durable by itself: the recorder writes each new request to the
case records before its ack, and :meth:`LocalQueue.start` puts back what the
records say was open, so a restart or crash forgets nobody.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .applier import Applier
from .backend import OpenCase, QueueService, summarise
from .clock import Clock
from .commands import Command, Envelope, Restore, Result, Tick
from .routing import Router

log = logging.getLogger(__name__)

OpenRecords = Callable[[], Awaitable[tuple[list[dict[str, Any]], list[dict[str, Any]]]]]


class LocalQueue(QueueService):
    def __init__(self, clock: Clock, *, open_records: OpenRecords | None = None, **router_options: Any) -> None:
        super().__init__()
        self.clock = clock
        self.node = "local"
        self.applier = Applier(**router_options)
        self.open_records = open_records
        self._counter = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        if self.open_records is not None:
            tickets, cases = await self.open_records()
            if tickets or cases:
                result = await self.submit(Restore(tuple(tickets), tuple(cases)))
                log.info("restored %s waiting requests and %s open calls from the case records", *result.reply.values())
        self._task = asyncio.get_running_loop().create_task(self._deadlines(), name="rvw-local-deadlines")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, command: Command) -> Result:
        self._counter += 1
        envelope = Envelope(secrets.token_hex(8), self.node, self.clock.now(), command)
        result = self.applier.apply(envelope, str(self._counter))
        self._deliver(result)
        return result

    @property
    def position(self) -> str:
        return str(self._counter)

    async def get_case(self, case_id: str) -> OpenCase | None:
        case = self.applier.router.cases.get(case_id)
        return OpenCase(case.case_id, case.citizen_id, case.clerk_id) if case else None

    async def summary(self, now: float) -> dict[str, Any]:
        return summarise(self.applier.router, now)

    def local_router(self) -> Router:
        return self.applier.router

    async def _deadlines(self) -> None:
        while True:
            wait = 0.5
            try:
                deadline = self.applier.router.next_deadline()
                if deadline is not None and deadline <= self.clock.now():
                    await self.submit(Tick())
                    deadline = self.applier.router.next_deadline()
                if deadline is not None:
                    wait = min(0.5, max(0.01, deadline - self.clock.now()))
            except Exception:
                log.exception("queue deadline pass failed; retrying")
                wait = 1.0
            await self.clock.wait(wait)
