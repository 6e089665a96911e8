"""Prometheus metrics at /metrics: a scripted stretch of a day counted exactly, the exposition
passes `promtool check metrics` (Debian's prometheus package, installed by .ci/setup), an optional
token, and two nodes agree on the queue figures."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from queueing.clock import ManualClock
from tests.conftest import Server, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, until

PROMTOOL = shutil.which("promtool")
if PROMTOOL is None:
    pytest.fail("promtool is not installed: run `bash .ci/setup` (Debian's prometheus package)", pytrace=False)

SOCIAL = ("310000", "social_insurance")


async def scrape(server: Server, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def promtool_check(text: str) -> None:
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


async def test_a_scripted_stretch_is_counted_exactly(server: Server, manual_clock: ManualClock) -> None:
    region, skill = SOCIAL
    clerk = await clerk_on_duty(server, "clerk_a")
    # Answered at once: within the threshold.
    first = await citizen(server)
    case1 = await ask(first)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    # Waits 70 s behind the first case: answered over the threshold.
    second = await citizen(server)
    await ask(second)
    manual_clock.advance(70)
    assert (await clerk.call("end_case", {"case_id": case1["case_id"], "outcome": "resolved", "notes": ""}))["ok"]
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    # A short abandon (cancelled at once) and a long one (after 20 s).
    third = await citizen(server)
    short = await ask(third)
    assert (await third.call("cancel", {"ticket_id": short["ticket_id"]}))["ok"] is True
    fourth = await citizen(server)
    long = await ask(fourth)
    manual_clock.advance(20)
    assert (await fourth.call("cancel", {"ticket_id": long["ticket_id"]}))["ok"] is True
    # One still waiting; events with errors: another role's event and an unknown one.
    fifth = await citizen(server)
    await ask(fifth)
    assert (await fifth.call("accept", {"ticket_id": "T1"}))["error"]["code"] == "forbidden"
    assert (await fifth.call("no_such_event", {}))["error"]["code"] == "bad_request"
    await until(server, lambda r: len(r.tickets) == 1, "the fifth waits")

    status, text = await scrape(server)
    assert status == 200
    promtool_check(text)
    found = samples(text)
    assert value(found, "rvw_requests_total", region=region, skill=skill) == 5
    assert value(found, "rvw_answers_total", region=region, skill=skill, within_threshold="true") == 1
    assert value(found, "rvw_answers_total", region=region, skill=skill, within_threshold="false") == 1
    assert value(found, "rvw_abandons_total", region=region, skill=skill, short="true") == 1
    assert value(found, "rvw_abandons_total", region=region, skill=skill, short="false") == 1
    assert value(found, "rvw_queue_waiting", region=region, skill=skill) == 1
    assert value(found, "rvw_clerks", status="busy") == 1
    assert value(found, "rvw_open_cases") == 1
    assert value(found, "rvw_signaling_events_total", namespace="/citizen", event="request_help") == 5
    assert value(found, "rvw_signaling_events_total", namespace="/citizen", event="unknown") == 1
    assert value(found, "rvw_signaling_errors_total", namespace="/citizen", code="forbidden") == 1
    assert value(found, "rvw_signaling_errors_total", namespace="/citizen", code="bad_request") == 1
    assert ("rvw_event_loop_lag_seconds", ()) in found
    assert any(name == "process_cpu_seconds_total" for name, _ in found)


async def test_offer_time_outs_are_counted(server: Server, manual_clock: ManualClock) -> None:
    clerk = await clerk_on_duty(server, "clerk_a")
    c = await citizen(server)
    await ask(c)
    await clerk.wait_for("offer")
    manual_clock.advance(16)  # past RVW_OFFER_TIMEOUT_SECONDS (15)
    await clerk.wait_for("offer_withdrawn")
    _, text = await scrape(server)
    assert value(samples(text), "rvw_offer_timeouts_total") == 1


async def test_a_metrics_token_is_asked_for_when_set(tmp_path: Path, manual_clock: ManualClock) -> None:
    runner, srv = await start_server(tmp_path, manual_clock, metrics_token="scrape-me")
    try:
        assert (await scrape(srv))[0] == 401
        assert (await scrape(srv, "wrong"))[0] == 401
        status, text = await scrape(srv, "scrape-me")
        assert status == 200 and "rvw_requests_total" in text
    finally:
        await stop_server(runner, srv)


async def test_two_nodes_agree_on_the_queue_figures(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    region, skill = SOCIAL
    for node in (a, b, a):
        await ask(await citizen(node))
    await until(a, lambda r: len(r.tickets) == 3, "three waiting")
    figures = []
    for node in (a, b):
        for _ in range(200):  # the other node hears the results a moment later, and the summary is shared
            _, text = await scrape(node)
            found = samples(text)
            if (
                value(found, "rvw_requests_total", region=region, skill=skill) == 3
                and value(found, "rvw_queue_waiting", region=region, skill=skill) == 3
            ):
                break
            await asyncio.sleep(0.02)
        figures.append(
            (
                value(found, "rvw_requests_total", region=region, skill=skill),
                value(found, "rvw_queue_waiting", region=region, skill=skill),
            )
        )
        promtool_check(text)
    assert figures == [(3, 3), (3, 3)]
    # Each node counts its own sockets' events: two requests came through a, one through b.
    _, text_a = await scrape(a)
    _, text_b = await scrape(b)
    assert value(samples(text_a), "rvw_signaling_events_total", namespace="/citizen", event="request_help") == 2
    assert value(samples(text_b), "rvw_signaling_events_total", namespace="/citizen", event="request_help") == 1
