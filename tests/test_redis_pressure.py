"""Redis under pressure: a connection pool too small for the burst, and a Redis that goes away
while citizens leave.

A full pool makes a command wait for a connection, or answer ``unavailable`` when none comes in
time; it never fails with redis-py's ``MaxConnectionsError`` ("Too many connections"). A drop
that cannot reach the queue is kept trying until it can, so nobody is counted present for ever
(a "ghost" never abandoned). Two in-process nodes on the manual clock, as in test_multinode.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import socketio

from queueing import streams
from queueing.clock import ManualClock
from queueing.commands import CitizenDisconnected, Command, Result
from queueing.routing import Router
from queueing.streams import RedisQueue
from signaling.const import ProtocolError
from signaling.hub import Hub
from tests.conftest import REDIS_URL, Client, Server, redis_nodes
from tests.helpers import ask, citizen
from tests.test_failover import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

POOL = 2  # Redis connections per node for commands (its polling loops have their own): far fewer than a burst needs
CITIZENS = 150
CLERKS = 10
HELP = {"matter_code": "SB-ZY-001", "target_region": "310000"}
MAX_CONNECTIONS_ERRORS = ("Too many connections", "MaxConnectionsError")


def citizen_conns(router: Router) -> set[str]:
    return {conn for conn, (role, _) in router.connections.items() if role == "citizen"}


def conn_key(c: Client) -> str:
    """The connection's name in the queue state (node/sid), as the namespace gives it."""
    queue = c.server.services.queue
    assert isinstance(queue, RedisQueue)
    return f"{queue.node}/{c.sio.get_sid(c.namespace)}"


