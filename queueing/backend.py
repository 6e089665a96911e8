"""The queue behind an interface: where the routing state lives.

An operation is a function of the :class:`~queueing.routing.Router` and the
time. A backend applies it atomically with respect to every other node and
returns the events it caused; only the caller that applied an operation gets
its events, so each offer, answer or time-out is carried out by exactly one
node.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from typing import Any, TypeVar

from .clock import Clock
from .routing import ActiveCase, Event, Router

T = TypeVar("T")
Operation = Callable[[Router, float], list[Event]]


class QueueBackend(abc.ABC):
    def __init__(self, clock: Clock, **router_options: Any) -> None:
        self.clock = clock
        self.router_options = router_options

    @abc.abstractmethod
    async def apply(self, op: Operation) -> list[Event]:
        """Run ``op`` atomically at the clock's now; raise what it raises, storing nothing then."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Router], T]) -> T:
        """A consistent read of the whole state (for dashboards and positions)."""

    @abc.abstractmethod
    async def get_case(self, case_id: str) -> ActiveCase | None:
        """The open case with that id; cheap, it sits on the signaling path."""

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections; safe to call twice."""


class MemoryBackend(QueueBackend):
    """The state of one process. asyncio runs ``op`` without interleaving, since it is synchronous."""

    def __init__(self, clock: Clock, **router_options: Any) -> None:
        super().__init__(clock, **router_options)
        self.router = Router(**router_options)

    async def apply(self, op: Operation) -> list[Event]:
        return op(self.router, self.clock.now())

    async def read(self, fn: Callable[[Router], T]) -> T:
        return fn(self.router)

    async def get_case(self, case_id: str) -> ActiveCase | None:
        return self.router.cases.get(case_id)


class RedisBackend(QueueBackend):
    """The state shared by several nodes in one Redis key, changed with optimistic transactions.

    Each operation WATCHes the key, loads the state, applies the pure core and
    writes the result in MULTI/EXEC; a concurrent change from another node
    makes EXEC fail and the operation is retried on the new state. Simple and
    exactly-once, but every operation moves the whole state: fine for a
    province's queues, to be replaced by per-queue keys and scripts when the
    routing deepens.
    """

    def __init__(self, clock: Clock, url: str, prefix: str = "rvw", **router_options: Any) -> None:
        super().__init__(clock, **router_options)
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(url, decode_responses=True)
        self.state_key = f"{prefix}:router"
        self.cases_key = f"{prefix}:cases"
        self._closed = False

    def _router(self, raw: str | bytes | None) -> Router:
        router = Router(**self.router_options)
        if raw:
            router.load(json.loads(raw))
        return router

    async def apply(self, op: Operation) -> list[Event]:
        from redis.exceptions import WatchError

        for _attempt in range(200):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self.state_key)
                    router = self._router(await pipe.get(self.state_key))
                    events = op(router, self.clock.now())
                    cases = {
                        cid: [c.citizen_id, c.clerk_id, c.ticket_id, c.answered_at] for cid, c in router.cases.items()
                    }
                    pipe.multi()
                    pipe.set(self.state_key, json.dumps(router.to_dict()))
                    pipe.set(self.cases_key, json.dumps(cases))
                    await pipe.execute()
                    return events
                except WatchError:
                    continue
        raise RuntimeError("queue state too contended: gave up after 200 attempts")

    async def read(self, fn: Callable[[Router], T]) -> T:
        return fn(self._router(await self.redis.get(self.state_key)))

    async def get_case(self, case_id: str) -> ActiveCase | None:
        raw = await self.redis.get(self.cases_key)
        if not raw:
            return None
        entry = json.loads(raw).get(case_id)
        if entry is None:
            return None
        citizen_id, clerk_id, ticket_id, answered_at = entry
        return ActiveCase(case_id, ticket_id, citizen_id, clerk_id, answered_at)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def reset(self) -> None:
        """Forget all queue state (tests and a fresh demo)."""
        await self.redis.delete(self.state_key, self.cases_key)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.redis.aclose()
