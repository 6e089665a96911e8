"""Limits on hostile clients (issue 6, items 4 and 5): anonymous queue traffic per address and
per citizen, the log-in throttle, and the client address behind trusted proxies.

Each test failed before its limit existed: every request, connection and log-in was taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queueing.clock import ManualClock
from server.addresses import TrustedProxies
from tests.conftest import PASSWORD, Client, Server, refused, start_server, stop_server
from tests.helpers import ask, citizen, until

LIMITS: dict[str, Any] = {
    "trusted_proxies": TrustedProxies.parse("127.0.0.0/8"),  # the tests stand in for a proxy
    "web_connections_per_address": 5,
    "open_requests_per_address": 3,
    "requests_per_citizen": 3,
    "requests_per_address": 8,
    "requests_window_s": 600.0,
    "login_failures_per_account": 10,
    "login_failures_per_address": 30,
    "login_failures_account_wide": 20,
    "login_window_s": 300.0,
}


@pytest.fixture
async def limited(tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, manual_clock, **LIMITS)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


def web(region: str = "320500") -> dict[str, Any]:
    return {"channel": "web", "region": region}


def from_(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def web_citizen(server: Server, address: str) -> Client:
    c = Client(server, "/citizen")
    await c.connect(web(), headers=from_(address))
    await c.wait_for("session")
    return c


async def request(c: Client) -> Any:
    return await c.call("request_help", {"matter_code": "SB-ZY-001", "target_region": "310000"})


# ---- the client's address ------------------------------------------------------------------


def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8, 192.0.2.7")
    # Through two of our proxies: the entry the outer proxy added is the client.
    assert proxies.client("10.1.1.1", "198.51.100.9, 203.0.113.5, 192.0.2.7") == "203.0.113.5"
    # Whatever the client wrote to the left is not believed.
    assert proxies.client("10.1.1.1", "1.1.1.1, 203.0.113.5") == "203.0.113.5"
    # A peer that is not a trusted proxy: the header is ignored.
    assert proxies.client("203.0.113.9", "1.1.1.1") == "203.0.113.9"
    assert TrustedProxies().client("127.0.0.1", "1.1.1.1") == "127.0.0.1"
    # Only proxies in the header: the left-most of them.
    assert proxies.client("10.1.1.1", "10.2.2.2") == "10.2.2.2"
    # IPv4 seen through an IPv6 socket is the same address.
    assert proxies.client("::ffff:10.1.1.1", "203.0.113.5") == "203.0.113.5"


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(
    tmp_path: Path, manual_clock: ManualClock
) -> None:
    runner, srv = await start_server(tmp_path, manual_clock, **{**LIMITS, "trusted_proxies": TrustedProxies()})
    try:
        for i in range(3):
            assert (await request(await web_citizen(srv, f"198.51.100.{i}")))["ok"] is True
        # Each claimed a new address; all came from 127.0.0.1, whose three open requests are the limit.
        ack = await request(await web_citizen(srv, "198.51.100.99"))
        assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
    finally:
        await stop_server(runner, srv)


# ---- anonymous queue traffic ---------------------------------------------------------------


async def test_open_web_requests_are_limited_per_address(limited: Server) -> None:
    nat = [await web_citizen(limited, "203.0.113.5") for _ in range(4)]
    acks = [await request(c) for c in nat]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"]["code"] == "rate_limited" and "network address" in acks[3]["error"]["message"]
    # Someone elsewhere, and a kiosk, are not held up by that address.
    assert (await request(await web_citizen(limited, "198.51.100.7")))["ok"] is True
    assert (await ask(await citizen(limited)))["ok"] is True
    # One of the three leaves: the fourth may ask now.
    assert (await nat[0].call("cancel", {"ticket_id": acks[0]["ticket_id"]}))["ok"] is True
    assert (await request(nat[3]))["ok"] is True
    waiting = await limited.read_core(lambda r: r.open_by_address.get("203.0.113.5"))
    assert waiting == 3


async def test_web_connections_are_limited_per_address(limited: Server) -> None:
    conns = [await web_citizen(limited, "203.0.113.5") for _ in range(5)]
    err = await refused(limited, "/citizen", web(), headers=from_("203.0.113.5"))
    assert err["code"] == "rate_limited"
    await web_citizen(limited, "198.51.100.7")  # another address connects
    await conns[0].close()
    await until(limited, lambda r: r.conns_by_address.get("203.0.113.5") == 4, "the drop was counted")
    await web_citizen(limited, "203.0.113.5")


async def test_request_and_cancel_cycles_are_limited_per_citizen(limited: Server, manual_clock: ManualClock) -> None:
    c = await web_citizen(limited, "203.0.113.5")
    for _ in range(3):
        ack = await request(c)
        assert ack["ok"] is True, ack
        assert (await c.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
    ack = await request(c)
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
    # Ten minutes later the citizen may ask again.
    manual_clock.advance(1200)
    assert (await request(c))["ok"] is True


async def test_requests_over_time_are_limited_per_address(limited: Server) -> None:
    taken = 0
    for _ in range(5):
        c = await web_citizen(limited, "203.0.113.5")
        for _ in range(2):
            ack = await request(c)
            if not ack["ok"]:
                assert ack["error"]["code"] == "rate_limited", ack
                continue
            taken += 1
            assert (await c.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
        await c.close()
    assert taken == 8  # requests_per_address, although no citizen reached their own limit


# ---- log-in --------------------------------------------------------------------------------


async def login(server: Server, username: str, password: str, address: str = "", **headers: str) -> int:
    if address:
        headers["X-Forwarded-For"] = address
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.base_url}/api/auth/login", json={"username": username, "password": password}, headers=headers
        ) as resp:
            await resp.read()
            return resp.status


async def test_a_burst_of_wrong_passwords_is_counted_before_it_is_checked(limited: Server) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])
    statuses = await asyncio.gather(*(login(limited, "boss", "wrong-guess", "203.0.113.5") for _ in range(60)))
    assert statuses.count(401) == 10 and statuses.count(429) == 50, statuses


async def test_one_guess_sprayed_over_many_accounts_is_limited_per_address(limited: Server) -> None:
    statuses = [await login(limited, f"user{i}", "Winter2026!", "203.0.113.5") for i in range(35)]
    assert statuses[:30] == [401] * 30 and statuses[30:] == [429] * 5, statuses
    assert await login(limited, "user99", "Winter2026!", "198.51.100.7") == 401  # another address is checked


async def test_nobody_locks_the_right_password_out_from_another_address(limited: Server) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])
    for _ in range(10):
        assert await login(limited, "boss", "wrong-guess", "203.0.113.5") == 401
    assert await login(limited, "boss", PASSWORD, "203.0.113.5") == 429  # the guessing address waits
    assert await login(limited, "boss", PASSWORD, "198.51.100.7") == 200  # the supervisor does not


async def test_guessing_from_many_addresses_stops_those_addresses_only(limited: Server) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])
    for i in range(20):  # the account-wide limit, one guess each from twenty addresses
        assert await login(limited, "boss", "wrong-guess", f"203.0.113.{i}") == 401
    assert await login(limited, "boss", "another-guess", "203.0.113.3") == 429
    assert await login(limited, "boss", PASSWORD, "198.51.100.7") == 200


async def test_a_right_password_is_not_counted_as_a_failure(limited: Server) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])
    for _ in range(15):
        assert await login(limited, "boss", PASSWORD, "203.0.113.5") == 200
    for _ in range(10):
        assert await login(limited, "boss", "wrong-guess", "203.0.113.5") == 401


async def test_the_log_in_window_passes(limited: Server, manual_clock: ManualClock) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])
    for _ in range(10):
        await login(limited, "boss", "wrong-guess", "203.0.113.5")
    assert await login(limited, "boss", PASSWORD, "203.0.113.5") == 429
    manual_clock.advance(601)  # two windows: nothing of the old ones is left
    assert await login(limited, "boss", PASSWORD, "203.0.113.5") == 200


async def test_password_checks_run_a_bounded_number_at_once(tmp_path: Path, manual_clock: ManualClock) -> None:
    runner, srv = await start_server(tmp_path, manual_clock, **{**LIMITS, "login_concurrency": 1, "login_queue": 8})
    try:
        await srv.add_user("boss", "supervisor", "310000", [])
        guard = srv.services.login_guard
        statuses = await asyncio.gather(*(login(srv, f"bot{i}", "guess", f"203.0.113.{i}") for i in range(12)))
        assert set(statuses) <= {401, 503} and guard.most_running == 1, statuses
        # Hold the one check slot: eight tries wait for it, and past them a try is answered
        # 503 at once rather than piling up behind the slow hash.
        await guard.slots.acquire(0)
        try:
            tries = [asyncio.ensure_future(login(srv, f"bot{i}", "guess", f"198.51.100.{i}")) for i in range(12)]
            for _ in range(1000):  # bounded: the tries reach the guard over real sockets
                if sum(t.done() for t in tries) >= 4 and guard.waiting >= 8:
                    break
                await asyncio.sleep(0.01)
            assert sorted(t.result() for t in tries if t.done()) == [503] * 4
            # The supervisor's own log-in, behind eight bogus ones: an account that exists goes first.
            real = asyncio.ensure_future(login(srv, "boss", PASSWORD, "192.0.2.1"))
            for _ in range(1000):
                if guard.slots.waiting(0) == 1:
                    break
                await asyncio.sleep(0.01)
        finally:
            guard.slots.release()
        finished = []
        for done in asyncio.as_completed([real, *[t for t in tries if not t.done()]]):
            finished.append(await done)
        assert finished[0] == 200, finished  # checked first, although it came last
        assert sorted(finished[1:]) == [401] * 8
        assert guard.waiting == 0 and guard.running == 0 and guard.most_running == 1
    finally:
        await stop_server(runner, srv)


async def test_log_in_limits_are_shared_between_nodes(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    await a.add_user("boss", "supervisor", "310000", [])
    for _ in range(10):
        assert await login(a, "boss", "wrong-guess") == 401
    # The same address and account on the other node: it knows of the ten failures.
    assert await login(b, "boss", "wrong-guess") == 429


async def test_the_session_cookie_is_secure_behind_tls(limited: Server, tmp_path: Path) -> None:
    await limited.add_user("boss", "supervisor", "310000", [])

    async def cookie(**headers: str) -> str:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{limited.base_url}/api/auth/login", json={"username": "boss", "password": PASSWORD}, headers=headers
            ) as resp:
                assert resp.status == 200
                return resp.headers["Set-Cookie"]

    assert "Secure" in await cookie(**{"X-Forwarded-Proto": "https"})  # our proxy terminated TLS
    assert "Secure" not in await cookie()  # plain HTTP on 127.0.0.1 (the demo)
    runner, untrusting = await start_server(tmp_path / "b", limited.clock)
    try:
        await untrusting.add_user("boss", "supervisor", "310000", [])
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{untrusting.base_url}/api/auth/login",
                json={"username": "boss", "password": PASSWORD},
                headers={"X-Forwarded-Proto": "https"},
            ) as resp:
                assert resp.status == 200 and "Secure" not in resp.headers["Set-Cookie"]  # not from a trusted proxy
    finally:
        await stop_server(runner, untrusting, check_leaks=False)
