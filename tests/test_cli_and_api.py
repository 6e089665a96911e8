"""The `rvw` command as an operator runs it, the REST API's access rules and the supervisor feed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from queueing.clock import ManualClock
from tests.conftest import Client, Server, free_port
from tests.helpers import ask, citizen, clerk_on_duty

RVW = [sys.executable, "-m", "server.cli"]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"RVW_VAR_DIR": str(tmp_path / "var"), "RVW_SECRET_KEY": "cli-test"})
    env.pop("RVW_DATABASE_URL", None)
    env.pop("RVW_REDIS_URL", None)
    return env


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(RVW + args, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False)


async def test_cli_adds_users_and_kiosks_then_serves_them(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert run(["db", "upgrade"], env).returncode == 0
    added = run(
        [
            "user",
            "add",
            "--username",
            "zhou",
            "--role",
            "clerk",
            "--region",
            "320000",
            "--skills",
            "housing_fund,pension",
            "--display-name",
            "周晓",
        ],
        env,
        stdin="a-long-password\n",
    )
    assert added.returncode == 0, added.stderr
    dup = run(
        ["user", "add", "--username", "zhou", "--role", "clerk", "--region", "320000", "--display-name", "x"],
        env,
        stdin="a-long-password\n",
    )
    assert dup.returncode == 1 and "exists" in dup.stderr
    short = run(
        ["user", "add", "--username", "li", "--role", "auditor", "--region", "310000", "--display-name", "x"],
        env,
        stdin="short\n",
    )
    assert short.returncode == 2
    bad_region = run(
        ["user", "add", "--username", "li", "--role", "auditor", "--region", "110000", "--display-name", "x"],
        env,
        stdin="a-long-password\n",
    )
    assert bad_region.returncode == 2 and "region" in bad_region.stderr
    delta = run(
        ["user", "add", "--username", "zhao", "--role", "supervisor", "--region", "delta", "--display-name", "赵"],
        env,
        stdin="a-long-password\n",
    )
    assert delta.returncode == 0, delta.stderr  # a supervisor of the whole delta
    delta_clerk = run(
        ["user", "add", "--username", "qian", "--role", "clerk", "--region", "delta", "--display-name", "钱"],
        env,
        stdin="a-long-password\n",
    )
    assert delta_clerk.returncode == 1 and "one province" in delta_clerk.stderr
    kiosk = run(["kiosk", "add", "--name", "南京新街口 2 号机", "--region", "320100"], env)
    assert kiosk.returncode == 0
    token = kiosk.stdout.strip()
    assert token.startswith("k_") and len(token) > 20

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *RVW,
        "serve",
        "--port",
        str(port),
        "--demo",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        banner = b""
        while b"Running on" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)  # type: ignore[union-attr]
            assert line, banner.decode()
            banner += line
        text = banner.decode()
        assert "clerk_sh" in text and "/kiosk#kiosk_token=" in text and "/console" in text
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
            async with http.get(f"{base}/readyz") as r:
                assert (await r.json())["checks"] == {"database": "ok"}
            async with http.post(
                f"{base}/api/auth/login", json={"username": "zhou", "password": "a-long-password"}
            ) as r:
                body = await r.json()
                assert r.status == 200 and body["role"] == "clerk"
                assert body["user"]["skills"] == ["housing_fund", "pension"]
            async with http.post(
                f"{base}/api/auth/login", json={"username": "clerk_js", "password": "rvw-demo-2026"}
            ) as r:
                assert r.status == 200
            async with http.post(
                f"{base}/api/auth/login", json={"username": "supervisor", "password": "rvw-demo-2026"}
            ) as r:
                assert r.status == 200 and (await r.json())["user"]["region"] == "delta"
            for page in ("/", "/kiosk", "/console", "/supervisor", "/reports", "/static/vendor/socket.io.min.js"):
                async with http.get(f"{base}{page}") as r:
                    assert r.status == 200, page
        import socketio

        sio = socketio.AsyncClient(reconnection=False)
        got: list[dict] = []
        sio.on("session", lambda d: got.append(d), namespace="/citizen")
        await sio.connect(base, namespaces=["/citizen"], auth={"kiosk_token": token}, transports=["websocket"])
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        await sio.disconnect()
        assert got and got[0]["origin_region"] == "320100"
        # Disabling a user from the command line ends their sessions on the running server.
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/api/auth/login", json={"username": "zhou", "password": "a-long-password"}
            ) as r:
                zhou = (await r.json())["token"]
            disabled = run(["user", "disable", "--username", "zhou"], env)
            assert disabled.returncode == 0, disabled.stderr
            async with http.get(f"{base}/api/cases/RVW2026", headers={"Authorization": f"Bearer {zhou}"}) as r:
                assert r.status == 401
        assert run(["user", "disable", "--username", "nobody"], env).returncode == 1
        # An old link with the token in its address is sent to the setup page, without the token.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/kiosk?kiosk_token={token}", allow_redirects=False) as r,
        ):
            assert r.status == 303 and r.headers["Location"] == "/kiosk/setup"
    finally:
        proc.terminate()
        logged = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()  # type: ignore[union-attr]
        await proc.wait()
    # The access log has the request, without the kiosk token of its query string.
    assert '"GET /kiosk" 303' in logged, logged[-2000:]
    assert token not in logged


async def test_case_access_rules(server: Server, manual_clock: ManualClock) -> None:
    clerk = await clerk_on_duty(server, "clerk_a")
    await server.add_user("clerk_b", "clerk", "310000", ["social_insurance"])
    await server.add_user("audit", "auditor", "310000", [])
    c = await citizen(server)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    await clerk.call("accept", {"ticket_id": offer["ticket_id"]})
    path = f"/api/cases/{ack['case_id']}"
    assert (await server.get_json(path))[0] == 401
    assert (await server.get_json(path, await server.login("clerk_b")))[0] == 403
    assert (await server.get_json(path, await server.login("clerk_a")))[0] == 200
    assert (await server.get_json(path, await server.login("audit")))[0] == 200
    assert (await server.get_json("/api/cases/RVW-nope", await server.login("audit")))[0] == 404
    status, me = await server.get_json("/api/me", await server.login("clerk_b"))
    assert status == 200 and me["username"] == "clerk_b" and "password_hash" not in me
    status, matters = await server.get_json("/api/matters")
    assert status == 200 and len(matters) >= 15
    assert set(matters[0]) == {"code", "name", "skill", "provinces"}
    # The session cookie works like the bearer token (unsafe=True: keep cookies for 127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(
            f"{server.base_url}/api/auth/login", json={"username": "clerk_a", "password": "test-password-1"}
        ) as r:
            assert r.status == 200
        async with http.get(f"{server.base_url}{path}") as r:
            assert r.status == 200
        async with http.post(f"{server.base_url}/api/auth/logout") as r:
            assert r.status == 200
        async with http.get(f"{server.base_url}{path}") as r:
            assert r.status == 401


async def test_login_throttle(server: Server) -> None:
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(12):
            async with http.post(
                f"{server.base_url}/api/auth/login", json={"username": "clerk_a", "password": "wrong-password"}
            ) as r:
                statuses.append(r.status)
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        async with http.post(
            f"{server.base_url}/api/auth/login", json={"username": "clerk_a", "password": "test-password-1"}
        ) as r:
            assert r.status == 429  # still blocked for this address and name


async def test_supervisor_dashboard_feed(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    wall = Client(server, "/supervisor")
    await wall.connect({"token": await server.login("boss")})
    first = await wall.wait_for("dashboard")
    assert first["queues"] == [] and first["today"]["requests"] == 0 and first["sla_s"] == 60.0
    c = await citizen(server)
    await ask(c)
    await clerk_on_duty(server, "clerk_a", skills=["pension"])
    manual_clock.advance(50)  # past 45 s: a pre-breach alert
    dash = await wall.wait_for("dashboard", lambda d: d["queues"] and d["past_prebreach"])
    queues = {q["skill"]: q for q in dash["queues"]}
    # The citizen's queue, and the clerk's (staffed, nobody waiting) beside it.
    asked = queues["social_insurance"]
    assert asked["region"] == "310000" and asked["waiting"] == 1 and asked["oldest_wait_s"] == 50.0
    assert asked["staffed"] == 0 and asked["requests_15m"] == 1 and asked["arrivals_1h"] == 1
    assert asked["service_level_15m"] is None  # nobody answered or gave up yet: nothing to divide by
    assert asked["needed"] == 1  # Erlang C: one arrival an hour at the default handle time
    assert queues["pension"]["staffed"] == 1 and queues["pension"]["waiting"] == 0
    assert dash["clerks_by_status"] == {"available": 1}
    assert dash["clerks"][0]["display_name"] == "clerk_a"
    assert dash["clerks"][0]["in_status_s"] == 50.0  # available since it logged in, 50 s ago
    assert dash["waiting"][0]["waited_s"] == 50.0 and dash["waiting_total"] == 1
    assert dash["scope"] == "310000" and dash["goal"] == 0.9
    assert dash["past_prebreach"] == 1
    assert dash["today"]["requests"] == 1 and dash["today"]["service_level"] is None
    assert (await wall.call_raw("accept", {"ticket_id": "x"}))["error"]["code"] == "forbidden"
