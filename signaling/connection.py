"""Per-connection state and the one dispatch path every inbound event takes.

Each event is checked in a fixed order, and the first failure answers it:

1. the connection is known (it passed connect),
2. the event name is known to this namespace (events of another role get
   ``forbidden``, anything else ``bad_request``),
3. the connection is within its rate (``rate_limited``),
4. exactly one JSON object was sent, of at most MAX_EVENT_BYTES,
5. the object matches the event's schema,
6. the handler's own checks (who may act on which case).

The answer is the acknowledgement ``{"ok": true, ...}`` or
``{"ok": false, "error": {"code", "message"}}``. A stack trace is logged only
for the unexpected, which the client sees as ``unavailable``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import socketio
from pydantic import BaseModel

from queueing.commands import Command, Result
from queueing.routing import RoutingError
from recordings.store import CaseStoreError

from .const import (
    BAD_REQUEST,
    FORBIDDEN,
    MAX_EVENT_BYTES,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    ProtocolError,
)
from .hub import Hub
from .schemas import parse

log = logging.getLogger(__name__)

CITIZEN_EVENTS = frozenset(
    {"request_help", "cancel", "signal", "media_state", "hang_up", "rate", "chat", "consent", "record_offer"}
)
CLERK_EVENTS = frozenset(
    {"set_status", "accept", "decline", "signal", "media_state", "end_case", "transfer", "chat", "record_offer"}
)
SUPERVISOR_EVENTS = frozenset({"set_clerk_status", "move_request", "close_followup"})
SESSION_COOKIE = "rvw_session"


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Conn:
    """What one connection is: who, from where, with which rights."""

    sid: str
    role: str  # citizen | clerk | supervisor
    subject: str  # citizen id or user id
    bucket: TokenBucket
    region: str = ""
    channel: str = ""
    kiosk_id: str | None = None
    display_name: str = ""
    skills: list[str] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)
    session_id: str = ""  # the log-in session of a console or wall (log-out closes the socket)
    address: str = ""  # a web citizen's network address (limits per address)


class Refused(socketio.exceptions.ConnectionRefusedError):
    """A refused connection; the client's connect error carries ``{"code", "message"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, {"code": code, "message": message})
        # Top-level too, for clients that read the packet data directly.
        self.error_args.update({"code": code, "message": message})


def json_size(value: Any, limit: int, depth: int = 0) -> int:
    """About how long ``value`` is as JSON, counting until ``limit`` is passed.

    Sums string lengths and a few characters per item instead of serialising:
    re-encoding every SDP just to measure it cost as much as the relay itself
    (docs/benchmarks.md). Escapes are not counted, so this errs a little low.
    """
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, bytes | bytearray):
        return 2 * len(value)  # a binary attachment: count it, never let it through unmeasured
    if isinstance(value, dict):
        total = 2
        for k, v in value.items():
            total += len(k) + 4 + json_size(v, limit, depth + 1) if isinstance(k, str) else limit + 1
            if total > limit or depth > 32:
                return limit + 1
        return total
    if isinstance(value, list):
        total = 2
        for v in value:
            total += json_size(v, limit, depth + 1) + 1
            if total > limit or depth > 32:
                return limit + 1
        return total
    return 8


def client_address(hub: Hub, environ: dict[str, Any]) -> str:
    """The address a connection comes from (behind trusted proxies, their X-Forwarded-For entry)."""
    request = environ.get("aiohttp.request")
    peer = getattr(request, "remote", None)
    return hub.settings.trusted_proxies.client(peer, environ.get("HTTP_X_FORWARDED_FOR"))


def error(code: str, message: str) -> dict[str, Any]:
    return ProtocolError(code, message).payload()


def cookie_token(environ: dict[str, Any]) -> str | None:
    raw = environ.get("HTTP_COOKIE")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


Handler = Callable[[Conn, Any], Awaitable[dict[str, Any] | None]]


