"""The supervisor's live wall in headless Chromium, against a real server on the manual clock.

A Shanghai supervisor and a Jiangsu supervisor open /supervisor; a citizen (a real Socket.IO client) asks
Shanghai for help. On the Shanghai wall the citizen's row counts up and turns amber at 45 s and red at 60 s
(with a word, not only a colour), the breach alert is listed, the queue shows one waiting, the clerk on
shift shows with the time in their status, and the two charts are drawn. The Jiangsu wall does not see
the Shanghai citizen. The supervisor then puts the clerk on break from the wall (the clerk's console hears
it) and moves the citizen to Jiangsu, where the Jiangsu wall picks them up.

A citizen rates a case 2 (不满意) with a comment: the delta wall lists it under 差评待跟进 (GET /api/followups)
with its state in words and its contact and fix due times, refuses to close it without a note (without
asking the server), and closes it with one; the case record then has its `followup_closed` line. Past the
contact due time (a day on, logged in again) the complaint nobody called back is marked overdue, in words,
and listed first; the one already contacted is not.

On each wall as shown (red row and alerts, English, the move form, the refused follow-up form, an overdue
complaint) axe-core finds no serious violation (tests/a11y.py).

Set RVW_SCREENSHOTS=/some/dir to keep a screenshot of the walls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queueing.clock import ManualClock
from recordings.workdays import WorkCalendar
from server.config import Settings
from tests.a11y import check_accessible
from tests.conftest import Server, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case
from tests.test_browser import Tab, chromium, log_in, poll

pytestmark = pytest.mark.browser

MATTER = "SB-ZY-001"  # social insurance, served in all four provinces
SHANGHAI = "310000"
JIANGSU = "320000"


async def open_wall(browser: Any, server: Server, username: str, name: str) -> Tab:
    wall = await Tab.open(browser, server.base_url, "/supervisor", name)
    await log_in(wall, username)
    await wall.page.locator("#board").wait_for(state="visible")
    await wall.page.locator("#board-at[data-state=online]").wait_for()
    return wall


async def drawn(wall: Tab, chart: str) -> tuple[float, float] | None:
    """The size of a chart's canvas once uPlot has drawn it (None before)."""
    canvas = wall.page.locator(f"{chart} canvas")
    if await canvas.count() == 0:
        return None
    box = await canvas.first.bounding_box()
    return (box["width"], box["height"]) if box and box["width"] > 0 and box["height"] > 0 else None


