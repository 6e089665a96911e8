"""Alerts before a breach: the core raises them, the wall shows them, the webhook posts them once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from queueing.clock import ManualClock, iso
from queueing.routing import Router, WaitAlert
from server.alerts import SIGNATURE_HEADER
from tests.conftest import (
    PER_ADDRESS_UNLIMITED,
    PG_URL,
    REDIS_URL,
    Client,
    Server,
    redis_nodes,
    reset_postgres,
    start_server,
    stop_server,
)
from tests.helpers import ask, citizen, clerk_on_duty
from tests.test_routing import req

SECRET = "webhook-secret"


def alerts(events: list[Any]) -> list[tuple[str, str, float]]:
    return [(e.ticket.ticket_id, e.kind, e.waited_s) for e in events if isinstance(e, WaitAlert)]


def test_pre_breach_at_45_s_and_breach_at_60_s_once_each() -> None:
    r = Router(prebreach_s=45, sla_s=60)
    req(r, 100, 1)
    assert r.next_deadline() == 145
    assert alerts(r.tick(144.9)) == []
    assert alerts(r.tick(145)) == [("T1", "pre_breach", 45.0)]
    assert alerts(r.tick(150)) == []
    assert r.next_deadline() == 160
    assert alerts(r.tick(161)) == [("T1", "breach", 61.0)]
    assert alerts(r.tick(170)) == []
    assert r.next_deadline() == 100 + 600  # only the expiry is left


def test_a_late_tick_raises_both_in_order() -> None:
    r = Router(prebreach_s=45, sla_s=60)
    req(r, 0, 1)
    assert alerts(r.tick(70)) == [("T1", "pre_breach", 70.0), ("T1", "breach", 70.0)]


def test_none_for_a_ticket_answered_before() -> None:
    r = Router(prebreach_s=45, sla_s=60)
    r.clerk_connected(0, "k", "n1/k")
    r.set_clerk(0, "k", "310000", ["s"], "available")
    req(r, 0, 1)
    r.accept(10, "k", "T1")
    req(r, 20, 2)  # waits: the clerk is busy
    assert alerts(r.tick(200)) == [("T2", "pre_breach", 180.0), ("T2", "breach", 180.0)]


def test_a_transferred_citizen_was_answered_already() -> None:
    r = Router(prebreach_s=45, sla_s=60)
    r.clerk_connected(0, "k", "n1/k")
    r.set_clerk(0, "k", "310000", ["s"], "available")
    req(r, 0, 1)
    r.accept(10, "k", "T1")
    r.transfer(30, "k", "C1", target_region="320000", skill="s", matter_code="M", note="")
    assert alerts(r.tick(100)) == []


def test_off_when_the_thresholds_are_zero() -> None:
    r = Router()
    req(r, 0, 1)
    assert alerts(r.tick(500)) == []


def test_a_snapshot_keeps_the_alerts_raised() -> None:
    r = Router(prebreach_s=45, sla_s=60)
    req(r, 0, 1)
    assert alerts(r.tick(50)) == [("T1", "pre_breach", 50.0)]
    copy = Router(prebreach_s=45, sla_s=60)
    copy.load(json.loads(json.dumps(r.to_dict())))
    assert copy.next_deadline() == 60
    assert alerts(copy.tick(55)) == []
    assert alerts(copy.tick(60)) == [("T1", "breach", 60.0)]
    assert alerts(copy.tick(61)) == []


def test_restored_tickets_do_not_alert_again_for_a_threshold_passed() -> None:
    first = Router(prebreach_s=45, sla_s=60)
    req(first, 0, 1)
    ticket = first.to_dict()["tickets"][0]
    r = Router(prebreach_s=45, sla_s=60)
    r.restore(50, [ticket], [])
    r.citizen_connected(51, "c1", "n1/x", resumed=True, resume_id="any", next_resume_id="r1")
    assert alerts(r.tick(55)) == []
    assert alerts(r.tick(60)) == [("T1", "breach", 60.0)]


# ---- a real server --------------------------------------------------------------


async def supervisor(server: Server) -> Client:
    if await server.services.directory.user_by_name("boss") is None:
        await server.add_user("boss", "supervisor", "310000", [])
    wall = Client(server, "/supervisor")
    await wall.connect({"token": await server.login("boss")})
    return wall


async def test_the_wall_hears_pre_breach_at_45_s_and_breach_at_60_s(server: Server, manual_clock: ManualClock) -> None:
    wall = await supervisor(server)
    c = await citizen(server)
    ack = await ask(c)
    start = manual_clock.now()
    manual_clock.advance(44)
    manual_clock.advance(1)
    pre = await wall.wait_for("alert")
    assert pre == {
        "kind": "pre_breach",
        "at": iso(start + 45),
        "target_region": "310000",
        "skill": "social_insurance",
        "ticket_id": ack["ticket_id"],
        "case_id": ack["case_id"],
        "waited_s": 45.0,
    }
    manual_clock.advance(15)
    breach = await wall.wait_for("alert")
    assert (breach["kind"], breach["waited_s"], breach["ticket_id"]) == ("breach", 60.0, ack["ticket_id"])
    assert wall.seen("alert") == []


@dataclass
class Receiver:
    """A tiny webhook receiver: fails the first ``fail`` tries with 500, records the rest."""

    fail: int = 0
    tries: int = 0
    received: list[tuple[bytes, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.tries += 1
        body = await request.read()
        if self.tries <= self.fail:
            return web.Response(status=500)
        self.received.append((body, request.headers.get(SIGNATURE_HEADER, "")))
        self.changed.set()
        return web.Response(status=204)

    async def until(self, n: int) -> None:
        async def wait() -> None:
            while len(self.received) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), 10)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


def webhook_options(rec: Receiver) -> dict[str, Any]:
    return {"alert_webhook_url": rec.url, "alert_webhook_secret": SECRET, "alert_webhook_backoff_s": 0.01}


def signed(body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


async def test_webhook_posts_signed_alerts_and_retries(
    tmp_path: Path, manual_clock: ManualClock, receiver: Receiver
) -> None:
    receiver.fail = 2  # the first alert arrives on the third try
    runner, server = await start_server(tmp_path, manual_clock, **webhook_options(receiver))
    try:
        c = await citizen(server)
        ack = await ask(c)
        start = manual_clock.now()
        manual_clock.advance(45)
        await receiver.until(1)
        assert receiver.tries == 3
        body, signature = receiver.received[0]
        assert signed(body, signature)
        assert json.loads(body) == {
            "kind": "pre_breach",
            "at": iso(start + 45),
            "target_region": "310000",
            "skill": "social_insurance",
            "ticket_id": ack["ticket_id"],
            "case_id": ack["case_id"],
            "waited_s": 45.0,
        }
        manual_clock.advance(15)
        await receiver.until(2)
        body, signature = receiver.received[1]
        assert signed(body, signature) and json.loads(body)["kind"] == "breach"
        assert not signed(body + b" ", signature)
    finally:
        await stop_server(runner, server)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_two_nodes_post_each_alert_once(tmp_path: Path, manual_clock: ManualClock, receiver: Receiver) -> None:
    async with redis_nodes(tmp_path, manual_clock, **webhook_options(receiver)) as (a, b):
        walls = [await supervisor(a), await supervisor(b)]
        c = await citizen(b)
        ack = await ask(c)
        manual_clock.advance(45)
        manual_clock.advance(15)
        for wall in walls:  # every node's wall hears both; its webhook sink saw them before its gateway
            assert (await wall.wait_for("alert"))["kind"] == "pre_breach"
            assert (await wall.wait_for("alert"))["kind"] == "breach"
        await receiver.until(2)
        hooks = [node.services.alert_webhook for node in (a, b)]
        assert all(h is not None for h in hooks)
        # Only the writer's node sends (from the events stream); the other sent nothing.
        assert sorted(h.sent for h in hooks if h is not None) == [0, 2]
        assert [json.loads(body)["kind"] for body, _ in receiver.received] == ["pre_breach", "breach"]
        assert {json.loads(body)["ticket_id"] for body, _ in receiver.received} == {ack["ticket_id"]}
        assert receiver.tries == 2


def test_settings_from_the_environment(tmp_path: Path) -> None:
    from server.config import Settings

    env = {
        "RVW_VAR_DIR": str(tmp_path),
        "RVW_PREBREACH_SECONDS": "40",
        "RVW_ALERT_WEBHOOK_URL": "https://hooks.example.org/rvw",
        "RVW_ALERT_WEBHOOK_SECRET": "s",
    }
    settings = Settings.from_env(env)
    assert (settings.prebreach_s, settings.alert_webhook_url, settings.alert_webhook_secret) == (
        40.0,
        "https://hooks.example.org/rvw",
        "s",
    )
    assert Settings.from_env({"RVW_VAR_DIR": str(tmp_path)}).alert_webhook_url is None


async def test_a_queue_under_the_goal_raises_one_service_level_alert(
    tmp_path: Path, manual_clock: ManualClock, receiver: Receiver
) -> None:
    runner, server = await start_server(tmp_path, manual_clock, **webhook_options(receiver))
    try:
        wall = await supervisor(server)  # Shanghai's
        await server.add_user("boss_js", "supervisor", "320000", [])
        js_wall = Client(server, "/supervisor")
        await js_wall.connect({"token": await server.login("boss_js")})
        clerk = await clerk_on_duty(server, "clerk_a")
        for _ in range(2):  # two answered at once: within the threshold
            c = await citizen(server)
            ack = await ask(c)
            offer = await clerk.wait_for("offer", lambda d, a=ack: d["case_id"] == a["case_id"])
            assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
            manual_clock.advance(30)
            assert (await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": "resolved"}))["ok"] is True
        assert (await clerk.call("set_status", {"status": "break"}))["ok"] is True
        for n in range(3):  # three who give up after 20 s: long abandons
            c = await citizen(server)
            ack = await ask(c)
            manual_clock.advance(20)
            assert (await c.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
            if n < 2:  # four counted so far: too few to tell (RVW_SLA_ALERT_MIN_REQUESTS is 5)
                await wall.wait_for("dashboard", lambda d: d["at"] == manual_clock.now())
                assert wall.seen("alert") == []
        alert = await wall.wait_for("alert")
        assert alert == {
            "kind": "service_level",
            "at": iso(manual_clock.now()),
            "target_region": "310000",
            "skill": "social_insurance",
            "service_level": 0.4,  # 2 within / (2 answered + 3 long abandons)
            "counted": 5,
            "window_s": 900,
            "goal": 0.9,
        }
        await receiver.until(1)
        body, signature = receiver.received[0]
        assert signed(body, signature) and json.loads(body) == alert
        # Still under the goal a little later: no second alert; Jiangsu's wall never heard Shanghai's.
        manual_clock.advance(5)
        await wall.wait_for("dashboard", lambda d: d["at"] == manual_clock.now())
        await wall.wait_for("dashboard", lambda d: d["at"] == manual_clock.now())
        assert wall.seen("alert") == [] and len(receiver.received) == 1
        assert js_wall.seen("alert") == []
        # Fifteen minutes on, those requests have left the window: the queue may alert again later.
        manual_clock.advance(900)
        await wall.wait_for("dashboard", lambda d: d["at"] == manual_clock.now())
        assert server.services.hub.wall.below_goal == set()
    finally:
        await stop_server(runner, server)


async def leader_of(nodes: list[Server]) -> Server:
    """The node holding the writer's lease (waits for one)."""
    for _ in range(200):
        leading = [n for n in nodes if n.services.queue.writer.leader]
        if len(leading) == 1:
            return leading[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no node took the writer's lease")


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_a_writer_take_over_neither_repeats_nor_skips_alerts(
    tmp_path: Path, manual_clock: ManualClock, receiver: Receiver
) -> None:
    await reset_postgres()
    prefix = "rvwtest-" + secrets.token_hex(4)
    options: dict[str, Any] = {
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        **PER_ADDRESS_UNLIMITED,
        **webhook_options(receiver),
        "alert_webhook_backoff_s": 2.0,  # the writer's node is still trying when it stops
    }
    receiver.fail = 1000  # the receiver is down at first
    started = [await start_server(tmp_path / name, manual_clock, **dict(options)) for name in ("a", "b")]
    stopped: list[Server] = []
    try:
        nodes = [srv for _, srv in started]
        first = await leader_of(nodes)
        other = next(n for n in nodes if n is not first)
        c = await citizen(other)
        ack = await ask(c)
        manual_clock.advance(45)
        for _ in range(200):  # the writer's node tries to send the pre-breach alert, and fails
            if receiver.tries:
                break
            await asyncio.sleep(0.05)
        assert receiver.tries == 1 and receiver.received == []
        receiver.fail = receiver.tries  # the receiver is back
        # The writer's node stops; the other takes the lease over and goes on from the stored position.
        runner = next(r for r, srv in started if srv is first)
        await stop_server(runner, first, check_leaks=False)
        stopped.append(first)
        assert await leader_of([other]) is other
        # The alert not sent before the stop is sent by the new writer's node, not lost ...
        await receiver.until(1)
        manual_clock.advance(15)
        await receiver.until(2)
        for _ in range(3):  # a few more passes of the new sender: nothing comes again
            manual_clock.advance(1)
            await asyncio.sleep(0.6)
        kinds = [(json.loads(body)["kind"], json.loads(body)["ticket_id"]) for body, _ in receiver.received]
        assert kinds == [("pre_breach", ack["ticket_id"]), ("breach", ack["ticket_id"])]
        r = aioredis.from_url(REDIS_URL, decode_responses=True)
        try:
            assert await r.get(f"{prefix}:position:webhook")  # where the next sender starts
        finally:
            await r.aclose()
    finally:
        for runner, srv in reversed(started):
            if srv not in stopped:
                await stop_server(runner, srv, check_leaks=False)
        r = aioredis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(f"{prefix}:*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