class BaseNamespace(socketio.AsyncNamespace):
    role = ""
    other_roles_events: frozenset[str] = frozenset()

    def __init__(self, namespace: str, hub: Hub) -> None:
        super().__init__(namespace)
        self.hub = hub
        self.conns: dict[str, Conn] = {}
        self.handlers: dict[str, tuple[type[BaseModel], Handler]] = {}

    def bucket(self) -> TokenBucket:
        return TokenBucket(self.hub.settings.event_rate, self.hub.settings.event_burst)

    def _lifecycle(self, event: str, sid: str) -> bool:
        """Whether ``event`` is python-socketio's own connect or disconnect of ``sid``.

        A client may send an event *named* "connect" or "disconnect"; python-socketio only
        passes on events of connected sids, and the real connect and disconnect happen while
        the sid is not (yet, or any more) connected: ``manager.is_connected`` tells them apart
        through the library's public manager API (tests/test_bad_input.py checks both).
        """
        return event in ("connect", "disconnect") and not self.server.manager.is_connected(sid, self.namespace)

    async def admit(self, conn: Conn, counted: Command | None = None) -> Result | None:
        """Count the connection in the queue state and keep it, unless its transport closed meanwhile.

        python-socketio does not raise "disconnect" for a sid whose connect handler is still
        running, so a transport that closed during our awaits would leave a connection counted
        for ever; it is checked after the last await, and undone. None: not admitted.
        """
        result = None
        try:
            if counted is not None:
                result = await self.hub.submit(counted)
        except RoutingError as exc:  # a used resume token, a limit reached
            raise Refused(exc.code, exc.message) from None
        except Exception:
            log.exception("could not count a %s connection", self.role)
            if counted is not None:
                # The connect may still be applied later (appended, then no answer in time): its
                # drop follows it, so it cannot stay counted (the core takes a drop before its connect).
                await self.on_disconnect(conn)
            raise Refused(UNAVAILABLE, "the queue is unavailable; try again shortly") from None
        if self.server.get_environ(conn.sid, self.namespace) is None:
            await self.on_disconnect(conn)
            return None
        self.conns[conn.sid] = conn
        return result if result is not None else Result("", "", 0.0)

    async def trigger_event(self, event: Any, *args: Any) -> Any:
        if self._lifecycle(event, args[0]) and event == "connect":
            sid, environ = args[0], args[1]
            auth = args[2] if len(args) > 2 else None
            try:
                return await self.on_connect(sid, environ, auth)
            except Refused:
                raise
            except Exception:
                # python-socketio would only log it and leave the client hanging: refuse clearly.
                log.exception("%s connect failed", self.role)
                raise Refused(UNAVAILABLE, "the server cannot take connections right now; try again shortly") from None
        if self._lifecycle(event, args[0]) and event == "disconnect":
            conn = self.conns.pop(args[0], None)
            if conn is not None:
                try:
                    await self.on_disconnect(conn)
                except Exception:
                    log.exception("disconnect handling failed for %s", conn.sid)
            return None
        sid, data = args[0], args[1:]
        return await self.dispatch(sid, event, data)

    async def dispatch(self, sid: str, event: Any, data: tuple[Any, ...]) -> dict[str, Any]:
        ack = await self._dispatch(sid, event, data)
        if self.hub.metrics is not None:
            # Known events by name; anything else under one label, so a client cannot add series.
            known = isinstance(event, str) and (event in self.handlers or event in self.other_roles_events)
            self.hub.metrics.event(self.namespace, event if known else "unknown", ack)
        return ack

    async def _dispatch(self, sid: str, event: Any, data: tuple[Any, ...]) -> dict[str, Any]:
        conn = self.conns.get(sid)
        if conn is None:
            return error(UNAUTHORIZED, "not connected")
        if not isinstance(event, str):
            return error(BAD_REQUEST, "the event name must be a string")
        spec = self.handlers.get(event)
        if spec is None:
            if event in self.other_roles_events:
                return error(FORBIDDEN, f"{event!r} is not an event a {self.role} may send")
            return error(BAD_REQUEST, f"unknown event {str(event)[:40]!r}")
        if not conn.bucket.take():
            return error(RATE_LIMITED, "too many events; slow down")
        if len(data) != 1:
            return error(BAD_REQUEST, "send exactly one JSON object with the event")
        size = json_size(data[0], MAX_EVENT_BYTES)
        if size > MAX_EVENT_BYTES:
            return error(BAD_REQUEST, f"payload too large (over {MAX_EVENT_BYTES} bytes)")
        model, handler = spec
        try:
            message = parse(model, data[0])
            result = await handler(conn, message)
        except ProtocolError as exc:
            return exc.payload()
        except (RoutingError, CaseStoreError) as exc:
            return error(exc.code, exc.message)
        except Exception:
            log.exception("%s %s failed", self.role, event)
            return error(UNAVAILABLE, "the server could not complete this request; try again")
        return {"ok": True, **(result or {})}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        raise NotImplementedError

    async def on_disconnect(self, conn: Conn) -> None:
        return None
