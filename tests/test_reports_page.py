"""The reports page (/reports) in headless Chromium against a real server on the manual clock.

The day of tests/test_sla_figures.py is played with real Socket.IO clients; a supervisor then picks that day on
the page, grouped by province, and what the page shows must be what GET /api/sla answers for the same query (and
what was worked out by hand). Both uPlot charts are drawn, the English switch re-renders what the page built, and
both CSV downloads start with the UTF-8 BOM. axe-core finds no serious violation with the figures shown, in Chinese
and in English (tests/a11y.py). An auditor may read the page; a clerk is told they may not.

The browser runs in Los Angeles time: the page's dates are China dates whatever the browser's zone.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from queueing.clock import ManualClock
from tests.a11y import check_accessible
from tests.conftest import PASSWORD, Server, start_server, stop_server
from tests.test_browser import Tab, chromium, log_in, poll
from tests.test_sla_figures import BY_REGION, TOTAL, same, scripted_day

pytestmark = pytest.mark.browser

CHINA = timezone(timedelta(hours=8))
BOM = b"\xef\xbb\xbf"
FIGURES = (
    "requests",
    "answered",
    "answered_within_sla",
    "abandoned",
    "short_abandoned",
    "service_level",
    "asa_s",
    "abandon_rate",
    "aht_s",
    "resolution_rate",
    "rated",
    "positive_rate",
)
RATES = {"service_level", "abandon_rate", "resolution_rate", "positive_rate"}
SECONDS = {"asa_s", "aht_s"}
DAY = "2026-09-22"  # the scripted day (China time)


@pytest.fixture
async def day_server(tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    # As for tests/test_sla_figures.py's day: offers wait 90 s, so one answered at 60 s is an answer.
    runner, srv = await start_server(tmp_path, manual_clock, offer_timeout_s=90.0)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


def shown(name: str, value: Any, lang: str = "zh") -> str:
    """A figure as the page writes it: rates in per cent, times in seconds, "—" for null."""
    if value is None:
        return "—"
    if name in RATES:
        return f"{value * 100:.1f}%"
    if name in SECONDS:
        n = f"{value:.1f}".removesuffix(".0")
        return f"{n} 秒" if lang == "zh" else f"{n} s"
    return str(value)


def china_today() -> str:
    return datetime.now(CHINA).date().isoformat()


def sla_path(first: str, last: str, group_by: str, bucket: str) -> str:
    """The page's query for China dates ``first`` to ``last`` (both included)."""
    start = datetime.fromisoformat(first).replace(tzinfo=CHINA)
    end = datetime.fromisoformat(last).replace(tzinfo=CHINA) + timedelta(days=1)
    params = {"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by, "bucket": bucket}
    return "/api/sla?" + urlencode({k: v for k, v in params.items() if v})


async def reports_tab(browser: Any, base_url: str, name: str) -> Tab:
    context = await browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, timezone_id="America/Los_Angeles"
    )
    tab = Tab(context, await context.new_page(), name)
    await tab.page.goto("/reports")
    return tab


async def shown_query(tab: Tab, path: str) -> None:
    """Wait until the page shows the answer to ``path``."""

    async def done() -> bool:
        state = await tab.page.evaluate("() => [window.rvwDebug.phase(), window.rvwDebug.path()]")
        return bool(state == ["shown", path])

    await poll(done, f"the page to show {path}", 15)


async def totals_on_page(tab: Tab) -> dict[str, str]:
    values = tab.page.locator("#rep-totals [data-figure]")
    return {
        str(await v.get_attribute("data-figure")): await v.locator(".kpi-value").inner_text()
        for v in await values.all()
    }


async def row_on_page(tab: Tab, key: str) -> tuple[str, dict[str, str]]:
    row = tab.page.locator(f'#rep-rows tr[data-key="{key}"]')
    cells = {str(await c.get_attribute("data-figure")): await c.inner_text() for c in await row.locator("td").all()}
    return await row.locator("th").inner_text(), cells


async def download(tab: Tab, selector: str) -> tuple[str, bytes]:
    async with tab.page.expect_download() as info:
        await tab.page.locator(selector).click()
    done = await info.value
    return done.suggested_filename, await asyncio.to_thread(Path(await done.path()).read_bytes)


