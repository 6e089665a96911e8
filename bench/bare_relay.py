"""The reference: a bare python-socketio relay on aiohttp, with nothing of ours in it.

It mirrors the shape of our signaling path and nothing more: clients connect to ``/citizen`` or ``/clerk`` with
auth ``{"pair": P}`` and join room ``P`` of their namespace; a ``signal`` event is emitted, with ``"from"``
added, to room ``P`` of the other namespace (the peer; the sender is not in it) and acknowledged with
``{"ok": true}``. No authentication, validation, case look-up or rate limit.

Run: ``python -m bench.bare_relay --host 127.0.0.1 --port 8090``.
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
from aiohttp import web

# The same transport limit as our server (signaling.const.MAX_PACKET_BYTES).
MAX_PACKET_BYTES = 1024 * 1024
PEER = {"/citizen": "/clerk", "/clerk": "/citizen"}
SIDE = {"/citizen": "citizen", "/clerk": "clerk"}


def create_app() -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp", max_http_buffer_size=MAX_PACKET_BYTES, logger=False, engineio_logger=False
    )
    app = web.Application()
    sio.attach(app)
    pairs: dict[tuple[str, str], str] = {}

    def register(namespace: str) -> None:
        peer, side = PEER[namespace], SIDE[namespace]

        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
            pair = auth.get("pair") if isinstance(auth, dict) else None
            if not isinstance(pair, str) or not pair:
                raise socketio.exceptions.ConnectionRefusedError("connect with auth {pair}")
            pairs[namespace, sid] = pair
            await sio.enter_room(sid, pair, namespace=namespace)
            return True

        async def disconnect(sid: str, *args: Any) -> None:
            pairs.pop((namespace, sid), None)

        async def signal(sid: str, data: Any) -> dict[str, Any]:
            pair = pairs[namespace, sid]
            await sio.emit("signal", {**data, "from": side}, room=pair, namespace=peer)
            return {"ok": True}

        sio.on("connect", connect, namespace=namespace)
        sio.on("disconnect", disconnect, namespace=namespace)
        sio.on("signal", signal, namespace=namespace)

    for namespace in PEER:
        register(namespace)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    args = p.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
