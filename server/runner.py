"""The process's life and its listening sockets: what `rvw serve` runs.

aiohttp serves the app; this module owns what happens to a connection before the
app sees a request, and how the process ends.

**Connections.** Every accepted connection is a :class:`Guard` wrapped around
aiohttp's own protocol. aiohttp has a keep-alive timeout but nothing that bounds
how long a request's head or body may take, so:

* a peer address holds at most ``RVW_MAX_CONNECTIONS_PER_ADDRESS`` connections
  (one more is closed as soon as it is accepted). Trusted proxies
  (``RVW_TRUSTED_PROXIES``) are exempt: everyone behind one shares its address,
  so the proxy must cap per client itself (README, "Connections, the reverse
  proxy and shutting down"). The process
  as a whole keeps :data:`RESERVED_FDS` descriptors for its database, Redis and
  files, whoever connects;
* a request's head must arrive within ``RVW_HEADER_TIMEOUT_SECONDS`` of the
  connection, or of the first byte after the previous request (an idle
  keep-alive connection is aiohttp's: closed after :data:`KEEPALIVE_S`);
* its body within ``RVW_BODY_TIMEOUT_SECONDS`` of its head: a total bound, since
  one byte every few seconds defeats a timeout between reads;
* once the app has the whole request there is no deadline: a WebSocket, a long
  poll or a download is never cut.

The app knows nothing of this: the middleware the runner adds to it
(:meth:`Listener.middleware`) tells a connection's guard when a request's head
has arrived and when the app is done with the request.

**Drain.** SIGTERM or SIGINT, all within ``RVW_DRAIN_SECONDS``:

1. stop listening (the load balancer's next attempt goes to another node) and
   refuse new Socket.IO sessions on connections still open;
2. tell every Socket.IO client to reconnect elsewhere and close its session
   (:meth:`signaling.hub.Hub.let_go`), then close the WebSockets, which
   socket.io clients take as a dropped transport and reconnect (with their
   resume token or log-in) by themselves;
3. let REST requests in flight finish; then wait until the clients'
   disconnects are applied in the queue and the case records hold what this
   node acknowledged (:meth:`signaling.hub.Hub.settle`);
4. close the app's parts in the reverse of their start-up order (the Redis
   writer gives its lease up, so another node takes over at once).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import resource
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .accesslog import PathOnlyAccessLogger
from .addresses import TrustedProxies
from .config import Settings
from .services import SERVICES

log = logging.getLogger(__name__)

KEEPALIVE_S = 75.0  # an idle keep-alive connection is closed after this (aiohttp's run_app default)
RESERVED_FDS = 512  # descriptors no client may take: the database, Redis, files, logs
BACKLOG = 1024  # connections the kernel queues for accept (capped by net.core.somaxconn)
SOCKETIO_PATH = "/socket.io/"
# The drain's phases end by these shares of RVW_DRAIN_SECONDS: sending clients elsewhere and
# letting requests in flight finish; their disconnects applied and the records written; closing
# the app's parts has the rest.
REQUESTS_SHARE = 0.4
SETTLE_SHARE = 0.7
LOG_EVERY_S = 10.0


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the soft limit now.

    Every connection is a descriptor; distributions start processes with a soft limit of
    1,024 (and a hard limit far above), which a few hundred kiosks with a few tabs each reach."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit: the kernel's own ceiling (fs.nr_open) is 1,048,576 by default.
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %s to %s: %s", soft, want, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass(frozen=True)
class Limits:
    """What a connection may do before the app has a whole request."""

    header_timeout_s: float
    body_timeout_s: float
    per_address: int
    total: int  # connections of the whole process
    trusted: TrustedProxies

    @classmethod
    def from_settings(cls, settings: Settings, open_files: int) -> Limits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            per_address=settings.max_connections_per_address,
            total=max(64, open_files - RESERVED_FDS),
            trusted=settings.trusted_proxies,
        )


class Phase(enum.Enum):
    HEAD = "head"  # waiting for a request's head; the header deadline runs
    BODY = "body"  # the app has the head; the body deadline runs until the body is in
    HANDLED = "handled"  # the app has the whole request: no deadline
    IDLE = "idle"  # between requests: aiohttp's keep-alive timeout applies


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The peer's IP address as text (an IPv4-mapped IPv6 address as IPv4); "" if not IP."""
    peer = transport.get_extra_info("peername")
    if not isinstance(peer, tuple) or not peer:
        return ""
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class Guard(asyncio.Protocol):
    """One accepted connection: admitted or refused, deadlines on its requests, and aiohttp's
    request handler (created only once admitted) doing the HTTP."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.counted = False  # in the per-address count (not a trusted proxy)
        self.phase = Phase.HEAD
        self.request: web.BaseRequest | None = None
        self.websocket = False  # the current request asked for a WebSocket
        self.cut = False  # closed by a deadline
        self._timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol: every call goes on to aiohttp's handler ---------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.address = peer_address(transport)
        admitted, self.counted = self.listener.admit(self.address)
        if not admitted:
            transport.close()  # nothing was read or written: the descriptor goes at once
            return
        self.transport = transport
        self.listener.guards[transport] = self
        self._arm(self.listener.limits.header_timeout_s)
        self.inner = self.listener.make_protocol()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.phase is Phase.IDLE:
            # The first byte of the next request: its head has a deadline from now.
            self.phase = Phase.HEAD
            self._arm(self.listener.limits.header_timeout_s)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return  # refused: never counted
        self._disarm()
        if self.transport is not None:
            self.listener.guards.pop(self.transport, None)
        self.listener.release(self.address, self.counted)
        self.inner.connection_lost(exc)

    # ---- what the app tells (through the middleware) -----------------------

    def begin(self, request: web.BaseRequest) -> None:
        """The app has a request's head."""
        self._disarm()
        self.request = request
        self.websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        self.listener.busy_changed(+1)
        if request.body_exists and not request.content.is_eof():
            self.phase = Phase.BODY
            self._arm(self.listener.limits.body_timeout_s)
        else:
            self.phase = Phase.HANDLED

    def end(self) -> None:
        """The app is done with the request (aiohttp may still be writing its response)."""
        self._disarm()
        self.request = None
        self.websocket = False
        self.phase = Phase.IDLE
        self.listener.busy_changed(-1)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()  # what is buffered is still sent

    # ---- deadlines ---------------------------------------------------------

    def _arm(self, after_s: float) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(after_s, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.phase is Phase.BODY and self.request is not None and self.request.content.is_eof():
            self.phase = Phase.HANDLED  # the body came in time; nothing to cut
            return
        if self.phase not in (Phase.HEAD, Phase.BODY) or self.transport is None:
            return
        self.cut = True
        self.listener.tally(f"slow {self.phase.value}", self.address)
        # Whatever the handler was waiting for now fails with a closed connection (the
        # middleware answers it as a time-out), and the descriptor is freed at once.
        self.transport.abort()


class Listener:
    """The listening sockets and every connection accepted on them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.make_protocol: Callable[[], asyncio.Protocol] = _not_set_up
        self.guards: dict[asyncio.BaseTransport, Guard] = {}
        self.per_address: dict[str, int] = {}
        self.connections = 0
        self.busy = 0  # requests the app is handling
        self._idle = asyncio.Event()
        self._idle.set()
        self._servers: list[asyncio.Server] = []
        self.draining = False
        self._tallies: Counter[str] = Counter()
        self._last_address: dict[str, str] = {}
        self._summary: asyncio.TimerHandle | None = None

    async def listen(self, host: str, port: int) -> list[tuple[str, int]]:
        """Start accepting on ``host``:``port`` (0: any free port); the addresses bound."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Guard(self), host, port, backlog=BACKLOG, reuse_address=True)
        self._servers.append(server)
        return [sock.getsockname()[:2] for sock in server.sockets]

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already open stay."""
        self.draining = True
        for server in self._servers:
            server.close()
        self.log_tallies()
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None

    # ---- admission -------------------------------------------------------

    def admit(self, address: str) -> tuple[bool, bool]:
        """Whether a new connection from ``address`` may stay, and whether it counts against its
        address's cap (a trusted proxy's do not)."""
        if self.connections >= self.limits.total:
            self.tally("over the process's limit", address)
            return False, False
        counted = bool(address) and not self._trusted(address)
        if counted and self.per_address.get(address, 0) >= self.limits.per_address:
            self.tally("over the per-address cap", address)
            return False, False
        self.connections += 1
        if counted:
            self.per_address[address] = self.per_address.get(address, 0) + 1
        return True, counted

    def release(self, address: str, counted: bool) -> None:
        self.connections -= 1
        if counted:
            left = self.per_address.get(address, 0) - 1
            if left > 0:
                self.per_address[address] = left
            else:
                self.per_address.pop(address, None)

    def _trusted(self, address: str) -> bool:
        return bool(self.limits.trusted) and self.limits.trusted.trusts(ipaddress.ip_address(address))

    def tally(self, what: str, address: str) -> None:
        """Note a connection refused or cut. The first is logged at once, the ones after it summed up
        every LOG_EVERY_S while they go on: a flood makes a line every few seconds, not one each."""
        if self._summary is None:
            log.warning("closed a connection early: %s (from %s)", what, address or "?")
            self._summary = asyncio.get_running_loop().call_later(LOG_EVERY_S, self.log_tallies)
            return
        self._tallies[what] += 1
        self._last_address[what] = address

    def log_tallies(self) -> None:
        """Log what :meth:`tally` summed up since the last line (at the drain too)."""
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if self._tallies:
            log.warning(
                "closed connections early in the last %.0f s: %s",
                LOG_EVERY_S,
                ", ".join(f"{n} {what} (last from {self._last_address[what]})" for what, n in self._tallies.items()),
            )
            self._tallies.clear()
            self._summary = asyncio.get_running_loop().call_later(LOG_EVERY_S, self.log_tallies)

    # ---- requests in flight ------------------------------------------------

    def busy_changed(self, delta: int) -> None:
        self.busy += delta
        if self.busy:
            self._idle.clear()
        else:
            self._idle.set()

    async def wait_idle(self, within: float) -> bool:
        """Wait (at most ``within`` s) until the app handles no request; True if it came to that."""
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, within))
            return True
        except TimeoutError:
            return False

    def close_websockets(self) -> int:
        """Close the connections that carry a WebSocket (after their Socket.IO sessions were closed:
        a browser's socket.io client ignores Engine.IO's close packet, but not a closed transport)."""
        guards = [g for g in self.guards.values() if g.websocket]
        for guard in guards:
            guard.close()
        return len(guards)

    def middleware(self) -> Middleware:
        """The app's innermost middleware: tells a connection's guard when the app has a request's
        head and when it is done with it; while draining, refuses new Socket.IO sessions."""
        listener = self

        @web.middleware
        async def guard_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            guard = listener.guards.get(request.transport) if request.transport is not None else None
            if guard is None:
                return await handler(request)  # not a connection of ours (an app served some other way)
            if listener.draining and request.path.startswith(SOCKETIO_PATH) and "sid" not in request.query:
                # A new session on a node going away: the client tries again, through the load
                # balancer to another node.
                raise web.HTTPServiceUnavailable(
                    text="this node is shutting down; connect again", headers={"Retry-After": "1"}
                )
            guard.begin(request)
            try:
                response = await handler(request)
            except Exception:
                if guard.cut:
                    # The body did not come in time and the connection is closed: nobody reads an
                    # answer, but this one is not logged as a failure of the app.
                    raise web.HTTPRequestTimeout() from None
                raise
            finally:
                guard.end()
            if listener.draining:
                response.force_close()  # no keep-alive on a node going away
            return response

        return guard_requests


def _not_set_up() -> asyncio.Protocol:
    raise RuntimeError("the listener's protocol is set when the app runner is set up")


class Runner:
    """Serves one app on its listening sockets until SIGTERM or SIGINT, then drains it."""

    def __init__(self, app: web.Application, settings: Settings, *, open_files: int | None = None) -> None:
        self.app = app
        self.settings = settings
        files = open_files if open_files is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.listener = Listener(Limits.from_settings(settings, int(files)))
        self.web = web.AppRunner(
            app,
            handle_signals=False,
            access_log_class=PathOnlyAccessLogger,  # no tokens from query strings in the logs
            keepalive_timeout=KEEPALIVE_S,
            # Requests still running when the drain's own wait is over get this long, then are cancelled.
            shutdown_timeout=max(0.1, settings.drain_s * (1 - SETTLE_SHARE) / 3),
        )
        self._stop = asyncio.Event()
        self._signals = 0

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        """Start the app (its lifespan) and listen; the addresses bound."""
        # Innermost, so that it sees a request's head as early as the app can, and a time-out it
        # caused never reaches the error middleware as a failure.
        self.app.middlewares.append(self.listener.middleware())
        await self.web.setup()
        server = self.web.server
        assert server is not None
        self.listener.make_protocol = server
        return await self.listener.listen(host, port)

    def stop(self) -> None:
        """Begin the drain (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self, host: str, port: int) -> int:
        """Serve until SIGTERM or SIGINT, drain; the process's exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # a signal during start-up drains once started
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            addresses = await self.start(host, port)
        except BaseException:
            await self.web.cleanup()
            raise
        limits = self.listener.limits
        log.info(
            "connections: up to %s, %s per address (trusted proxies exempt); a request's head within %.0f s, "
            "its body within %.0f s; SIGTERM drains within %.0f s",
            limits.total,
            limits.per_address,
            limits.header_timeout_s,
            limits.body_timeout_s,
            self.settings.drain_s,
        )
        for host_, port_ in addresses:
            print(f"======== Running on http://{host_}:{port_} ========", flush=True)
        await self._stop.wait()
        return await self.drain()

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("%s: draining (within %.0f s)", sig.name, self.settings.drain_s)
            self.stop()
        else:
            log.info("%s: already draining; the process ends within RVW_DRAIN_SECONDS", sig.name)

    async def drain(self) -> int:
        """Stop taking work, send this node's clients elsewhere, let what is in flight finish,
        close the app. 0 if that was done within RVW_DRAIN_SECONDS, else 1 (what was left is cut)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        drain_s = self.settings.drain_s
        phases: list[str] = []
        mark = began

        def left(share: float) -> float:
            return max(0.0, began + drain_s * share - loop.time())

        def phase(name: str) -> None:
            nonlocal mark
            now = loop.time()
            phases.append(f"{name} {now - mark:.2f} s")
            mark = now

        listener = self.listener
        listener.stop_accepting()
        services = self.app.get(SERVICES)
        told = 0
        complete = True
        if services is not None:
            told = await services.hub.let_go(within=left(REQUESTS_SHARE))
            listener.close_websockets()
            phase("clients told")
        if not await listener.wait_idle(left(REQUESTS_SHARE)):
            log.warning("drain: %s requests still running; they are cut at the end of the drain", listener.busy)
            complete = False
        phase("requests finished")
        if services is not None:
            # Sessions that requests in flight opened meanwhile (rare); then the clients' disconnects
            # applied and the records written.
            told += await services.hub.let_go(within=left(SETTLE_SHARE))
            listener.close_websockets()
            complete = await services.hub.settle(within=left(SETTLE_SHARE)) and complete
            phase("queue and records settled")
        # aiohttp closes the idle connections and waits briefly for requests still running, then the
        # app's parts close in the reverse of their start-up order (the writer gives its lease up).
        cleanup = asyncio.ensure_future(self.web.cleanup())
        done, _ = await asyncio.wait({cleanup}, timeout=left(1.0))
        if not done:
            log.error("drain: still closing after RVW_DRAIN_SECONDS (%.0f s); exiting anyway", drain_s)
            cleanup.cancel()
            await asyncio.gather(cleanup, return_exceptions=True)
            return 1
        if cleanup.exception() is not None:
            log.error("drain: closing failed", exc_info=cleanup.exception())
            return 1
        phase("closed")
        log.info(
            "drained in %.2f s (%s): %s Socket.IO sessions sent elsewhere%s",
            loop.time() - began,
            ", ".join(phases),
            told,
            "" if complete else "; some work was cut short (see above)",
        )
        return 0


def serve(settings: Settings, *, host: str, port: int, demo_base_url: str | None = None) -> int:
    """`rvw serve`: the exit code."""
    open_files = raise_open_files_limit()
    from .app import create_app

    app = create_app(settings, demo_base_url=demo_base_url)

    async def main() -> int:
        return await Runner(app, settings, open_files=open_files).run(host, port)

    return asyncio.run(main())