async def core_becomes(server: Server, probe: Any, expected: Any, what: str, within: float = 15.0) -> None:
    """Wait (bounded) until ``probe(router)`` equals ``expected`` on the node that leads the queue.

    Polled, not read once: a node that has just taken the writer's lease shows its core while
    it is still replaying the command log, so one read may see an older state."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = await server.read_core(probe)
        if got == expected:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what}: the queue state has {got!r}, not {expected!r}")
        await asyncio.sleep(0.02)


def clerk_conns(router: Router) -> set[str]:
    return {conn for conn, (role, _) in router.connections.items() if role == "clerk"}


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    out = []
    for rec in caplog.records:
        if rec.levelno >= logging.ERROR:
            text = rec.getMessage()
            if rec.exc_info and rec.exc_info[1] is not None:
                text += f" [{type(rec.exc_info[1]).__name__}: {rec.exc_info[1]}]"
            out.append(f"{rec.name}: {text}")
    return out


@pytest.mark.timeout(60)
async def test_a_burst_through_a_tiny_pool_waits_or_is_told_unavailable(
    tmp_path: Path, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """150 web citizens connect and ask for help at once, 10 clerks come on duty meanwhile, then
    every citizen leaves at once, with 2 Redis connections per node for commands: each step either
    succeeds or is answered ``unavailable`` (no hang, no other error), nearly all succeed, no
    "Too many connections" is logged, the queue state counts exactly the live connections, and
    every citizen who left is abandoned after the grace."""
    monkeypatch.setattr(streams, "REDIS_CONNECTIONS", POOL)
    async with redis_nodes(tmp_path, manual_clock, REDIS_URL) as (a, b):
        for node in (a, b):
            queue = node.services.queue
            assert isinstance(queue, RedisQueue)
            # The patch took: a tiny pool (and the polling loops' own connections on top).
            assert queue.redis.connection_pool.max_connections <= POOL + streams.POLLING_LOOPS
        # Even idle, the leader's polling loops (results reader, writer, recorder) sit in blocking
        # reads; a command must still get a connection (once, they starved every other command).
        await a.read_core(lambda r: None)
        for node in (a, b):
            for _ in range(3):
                assert await node.services.queue.ping()
        for i in range(CLERKS):
            await a.add_user(f"k{i}", "clerk", "310000", ["social_insurance"])
        tokens = [await (a if i % 2 else b).login(f"k{i}") for i in range(CLERKS)]
        citizens = [Client(a if i % 2 else b, "/citizen") for i in range(CITIZENS)]
        clerks = [Client(a if i % 2 else b, "/clerk") for i in range(CLERKS)]
        caplog.clear()

        async def connect(c: Client, auth: dict[str, Any]) -> str | None:
            """None once connected; else what the refusal said."""
            try:
                await c.connect(auth)
                return None
            except socketio.exceptions.ConnectionError as exc:
                c.server.clients.append(c.sio)  # closed with the node whatever happened
                if not isinstance(c.connect_error, dict):
                    return f"connect failed without an answer: {exc}"
                return f"connect refused {c.connect_error.get('code')}"

        async def call(c: Client, event: str, data: dict[str, Any]) -> str:
            try:
                ack = await c.call(event, data)
            except socketio.exceptions.TimeoutError:
                return f"{event} not answered"
            return "ok" if ack["ok"] else f"{event} {ack['error']['code']}"

        async def citizen_asks(c: Client) -> str:
            refused = await connect(c, {"channel": "web", "region": "320500"})
            return refused or await call(c, "request_help", HELP)

        async def clerk_comes(c: Client, token: str) -> str:
            refused = await connect(c, {"token": token})
            return refused or await call(c, "set_status", {"status": "available"})

        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(citizen_asks(c) for c in citizens), *(clerk_comes(c, t) for c, t in zip(clerks, tokens, strict=True))
            ),
            45,
        )
        tally: dict[str, int] = {}
        for o in outcomes:
            tally[o] = tally.get(o, 0) + 1
        clear = {"ok", "connect refused unavailable", "request_help unavailable", "set_status unavailable"}
        assert set(tally) <= clear, tally
        assert tally.get("ok", 0) >= 0.9 * len(outcomes), tally

        # The queue state counts exactly the connections that are live, and a ticket per request.
        asked = sum(1 for o in outcomes[:CITIZENS] if o == "ok")
        live = {conn_key(c) for c in citizens if c.sio.connected}
        on_duty = {conn_key(c) for c in clerks if c.sio.connected}
        assert len(live) >= asked
        await core_becomes(
            a,
            lambda r: (citizen_conns(r), clerk_conns(r), len(r.tickets)),
            (live, on_duty, asked),
            "the live connections and a ticket per request",
        )

        # Everyone leaves at once, through the same pools: no drop is lost.
        await asyncio.gather(*(c.sio.disconnect() for c in citizens if c.sio.connected))
        await core_becomes(
            a,
            lambda r: (citizen_conns(r), len(r.tickets), all(t.gone_since is not None for t in r.tickets.values())),
            (set(), asked, True),
            "every drop applied, every ticket kept for the grace",
        )
        manual_clock.advance(a.services.settings.reconnect_grace_s + 1)
        await core_becomes(a, lambda r: (len(r.tickets), clerk_conns(r)), (0, on_duty), "every ticket abandoned")

        errors = errors_logged(caplog)
        assert not [e for e in errors if any(s in e for s in MAX_CONNECTIONS_ERRORS)], errors
        assert not [e for e in errors if "disconnect handling failed" in e or "gave up" in e], errors
        if tally == {"ok": len(outcomes)}:
            assert errors == []  # nothing refused: nothing failed behind the scenes either


@pytest.mark.timeout(60)
async def test_citizens_who_leave_while_redis_is_down_leave_no_ghost(
    tmp_path: Path, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis is killed; citizens with waiting tickets leave meanwhile (their drops fail); Redis
    comes back: their connections leave the queue state, and after the reconnect grace their
    tickets are abandoned, while a citizen who stayed keeps their place."""
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        # A node TTL far longer than the test: no NodeDown can clear the connections instead.
        async with redis_nodes(tmp_path, manual_clock, redis.url, writer_lease_s=1.0, node_ttl_s=120.0) as (a, b):
            citizens = [await citizen(node, {"channel": "web", "region": "320500"}) for node in (a, b, a, b, a)]
            acks = [await ask(c) for c in citizens]
            stayer, leavers = citizens[0], citizens[1:]
            leaving = {conn_key(c) for c in leavers}
            assert leaving < await a.read_core(citizen_conns)

            failed: dict[str, int] = {}  # connection -> drops that failed for the outage
            for node in (a, b):
                hub = node.services.hub
                monkeypatch.setattr(hub, "submit", spied(hub, failed))

            await redis.kill()
            await asyncio.gather(*(c.sio.disconnect() for c in leavers))
            # Every drop was tried and failed: the queue could not be reached.
            for _ in range(1000):
                if set(failed) == leaving:
                    break
                await asyncio.sleep(0.01)
            assert set(failed) == leaving, failed
            await redis.start()  # the same port and AOF: the queue comes back as it was

            # Their drops are applied: only the stayer is present; every ticket keeps its place
            # for the grace, the leavers' as gone since they left.
            stays = {conn_key(stayer)}
            away = {ack["ticket_id"]: ack is not acks[0] for ack in acks}
            await core_becomes(
                a,
                lambda r: (citizen_conns(r), {t.ticket_id: t.gone_since is not None for t in r.tickets.values()}),
                (stays, away),
                "the drops applied once Redis is back",
            )
            manual_clock.advance(a.services.settings.reconnect_grace_s + 1)
            kept = {acks[0]["ticket_id"]}
            await core_becomes(a, lambda r: (citizen_conns(r), set(r.tickets)), (stays, kept), "the leavers abandoned")
            assert stayer.sio.connected

            # The case records say so too (once the recorder has caught up with the abandons).
            for ack in acks[1:]:
                record = None
                for _ in range(500):
                    record = await a.services.store.get(ack["case_id"])
                    if record is not None and record["outcome"] is not None:
                        break
                    await asyncio.sleep(0.02)
                assert record is not None and record["outcome"] == "abandoned", record
            record = await a.services.store.get(acks[0]["case_id"])
            assert record is not None and record["outcome"] is None, record
        errors = errors_logged(caplog)
        assert not [e for e in errors if "disconnect handling failed" in e or "gave up" in e], errors
    finally:
        await redis.kill()


def spied(hub: Hub, failed: dict[str, int]) -> Any:
    """The hub's own submit, noting each citizen drop it could not apply (the path is unchanged)."""
    real = hub.submit

    async def submit(command: Command) -> Result:
        try:
            return await real(command)
        except ProtocolError:
            if isinstance(command, CitizenDisconnected):
                failed[command.conn] = failed.get(command.conn, 0) + 1
            raise

    return submit
