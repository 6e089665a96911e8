"""The queue as a node sees it: submit a command, hear every result in log order.

Two implementations share this surface. :class:`queueing.local.LocalQueue` is
the embedded default: one process is the writer. :class:`queueing.streams.RedisQueue`
is one node of several: commands go on a Redis stream, one elected writer
(:mod:`queueing.writer`) applies them, and every node reads the results back
from the events stream. Either way each result reaches each sink once, in log
order, and only the writer calls the routing core.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .commands import Command, Result
from .routing import Router, RoutingPolicy

Sink = Callable[[Result], None]


class QueueUnavailable(Exception):
    """The queue could not take or answer a command in time (Redis down, no writer)."""


@dataclass(frozen=True)
class OpenCase:
    """Who is in an open call: what the signaling path checks on every signal."""

    case_id: str
    citizen_id: str
    clerk_id: str


def router_options(settings: Any) -> dict[str, Any]:
    """The core's options from the server settings."""
    return {
        "offer_timeout_s": settings.offer_timeout_s,
        "reconnect_grace_s": settings.reconnect_grace_s,
        "aht_s": settings.aht_s,
        "max_wait_s": settings.max_wait_s,
        "position_interval_s": settings.position_interval_s,
        "policy": settings.routing.policy if settings.routing is not None else RoutingPolicy(),
        "max_open_per_address": settings.open_requests_per_address,
        "max_connections_per_address": settings.web_connections_per_address,
        "resume_ttl_s": settings.resume_ttl_s,
        "prebreach_s": settings.prebreach_s,
        "sla_s": settings.sla_seconds,
    }


class QueueService(abc.ABC):
    """One node's handle on the queue. ``start()`` then ``close()`` (safe twice)."""

    node: str
    clock: Clock

    def __init__(self) -> None:
        self.sinks: list[Sink] = []

    def subscribe(self, sink: Sink) -> None:
        """Call ``sink`` with every result, in log order, without awaiting (sinks queue their work)."""
        self.sinks.append(sink)

    def _deliver(self, result: Result) -> None:
        for sink in self.sinks:
            sink(result)

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def submit(self, command: Command) -> Result:
        """Apply ``command`` (through the writer) and return its result; ``QueueUnavailable``
        when that cannot be done in time. A result with an error changed nothing."""

    @abc.abstractmethod
    async def get_case(self, case_id: str) -> OpenCase | None:
        """The open call with that id; cheap, it sits on the signaling path."""

    @abc.abstractmethod
    async def summary(self, now: float) -> dict[str, Any]:
        """Queues, clerks and waiting citizens as the wall shows them."""

    @property
    @abc.abstractmethod
    def position(self) -> str:
        """The log position of the newest result this node has heard."""

    async def ping(self) -> bool:
        return True

    def local_router(self) -> Router | None:
        """The live core, when this process is the writer (tests and diagnostics read it)."""
        return None


def summarise(router: Router, now: float) -> dict[str, Any]:
    snap = router.snapshot(now)
    snap["waiting"] = router.waiting(now)
    snap["at"] = now
    return snap
