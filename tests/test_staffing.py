"""Staffing what-ifs: Erlang C against ../shared/DOMAIN.md's vector, directly and through ``GET /api/staffing``,
minimal staffing, the simulator beside Erlang C through the API, roles and bad input."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

import pytest

from queueing.erlang import clerks_needed, erlang_c
from server import staffing
from tests.conftest import PASSWORD, Server

# ../shared/DOMAIN.md "Staffing math: Erlang C": 100 contacts per 30 min, AHT 180 s, N = 14.
VECTOR = {"arrivals_per_hour": 200, "aht_s": 180}


async def as_role(server: Server, role: str) -> str:
    await server.add_user(f"who_{role}", role, "310000", ["social_insurance"] if role == "clerk" else [])
    return await server.login(f"who_{role}")


async def ask(server: Server, token: str | None, **params: Any) -> tuple[int, Any]:
    return await server.get_json(f"/api/staffing?{urlencode(params)}", token)


def test_erlang_c_matches_the_domain_vector() -> None:
    r = erlang_c(200, 180, 14, 20)
    assert r.offered_load == pytest.approx(10.0)
    assert round(r.p_wait, 5) == 0.17413
    assert round(r.service_level, 5) == 0.88835
    assert round(r.asa_s, 2) == 7.84
    assert round(r.occupancy, 3) == 0.714
    assert round(r.service_level_at(60), 3) == 0.954
    assert round(erlang_c(200, 180, 14, 60).service_level, 3) == 0.954


@pytest.mark.parametrize(
    ("arrivals", "aht", "sla", "goal"),
    [(200, 180, 20, 0.8), (200, 180, 20, 0.9), (120, 360, 60, 0.8), (1000, 300, 30, 0.95), (3, 600, 60, 0.5)],
)
def test_clerks_needed_is_the_fewest_that_meet_the_goal(arrivals: float, aht: float, sla: float, goal: float) -> None:
    n = clerks_needed(arrivals, aht, sla, goal).clerks
    assert erlang_c(arrivals, aht, n, sla).service_level >= goal
    load = arrivals / 3600 * aht
    assert n - 1 <= load or erlang_c(arrivals, aht, n - 1, sla).service_level < goal


async def test_the_vector_through_the_api(server: Server) -> None:
    token = await as_role(server, "supervisor")
    status, body = await ask(server, token, **VECTOR, sla_s=20, clerks=14)
    assert status == 200, body
    assert body["clerks"] == 14 and body["stable"] is True and body["offered_load"] == pytest.approx(10.0)
    assert round(body["p_wait"], 5) == 0.17413
    assert round(body["service_level"], 5) == 0.88835
    assert round(body["asa_s"], 2) == 7.84
    assert round(body["occupancy"], 3) == 0.714
    # 14 clerks give 0.888 within 20 s, short of 0.9: 15 are needed (and 14 meet 0.88).
    assert body["clerks_needed"] == 15 and body["goal"] == 0.9
    assert "simulated" not in body
    status, body = await ask(server, token, **VECTOR, sla_s=60, clerks=14)
    assert round(body["service_level"], 3) == 0.954
    # 14 clerks meet 0.95 within 60 s, 13 do not (and the default sla_s is the server's, 60 s).
    status, body = await ask(server, token, **VECTOR, goal=0.95)
    assert (status, body["sla_s"], body["clerks_needed"], body["clerks"]) == (200, 60, 14, 14)
    assert body["service_level"] == pytest.approx(erlang_c(200, 180, 14, 60).service_level)
    assert erlang_c(200, 180, 13, 60).service_level < 0.95


@pytest.mark.parametrize(
    ("arrivals", "aht", "sla", "goal"), [(200, 180, 20, 0.8), (120, 360, 60, 0.8), (1000, 300, 30, 0.95)]
)
async def test_clerks_needed_through_the_api_is_minimal(
    server: Server, arrivals: float, aht: float, sla: float, goal: float
) -> None:
    token = await as_role(server, "auditor")
    status, body = await ask(server, token, arrivals_per_hour=arrivals, aht_s=aht, sla_s=sla, goal=goal)
    assert status == 200, body
    n = body["clerks_needed"]
    assert body["clerks"] == n and body["service_level"] >= goal
    _, fewer = await ask(server, token, arrivals_per_hour=arrivals, aht_s=aht, sla_s=sla, goal=goal, clerks=n - 1)
    assert fewer["clerks_needed"] == n and fewer["clerks"] == n - 1
    assert fewer["stable"] is False or fewer["service_level"] < goal


async def test_an_unstable_staffing_says_so(server: Server) -> None:
    token = await as_role(server, "supervisor")
    for clerks in (1, 10):  # A = 10 Erlangs: 10 clerks cannot keep up either
        status, body = await ask(server, token, **VECTOR, clerks=clerks, simulate=1)
        assert status == 200, body
        assert body["stable"] is False and body["service_level"] == 0 and body["asa_s"] is None
        assert body["occupancy"] == 1 and body["p_wait"] == 1 and body["clerks"] == clerks
        assert body["clerks_needed"] == 14 and body["simulated"] is None


async def test_the_simulator_agrees_with_erlang_c_through_the_api(server: Server) -> None:
    """24 simulated hours of the vector (about 4,800 citizens), seed 0: deterministic, so this passes or fails
    the same every run. The tolerances are about three standard deviations of the figures over seeds: 20 seeds
    of 8 hours spread (sd) 0.039 in service level, 3.3 s in ASA and 0.018 in occupancy; 24 hours divide those
    by √3 (0.023, 1.9 s, 0.010). The arrivals are Poisson(4,800): sd 69, three of them 210."""
    token = await as_role(server, "supervisor")
    status, body = await ask(server, token, **VECTOR, sla_s=20, clerks=14, simulate=1, hours=24)
    assert status == 200, body
    sim = body["simulated"]
    assert sim["hours"] == 24 and sim["seed"] == 0
    assert abs(sim["arrivals"] - 4800) <= 210 and sim["answered"] == sim["arrivals"]  # nobody gives up
    assert sim["service_level"] == pytest.approx(body["service_level"], abs=0.07)
    assert sim["asa_s"] == pytest.approx(body["asa_s"], abs=6.0)
    assert sim["occupancy"] == pytest.approx(body["occupancy"], abs=0.03)
    # The same seed, the same citizens: the same figures.
    assert (await ask(server, token, **VECTOR, sla_s=20, clerks=14, simulate=1, hours=24))[1] == body
    # Without clerks=, the simulation runs with clerks_needed.
    _, needed = await ask(server, token, **VECTOR, sla_s=20, simulate="true", hours=2, seed=7)
    assert needed["clerks"] == 15 and needed["simulated"]["seed"] == 7 and needed["simulated"]["hours"] == 2


@pytest.mark.parametrize(("role", "expected"), [(None, 401), ("clerk", 403), ("supervisor", 200), ("auditor", 200)])
async def test_who_may_ask(server: Server, role: str | None, expected: int) -> None:
    token = await as_role(server, role) if role else None
    status, body = await ask(server, token, **VECTOR)
    assert status == expected, body
    if expected != 200:
        assert body["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[expected]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, "arrivals_per_hour"),
        ({"aht_s": 180}, "arrivals_per_hour"),
        ({"arrivals_per_hour": 200}, "aht_s"),
        ({**VECTOR, "arrivals_per_hour": "many"}, "arrivals_per_hour"),
        ({**VECTOR, "arrivals_per_hour": 0}, "arrivals_per_hour"),
        ({**VECTOR, "arrivals_per_hour": -5}, "arrivals_per_hour"),
        ({**VECTOR, "arrivals_per_hour": "nan"}, "arrivals_per_hour"),
        ({**VECTOR, "arrivals_per_hour": "inf"}, "arrivals_per_hour"),
        ({**VECTOR, "arrivals_per_hour": 100_001}, "arrivals_per_hour"),
        ({**VECTOR, "aht_s": 0}, "aht_s"),
        ({**VECTOR, "aht_s": 86_401}, "aht_s"),
        ({**VECTOR, "sla_s": 0}, "sla_s"),
        ({**VECTOR, "sla_s": ""}, "sla_s"),
        ({**VECTOR, "goal": 1}, "goal"),
        ({**VECTOR, "goal": 0}, "goal"),
        ({**VECTOR, "goal": 1.5}, "goal"),
        ({**VECTOR, "clerks": 0}, "clerks"),
        ({**VECTOR, "clerks": 2.5}, "clerks"),
        ({**VECTOR, "clerks": -3}, "clerks"),
        ({**VECTOR, "clerks": 10_001}, "clerks"),
        ({**VECTOR, "simulate": "yes"}, "simulate"),
        ({**VECTOR, "simulate": 1, "hours": 25}, "hours"),
        ({**VECTOR, "simulate": 1, "seed": -1}, "seed"),
        # Beyond what the server staffs or simulates.
        ({"arrivals_per_hour": 100_000, "aht_s": 3600}, "10000 clerks"),
        ({"arrivals_per_hour": 5000, "aht_s": 60, "simulate": 1}, "too large to simulate"),
        ({"arrivals_per_hour": 2000, "aht_s": 180, "simulate": 1, "hours": 4}, "hours × clerks"),
        ({"arrivals_per_hour": 200, "aht_s": 180, "clerks": 501, "simulate": 1}, "at most 500 clerks"),
        ({"arrivals_per_hour": 1200, "aht_s": 180, "clerks": 61, "simulate": 1, "hours": 4}, "too heavy to simulate"),
    ],
)
async def test_bad_input_is_a_bad_request(server: Server, params: dict[str, Any], names: str) -> None:
    token = await as_role(server, "supervisor")
    status, body = await ask(server, token, **params)
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert names in body["error"]["message"]


async def test_one_simulation_at_a_time(server: Server) -> None:
    """While a simulation runs in this process (its slot held here), another is refused with 503; Erlang C alone
    still answers."""
    token = await as_role(server, "supervisor")
    assert staffing._simulating.acquire(blocking=False)
    try:
        status, body = await ask(server, token, **VECTOR, simulate=1, hours=1)
        assert (status, body["error"]["code"]) == (503, "unavailable"), body
        assert (await ask(server, token, **VECTOR))[0] == 200
    finally:
        staffing._simulating.release()
    status, body = await ask(server, token, **VECTOR, simulate=1, hours=1)
    assert status == 200 and body["simulated"]["arrivals"] > 0, body


CHROMIUM = "/usr/bin/chromium"  # as tests/test_browser.py: the setup installs it


@pytest.mark.browser  # as tests/test_browser.py marks its module: `-m "not browser"` leaves it out
async def test_the_wall_shows_erlang_c_beside_the_simulation(live_server: Server) -> None:
    """The what-if form on /supervisor, in Chinese and then in English: the vector's figures, both columns."""
    import playwright.async_api as playwright_api

    await live_server.add_user("wall_sup", "supervisor", "310000", [])
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = await browser.new_page(base_url=live_server.base_url)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto("/supervisor")
            await page.locator("#login-username").fill("wall_sup")
            await page.locator("#login-password").fill(PASSWORD)
            await page.locator("#login-form button[type=submit]").click()
            await page.locator("#staffing-form").wait_for(state="visible")
            assert await page.locator("#staffing-title").inner_text() == "排班测算：需要多少工作人员"
            await page.locator("#staff-arrivals").fill("200")
            await page.locator("#staff-aht").fill("180")
            await page.locator("#staff-sla").fill("20")
            await page.locator("#staff-goal").fill("90")
            await page.locator("#staff-clerks").fill("14")
            await page.locator("#staff-submit").click()
            await page.locator("#staff-result").wait_for(state="visible", timeout=20_000)
            summary = await page.locator("#staff-summary").inner_text()
            assert "至少需要 15 名工作人员" in summary and "14 名" in summary, summary
            cells = await page.locator("#staff-rows tr").evaluate_all(
                "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
            )
            assert cells[1][:2] == ["20 秒内接通率", "88.8%"], cells
            assert cells[2][1] == "7.8 秒" and cells[3][1] == "71.4%" and cells[4][1] == "17.4%", cells
            assert cells[1][2].endswith("%") and cells[2][2].endswith("秒"), cells  # the simulated column
            await page.locator("#lang-switch").click()
            await page.locator("#staffing-title").filter(has_text="Staffing").wait_for()
            assert "At least 15 clerks" in await page.locator("#staff-summary").inner_text()
            if os.environ.get("RVW_SCREENSHOTS"):  # as tests/test_browser.py: a picture for people to look at
                await page.locator("#staffing").screenshot(path=f"{os.environ['RVW_SCREENSHOTS']}/staffing.png")
            # A bad number is the server's 400, shown in words.
            await page.locator("#staff-aht").fill("-1")
            await page.locator("#staff-submit").click()
            await page.locator("#staff-error").wait_for(state="visible")
            assert "aht_s" in await page.locator("#staff-error").inner_text()
            assert errors == []
        finally:
            await browser.close()