async def test_a_supervisor_reads_a_day_grouped_by_province(day_server: Server, manual_clock: ManualClock) -> None:
    server = day_server
    # "delta": a supervisor of the whole delta, whose figures cover every province.
    await server.add_user("boss", "supervisor", "delta", [])
    await scripted_day(server, manual_clock)
    token = await server.login("boss")
    path = sla_path(DAY, DAY, "target_region", "1h")
    status, api = await server.get_json(path, token)
    assert status == 200, api
    region = next(g for g in api["groups"] if g["key"] == {"target_region": "310000"})
    # The day's figures, worked out by hand in tests/test_sla_figures.py; by hand here, the service level:
    # 5 answered within 60 s of 6 answered + 3 abandoned − 1 short abandon overall, of 6 + 1 − 1 in Shanghai.
    same(api["total"], TOTAL)
    same(region, next(want for key, want in BY_REGION if key == {"target_region": "310000"}))
    assert (api["total"]["service_level"], region["service_level"]) == (5 / 8, 5 / 6)

    tabs: list[Tab] = []
    today = {china_today()}
    async with chromium() as browser:
        try:
            tab = await reports_tab(browser, server.base_url, "reports")
            tabs.append(tab)
            page = tab.page
            await log_in(tab, "boss")
            # The default period is today, in China, whatever the browser's zone says.
            await page.locator("#reports[data-phase=shown]").wait_for()
            today.add(china_today())  # midnight may have passed meanwhile
            assert await page.locator("#rep-from").input_value() in today
            assert await page.locator("#rep-to").input_value() in today
            assert await page.locator("#link-wall").is_visible()

            await page.locator("#rep-from").fill(DAY)
            await page.locator("#rep-to").fill(DAY)
            await page.locator("#rep-group").select_option("target_region")
            await page.locator("#rep-bucket").select_option("1h")
            await page.locator("#rep-show").click()
            await shown_query(tab, path)
            assert await page.locator("#rep-period").inner_text() == f"{DAY} 至 {DAY}（北京时间）"

            # The totals and the Shanghai row: the API's figures, as the page words them.
            totals = await totals_on_page(tab)
            assert totals == {name: shown(name, api["total"][name]) for name in FIGURES}
            assert (totals["requests"], totals["service_level"], totals["asa_s"]) == ("11", "62.5%", "41.7 秒")
            name, cells = await row_on_page(tab, "310000")
            assert name == "上海"
            assert cells == {f: shown(f, region[f]) for f in FIGURES}
            assert cells["service_level"] == "83.3%"
            assert await page.locator("#rep-rows tr").count() == len(api["groups"]) + 1  # and the total
            assert (await row_on_page(tab, "320000"))[0] == "江苏"

            # Both charts are drawn, over the day's 24 hourly buckets (and the end of the day).
            for chart in ("#chart-sl", "#chart-requests"):
                canvas = page.locator(f"{chart} canvas")
                await canvas.wait_for()
                box = await canvas.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100, (chart, box)
            drawn = await page.evaluate("() => window.rvwDebug.charts()")
            assert len(drawn["requests"][0]) == 24 + 1 and sum(drawn["requests"][1]) == 11
            by_hour = {b["start"][11:13]: b for b in api["buckets"]}
            assert drawn["requests"][1][9:12] == [by_hour[h]["requests"] for h in ("09", "10", "11")]
            assert drawn["sl"][1][9] == pytest.approx(by_hour["09"]["service_level"] * 100)
            assert drawn["sl"][1][9] == pytest.approx(50.0)  # 2 within of 3 answered + 2 abandoned − 1 short
            assert set(drawn["sl"][2]) == {90}  # the goal
            assert "接通率" in await page.locator("#chart-sl .u-legend").inner_text()
            await check_accessible(page, "reports with a day's figures")
            await tab.screenshot("reports")

            # The case list of the same period, as CSV from the server.
            filename, body = await download(tab, "#rep-export-cases")
            assert body.startswith(BOM), body[:20]
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
            assert rows[0][0] == "case_id" and len(rows) == 1 + api["total"]["requests"]
            assert all(r[12].startswith(DAY) for r in rows[1:])  # requested_at, China time
            # The figures table, as CSV made in the page.
            filename, body = await download(tab, "#rep-export-figures")
            assert filename == f"figures_{DAY}_{DAY}_target_region.csv"
            assert body.startswith(BOM), body[:20]
            table = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
            assert [r["target_region"] for r in table] == [g["key"]["target_region"] for g in api["groups"]] + ["total"]
            assert table[0]["name"] == "上海"
            assert float(table[0]["service_level"]) == pytest.approx(5 / 6)
            assert table[-1]["requests"] == "11" and table[-1]["asa_s"] == str(api["total"]["asa_s"])

            # English: every label the page built is said again.
            await page.locator("#lang-switch").click()
            assert await page.locator('#rep-totals [data-figure="requests"] .kpi-label').inner_text() == "Requests"
            assert await page.locator('#rep-totals [data-figure="service_level"] .kpi-label').inner_text() == (
                "Answered within 60 s"
            )
            assert (await totals_on_page(tab))["asa_s"] == shown("asa_s", api["total"]["asa_s"], "en") == "41.7 s"
            assert (await row_on_page(tab, "310000"))[0] == "Shanghai"
            assert await page.locator("#rep-head th").first.inner_text() == "Handling province"
            assert await page.locator("#rep-period").inner_text() == f"{DAY} to {DAY} (China time)"
            assert await page.locator("#chart-sl-title").inner_text() == "Answered within 60 s, per bucket"
            assert "Service level" in await page.locator("#chart-sl .u-legend").inner_text()
            assert await page.locator("#rep-show").inner_text() == "Show"
            assert await page.locator("#chart-requests canvas").count() == 1  # redrawn, not added to
            await check_accessible(page, "reports in English")

            # Errors in words: a period the page cannot ask for, and one the API refuses (stable code).
            await page.locator("#rep-from").fill("2026-09-23")
            await page.locator("#rep-show").click()
            error = page.locator("#rep-error")
            await poll(lambda: _text_is(error, "The end date must not be before the start date."), "the range error")
            assert await page.locator("#rep-result").is_hidden()
            await page.locator("#rep-from").fill("2025-01-01")
            await page.locator("#rep-show").click()
            await poll(lambda: _text_starts(error, "The request was not valid."), "the API's bad_request")
            assert "366 days" in await error.inner_text()
            assert tab.errors == []
        finally:
            for t in tabs:
                await t.close()