async def test_the_wall_follows_a_waiting_citizen(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss_sh", "supervisor", SHANGHAI, [])
    await server.add_user("boss_js", "supervisor", JIANGSU, [])
    # A Shanghai clerk on shift for another service: on the wall, but not offered the citizen.
    await server.add_user("clerk_hf", "clerk", SHANGHAI, ["housing_fund"], name="王芳")
    clerk = await clerk_on_duty(server, "clerk_hf", SHANGHAI, ["housing_fund"])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            wall = await open_wall(browser, server, "boss_sh", "shanghai wall")
            tabs.append(wall)
            js_wall = await open_wall(browser, server, "boss_js", "jiangsu wall")
            tabs.append(js_wall)
            page = wall.page

            # A kiosk in Suzhou asks Shanghai (real Socket.IO client).
            c = await citizen(server)
            ticket = (await ask(c, MATTER, SHANGHAI))["ticket_id"]
            row = page.locator(f'#waiting-rows tr[data-ticket="{ticket}"]')
            await row.wait_for()
            assert await row.get_attribute("data-level") == "ok"
            assert await row.locator(".c-target").inner_text() == "上海"
            assert await row.locator(".c-origin").inner_text() == "江苏 · 苏州"
            assert await row.locator(".c-channel").inner_text() == "自助终端"
            assert "社会保险" in await row.locator(".c-matter").inner_text()
            assert await row.locator(".c-state").inner_text() == "排队中"
            assert await page.locator("#waiting-count").inner_text() == "共 1 人"
            assert await page.locator("#waiting-more").is_hidden()
            # The queue table: one waiting, nobody staffed for it.
            queue = page.locator(f'#queue-rows tr[data-queue="{SHANGHAI}/social_insurance"]')
            await queue.wait_for()
            assert await queue.locator(".c-waiting").inner_text() == "1"
            assert await queue.locator(".c-staffed").inner_text() == "0"
            # The Jiangsu supervisor's wall has its own scope: no Shanghai citizen.
            await poll(lambda: js_wall.debug("data"), "the Jiangsu wall's first push", 10)
            assert (await js_wall.debug("data"))["scope"] == JIANGSU
            assert await js_wall.page.locator("#waiting-rows tr").count() == 0
            assert await js_wall.page.locator("#no-waiting").is_visible()
            assert await js_wall.page.locator(f'#queue-rows tr[data-queue="{SHANGHAI}/social_insurance"]').count() == 0

            # 46 s: amber, with its word.
            manual_clock.advance(46)
            await page.locator(f'#waiting-rows tr[data-ticket="{ticket}"][data-level="amber"]').wait_for()
            assert await row.locator(".level-mark").inner_text() == "将超时"
            assert "46 秒" in await row.locator(".wait-time").inner_text()
            await page.locator(f'#alert-list li[data-ticket="{ticket}"][data-level="amber"]').wait_for()
            await page.locator(f'#event-list li[data-kind="pre_breach"][data-ticket="{ticket}"]').wait_for()

            # Past 60 s: red, and the breach alert in the list.
            manual_clock.advance(15)
            await page.locator(f'#waiting-rows tr[data-ticket="{ticket}"][data-level="red"]').wait_for()
            assert await row.locator(".level-mark").inner_text() == "已超时"
            breach = page.locator(f'#event-list li[data-kind="breach"][data-ticket="{ticket}"]')
            await breach.wait_for()
            assert "已超时" in await breach.inner_text() and ticket in await breach.inner_text()
            assert await queue.get_attribute("data-level") == "red"
            assert "1 分" in await queue.locator(".c-oldest").inner_text()

            # The clerk on shift, grouped under their status, with the time in it.
            clerk_row = page.locator('#clerk-rows tr[data-clerk="uclerk_hf"]')
            await clerk_row.wait_for()
            assert await clerk_row.locator(".c-name").inner_text() == "王芳"
            assert await clerk_row.locator(".status-pill").inner_text() == "空闲可接"
            in_status = await clerk_row.locator(".c-since").inner_text()
            assert in_status.startswith("1 分"), in_status  # on shift since before the 61 s
            group = page.locator('#clerk-rows tr.group-row[data-status="available"]')
            assert await group.inner_text() == "空闲可接 · 1"
            assert "空闲可接" in await page.locator('#status-counts [data-status="available"]').inner_text()

            # Today's service level against the goal, and the two charts drawn with a size.
            assert await page.locator("#kpi-goal").inner_text() == "目标 90%"
            assert await page.locator("#kpi-requests").inner_text() == "1"
            assert await page.locator("#kpi-open").inner_text() == "0"
            for chart in ("#chart-sl", "#chart-arrivals"):
                width, height = await poll(partial(drawn, wall, chart), f"{chart} drawn", 10)
                assert width > 100 and height > 100, (chart, width, height)
            await check_accessible(page, "wall with a red row and alerts")
            await wall.screenshot("wall-red")

            # English on request: the same wall, re-rendered.
            await page.locator("#lang-switch").click()
            await row.locator(".level-mark").filter(has_text="breached").wait_for()
            assert await clerk_row.locator(".status-pill").inner_text() == "Available"
            await check_accessible(page, "wall in English")
            await wall.screenshot("wall-english")
            await page.locator("#lang-switch").click()
            await row.locator(".level-mark").filter(has_text="已超时").wait_for()

            # The supervisor puts the clerk on break: the clerk's console hears it, the wall regroups.
            await clerk_row.locator("select.clerk-status-select").select_option("break")
            heard = await clerk.wait_for("status", lambda d: d["status"] == "break")
            assert heard["reason"] == "supervisor", heard
            notice = page.locator("#action-notice")
            await notice.filter(has_text="已将 王芳 设为“小休”").wait_for()
            await page.locator('#clerk-rows tr[data-clerk="uclerk_hf"][data-status="break"]').wait_for()
            await page.locator('#clerk-rows tr.group-row[data-status="break"]').wait_for()

            # ... and moves the citizen to Jiangsu: gone from the Shanghai wall, on the Jiangsu one.
            await row.locator("button.move-open").click()
            form = page.locator("#move-form")
            await form.wait_for(state="visible")
            assert ticket in await page.locator("#move-title").inner_text()
            # Nothing chosen yet: the form says what is missing, in words.
            await page.locator("#move-submit").click()
            await page.locator("#move-error").filter(has_text="请选择要转到的省市").wait_for()
            await page.locator("#move-province").select_option(JIANGSU)
            assert await page.locator("#move-matter").input_value() == MATTER  # kept: Jiangsu serves it
            await page.locator("#move-note").fill("参保地在江苏")
            assert "江苏" in await page.locator("#move-summary").inner_text()
            await check_accessible(page, "wall with the move form")
            await wall.screenshot("wall-move")
            await page.locator("#move-submit").click()
            await notice.filter(has_text=f"已将排队 {ticket} 转到江苏").wait_for()
            await form.wait_for(state="hidden")
            moved = await c.wait_for("transferred")
            assert moved["target_region"] == JIANGSU and moved["note"] == "参保地在江苏", moved
            await row.wait_for(state="detached")
            js_row = js_wall.page.locator(f'#waiting-rows tr[data-ticket="{ticket}"]')
            await js_row.wait_for()
            assert await js_row.locator(".c-target").inner_text() == "江苏"
            assert await js_row.get_attribute("data-level") == "red"  # the time waited goes with the citizen
            await js_wall.screenshot("wall-jiangsu")

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


@pytest.fixture
async def strict_server(tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    """A server that raises a service-level alert on a single counted request."""
    runner, srv = await start_server(tmp_path, manual_clock, sla_alert_min_requests=1)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


async def test_a_service_level_alert_in_words(strict_server: Server, manual_clock: ManualClock) -> None:
    server = strict_server
    await server.add_user("boss_delta", "supervisor", "delta", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            wall = await open_wall(browser, server, "boss_delta", "delta wall")
            tabs.append(wall)
            page = wall.page
            await page.locator("#board-scope").filter(has_text="长三角全域").wait_for()
            # Muting is kept on the page (and across visits); the list still shows the alerts.
            await page.locator("#alert-mute").click()
            await page.locator('#alert-mute[aria-pressed="true"]').wait_for()
            assert await page.locator("#alert-mute").inner_text() == "取消静音"

            # A citizen gives up after 20 s unanswered: Shanghai's social insurance answers 0% of 1.
            c = await citizen(server)
            ticket = (await ask(c, MATTER, SHANGHAI))["ticket_id"]
            await page.locator(f'#waiting-rows tr[data-ticket="{ticket}"]').wait_for()
            manual_clock.advance(20)
            assert (await c.call("cancel", {"ticket_id": ticket}))["ok"] is True
            line = page.locator('#event-list li[data-kind="service_level"]')
            await line.wait_for()
            text = await line.inner_text()
            assert "上海 社会保险 近 15 分钟服务水平 0%，低于目标 90%" in text, text
            await page.locator(f'#waiting-rows tr[data-ticket="{ticket}"]').wait_for(state="detached")
            assert await page.locator("#no-waiting").is_visible()

            # The queue's 15-minute level is under the goal (red, and said so), and so is today's.
            queue = page.locator(f'#queue-rows tr[data-queue="{SHANGHAI}/social_insurance"]')
            sl = queue.locator(".c-sl")
            await sl.locator(".sl-value").filter(has_text="0.0%").wait_for()
            assert await sl.get_attribute("data-level") == "poor"
            assert await sl.locator(".level-mark").inner_text() == "低于目标"
            assert await page.locator("#kpi-sl").inner_text() == "0.0%"
            assert await page.locator("#kpi-sl").get_attribute("data-level") == "poor"
            assert await page.locator("#kpi-sl-mark").inner_text() == "✗ 低于目标"
            assert await page.locator("#kpi-abandoned").inner_text() == "1"
            await wall.screenshot("wall-service-level")

            await page.locator("#lang-switch").click()
            await line.filter(has_text="service level over the last 15 minutes 0%, under the goal 90%").wait_for()

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


CHINA = timezone(timedelta(hours=8))
CALENDAR = WorkCalendar.load(Settings(database_url="sqlite://", secret_key="k").holidays_path)


async def shows(locator: Any, text: str, what: str) -> None:
    """Wait (bounded) until ``locator``'s text is exactly ``text``."""

    async def check() -> bool:
        return bool(await locator.inner_text() == text)

    await poll(check, f"{what} to read {text!r}", 10)


async def post_json(server: Server, path: str, token: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()


async def complaint(server: Server, clerk: Any, level: int, comment: str | None = None) -> str:
    """Another Shanghai case served by ``clerk``, ended referred and rated ``level``."""
    c = await citizen(server)
    case_id = str((await ask(c))["case_id"])
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "referred"}))["ok"] is True
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    rating: dict[str, Any] = {"case_id": case_id, "level": level}
    if comment is not None:
        rating["comment"] = comment
    assert (await c.call("rate", rating))["ok"] is True
    return case_id


def china_minute(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def short_due(iso: str) -> str:
    """A due time as the wall shows it: "09-22 24:00" for the midnight that ends the 22nd (China time)."""
    at = datetime.fromisoformat(iso).astimezone(CHINA)
    if at.time() == time(0):
        return f"{(at - timedelta(days=1)):%m-%d} 24:00"
    return f"{at:%m-%d %H:%M}"


async def test_a_complaint_is_followed_up_from_the_wall(server: Server, manual_clock: ManualClock) -> None:
    # A Shanghai case, ended unresolved and rated 2 with a comment that looks like markup (shown as text).
    clerk, c, case_id = await matched_case(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "unresolved"}))["ok"] is True
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    comment = "等了很久 <b>没解决</b>"
    assert (await c.call("rate", {"case_id": case_id, "level": 2, "comment": comment}))["ok"] is True
    await server.add_user("boss_delta", "supervisor", "delta", [])
    await server.add_user("audit", "auditor", "delta", [])
    audit = await server.login("audit")
    status, listed = await server.get_json("/api/followups?state=open", audit)
    assert status == 200 and [f["case_id"] for f in listed] == [case_id], listed
    first = listed[0]
    # Opened on the manual clock's day: contact is due at the end (24:00 China time) of the next working day.
    opened = datetime.fromisoformat(first["opened_at"]).astimezone(CHINA)
    assert opened.date() == datetime.fromtimestamp(manual_clock.now(), CHINA).date()
    contact_due = datetime.fromisoformat(first["contact_due"])
    assert contact_due.timestamp() == CALENDAR.due(opened.timestamp(), 1), first
    assert contact_due.astimezone(CHINA).time() == time(0)

    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            wall = await Tab.open(browser, server.base_url, "/supervisor", "delta wall")
            tabs.append(wall)
            page = wall.page
            # What the page sends on its socket (a WebSocket frame, or a long-polling POST before the upgrade).
            sent: list[str] = []
            page.on(
                "websocket",
                lambda ws: ws.on(
                    "framesent",
                    lambda data: sent.append(data if isinstance(data, str) else data.decode("utf-8", "replace")),
                ),
            )
            page.on("request", lambda r: sent.append(r.post_data or "") if "/socket.io/" in r.url else None)
            await log_in(wall, "boss_delta")
            await page.locator("#board-at[data-state=online]").wait_for()

            # The open follow-up, with the citizen's words as text, its state and due times, and today's figures.
            row = page.locator(f'#followup-rows tr[data-case="{case_id}"]')
            await row.wait_for()
            assert await row.get_attribute("data-rating") == "2"
            assert await row.get_attribute("data-state") == "open"
            assert await row.get_attribute("data-overdue") == "false"
            assert await row.locator(".f-case").inner_text() == case_id
            assert await row.locator(".f-at").inner_text() == china_minute(first["opened_at"])
            assert await row.locator(".f-region").inner_text() == "上海"
            assert "社会保险" in await row.locator(".f-matter").inner_text()
            assert await row.locator(".rating-words").inner_text() == "不满意"
            assert await row.locator(".state-words").inner_text() == "待联系"
            assert await row.locator(".overdue-mark").is_hidden()
            assert await row.locator(".f-contact-due").inner_text() == short_due(first["contact_due"])
            assert await row.locator(".f-contact-due time").get_attribute("datetime") == first["contact_due"]
            assert await row.locator(".f-contact-due").get_attribute("data-late") == "false"
            assert await row.locator(".f-fix-due").inner_text() == short_due(first["fix_due"])
            assert await row.locator(".f-comment").inner_text() == comment
            assert await row.locator(".f-comment b").count() == 0
            assert await page.locator("#followup-rows tr").count() == 1
            title = page.locator("#followups-title")
            await shows(title, "差评待跟进（1，已超期 0）", "the heading")
            assert await page.locator("#no-followups").is_hidden()
            await shows(page.locator("#kpi-complaints"), "1", "today's complaints")
            await shows(page.locator("#kpi-followups"), "1", "today's open follow-ups")

            # English on request.
            await page.locator("#lang-switch").click()
            await shows(title, "Complaints to follow up (1, 0 overdue)", "the heading in English")
            assert await row.locator(".rating-words").inner_text() == "Dissatisfied"
            assert await row.locator(".state-words").inner_text() == "To contact"
            assert await row.locator("button.followup-open").inner_text() == "Close"
            await page.locator("#lang-switch").click()
            await shows(title, "差评待跟进（1，已超期 0）", "the heading in Chinese")

            # Two more complaints come after the list was read (rated 1 without a comment, and rated 2, whose
            # citizen the supervisor has already called back): they show on the next read.
            manual_clock.advance(60)
            second = await complaint(server, clerk, 1)
            third = await complaint(server, clerk, 2, "态度不好")
            boss = await server.login("boss_delta")
            step = {"action": "contacted", "note": "已回电致歉"}
            assert await post_json(server, f"/api/followups/{third}", boss, step) == (
                200,
                {"case_id": third, "action": "contacted"},
            )
            await shows(page.locator("#kpi-complaints"), "3", "today's complaints")
            assert await page.locator(f'#followup-rows tr[data-case="{second}"]').count() == 0
            assert await page.locator(f'#followup-rows tr[data-case="{third}"]').count() == 0

            # Closing without a note is refused by the page, in words, and nothing goes to the server.
            await row.locator("button.followup-open").click()
            form = page.locator("#followup-form")
            await form.wait_for(state="visible")
            assert case_id in await page.locator("#followup-title").inner_text()
            assert comment in await page.locator("#followup-about").inner_text()
            note = page.locator("#followup-note")
            for empty in ("", "  \n "):
                await note.fill(empty)
                await page.locator("#followup-submit").click()
                await page.locator("#followup-error").filter(has_text="请填写跟进情况").wait_for()
                assert await note.get_attribute("aria-invalid") == "true"
            await check_accessible(page, "wall with the follow-up form refused")
            await wall.screenshot("wall-followup-note")
            assert not [m for m in sent if "close_followup" in m], sent
            assert await row.is_visible()

            # With a note: closed on the server, the row goes, a notice says so, and the list is read again.
            await note.fill("已电话联系群众，材料已补齐")
            await page.locator("#followup-submit").click()
            await page.locator("#action-notice").filter(has_text=f"已关闭办件 {case_id} 的差评跟进").wait_for()
            await form.wait_for(state="hidden")
            await row.wait_for(state="detached")
            assert [m for m in sent if "close_followup" in m], "the close never went to the server"
            later = page.locator(f'#followup-rows tr[data-case="{second}"]')
            await later.wait_for()
            assert await later.locator(".rating-words").inner_text() == "非常不满意"
            assert await later.locator(".f-comment").inner_text() == "（未填写意见）"
            assert await later.locator(".state-words").inner_text() == "待联系"
            called = page.locator(f'#followup-rows tr[data-case="{third}"]')
            assert await called.get_attribute("data-state") == "contacted"
            assert await called.locator(".state-words").inner_text() == "已联系"
            # None overdue yet: newest first, as the server lists them.
            assert await page.locator("#followup-rows tr").evaluate_all("rs => rs.map(r => r.dataset.case)") == [
                third,
                second,
            ]
            await shows(title, "差评待跟进（2，已超期 0）", "the heading after the close")
            await shows(page.locator("#kpi-followups"), "2", "today's open follow-ups after the close")
            await wall.screenshot("wall-followups")

            # The records: closed, with the note on the case's timeline.
            status, listed = await server.get_json("/api/cases?followup=closed", audit)
            assert status == 200 and [x["case_id"] for x in listed["cases"]] == [case_id], listed
            assert listed["cases"][0]["followup_closed_at"]
            status, listed = await server.get_json("/api/cases?followup=open", audit)
            assert sorted(x["case_id"] for x in listed["cases"]) == sorted([second, third]), listed
            status, record = await server.get_json(f"/api/cases/{case_id}", audit)
            lines = [e for e in record["timeline"] if e["event"] == "followup_closed"]
            assert len(lines) == 1 and lines[0]["actor"] == "supervisor:uboss_delta", lines
            assert lines[0]["detail"] == {"note": "已电话联系群众，材料已补齐"}

            # 01:00 China time after the contact's due 24:00. More than 12 h since the log-in, so the page's
            # log-in has run out (on the server's clock): reloaded, it asks for one; then the list is read
            # afresh. The one nobody called back is overdue, says so in words, and comes first.
            status, listed = await server.get_json("/api/followups?state=open", audit)
            due = datetime.fromisoformat(next(f for f in listed if f["case_id"] == second)["contact_due"])
            assert due == contact_due, listed  # opened the same day as the first
            manual_clock.advance(due.timestamp() + 3600 - manual_clock.now())
            async with page.expect_response(lambda r: r.url.endswith("/api/me")) as me:
                await page.reload()
            assert (await me.value).status == 401
            await page.locator("#login-panel").wait_for(state="visible")
            await log_in(wall, "boss_delta")
            await page.locator("#board-at[data-state=online]").wait_for()
            late = page.locator(f'#followup-rows tr[data-case="{second}"][data-overdue="true"]')
            await late.wait_for()
            assert "overdue" in str(await late.get_attribute("class")).split()
            assert await late.locator(".overdue-mark").inner_text() == "已超期"
            assert await late.locator(".state-words").inner_text() == "待联系"
            assert await late.locator(".f-contact-due").get_attribute("data-late") == "true"
            assert await late.locator(".f-fix-due").get_attribute("data-late") == "false"
            assert await called.get_attribute("data-overdue") == "false"  # contacted, and the fix is not due yet
            assert await called.locator(".overdue-mark").is_hidden()
            assert await page.locator("#followup-rows tr").evaluate_all("rs => rs.map(r => r.dataset.case)") == [
                second,
                third,
            ]
            await shows(title, "差评待跟进（2，已超期 1）", "the heading with one overdue")
            await check_accessible(page, "wall with an overdue follow-up")
            await wall.screenshot("wall-followups-overdue")
            await page.locator("#lang-switch").click()
            await shows(title, "Complaints to follow up (2, 1 overdue)", "the heading in English")
            assert await late.locator(".overdue-mark").inner_text() == "Overdue"
            await page.locator("#lang-switch").click()
            await shows(title, "差评待跟进（2，已超期 1）", "the heading in Chinese")
            audit = await server.login("audit")  # a day on: log in again
            status, listed = await server.get_json("/api/followups?state=overdue", audit)
            assert status == 200 and [f["case_id"] for f in listed] == [second], listed

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()
