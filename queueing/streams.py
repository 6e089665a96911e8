"""One node's side of the shared queue on Redis: commands in, results out, a heartbeat.

* :meth:`RedisQueue.submit` appends the command (with an id of its own) to the
  command stream and waits for its result by that id. If Redis is unreachable it
  answers ``QueueUnavailable`` within a couple of seconds; if Redis takes the
  command but no writer answers (a take-over in progress) it waits, re-sends the
  same envelope once (the writer answers a repeated id with its first reply and
  no effects), and gives up only after ``submit_timeout_s``.
* A reader task follows the events stream from the position this node has
  reached and hands every result to the sinks (the gateway), in order; after a
  Redis outage it resumes from that position, so nothing is missed or doubled.
* A heartbeat task keeps this node in ``<prefix>:nodes``; the writer drops the
  connections of nodes that stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .backend import OpenCase, QueueService, QueueUnavailable
from .clock import Clock
from .commands import Command, Envelope, Result
from .routing import Router
from .writer import Keys, RedisWriter, read_stream

log = logging.getLogger(__name__)

APPEND_RETRY_S = 2.0
REDIS_CONNECTIONS = 64  # for commands: submits, limits, reads
# The loops that poll Redis (the results reader, and while leading the writer and the stream
# recorder) each hold a connection nearly all the time, in blocking reads, and take it back the
# moment they release it, before a command waiting on the pool wakes: they get connections of
# their own on top, or a pool no bigger than them would starve every command (the heartbeat too).
POLLING_LOOPS = 4  # ... and the alert webhook's follower


class RedisQueue(QueueService):
    def __init__(self, clock: Clock, settings: Any, **router_options: Any) -> None:
        super().__init__()
        self.clock = clock
        self.settings = settings
        self.node = settings.node_id or f"n{secrets.token_hex(4)}"
        # A blocking pool: under a burst (a node's 2,000 citizens closing at once) a command waits
        # for a connection instead of failing at once, as redis-py's default pool does when full.
        self.redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                decode_responses=True,
                max_connections=REDIS_CONNECTIONS + POLLING_LOOPS,
                timeout=APPEND_RETRY_S,
                # A reply that never comes (a dead Redis host, a connection left out of step) is an
                # error after this long, not a hang; above the longest blocking read (1 s).
                socket_timeout=10.0,
                socket_connect_timeout=2.0,
            )
        )
        self.keys = Keys(settings.redis_prefix)
        self.submit_timeout_s = settings.submit_timeout_s
        self.while_leading: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.writer = RedisWriter(
            self.redis,
            self.keys,
            node=self.node,
            clock=clock,
            lease_s=settings.writer_lease_s,
            node_ttl_s=settings.node_ttl_s,
            snapshot_interval_s=settings.snapshot_interval_s,
            router_options=router_options,
            while_leading=self.while_leading,
        )
        self._pending: dict[str, asyncio.Future[Result]] = {}
        self._last = "0-0"
        self._started = False
        self._stop = asyncio.Event()
        self.durable: bool | None = None  # Redis's AOF, as CONFIG GET reports it (None: unknown)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.reader_errors = 0

    # ---- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start_position()
            await self._check_durability()
        except RedisError as exc:
            # Start anyway: /readyz says Redis is down, commands answer unavailable, and the
            # reader finds its position once Redis is back.
            log.error("Redis is unreachable at start-up (%s); the queue is unavailable until it is back", exc)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_results(), name="rvw-results"),
            loop.create_task(self._heartbeat(), name="rvw-heartbeat"),
        ]
        self.writer.start()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        await self.writer.close()
        # The loops stop at the end of their round (a blocking read is at most a second).
        _done, late = await asyncio.wait(self._tasks, timeout=3.0)
        for t in late:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(QueueUnavailable("the node is shutting down"))
        try:
            redis: Any = self.redis
            await redis.zrem(self.keys.nodes, self.node)
        except RedisError:
            pass
        await self.redis.aclose(close_connection_pool=True)  # the pool is ours: close its connections too

    # ---- commands -------------------------------------------------------

    async def submit(self, command: Command) -> Result:
        if self._closed:
            raise QueueUnavailable("the node is shutting down")
        envelope = Envelope(secrets.token_hex(10), self.node, self.clock.now(), command)
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[envelope.cmd_id] = fut
        payload = json.dumps(envelope.encode(), separators=(",", ":"))
        try:
            await self._append(payload)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), self.submit_timeout_s / 2)
            except TimeoutError:
                # The answer may have been lost with a writer: ask again; a repeated id is
                # answered with the first reply and changes nothing.
                log.warning("no answer to command %s yet; sending it again", envelope.cmd_id)
                await self._append(payload)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), self.submit_timeout_s / 2)
                except TimeoutError:
                    raise QueueUnavailable("no queue writer answered in time") from None
        finally:
            self._pending.pop(envelope.cmd_id, None)
            if not fut.done():
                fut.cancel()

    async def _append(self, payload: str) -> None:
        deadline = time.monotonic() + APPEND_RETRY_S
        delay = 0.05
        while True:
            try:
                await self.redis.xadd(self.keys.cmds, {"e": payload})
                return
            except RedisError as exc:
                if time.monotonic() + delay > deadline:
                    raise QueueUnavailable(f"Redis is unreachable: {exc}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    # ---- results --------------------------------------------------------

    @property
    def position(self) -> str:
        return self._last

    async def read_results(self, after: str | None, count: int) -> list[tuple[str, Result]]:
        """Up to ``count`` results after stream id ``after`` (None: from the start); the stream recorder's feed."""
        reply = await read_stream(self.redis, self.keys.events, after or "0-0", count, 500)
        out: list[tuple[str, Result]] = []
        for entry_id, fields in reply:
            try:
                out.append((entry_id, Result.decode(json.loads(fields["r"]))))
            except (KeyError, ValueError, TypeError) as exc:
                log.error("events stream entry %s does not decode: %s", entry_id, exc)
                out.append((entry_id, Result("", "", 0.0)))  # stepped over, not retried for ever
        return out

    async def load_marker(self, name: str) -> str | None:
        """A consumer's stored position in the events stream (``webhook``); the newest entry when it
        has none yet, so a first start does not replay the past."""
        redis: Any = self.redis
        stored = await redis.get(f"{self.keys.prefix}:position:{name}")
        if stored:
            return str(stored)
        newest = await redis.xrevrange(self.keys.events, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def save_marker(self, name: str, position: str) -> None:
        redis: Any = self.redis
        await redis.set(f"{self.keys.prefix}:position:{name}", position)

    async def _check_durability(self) -> None:
        """The waiting queue lives in Redis: say so loudly when Redis would lose it on a restart."""
        try:
            redis: Any = self.redis
            config = await redis.config_get("appendonly")
        except RedisError:
            return  # CONFIG may be disabled (managed Redis): the operator's checklist in the README applies
        self.durable = config.get("appendonly") == "yes"
        if not self.durable:
            log.warning(
                "Redis runs without AOF (appendonly no): a Redis restart loses every waiting citizen; "
                "set appendonly yes and appendfsync always (README, 'Several nodes')"
            )

    async def _start_position(self) -> None:
        # Results before this node started are not its business: follow from the newest.
        redis: Any = self.redis
        newest = await redis.xrevrange(self.keys.events, count=1)
        self._last = str(newest[0][0]) if newest else "0-0"
        self._started = True

    async def _read_results(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                if not self._started:
                    await self._start_position()
                reply = await read_stream(self.redis, self.keys.events, self._last, 500, 1000)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                self.reader_errors += 1
                log.warning("reading queue results failed (%s); again in %.1f s from %s", exc, backoff, self._last)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for entry_id, fields in reply:
                self._last = entry_id
                try:
                    result = dataclasses.replace(Result.decode(json.loads(fields["r"])), position=entry_id)
                except (KeyError, ValueError, TypeError) as exc:
                    log.error("events stream entry %s does not decode: %s", entry_id, exc)
                    continue
                fut = self._pending.get(result.cmd_id) if result.node == self.node else None
                if fut is not None and not fut.done():
                    fut.set_result(result)
                try:
                    self._deliver(result)
                except Exception:
                    log.exception("a queue sink failed on %s", entry_id)

    # ---- liveness -------------------------------------------------------

    async def _beat(self) -> None:
        redis: Any = self.redis
        await redis.zadd(self.keys.nodes, {self.node: time.time()})

    async def _heartbeat(self) -> None:
        interval = max(0.2, self.settings.node_ttl_s / 3)
        while not self._closed:
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                log.warning("heartbeat failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    # ---- reads ------------------------------------------------------------

    async def get_case(self, case_id: str) -> OpenCase | None:
        try:
            redis: Any = self.redis
            raw = await redis.hget(self.keys.cases, case_id)
        except RedisError:
            raise QueueUnavailable("Redis is unreachable") from None
        if not raw:
            return None
        citizen_id, _, clerk_id = str(raw).partition(" ")
        return OpenCase(case_id, citizen_id, clerk_id)

    async def summary(self, now: float) -> dict[str, Any]:
        raw = await self.redis.get(self.keys.summary)
        if not raw:
            return {"queues": [], "clerks": [], "clerks_by_status": {}, "open_cases": 0, "waiting": []}
        data: dict[str, Any] = json.loads(raw)
        age = max(0.0, now - float(data.get("at", now)))
        for w in data.get("waiting", []):
            w["waited_s"] = round(w["waited_s"] + age, 1)
        for q in data.get("queues", []):
            q["oldest_wait_s"] = round(q["oldest_wait_s"] + age, 1)
        return data

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    def local_router(self) -> Router | None:
        if self.writer.leader and self.writer.applier is not None:
            return self.writer.applier.router
        return None
