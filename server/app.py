"""The application factory: wires configuration, database, queue, signaling and pages."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import socketio
from aiohttp import web

import web as webpkg
from queueing.backend import QueueService, router_options
from queueing.clock import Clock, SystemClock
from queueing.local import LocalQueue
from recordings.attachments import Attachments
from recordings.audit import AuditLog
from recordings.db import make_engine, make_sessionmaker
from recordings.media_index import MediaIndex
from recordings.media_pool import RecorderPool
from recordings.migrate import upgrade
from recordings.recorder import Recorder, StreamRecorder, position_name
from recordings.store import CaseStore, Directory
from recordings.workdays import WorkCalendar
from signaling.const import CITIZEN_NS, CLERK_NS, MAX_PACKET_BYTES
from signaling.gateway import Gateway
from signaling.hub import Hub
from signaling.namespaces import CitizenNamespace, ClerkNamespace, SupervisorNamespace
from signaling.transport import refuse_binary
from signaling.wall import Wall

from . import api, attachments, clerk_day, demo, followups, metrics, playback, staffing, supervision
from .alerts import AlertWebhook
from .catalog import Catalog
from .config import Settings
from .limits import make_limiter
from .loginguard import LoginGuard
from .metrics import Metrics
from .records import routes as record_routes
from .services import SERVICES, Services

log = logging.getLogger(__name__)


def _library_logger(name: str) -> logging.Logger:
    """A library's logger at WARNING: its per-message INFO lines would drown ours."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    return logger


