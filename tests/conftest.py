"""Shared fixtures: a real server on 127.0.0.1 with a fresh database, and real clients."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
import socketio
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from queueing.clock import Clock, ManualClock
from recordings.db import make_engine
from recordings.migrate import upgrade
from server.app import create_app
from server.auth import hash_password, kiosk_token_hash
from server.config import Settings
from server.services import SERVICES, Services

PASSWORD = "test-password-1"
KIOSK_TOKEN = "k_test_kiosk_320500"
KIOSK2_TOKEN = "k_test_kiosk_330100"


@dataclass
class Server:
    base_url: str
    app: web.Application
    clock: Clock
    clients: list[socketio.AsyncClient] = field(default_factory=list)
    peers: list[Server] = field(default_factory=list)  # the other nodes on the same Redis

    async def read_core(self, fn: Any) -> Any:
        """Read the live routing core on whichever node (this or a peer) holds the writer's lease."""
        for _ in range(300):
            for node in (self, *self.peers):
                router = node.services.queue.local_router()
                if router is not None:
                    return fn(router)
            await asyncio.sleep(0.01)
        raise AssertionError("no node leads the queue")

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def add_user(self, username: str, role: str, region: str, skills: list[str], name: str = "") -> str:
        user_id = "u" + username
        await self.services.directory.add_user(
            user_id=user_id,
            username=username,
            password_hash=_HASH,
            role=role,
            display_name=name or username,
            region=region,
            skills=skills,
            at=self.clock.now(),
        )
        return user_id

    async def login(self, username: str) -> str:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base_url}/api/auth/login", json={"username": username, "password": PASSWORD}
            ) as resp:
                assert resp.status == 200, await resp.text()
                return str((await resp.json())["token"])

    async def get_json(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base_url}{path}", headers=headers) as resp:
                return resp.status, await resp.json()


_HASH = hash_password(PASSWORD)


