"""`rvw serve` as an operator runs it: its connections are bounded, and SIGTERM drains it.

Every test runs real `rvw serve` processes (on their own ports; SQLite, or Redis and PostgreSQL)
and talks to them over real sockets: raw TCP from several loopback addresses (127.0.0.2 and up
are as real a source address as 127.0.0.1) and python-socketio clients. Time-outs are set short
through the environment (1 s), so a test waits for a real time-out, not for a guessed delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio
from sqlalchemy import text

from recordings.db import make_engine, make_sessionmaker
from recordings.store import Directory
from server.auth import kiosk_token_hash
from tests.conftest import KIOSK_TOKEN, PASSWORD, PG_URL, REDIS_URL, reset_postgres
from tests.test_failover import (
    RVW,
    SECRET,
    SOCIAL,
    Node,
    Peer,
    answer_all,
    base_env,
    clerk_on_duty,
    lease_holder,
    login,
    record_when,
    seed_users,
)

# ---- processes and clients --------------------------------------------------------------


class Served(Node):
    """A `rvw serve` whose standard error is kept apart from its output, to read it for tracebacks."""

    @property
    def err_path(self) -> Path:
        return self.workdir / f"{self.name}.err"

    async def start(self, within: float = 30.0) -> None:
        out, err = self.log_path.open("ab"), self.err_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                str(RVW), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                env=self.env, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err,
            )  # fmt: skip
        finally:
            out.close()
            err.close()
        await self.wait_ready(within)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def log(self) -> str:
        return super().log() + self.stderr()

    async def exited(self, within: float) -> tuple[int, float]:
        """Wait for the process to end; its exit code, and how long that took."""
        assert self.proc is not None
        began = time.monotonic()
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            pytest.fail(f"{self.name} still running {within} s later:\n{self.log()[-3000:]}")
        return code, time.monotonic() - began


class Watched(Peer):
    """A socket.io client that also notes, among the events it received, when it was disconnected."""

    def __init__(self, node: Node, namespace: str) -> None:
        super().__init__(node, namespace)
        self.gone = asyncio.Event()

        @self.sio.on("disconnect", namespace=namespace)
        async def on_disconnect(*_reason: Any) -> None:
            self.history.append(("(disconnected)", None))
            self.gone.set()

    async def call_soon(self, event: str, data: dict[str, Any]) -> Any:
        """An acknowledged event that gives up after 3 s (a connection that closed meanwhile)."""
        return await self.sio.call(event, data, namespace=self.namespace, timeout=3)

    def told_to_go_before_disconnect(self) -> bool:
        names = [name for name, _ in self.history]
        return (
            "draining" in names
            and "(disconnected)" in names
            and names.index("draining") < names.index("(disconnected)")
        )


async def kiosk_citizen(node: Node) -> tuple[Watched, dict[str, Any]]:
    """A citizen at a kiosk (kiosks are not counted per address: many can share a test's address)."""
    c = Watched(node, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    return c, await c.wait_for("session")


async def ask(c: Peer) -> dict[str, Any]:
    ack = await c.call("request_help", {"matter_code": SOCIAL, "target_region": "310000"})
    assert ack["ok"] is True, ack
    return dict(ack)


async def seed(database_url: str, users: list[tuple[str, str, list[str]]]) -> None:
    await seed_users(database_url, users)
    engine = make_engine(database_url)
    try:
        await Directory(make_sessionmaker(engine)).add_kiosk(
            kiosk_id="kiosk-sz", name="苏州测试终端", region="320500", token_hash=kiosk_token_hash(KIOSK_TOKEN), at=0.0
        )
    finally:
        await engine.dispose()


async def cases_recorded(case_ids: list[str]) -> set[str]:
    """Which of these cases the database holds (read directly, not through a node)."""
    engine = make_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT case_id FROM cases WHERE case_id = ANY(:ids)"), {"ids": case_ids})
            return {str(row[0]) for row in rows}
    finally:
        await engine.dispose()


# ---- raw HTTP -----------------------------------------------------------------------------

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Sockets:
    """Raw TCP connections to a node from chosen loopback addresses; all closed at the end."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.opened: list[Conn] = []

    async def connect(self, source: str) -> Conn:
        conn = await asyncio.open_connection("127.0.0.1", self.node.port, local_addr=(source, 0))
        self.opened.append(conn)
        return conn

    def close_all(self) -> None:
        for _, writer in self.opened:
            writer.close()


async def get(conn: Conn, path: str = "/healthz") -> int:
    """One GET on a kept-alive connection; the status."""
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nHost: rvw\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def until_closed(conn: Conn, within: float = 10.0) -> bytes:
    """Read until the server closes the connection (failing if it has not within ``within`` s); what it sent."""
    reader, _ = conn
    received = b""
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {within} s")
    return received


async def trickle(conn: Conn, first: bytes, then: bytes, every_s: float = 0.2) -> None:
    """Send ``first``, then ``then`` every ``every_s`` s, like a slow-loris client, until the server closes."""
    _, writer = conn
    with contextlib.suppress(ConnectionError):
        writer.write(first)
        while not writer.is_closing():
            await asyncio.sleep(every_s)
            writer.write(then)
            await writer.drain()


# ---- (a) slow and too many connections ------------------------------------------------------

WEB = {"channel": "web", "region": "320500"}  # a citizen in a browser


async def test_slow_heads_and_bodies_are_cut_but_not_websockets_or_long_polls(tmp_path: Path) -> None:
    timeout_s = 1.0
    env = base_env(
        RVW_VAR_DIR=str(tmp_path / "var"),
        RVW_HEADER_TIMEOUT_SECONDS=str(timeout_s),
        RVW_BODY_TIMEOUT_SECONDS=str(timeout_s),
    )
    node = Served("limits", env, tmp_path)
    sockets = Sockets(node)
    poller = Watched(node, "/citizen")
    trickling: list[asyncio.Task[None]] = []
    try:
        await node.start()
        # Connections that live long on purpose: a WebSocket, a long-polling session, a keep-alive.
        websocket = Watched(node, "/citizen")
        await websocket.connect(WEB)
        await websocket.wait_for("session")
        # (python-socketio's client takes a long poll's time to disconnect: it is closed after the node.)
        await poller.sio.connect(node.base_url, namespaces=["/citizen"], auth=WEB, transports=["polling"])
        await poller.wait_for("session")
        kept = await sockets.connect("127.0.0.2")
        assert await get(kept) == 200

        loop = asyncio.get_running_loop()
        began = loop.time()
        silent = await sockets.connect("127.0.0.1")  # connects and says nothing (a half-open connection)
        slow_head = await sockets.connect("127.0.0.1")
        slow_body = await sockets.connect("127.0.0.1")
        # A log-in (the handler reads its body) whose body comes a byte at a time.
        body_head = (
            b"POST /api/auth/login HTTP/1.1\r\nHost: rvw\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        )
        trickling = [
            asyncio.create_task(trickle(slow_head, b"GET /healthz HTTP/1.1\r\nHost: rvw\r\n", b"X-Slow: 1\r\n")),
            asyncio.create_task(trickle(slow_body, body_head, b" ")),  # one byte at a time
        ]

        async def closed(conn: Conn) -> tuple[bytes, float]:
            received = await until_closed(conn)
            return received, loop.time() - began

        (_, silent_s), (_, head_s), (answer, body_s) = await asyncio.gather(
            closed(silent), closed(slow_head), closed(slow_body)
        )
        print(
            f"\nclosed after {silent_s:.2f} s (silent), {head_s:.2f} s (head trickled), "
            f"{body_s:.2f} s (body trickled); time-outs {timeout_s} s"
        )
        assert answer == b"", answer  # cut while its body was coming: never answered, never carried out

        # The keep-alive connection, idle longer than the head's time-out, still serves.
        assert await get(kept) == 200
        # A request sent at once is served as ever.
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{node.base_url}/api/auth/login", json={"username": "x", "password": "y"}) as resp:
                assert resp.status == 401, await resp.text()
        # The WebSocket and the long poll were open all along and still carry events.
        for c in (websocket, poller):
            assert c.sio.connected and not c.gone.is_set()
            ack = await c.call("cancel", {"ticket_id": "T00000000"})
            assert ack["ok"] is False and ack["error"]["code"] == "not_found", ack
        # One node (SQLite): SIGTERM tells both sessions to go and exits cleanly.
        node.signal(signal.SIGTERM)
        code, _ = await node.exited(15)
        assert code == 0, node.log()[-3000:]
        for c in (websocket, poller):
            await asyncio.wait_for(c.gone.wait(), 10)
            assert c.told_to_go_before_disconnect(), c.history[-5:]
    finally:
        for task in trickling:
            task.cancel()
        sockets.close_all()
        await node.stop()
        await asyncio.wait_for(poller.sio.disconnect(), 5)
    assert "Traceback" not in node.stderr(), node.stderr()[-3000:]


async def test_connections_per_address_are_capped_not_for_trusted_proxies(tmp_path: Path) -> None:
    cap = 20
    env = base_env(
        RVW_VAR_DIR=str(tmp_path / "var"),
        RVW_MAX_CONNECTIONS_PER_ADDRESS=str(cap),
        RVW_TRUSTED_PROXIES="127.0.0.3",
        RVW_HEADER_TIMEOUT_SECONDS="60",  # the held connections stay for the whole test
    )
    node = Served("cap", env, tmp_path)
    sockets = Sockets(node)
    try:
        await node.start()
        # One address opens its cap of connections and sends nothing on them.
        held = [await sockets.connect("127.0.0.4") for _ in range(cap)]
        # One more from it is closed at once, unanswered...
        extra = await sockets.connect("127.0.0.4")
        with contextlib.suppress(ConnectionError):
            extra[1].write(b"GET /healthz HTTP/1.1\r\nHost: rvw\r\n\r\n")
        assert await until_closed(extra) == b""
        # ...while another address is served,
        other = await sockets.connect("127.0.0.2")
        assert await get(other) == 200
        # and a trusted proxy (everyone behind it shares its address) is not held to the cap.
        proxied = [await sockets.connect("127.0.0.3") for _ in range(cap + 5)]
        assert [await get(c) for c in proxied] == [200] * (cap + 5)
        # A connection that closes gives its place back.
        held.pop()[1].close()
        for _ in range(50):
            again = await sockets.connect("127.0.0.4")
            try:
                status = await get(again)
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                await asyncio.sleep(0.05)  # the server has not seen the close yet
        else:
            pytest.fail("a closed connection never gave its place back")
        assert status == 200
    finally:
        sockets.close_all()
        await node.stop()
    log = node.log()
    assert "over the per-address cap" in log, log[-3000:]
    assert "Traceback" not in node.stderr(), node.stderr()[-3000:]


# ---- (b) SIGTERM drains --------------------------------------------------------------------


def redis_env(tmp_path: Path, prefix: str, **extra: str) -> dict[str, str]:
    return base_env(
        RVW_DATABASE_URL=PG_URL,
        RVW_REDIS_URL=REDIS_URL,
        RVW_REDIS_PREFIX=prefix,
        RVW_SECRET_KEY=SECRET,
        RVW_VAR_DIR=str(tmp_path / "var"),
        # A lease that would take this long to lapse: another node leading sooner means it was given up.
        RVW_WRITER_LEASE_SECONDS="30",
        RVW_NODE_TTL_SECONDS="30",
        RVW_MAX_CONNECTIONS_PER_ADDRESS="2000",  # all the test's clients come from one address
        **extra,
    )


async def delete_keys(prefix: str) -> None:
    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(f"{prefix}:*")]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.mark.redis
@pytest.mark.postgres
async def test_sigterm_under_load_drains_and_exits_within_the_bound(tmp_path: Path) -> None:
    drain_s = 6.0
    await reset_postgres()
    await seed(PG_URL, [("clerk_a", "clerk", ["social_insurance"])])
    prefix = "rvwdrain-" + secrets.token_hex(4)
    node = Served("n1", redis_env(tmp_path, prefix, RVW_DRAIN_SECONDS=str(drain_s)), tmp_path / "n1")
    sockets = Sockets(node)
    r = aioredis.from_url(REDIS_URL, decode_responses=True)
    load: list[asyncio.Task[None]] = []
    try:
        await node.start()
        # A few hundred sockets: 300 citizens at kiosks, 100 of them waiting.
        gate = asyncio.Semaphore(50)

        async def one() -> Watched:
            async with gate:
                return (await kiosk_citizen(node))[0]

        citizens = list(await asyncio.gather(*(one() for _ in range(300))))
        acked: list[str] = []  # case ids the node acknowledged
        for c in citizens[:100]:
            acked.append((await ask(c))["case_id"])

        # A stream of requests: the other 200 ask, cancel and ask again; REST reads go on beside.
        progress = asyncio.Event()

        async def keep_asking(group: list[Watched]) -> None:
            with contextlib.suppress(socketio.exceptions.SocketIOError, ConnectionError):
                for c in group:
                    for _ in range(2):
                        ack = await c.call_soon("request_help", {"matter_code": SOCIAL, "target_region": "310000"})
                        if not ack.get("ok"):
                            return  # the node is going away: told so, or refused
                        acked.append(ack["case_id"])
                        if len(acked) >= 150:
                            progress.set()
                        await c.call_soon("cancel", {"ticket_id": ack["ticket_id"]})

        rest_answers: list[int] = []

        async def keep_reading() -> None:
            async with aiohttp.ClientSession() as http:
                with contextlib.suppress(aiohttp.ClientError):
                    while True:
                        async with http.get(f"{node.base_url}/api/matters") as resp:
                            await resp.read()
                            rest_answers.append(resp.status)

        rest = citizens[100:]
        load = [asyncio.create_task(keep_asking(rest[i::10])) for i in range(10)]
        load += [asyncio.create_task(keep_reading()) for _ in range(3)]
        await asyncio.wait_for(progress.wait(), 20)

        # A log-in in flight across the SIGTERM: its head before, its body after.
        body = f'{{"username": "clerk_a", "password": "{PASSWORD}"}}'.encode()
        slow = await sockets.connect("127.0.0.1")
        slow[1].write(
            b"POST /api/auth/login HTTP/1.1\r\nHost: rvw\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        await slow[1].drain()
        kept = await sockets.connect("127.0.0.2")  # a keep-alive connection, open before the SIGTERM
        assert await get(kept) == 200  # (by now the node has the log-in's head too)
        node.signal(signal.SIGTERM)
        signalled = time.monotonic()
        # The drain is under way (and waits for that log-in): a new Socket.IO session, even on a
        # connection already open, is refused; the client tries again through the load balancer.
        await citizens[0].wait_for("draining")
        assert await get(kept, "/socket.io/?EIO=4&transport=polling") == 503
        slow[1].write(body)
        code, _ = await node.exited(drain_s + 10)
        took = time.monotonic() - signalled
        lease = await r.get(f"{prefix}:lease")  # read the moment it exited
        print(f"\nSIGTERM to exit: {took:.2f} s (bound {drain_s} s) with {len(citizens)} sockets under load")
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)

        assert code == 0, node.log()[-3000:]
        assert took <= drain_s + 3.0, took  # the drain's bound, and the interpreter's own exit
        assert "Traceback" not in node.stderr(), node.stderr()[-3000:]
        assert "drained in" in node.stderr(), node.stderr()[-3000:]
        # The log-in in flight was carried out, and the connection closed after it.
        answer = await until_closed(slow)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b"Connection: close" in answer, answer[:300]
        # Every citizen was told to reconnect elsewhere before its connection closed.
        not_told = [i for i, c in enumerate(citizens) if not c.told_to_go_before_disconnect()]
        assert not not_told, (len(not_told), citizens[not_told[0]].history[-5:])
        assert rest_answers and set(rest_answers) == {200}, set(rest_answers)
        # Every request the node acknowledged is in the case records, written before it exited.
        assert len(acked) >= 150
        missing = set(acked) - await cases_recorded(acked)
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged requests have no case record"
        # The writer's lease was given up, not left to lapse.
        assert lease is None, lease
    finally:
        for task in load:
            task.cancel()
        sockets.close_all()
        await node.stop()
        await r.aclose()
        await delete_keys(prefix)


@pytest.mark.redis
@pytest.mark.postgres
async def test_citizens_of_a_drained_node_keep_their_place_on_the_other(tmp_path: Path) -> None:
    grace, drain_s = 6.0, 6.0
    await reset_postgres()
    await seed(PG_URL, [("clerk_b", "clerk", ["social_insurance"]), ("boss", "supervisor", [])])
    prefix = "rvwdrain-" + secrets.token_hex(4)
    env = redis_env(tmp_path, prefix, RVW_RECONNECT_GRACE_SECONDS=str(grace), RVW_DRAIN_SECONDS=str(drain_s))
    n1, n2 = (Served(name, env, tmp_path / name) for name in ("n1", "n2"))
    r = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        # n1 starts first and leads the queue: the node drained is the writer.
        await n1.start()
        assert (await lease_holder(r, prefix))[0] == "n1"
        await n2.start()
        epoch = (await lease_holder(r, prefix))[1]
        # Nine citizens wait in one queue, asking in turn through n1, n1, n2, ...
        waiting: list[tuple[Served, Watched, dict[str, Any], dict[str, Any]]] = []
        for i in range(9):
            node = n2 if i % 3 == 2 else n1
            c, session = await kiosk_citizen(node)
            ack = await ask(c)
            assert ack["position"] == i + 1, ack
            waiting.append((node, c, session, ack))
        on_n1 = [w for w in waiting if w[0] is n1]
        absent = on_n1[3]  # the one who never comes back

        n1.signal(signal.SIGTERM)
        drained_at = time.monotonic()
        holder, new_epoch = await lease_holder(r, prefix, not_epoch=epoch, within=10)
        took_over = time.monotonic() - drained_at
        assert holder == "n2" and new_epoch == epoch + 1
        code, _ = await n1.exited(drain_s + 10)
        took = time.monotonic() - drained_at
        print(f"\nafter n1's SIGTERM: n2 led in {took_over:.2f} s (the lease is 30 s), n1 exited in {took:.2f} s")
        assert code == 0, n1.log()[-3000:]
        assert "Traceback" not in n1.stderr(), n1.stderr()[-3000:]

        # n1's citizens were told, then disconnected; each comes back through n2 (as through a load
        # balancer) with its resume token, and finds its ticket at its old place.
        for _, c, session, ack in on_n1:
            await asyncio.wait_for(c.gone.wait(), 10)
            assert c.told_to_go_before_disconnect(), c.history[-5:]
            if c is absent[1]:
                continue
            back = Watched(n2, "/citizen")
            await back.connect({"resume_token": session["resume_token"]})
            again = await back.wait_for("session")
            assert again["citizen_id"] == session["citizen_id"]
            update = await back.wait_for("queue_update", lambda d, t=ack["ticket_id"]: d["ticket_id"] == t)
            assert update["position"] == ack["position"], (update, ack)
        for node, c, _, _ in waiting:
            if node is n2:
                assert c.sio.connected and "draining" not in [name for name, _ in c.history]

        # The one who did not come back is abandoned after the grace, from the drain: the node's
        # disconnects were applied before it left (its heartbeat's TTL is far longer).
        boss = await login(n2, "boss")
        record = await record_when(n2, boss, absent[3]["case_id"], lambda rec: rec["outcome"] is not None, grace + 5)
        assert record["outcome"] == "abandoned", record
        # The others are offered, in their order, to a clerk on n2.
        clerk = await clerk_on_duty(n2, "clerk_b")
        kept = [w[3]["ticket_id"] for w in waiting if w is not absent]
        await answer_all([clerk], set(kept))
        assert clerk.offers() == kept
    finally:
        await asyncio.gather(n1.stop(), n2.stop())
        await r.aclose()
        await delete_keys(prefix)


class Balancer:
    """A TCP load balancer in front of nodes: each new connection goes to the first node that accepts it,
    so once a node stops listening, its clients' reconnections reach the next."""

    def __init__(self, nodes: list[Served]) -> None:
        self.nodes = nodes
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        for node in self.nodes:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", node.port)
                break
            except OSError:
                continue  # not listening (any more): the next node
        else:
            writer.close()
            return
        self._writers.append(up_writer)
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for writer in self._writers:
            writer.close()


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.postgres
async def test_a_kiosk_page_follows_a_drain_to_the_other_node(tmp_path: Path) -> None:
    from tests.test_browser import MATTER, TARGET, Tab, chromium

    await reset_postgres()
    await seed(PG_URL, [("clerk_b", "clerk", ["social_insurance"])])
    prefix = "rvwdrain-" + secrets.token_hex(4)
    env = redis_env(tmp_path, prefix, RVW_RECONNECT_GRACE_SECONDS="30")
    n1, n2 = (Served(name, env, tmp_path / name) for name in ("n1", "n2"))
    balancer = Balancer([n1, n2])
    try:
        await asyncio.gather(n1.start(), n2.start())
        await balancer.start()
        async with chromium() as browser:
            # The kiosk page, through the load balancer (to n1), asks for help and waits.
            kiosk = await Tab.open(browser, balancer.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            page = kiosk.page
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator(f'[data-matter="{MATTER}"]').click()
            await page.locator(f'[data-province="{TARGET}"]').click()
            await page.locator("#ask-help").click()
            await page.locator("#join-queue").click()  # after the camera and microphone check
            await page.locator("#screen-waiting").wait_for(state="visible")
            ticket = await page.locator("#ticket-id").inner_text()
            assert ticket.startswith("T"), ticket
            # Every state the connection notice goes through, from now on.
            await page.evaluate(
                """() => {
                  const el = document.querySelector("#conn-status");
                  window.connStates = [];
                  new MutationObserver(() => window.connStates.push(el.dataset.key)).observe(
                    el, { attributes: true, attributeFilter: ["data-key"] });
                }"""
            )

            n1.signal(signal.SIGTERM)
            code, _ = await n1.exited(15)
            assert code == 0, n1.log()[-3000:]
            # The page was told, reconnected by itself through the balancer (now to n2) with its resume
            # token, and still waits with its ticket.
            await page.locator('#conn-status[data-key="conn.online"]').wait_for()
            states = await page.evaluate("() => window.connStates")
            assert "conn.moving" in states, states
            assert await page.locator("#screen-waiting").is_visible()
            assert await page.locator("#ticket-id").inner_text() == ticket
            # It is there: a clerk on n2 is offered its ticket (a citizen who is away is not offered).
            clerk = await clerk_on_duty(n2, "clerk_b")
            offer = await clerk.wait_for("offer")
            assert offer["ticket_id"] == ticket
            assert kiosk.errors == [], kiosk.errors
            await kiosk.close()
    finally:
        await balancer.close()
        await asyncio.gather(n1.stop(), n2.stop())
        await delete_keys(prefix)
