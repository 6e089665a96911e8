"""The queue's writer on Redis: one node at a time applies the command log to the core.

Every node runs a :class:`RedisWriter`; the one that holds the lease
(:mod:`queueing.lease`) leads:

1. it loads the latest snapshot (the core's state and the command id it covers)
   and reads the command stream from there, applying each command with its own
   time (``Envelope.at``; deadlines come as ``Tick`` commands the writer appends
   to the same log, so a time-out happens once, in log order, whoever writes);
2. results of commands up to ``<prefix>:applied`` were published by an earlier
   writer and are only replayed into the state; later ones are published on the
   events stream, fenced, together with the open-call index and the new
   ``applied`` mark, in one script;
3. every few seconds it stores a snapshot (fenced) and trims the command stream
   behind it; every second the wall's summary; nodes whose heartbeat is older
   than ``RVW_NODE_TTL_SECONDS`` are turned into ``NodeDown`` commands.

Replay gives the same state and events because the core is deterministic
(tests/test_replay.py). While it leads, the writer also runs the tasks given
to it (the stream recorder), and stops them when it loses the lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from . import lease
from .applier import Applier
from .backend import summarise
from .clock import Clock
from .commands import Envelope, NodeDown, Result, Tick
from .events import Answered, CaseClosed, CaseRequeued, Transferred

log = logging.getLogger(__name__)

READ_COUNT = 256
WAITING_ON_WALL = 500
EVENTS_MAXLEN = 200_000
SNAPSHOT_EVERY_COMMANDS = 5_000
DEADLINE_EVERY_S = 0.05


@dataclass(frozen=True)
class Keys:
    prefix: str

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return f"{self.prefix}:{name}"


async def read_stream(redis: Any, key: str, after: str, count: int, block_ms: int) -> list[tuple[str, dict[str, str]]]:
    """Entries of one stream after ``after`` (XREAD), as (id, fields) pairs."""
    reply: Any = await redis.xread({key: after}, count=count, block=block_ms)
    out: list[tuple[str, dict[str, str]]] = []
    for _stream, entries in reply or []:
        for entry_id, fields in entries:
            out.append((str(entry_id), dict(fields or {})))
    return out


def stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return (int(ms), int(seq or 0))


class RedisWriter:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        node: str,
        clock: Clock,
        lease_s: float,
        node_ttl_s: float,
        snapshot_interval_s: float,
        router_options: dict[str, Any],
        while_leading: list[Callable[[], Coroutine[Any, Any, None]]],
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.node = node
        self.clock = clock
        self.lease_s = lease_s
        self.node_ttl_s = node_ttl_s
        self.snapshot_interval_s = snapshot_interval_s
        self.router_options = router_options
        self.while_leading = while_leading
        self.applier: Applier | None = None
        self.epoch = 0
        self.leader = False
        self.takeovers = 0
        # Wall time since which Redis has answered this writer without a break: heartbeats
        # could not get through before it, so nodes are not judged on them until a TTL later.
        self._reachable_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._lead_tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._acquire = redis.register_script(lease.ACQUIRE)
        self._renew = redis.register_script(lease.RENEW)
        self._release = redis.register_script(lease.RELEASE)
        self._publish = redis.register_script(lease.PUBLISH)
        self._append = redis.register_script(lease.APPEND)
        self._snapshot = redis.register_script(lease.SNAPSHOT)
        self._set = redis.register_script(lease.SET)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rvw-writer")

    async def close(self) -> None:
        """Stop at the end of the current round (not in the middle of a Redis command: a command
        cancelled half-way can leave redis-py's connection waiting for a reply that never comes),
        give the lease up, and stop the tasks run while leading. Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.lease_s + 2.0)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        await self._stop_lead_tasks()

    # ---- leadership -----------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                epoch = int(
                    await self._acquire(
                        keys=[self.keys.lease, self.keys.epoch],
                        args=lease.args(self.node, int(self.lease_s * 1000), self.epoch),
                    )
                )
                if self._reachable_since is None:
                    self._reachable_since = time.time()
                if not epoch:
                    await asyncio.sleep(min(0.25, self.lease_s / 4))
                    continue
                await self._lead(epoch)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except lease.Fenced:
                log.warning("node %s lost the queue's writer lease (epoch %s)", self.node, self.epoch)
            except Exception as exc:
                self._reachable_since = None
                log.warning("queue writer on %s stopped (%s); retrying in %.1f s", self.node, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if self.leader:
                    self.leader = False
                    await self._stop_lead_tasks()
                    if self._closed:
                        await self._give_up_lease()

    async def _give_up_lease(self) -> None:
        try:  # let another node take over at once instead of after the lease
            await self._release(keys=[self.keys.lease], args=lease.args(self.node, self.epoch))
        except Exception:
            log.warning("could not release the writer's lease; it lapses in %.0f s", self.lease_s)

    async def _stop_lead_tasks(self) -> None:
        tasks, self._lead_tasks = self._lead_tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fenced(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=lease.args(self.epoch, *args))
        except ResponseError as exc:
            if lease.is_fenced(exc):
                raise lease.Fenced() from None
            raise

    async def _lead(self, epoch: int) -> None:
        self.epoch = epoch
        applier = Applier(**self.router_options)
        raw = await self.redis.get(self.keys.snapshot)
        last = "0-0"
        if raw:
            snap = json.loads(raw)
            applier.load(snap["applier"])
            last = str(snap["position"])
        applied = str(await self.redis.get(self.keys.applied) or "0-0")
        self.applier = applier
        self.leader = True
        self.takeovers += 1
        log.info("node %s leads the queue (epoch %s) from command %s", self.node, epoch, last)
        loop = asyncio.get_running_loop()
        self._lead_tasks = [loop.create_task(make()) for make in self.while_leading]
        renewed = snapshot_at = summary_at = loop.time()
        summary_at -= 1.0
        since_snapshot = 0
        tick_pending = False
        deadline = applier.router.next_deadline()
        deadline_at = loop.time()
        stale = False
        while not self._closed:
            mono = loop.time()
            if mono - renewed >= self.lease_s / 3:
                ok = await self._renew(
                    keys=[self.keys.lease, self.keys.epoch],
                    args=lease.args(self.node, epoch, int(self.lease_s * 1000)),
                )
                if not int(ok):
                    raise lease.Fenced()
                renewed = mono
            reply = await read_stream(self.redis, self.keys.cmds, last, READ_COUNT, 50)
            results: list[Result] = []
            for entry_id, fields in reply:
                last = entry_id
                try:
                    envelope = Envelope.decode(json.loads(fields["e"]))
                except (KeyError, ValueError, TypeError) as exc:
                    log.error("skipping command %s that does not decode: %s", entry_id, exc)
                    continue
                if isinstance(envelope.command, Tick) and envelope.node == self.node:
                    tick_pending = False
                result = applier.apply(envelope, entry_id)
                since_snapshot += 1
                if stream_id(entry_id) > stream_id(applied):
                    results.append(result)
            stale = stale or bool(reply)
            if stale and mono - deadline_at >= DEADLINE_EVERY_S:
                # The next deadline is a pass over the waiting tickets: at most this often, not per
                # batch (a deadline is then applied at most DEADLINE_EVERY_S late).
                deadline, deadline_at, stale = applier.router.next_deadline(), mono, False
            for i in range(0, len(results), READ_COUNT):
                await self._publish_results(results[i : i + READ_COUNT])
                applied = results[min(i + READ_COUNT, len(results)) - 1].position
            now = self.clock.now()
            if deadline is not None and deadline <= now and not tick_pending:
                await self._append_command(Tick(), now)
                tick_pending = True
            if mono - summary_at >= 1.0:
                summary_at = mono
                await self._publish_summary(now)
                await self._reap_nodes()
            if since_snapshot and (
                since_snapshot >= SNAPSHOT_EVERY_COMMANDS or mono - snapshot_at >= self.snapshot_interval_s
            ):
                await self._store_snapshot(last)
                snapshot_at, since_snapshot = mono, 0

    async def _append_command(self, command: Any, now: float) -> None:
        envelope = Envelope(f"w{secrets.token_hex(8)}", self.node, now, command)
        await self._fenced(self._append, [self.keys.epoch, self.keys.cmds], [json.dumps(envelope.encode())])

    async def _publish_results(self, results: list[Result]) -> None:
        case_ops: list[str] = []
        for r in results:
            for ev in r.events:
                if isinstance(ev, Answered):
                    case_ops += ["set", ev.ticket.case_id, f"{ev.ticket.citizen_id} {ev.clerk_id}"]
                elif isinstance(ev, CaseClosed):
                    case_ops += ["del", ev.case_id, ""]
                elif isinstance(ev, Transferred | CaseRequeued):
                    case_ops += ["del", ev.ticket.case_id, ""]
        payloads = [json.dumps(r.encode(), separators=(",", ":")) for r in results]
        await self._fenced(
            self._publish,
            [self.keys.epoch, self.keys.events, self.keys.applied, self.keys.cases],
            [results[-1].position, EVENTS_MAXLEN, len(payloads), len(case_ops) // 3, *payloads, *case_ops],
        )

    async def _publish_summary(self, now: float) -> None:
        assert self.applier is not None
        summary = summarise(self.applier.router, now)
        summary["waiting"] = summary["waiting"][:WAITING_ON_WALL]
        await self._fenced(self._set, [self.keys.epoch, self.keys.summary], [json.dumps(summary), 10_000])

    async def _store_snapshot(self, position: str) -> None:
        assert self.applier is not None
        state = {"applier": self.applier.to_dict(), "position": position}  # a copy: safe to encode elsewhere
        # Encoding a large state is the slow part: off the event loop, so commands keep flowing.
        data = await asyncio.to_thread(json.dumps, state, separators=(",", ":"))
        await self._fenced(self._snapshot, [self.keys.epoch, self.keys.snapshot, self.keys.cmds], [data, position])

    async def _reap_nodes(self) -> None:
        """Nodes that stopped heartbeating: their connections leave the queue state (once each)."""
        now = time.time()
        if self._reachable_since is None or now - self._reachable_since < self.node_ttl_s:
            # Just after a Redis outage (or at start) a heartbeat older than the TTL says nothing:
            # nobody could beat meanwhile. Every node gets a full TTL to beat again first.
            return
        redis: Any = self.redis
        stale = [str(n) for n in await redis.zrangebyscore(self.keys.nodes, "-inf", now - self.node_ttl_s)]
        for node in sorted(stale):
            if node == self.node:
                continue
            log.warning("node %s stopped heartbeating; dropping its connections", node)
            await self._append_command(NodeDown(node), self.clock.now())
            await redis.zrem(self.keys.nodes, node)