class Client:
    """A python-socketio client that records every event it receives, for awaiting in tests."""

    def __init__(self, server: Server, namespace: str) -> None:
        self.server = server
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.connect_error: Any = None

        @self.sio.on("*", namespace=namespace)
        async def any_event(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self._changed.set()

        @self.sio.on("connect_error", namespace=namespace)
        async def on_connect_error(data: Any) -> None:
            self.connect_error = data

    async def connect(self, auth: Any, headers: dict[str, str] | None = None) -> None:
        await self.sio.connect(
            self.server.base_url,
            namespaces=[self.namespace],
            auth=auth,
            transports=["websocket"],
            wait_timeout=10,
            headers=headers or {},
        )
        self.server.clients.append(self.sio)

    async def call(self, event: str, *data: Any) -> Any:
        return await self.sio.call(event, data[0] if len(data) == 1 else data, namespace=self.namespace, timeout=10)

    async def call_raw(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=10)

    async def wait_for(self, event: str, pred: Any = None, within: float = 10.0) -> Any:
        """The first received ``event`` (matching ``pred``) not yet consumed; waits for it."""

        async def find() -> Any:
            while True:
                for i, (name, data) in enumerate(self.events):
                    if name == event and (pred is None or pred(data)):
                        del self.events[i]
                        return data
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), within)

    def seen(self, event: str) -> list[Any]:
        return [d for n, d in self.events if n == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


_TEMPLATE: list[Path] = []  # one migrated SQLite file per test run, copied for each server


async def migrated_sqlite(path: Path) -> None:
    """Put an already migrated database at ``path`` (the server's own upgrade is then a check, not ten
    migrations: about 0.1 s a server, hundreds of servers a run)."""
    if not _TEMPLATE:
        folder = tempfile.mkdtemp(prefix="rvw-test-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "template.sqlite3"
        engine = make_engine(f"sqlite+aiosqlite:///{template}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        _TEMPLATE.append(template)
    _copy_template(path)


def _copy_template(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # a server started again on the same folder keeps its data
        shutil.copyfile(_TEMPLATE[0], path)


async def start_server(tmp_path: Path, clock: Clock | None = None, **overrides: Any) -> tuple[web.AppRunner, Server]:
    if "database_url" not in overrides:
        await migrated_sqlite(tmp_path / "test.sqlite3")
    settings = Settings(
        database_url=overrides.pop("database_url", f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"),
        secret_key="test-secret",
        recordings_dir=overrides.pop("recordings_dir", str(tmp_path / "recordings")),
        dashboard_interval_s=overrides.pop("dashboard_interval_s", 0.2),
        # Positions at once: these tests follow each change (the coalescing is a core test).
        position_interval_s=overrides.pop("position_interval_s", 0.0),
        # Recording asks the citizen first and starts recorder processes: only the tests of it turn it on.
        recording=overrides.pop("recording", "off"),
        **overrides,
    )
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server = Server(base_url=f"http://127.0.0.1:{port}", app=app, clock=clock or app[SERVICES].clock)
    directory = server.services.directory
    await directory.add_kiosk(
        kiosk_id="kiosk-sz", name="苏州测试终端", region="320500", token_hash=kiosk_token_hash(KIOSK_TOKEN), at=0.0
    )
    await directory.add_kiosk(
        kiosk_id="kiosk-hz", name="杭州测试终端", region="330100", token_hash=kiosk_token_hash(KIOSK2_TOKEN), at=0.0
    )
    return runner, server


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out on its own (to bind(port 0) and to outgoing connections)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # IANA's dynamic range, elsewhere


_PORTS: list[int] = []  # the ports free_port() handed out in this process


def free_port() -> int:
    """A free port on 127.0.0.1 for a process a test starts (`rvw serve`, `redis-server`), which may die and start
    again on it. Below the kernel's ephemeral range, so that no outgoing connection (of this test, or of another
    xdist worker's) can take it while the process is down or not yet up; from a block of ports per worker, and
    never the same twice in a run, so that two workers, or two processes of one test, never pick the same."""
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) % workers if worker[2:].isdigit() else 0
    low = min(_ephemeral_low(), 32768)
    block = (low - 10_000) // workers
    if block < 10:  # an odd ephemeral range: the kernel's choice, as before
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    start = 10_000 + index * block
    offset = secrets.randbelow(block)  # two runs on one machine start at different places
    for i in range(block):
        port = start + (offset + i) % block
        if port in _PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS.append(port)
        return port
    raise AssertionError(f"no free port in {start}..{start + block - 1}")


PROJECT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = tuple(str(PROJECT / p) for p in ("server", "signaling", "queueing", "recordings"))


def leaked_tasks() -> list[str]:
    """Tasks still running code of ours after a server shut down: each is a leak."""
    leaks = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and code.co_filename.startswith(OUR_PACKAGES):
            leaks.append(f"{code.co_filename}:{code.co_name}")
    return leaks


async def stop_server(runner: web.AppRunner, srv: Server, check_leaks: bool = True) -> None:
    for c in srv.clients:
        if c.connected:
            await c.disconnect()
    await runner.cleanup()
    await asyncio.sleep(0)
    if check_leaks:
        assert leaked_tasks() == [], "the server left tasks running"


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, manual_clock)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[Server]:
    """A server on the real clock (for browsers, whose timers run in real time anyway)."""
    runner, srv = await start_server(tmp_path, None)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


REDIS_URL = "redis://127.0.0.1:6379/0"


def worker_database(base_url: str, worker: str | None) -> str:
    """The PostgreSQL database of one pytest-xdist worker: ``test`` becomes ``test_gw0``, ``test_gw1``...
    (each worker resets its schema before every test that uses it); the base itself without xdist."""
    if not worker:
        return base_url
    url = make_url(base_url)
    return url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)


# RVW_TEST_PG_URL lets two test runs on one machine use separate databases (the base of the workers' names).
PG_URL = worker_database(
    os.environ.get("RVW_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    os.environ.get("PYTEST_XDIST_WORKER"),
)


PER_ADDRESS_UNLIMITED = {
    "web_connections_per_address": 100_000,
    "open_requests_per_address": 100_000,
    "requests_per_address": 1_000_000,
    "login_failures_per_address": 100_000,  # fifty clerks log in at once
}


_PG_CREATED: list[str] = []  # the database checked (and created if missing) once per process


async def create_database(url: str) -> None:
    """Create the database of ``url`` if it is missing (a worker's own, the first time it is used)."""
    parts = make_url(url)
    conn = await asyncpg.connect(
        host=parts.host, port=parts.port or 5432, user=parts.username, password=parts.password, database="postgres"
    )
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parts.database):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another run created it meanwhile
                await conn.execute(f'CREATE DATABASE "{parts.database}"')
    finally:
        await conn.close()


async def reset_postgres() -> None:
    """An empty schema in the test database: `test`, or with pytest-xdist the worker's own `test_gw0`, `test_gw1`...
    (the tests that use PostgreSQL run one at a time in each worker)."""
    if PG_URL not in _PG_CREATED:
        await create_database(PG_URL)
        _PG_CREATED.append(PG_URL)
    engine = make_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    """One server on the manual clock, on the embedded SQLite and again on the test PostgreSQL."""
    options: dict[str, Any] = {}
    if request.param == "postgresql":
        await reset_postgres()
        options["database_url"] = PG_URL
    runner, srv = await start_server(tmp_path, manual_clock, **options)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


@contextlib.asynccontextmanager
async def redis_nodes(
    tmp_path: Path, clock: Clock, redis_url: str = REDIS_URL, **extra: Any
) -> AsyncIterator[tuple[Server, Server]]:
    """Two app instances (nodes) on ``redis_url`` and the test PostgreSQL, sharing ``clock``."""
    await reset_postgres()
    prefix = "rvwtest-" + secrets.token_hex(4)
    options: dict[str, Any] = {"database_url": PG_URL, "redis_url": redis_url, "redis_prefix": prefix}
    # Hundreds of citizens come from 127.0.0.1 here: lift the limits per address (tested on their own).
    options.update(PER_ADDRESS_UNLIMITED)
    options.update(extra)
    started = []
    try:
        # The kiosks are registered by node a; node b's registration is a no-op.
        for name in ("a", "b"):
            started.append(await start_server(tmp_path / name, clock, **dict(options)))
        a, b = started[0][1], started[1][1]
        a.peers, b.peers = [b], [a]
        yield a, b
    finally:
        for runner, srv in reversed(started):
            await stop_server(runner, srv, check_leaks=False)
        assert leaked_tasks() == [], "the nodes left tasks running"
        r = aioredis.from_url(redis_url)
        with contextlib.suppress(RedisError):  # a test may have stopped its own Redis
            keys = [k async for k in r.scan_iter(f"{prefix}:*")]
            if keys:
                await r.delete(*keys)
        await r.aclose()


@pytest.fixture
async def two_nodes(tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[tuple[Server, Server]]:
    """Two nodes on the machine's Redis and the test PostgreSQL, sharing the manual clock."""
    async with redis_nodes(tmp_path, manual_clock) as nodes:
        yield nodes


async def refused(server: Server, namespace: str, auth: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Connect expecting a refusal; the connect error's data (a hang instead of a refusal fails too)."""
    c = Client(server, namespace)
    server.clients.append(c.sio)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(
            c.sio.connect(
                server.base_url,
                namespaces=[namespace],
                auth=auth,
                transports=["websocket"],
                wait_timeout=3,
                headers=headers or {},
            ),
            10,
        )
    assert isinstance(c.connect_error, dict), "no connect_error: the server failed instead of refusing"
    return dict(c.connect_error)
