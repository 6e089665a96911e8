"""The hub: what the namespaces share on one node.

Namespaces parse and authorise, then submit a command to the queue through
:meth:`Hub.submit`. Nothing here emits or records queue events: the gateway
(:mod:`signaling.gateway`) emits them to this node's sockets and the recorder
(:mod:`recordings.recorder`) writes them to the case records.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

import socketio

from queueing.backend import QueueService, QueueUnavailable
from queueing.clock import Clock
from queueing.commands import Command, Result
from queueing.routing import RoutingError
from queueing.writer import stream_id
from recordings.recorder import Recorder, position_name
from recordings.store import CaseStore, Directory
from server.catalog import Catalog
from server.config import Settings
from server.limits import Limiter, LocalLimiter

from . import messages
from .const import CITIZEN_NS, CLERK_NS, SUPERVISOR_NS, UNAVAILABLE, ProtocolError
from .gateway import citizen_room, clerk_room
from .ice import ice_servers
from .wall import start_of_day

log = logging.getLogger(__name__)

CHINA_UTC_OFFSET_S = 8 * 3600  # China Standard Time has no daylight saving
LET_GO_FLUSH_S = 1.0  # draining: how long sessions get to take their last packets

__all__ = ["CHINA_UTC_OFFSET_S", "Hub", "citizen_room", "clerk_room", "start_of_day"]


class Hub:
    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        queue: QueueService,
        store: CaseStore,
        directory: Directory,
        catalog: Catalog,
        settings: Settings,
        clock: Clock,
        recorder: Recorder | None,
        limiter: Limiter | None = None,
    ) -> None:
        self.sio = sio
        self.queue = queue
        self.store = store
        self.directory = directory
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.recorder = recorder  # the in-process recorder (embedded); None with several nodes
        self.limiter = limiter or LocalLimiter(clock)  # requests per citizen and address over time
        self.metrics: Any = None  # server.metrics.Metrics, set by the app: events and errors counted
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sessions: asyncio.Task[None] | None = None
        self.namespaces: tuple[Any, ...] = ()  # set by the app: whose connections log-out closes
        self.supervisors: dict[str, Any] = {}  # this node's supervisor connections
        self.wall: Any = None  # signaling.wall.Wall, set by the app: the board and live figures
        self.audit: Any = None  # recordings.audit.AuditLog, set by the app: supervisors' actions are audited
        self.media: Any = None  # recordings.media_index.MediaIndex, set by the app: consent and recorded files
        self.recorder_pool: Any = None  # recordings.media_pool.RecorderPool (None with RVW_RECORDING=off)
        # (case, side) -> (last media state put on the timeline, lines so far): bounds timeline flooding.
        self.media_lines: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self.chat_lines: OrderedDict[tuple[str, str], int] = OrderedDict()  # (case, side) -> chat lines so far
        self._closed = False

    # ---- task ownership -----------------------------------------------

    def defer(self, coro: Any) -> None:
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
        self._sessions = loop.create_task(self._session_watch(), name="rvw-sessions")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pending = [t for t in (self._sessions,) if t is not None] + list(self._tasks)
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

    async def submit(self, command: Command) -> Result:
        """Apply ``command`` through the queue's writer; its refusal raises ``RoutingError``."""
        try:
            result = await self.queue.submit(command)
        except QueueUnavailable:
            raise ProtocolError(UNAVAILABLE, "the queue is unavailable; try again shortly") from None
        if result.error is not None:
            raise RoutingError(*result.error)
        return result

    def submit_eventually(self, command: Command, what: str) -> None:
        """Apply ``command`` in the background, retrying while the queue is unavailable (a Redis
        outage): for what must not be lost, like a connection that closed. Such commands are
        idempotent (a connection is closed once, by its node and socket id)."""

        async def keep_trying() -> None:
            delay = 0.5
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 3600
            while True:
                try:
                    await self.submit(command)
                    return
                except ProtocolError:
                    if loop.time() > give_up:
                        log.error("gave up applying %s after an hour of queue outage", what)
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

        self.defer(keep_trying())

    async def durable(self, result: Result) -> None:
        """Embedded: wait until the recorder has written ``result`` (a new request survives a crash)."""
        if self.recorder is not None:
            await self.recorder.wait_written(int(result.position))

    async def records_settled(self, within: float = 5.0) -> None:
        """Wait until the case records hold every queue event this node has heard of (read your writes)."""
        if self.recorder is not None:
            try:
                await self.recorder.wait_written(within=within)
            except TimeoutError:
                log.warning("case records are behind the queue")
            return
        target = self.queue.position
        if not target or target == "0-0":
            return  # nothing heard yet: nothing to wait for
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        pos = None
        while loop.time() < deadline:
            pos = await self.store.position(position_name(self.settings.redis_prefix))
            if pos is not None and stream_id(pos) >= stream_id(target):
                return
            await asyncio.sleep(0.02)
        log.warning("case records are behind the queue (at %s, node heard %s)", pos, target)

    # ---- draining (server/runner.py) -------------------------------------

    async def let_go(self, within: float) -> int:
        """The node is shutting down: tell every client of this node to reconnect elsewhere and close
        its Engine.IO session (their disconnects are applied like any other); how many there were.

        Not ``sio.disconnect``: a socket.io client that the server disconnects does not reconnect
        on its own, while one whose transport closes does (docs/protocol.md, "draining")."""
        eio = self.sio.eio
        sessions = len(eio.sockets)
        if not sessions:
            return 0
        data = messages.draining(self.settings.reconnect_grace_s)
        for namespace in (CITIZEN_NS, CLERK_NS, SUPERVISOR_NS):
            await self.sio.emit("draining", data, namespace=namespace, ignore_queue=True)
        try:
            # Each session's disconnect is handled at once; then its queued packets (the draining
            # message) and Engine.IO's close go out, which waits for a long-polling client to fetch
            # them: one whose network vanished would hold the drain up, so not for long.
            await asyncio.wait_for(eio.disconnect(), max(0.0, min(within, LET_GO_FLUSH_S)))
        except TimeoutError:
            log.info("some Socket.IO sessions did not take their last packets (gone quiet); closed anyway")
        return sessions

    async def settle(self, within: float) -> bool:
        """After :meth:`let_go` (and once the connections it closed are gone): wait, at most
        ``within`` s, until the work deferred so far is done (the queue has the clients'
        disconnects) and the case records hold every queue event this node has heard, so what
        it acknowledged is written. True if it all happened in time."""
        await self.sio.shutdown()  # python-socketio's own background task (once: it fails twice)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while pending := [t for t in self._tasks if not t.done()]:
            if loop.time() >= deadline:
                log.warning("%s deferred tasks (disconnects) were not done in time", len(pending))
                return False
            await asyncio.wait(pending, timeout=deadline - loop.time())
        if loop.time() >= deadline:
            return False
        await self.records_settled(within=deadline - loop.time())
        return True

    # ---- log-in sessions ------------------------------------------------

    async def end_sessions(self, session_ids: set[str]) -> None:
        """Close this node's consoles and walls of ended log-in sessions; they are told why first."""
        for ns in self.namespaces:
            for conn in list(ns.conns.values()):
                if conn.session_id and conn.session_id in session_ids:
                    await ns.emit("session_ended", {"reason": "logged_out"}, to=conn.sid, ignore_queue=True)
                    await self.sio.disconnect(conn.sid, namespace=ns.namespace, ignore_queue=True)

    async def _session_watch(self) -> None:
        """Log-out on another node, a disabled user or a new password: within seconds, this node
        closes the connections of sessions that ended."""
        while True:
            await asyncio.sleep(self.settings.session_check_s)
            try:
                ids = sorted({c.session_id for ns in self.namespaces for c in ns.conns.values() if c.session_id})
                ended = await self.directory.ended_sessions(ids, self.clock.now())
                if ended:
                    await self.end_sessions(ended)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking log-in sessions failed")
