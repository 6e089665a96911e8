"""Socket.IO clients for the load generators.

Two kinds, behind one small interface (``connect``, ``call``, ``on``, ``close``):

* ``LeanClient`` speaks Engine.IO 4 / Socket.IO 5 over one aiohttp WebSocket, with JSON text packets only.
  It does a fraction of python-socketio's client work per message, so that the servers, not the load
  generators, are what the benchmark measures.
* ``SioClient`` wraps ``socketio.AsyncClient`` (what browsers' peers in our tests use), for comparison.

Only what the benchmark needs is implemented: one namespace per connection, events with acknowledgements,
server events without acknowledgement, Engine.IO ping/pong. No binary packets, no reconnection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import socketio

EventHandler = Callable[[Any], None]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ConnectFailed(Exception):
    """The server refused the namespace connection (``data`` is its error object) or the transport failed."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


class Client(Protocol):
    namespace: str

    def on(self, event: str, handler: EventHandler) -> None: ...

    async def connect(self, auth: dict[str, Any]) -> None: ...

    async def call(self, event: str, data: Any, limit_s: float = 10.0) -> Any: ...

    async def close(self) -> None: ...


class LeanClient:
    """One WebSocket, one namespace; ``call`` sends an event and returns its acknowledgement."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, namespace: str) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.namespace = namespace
        # Packets of the default namespace carry no namespace field.
        self._prefix = "" if namespace == "/" else namespace + ","
        self._handlers: dict[str, EventHandler] = {}
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[Any] | None = None

    def on(self, event: str, handler: EventHandler) -> None:
        self._handlers[event] = handler

    async def connect(self, auth: dict[str, Any], limit_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        try:
            ws = await self.session.ws_connect(self.url, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        except aiohttp.ClientError as exc:
            raise ConnectFailed(f"WebSocket to {self.url} failed: {exc}") from exc
        self._ws = ws
        first = await ws.receive(timeout=limit_s)
        if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith("0"):
            await ws.close()
            raise ConnectFailed(f"expected an Engine.IO open packet, got {first.type!r} {first.data!r:.80}")
        self._connected = loop.create_future()
        self._reader = loop.create_task(self._read(ws))
        await ws.send_str("40" + self._prefix + _dumps(auth))
        try:
            async with asyncio.timeout(limit_s):
                await self._connected
        except BaseException:
            await self.close()
            raise

    async def call(self, event: str, data: Any, limit_s: float = 10.0) -> Any:
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError("not connected")
        self._next_id += 1
        ack_id = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ack_id] = fut
        try:
            await ws.send_str("42" + self._prefix + str(ack_id) + _dumps([event, data]))
            async with asyncio.timeout(limit_s):
                return await fut
        finally:
            self._pending.pop(ack_id, None)

    async def close(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            try:
                await ws.send_str("41" + self._prefix)
            except (ConnectionError, aiohttp.ClientError):
                pass
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                text: str = msg.data
                kind = text[:1]
                if kind == "4":
                    self._packet(text)
                elif kind == "2":  # Engine.IO ping from the server
                    await ws.send_str("3" + text[1:])
                elif kind == "1":  # Engine.IO close
                    break
        finally:
            self._fail_all(ConnectionError("the connection closed"))

    def _packet(self, text: str) -> None:
        # "4" + Socket.IO packet: <type>[<namespace>,][<ack id>][<JSON>]
        ptype = text[1]
        i = 2
        if self._prefix and text.startswith(self._prefix, i):
            i += len(self._prefix)
        j = i
        while j < len(text) and text[j].isdigit():
            j += 1
        ack_id = int(text[i:j]) if j > i else None
        payload = json.loads(text[j:]) if j < len(text) else None
        if ptype == "2":  # event
            if isinstance(payload, list) and payload:
                handler = self._handlers.get(payload[0])
                if handler is not None:
                    handler(payload[1] if len(payload) > 1 else None)
        elif ptype == "3":  # acknowledgement
            fut = self._pending.pop(ack_id, None) if ack_id is not None else None
            if fut is not None and not fut.done():
                fut.set_result(payload[0] if isinstance(payload, list) and payload else None)
        elif ptype == "0":  # namespace connected
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(payload)
        elif ptype == "4":  # connect error
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(ConnectFailed(f"{self.namespace} refused the connection", payload))
        elif ptype == "1":  # the server disconnected the namespace
            self._fail_all(ConnectionError(f"{self.namespace} disconnected by the server"))

    def _fail_all(self, exc: Exception) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(ConnectFailed(str(exc)))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()


class SioClient:
    """The same interface over python-socketio's ``AsyncClient``."""

    def __init__(self, base_url: str, namespace: str) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self._handlers: dict[str, EventHandler] = {}
        self._refusal: Any = None
        self.sio.on("*", self._any, namespace=namespace)
        self.sio.on("connect_error", self._connect_error, namespace=namespace)

    async def _any(self, event: str, data: Any = None) -> None:
        handler = self._handlers.get(event)
        if handler is not None:
            handler(data)

    async def _connect_error(self, data: Any = None) -> None:
        self._refusal = data

    def on(self, event: str, handler: EventHandler) -> None:
        self._handlers[event] = handler

    async def connect(self, auth: dict[str, Any], limit_s: float = 10.0) -> None:
        try:
            await self.sio.connect(
                self.base_url, namespaces=[self.namespace], auth=auth, transports=["websocket"], wait_timeout=limit_s
            )
        except socketio.exceptions.ConnectionError as exc:
            raise ConnectFailed(f"{self.namespace} connect failed: {exc}", self._refusal) from exc

    async def call(self, event: str, data: Any, limit_s: float = 10.0) -> Any:
        try:
            return await self.sio.call(event, data, namespace=self.namespace, timeout=limit_s)
        except socketio.exceptions.TimeoutError:
            raise TimeoutError(f"no acknowledgement of {event!r} within {limit_s} s") from None
        except socketio.exceptions.BadNamespaceError as exc:
            raise ConnectionError(str(exc)) from exc

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