async def _text_is(locator: Any, expected: str) -> bool:
    return bool(await locator.is_visible() and await locator.inner_text() == expected)


async def _text_starts(locator: Any, expected: str) -> bool:
    return bool(await locator.is_visible() and (await locator.inner_text()).startswith(expected))


async def test_an_auditor_may_read_the_reports_and_a_clerk_may_not(server: Server) -> None:
    await server.add_user("audit", "auditor", "310000", [])
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    # The API's answer to a clerk, which the page puts in words.
    status, body = await server.get_json("/api/sla", await server.login("clerk_a"))
    assert status == 403 and body["error"]["code"] == "forbidden"

    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            # An auditor sees today's figures (an empty day: no rates) and no link to the supervisors' wall.
            auditor = await reports_tab(browser, server.base_url, "auditor")
            tabs.append(auditor)
            await log_in(auditor, "audit")
            await auditor.page.locator("#reports[data-phase=shown]").wait_for()
            totals = await totals_on_page(auditor)
            assert (totals["requests"], totals["service_level"], totals["asa_s"]) == ("0", "—", "—")
            assert await auditor.page.locator("#chart-sl canvas").count() == 1
            assert await auditor.page.locator("#link-wall").is_hidden()

            # A clerk's log-in is refused by the page.
            clerk = await reports_tab(browser, server.base_url, "clerk")
            tabs.append(clerk)
            await log_in(clerk, "clerk_a")
            error = clerk.page.locator("#login-error")
            await poll(lambda: _text_is(error, "此账号不是值班长或审计人员账号。"), "the wrong-role message")
            assert await clerk.page.locator("#reports").is_hidden()

            # The auditor's browser is logged in as the clerk meanwhile (another tab): the API refuses the
            # next query (403) and the page says why.
            answer = await auditor.context.request.post(
                f"{server.base_url}/api/auth/login", data={"username": "clerk_a", "password": PASSWORD}
            )
            assert answer.status == 200
            await auditor.page.locator("#rep-show").click()
            await poll(
                lambda: _text_is(auditor.page.locator("#rep-error"), "此账号无权查看报表：仅限值班长和审计人员。"),
                "the forbidden message",
            )
            assert await auditor.page.locator("#rep-result").is_hidden()
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for t in tabs:
                await t.close()