def make_queue(settings: Settings, clock: Clock, store: CaseStore) -> QueueService:
    options = router_options(settings)
    if settings.redis_url:
        from queueing.streams import RedisQueue

        return RedisQueue(clock, settings, **options)
    return LocalQueue(clock, open_records=store.open_records, **options)


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
        # Loggers of our own choosing: given False, each library adds a handler of its own to its
        # logger, and every line it logs is printed twice (once more through the root logger).
        logger=_library_logger("socketio.server"),
        engineio_logger=_library_logger("engineio.server"),
    )
    refuse_binary(sio)
    app = web.Application(middlewares=[api.security_headers, api.error_middleware], client_max_size=64 * 1024)
    app.on_response_prepare.append(api.hide_server)
    sio.attach(app)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(webpkg.TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.add_routes(api.routes)
    app.add_routes(staffing.routes)
    app.add_routes(supervision.routes)
    app.add_routes(record_routes)
    app.add_routes(attachments.routes)
    app.add_routes(playback.routes)
    app.add_routes(followups.routes)
    app.add_routes(clerk_day.routes)
    app.add_routes(pages)
    app.add_routes(metrics.routes)
    app.router.add_static("/static/", webpkg.STATIC, name="static")

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        # Started in order, closed in reverse: nothing runs against a part already closed.
        async with contextlib.AsyncExitStack() as stack:
            await _start(stack)
            yield

    async def _start(stack: contextlib.AsyncExitStack) -> None:
        engine = make_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        store, directory, audit = CaseStore(sessions), Directory(sessions), AuditLog(sessions)
        queue = make_queue(settings, clock, store)
        limiter = make_limiter(clock, getattr(queue, "redis", None), settings.redis_prefix)
        recorder = None
        if isinstance(queue, LocalQueue):
            recorder = Recorder(store)
            queue.subscribe(recorder.accept)
        else:
            from queueing.streams import RedisQueue

            assert isinstance(queue, RedisQueue)
            # Several nodes: the one that holds the writer's lease records, from the events stream.
            queue.while_leading.append(
                StreamRecorder(store, queue.read_results, position_name(settings.redis_prefix)).run
            )
        hub = Hub(
            sio=sio,
            queue=queue,
            store=store,
            directory=directory,
            catalog=catalog,
            settings=settings,
            clock=clock,
            recorder=recorder,
            limiter=limiter,
        )
        namespaces = (CitizenNamespace(hub), ClerkNamespace(hub), SupervisorNamespace(hub))
        hub.namespaces = namespaces[1:]  # consoles and walls: the log-in sessions

        async def drop_local() -> None:
            for ns in namespaces[:2]:
                for sid in list(ns.conns):
                    await sio.disconnect(sid, namespace=ns.namespace, ignore_queue=True)

        gateway = Gateway(
            sio=sio,
            catalog=catalog,
            node=queue.node,
            ice=hub.ice,
            reconnect_grace_s=settings.reconnect_grace_s,
            drop_local=drop_local,
        )
        queue.subscribe(gateway.accept)
        meters = Metrics(settings, queue)
        queue.subscribe(meters.accept)
        webhook = None
        if settings.alert_webhook_url:
            webhook = AlertWebhook(
                settings.alert_webhook_url,
                settings.alert_webhook_secret,
                backoff_s=settings.alert_webhook_backoff_s,
                leading=isinstance(queue, LocalQueue),
            )
            if isinstance(queue, LocalQueue):
                queue.subscribe(webhook.accept)
            else:
                # Several nodes: only the writer's node sends, from the position the last sender
                # stored, so each alert goes out once across take-overs.
                from queueing.streams import RedisQueue

                assert isinstance(queue, RedisQueue)
                redis_queue, hook = queue, webhook
                queue.while_leading.append(
                    lambda: hook.follow(
                        redis_queue.read_results,
                        lambda: redis_queue.load_marker("webhook"),
                        lambda p: redis_queue.save_marker("webhook", p),
                    )
                )
        hub.metrics = meters
        wall = Wall(
            sio=sio,
            queue=queue,
            directory=directory,
            sessions=sessions,
            settings=settings,
            clock=clock,
            submit=hub.submit,
            leading=isinstance(queue, LocalQueue),
        )
        queue.subscribe(wall.accept)
        hub.wall = wall
        if not isinstance(queue, LocalQueue):
            queue.while_leading.append(wall.lead)  # the writer's node judges service levels
        media = MediaIndex(sessions, settings.recordings_dir)
        pool = None
        if settings.recording != "off":
            pool = RecorderPool(
                media,
                Path(settings.recordings_dir),
                settings.recorder_workers,
                queue.node,
                nice=settings.recorder_nice,
                sched=settings.recorder_sched,
            )
            queue.subscribe(pool.accept)
        hub.media, hub.recorder_pool = media, pool
        app[SERVICES] = Services(
            settings=settings,
            clock=clock,
            catalog=catalog,
            sio=sio,
            engine=engine,
            store=store,
            directory=directory,
            queue=queue,
            hub=hub,
            gateway=gateway,
            recorder=recorder,
            limiter=limiter,
            login_guard=LoginGuard(settings, limiter),
            metrics=meters,
            alert_webhook=webhook,
            audit=audit,
            attachments=Attachments(sessions, settings.recordings_dir),
            calendar=WorkCalendar.load(settings.holidays_path),
            media=media,
            recorder_pool=pool,
        )
        hub.audit = audit
        for ns in namespaces:
            sio.register_namespace(ns)
        assert {ns.namespace for ns in namespaces} >= {CITIZEN_NS, CLERK_NS}
        if demo_base_url is not None:
            accounts = await demo.seed(directory, catalog, clock.now())
            print(demo.banner(demo_base_url, accounts), flush=True)
        if recorder is not None:
            recorder.start()
            stack.push_async_callback(recorder.close)
        meters.start()
        stack.push_async_callback(meters.close)
        gateway.start()
        stack.push_async_callback(gateway.close)
        if webhook is not None:
            webhook.start()
            stack.push_async_callback(webhook.close)
        await wall.load()  # today's records before the queue's first result
        stack.push_async_callback(queue.close)
        await queue.start()
        # Everything loaded so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall the relay (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        stack.callback(gc.unfreeze)
        hub.start()
        stack.push_async_callback(hub.close)
        wall.start()
        stack.push_async_callback(wall.close)
        if pool is not None:
            # Closed first: the recorders finish their files while the database is still open.
            await pool.start()
            stack.push_async_callback(pool.close)

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
pages.get("/kiosk/setup")(_page("kiosk_setup.html"))
_kiosk_page = _page("kiosk.html")


@pages.get("/kiosk")
async def kiosk(request: web.Request) -> web.StreamResponse:
    if "kiosk_token" in request.query:
        # Tokens no longer travel in addresses (logs, history, Referer): provision the kiosk instead.
        raise web.HTTPSeeOther("/kiosk/setup")
    response: web.StreamResponse = await _kiosk_page(request)
    return response


pages.get("/console")(_page("console.html"))
pages.get("/supervisor")(_page("supervisor.html"))
pages.get("/reports")(_page("reports.html"))
pages.get("/cases")(_page("cases.html"))
pages.get("/cases/{case_id}")(_page("case.html"))


@pages.get("/static/vendor/socket.io.min.js")
async def socketio_client(request: web.Request) -> web.StreamResponse:
    if not webpkg.SOCKET_IO_CLIENT.exists():
        return web.Response(status=500, text="socket.io-client is not installed: run `npm ci` in web/")
    return web.FileResponse(webpkg.SOCKET_IO_CLIENT)


def _vendored(package: str, file: str) -> Any:
    """A handler serving ``file`` of the npm package ``package`` in web/node_modules (installed by `npm ci`)."""
    path = webpkg.ROOT / "node_modules" / package / file

    async def handler(request: web.Request) -> web.StreamResponse:
        if not path.exists():
            return web.Response(status=500, text=f"{package} is not installed: run `npm ci` in web/")
        return web.FileResponse(path)

    return handler


# uPlot (MIT), the charts of the reports page and any other page that draws a time series.
pages.get("/static/vendor/uplot.min.js")(_vendored("uplot", "dist/uPlot.iife.min.js"))
pages.get("/static/vendor/uplot.min.css")(_vendored("uplot", "dist/uPlot.min.css"))
