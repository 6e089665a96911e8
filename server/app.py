"""The application factory: wires configuration, database, queue, signaling and pages."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp_jinja2
import jinja2
import socketio
from aiohttp import web

import web as webpkg
from queueing.backend import MemoryBackend, QueueBackend, RedisBackend
from queueing.clock import Clock, SystemClock
from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import CaseStore, Directory
from signaling.const import MAX_PACKET_BYTES
from signaling.hub import Hub
from signaling.namespaces import CitizenNamespace, ClerkNamespace, SupervisorNamespace

from . import api, demo
from .catalog import Catalog
from .config import Settings
from .services import SERVICES, Services

log = logging.getLogger(__name__)


def make_backend(settings: Settings, clock: Clock) -> QueueBackend:
    options: dict[str, Any] = {
        "offer_timeout_s": settings.offer_timeout_s,
        "reconnect_grace_s": settings.reconnect_grace_s,
        "aht_s": settings.aht_s,
    }
    if settings.redis_url:
        return RedisBackend(clock, settings.redis_url, prefix=settings.redis_prefix, **options)
    return MemoryBackend(clock, **options)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    demo_base_url: str | None = None,
) -> web.Application:
    """Build the app. With ``demo_base_url`` the demo accounts are seeded at start-up and printed."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    catalog = Catalog.load(settings.catalog_path)
    manager = (
        socketio.AsyncRedisManager(settings.redis_url, channel=f"{settings.redis_prefix}:socketio")
        if settings.redis_url
        else None
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        max_http_buffer_size=MAX_PACKET_BYTES,
        logger=False,
        engineio_logger=False,
    )
    app = web.Application(middlewares=[api.error_middleware], client_max_size=64 * 1024)
    sio.attach(app)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(webpkg.TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.add_routes(api.routes)
    app.add_routes(pages)
    app.router.add_static("/static/", webpkg.STATIC, name="static")

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        store, directory = CaseStore(sessions), Directory(sessions)
        backend = make_backend(settings, clock)
        hub = Hub(
            sio=sio, backend=backend, store=store, directory=directory, catalog=catalog, settings=settings, clock=clock
        )
        app[SERVICES] = Services(
            settings=settings,
            clock=clock,
            catalog=catalog,
            sio=sio,
            engine=engine,
            store=store,
            directory=directory,
            backend=backend,
            hub=hub,
            login_throttle=api.LoginThrottle(),
        )
        for ns in (CitizenNamespace(hub), ClerkNamespace(hub), SupervisorNamespace(hub)):
            sio.register_namespace(ns)
        if demo_base_url is not None:
            accounts = await demo.seed(directory, catalog, clock.now())
            print(demo.banner(demo_base_url, accounts), flush=True)
        # Everything loaded so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall the relay (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        hub.start()
        try:
            yield
        finally:
            await hub.close()
            await backend.close()
            await engine.dispose()
            gc.unfreeze()

    app.cleanup_ctx.append(lifespan)
    return app


pages = web.RouteTableDef()


def _page(template: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        svc = request.app[SERVICES]
        return aiohttp_jinja2.render_template(
            template, request, {"sla_s": int(svc.settings.sla_seconds), "page": template.removesuffix(".html")}
        )

    return handler


pages.get("/")(_page("index.html"))
pages.get("/kiosk")(_page("kiosk.html"))
pages.get("/console")(_page("console.html"))
pages.get("/supervisor")(_page("supervisor.html"))


@pages.get("/static/vendor/socket.io.min.js")
async def socketio_client(request: web.Request) -> web.StreamResponse:
    if not webpkg.SOCKET_IO_CLIENT.exists():
        return web.Response(status=500, text="socket.io-client is not installed: run `npm ci` in web/")
    return web.FileResponse(webpkg.SOCKET_IO_CLIENT)
