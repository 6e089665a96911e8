"""The pages in headless Chromium with a fake camera and microphone, against a real server.

A clerk logs in on /console and goes available, a kiosk asks for help, the clerk accepts, and both
pages' RTCPeerConnections must decode video; then the kiosk shares its screen, the clerk ends the
case, the kiosk rates it, and the case record shows it all. Another case is transferred from the
console to another province, and the kiosk waits for that province's clerk with the same case number. axe-core
finds no serious violation on the console in wrap-up, with the transfer form open, and at a refused log-in.

Screenshots of every page are kept in test-artifacts/screenshots (RVW_SCREENSHOTS=/some/dir to put them elsewhere).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import playwright.async_api as playwright_api
import pytest

from tests.a11y import check_accessible
from tests.conftest import KIOSK_TOKEN, PASSWORD, Server
from tests.helpers import clerk_on_duty

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
SCREENSHOTS = "test-artifacts/screenshots"
MATTER = "SB-ZY-001"  # skill social_insurance
TARGET = "310000"

# Inbound video of the page's current RTCPeerConnection, one entry per received video track.
INBOUND_VIDEO_JS = """
async () => {
  const pc = window.rvwDebug && window.rvwDebug.pc();
  if (!pc) return [];
  const report = await pc.getStats();
  const out = [];
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out.push({ mid: s.mid, track: s.trackIdentifier, frames: s.framesDecoded || 0 });
    }
  });
  return out;
}
"""

# Audio received by the page's current RTCPeerConnection: the fake microphone's beeps, as energy.
INBOUND_AUDIO_JS = """
async () => {
  const pc = window.rvwDebug && window.rvwDebug.pc();
  if (!pc) return null;
  const report = await pc.getStats();
  let energy = 0;
  let samples = 0;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      energy += s.totalAudioEnergy || 0;
      samples += s.totalSamplesReceived || 0;
    }
  });
  return { energy, samples };
}
"""

if not Path(CHROMIUM).exists():
    # A missing browser must not pass quietly: the setup installs it.
    pytest.fail(f"{CHROMIUM} is not installed: run `bash .ci/setup`", pytrace=False)


@asynccontextmanager
async def chromium(args: list[str] | None = None) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        launch = CHROMIUM_ARGS if args is None else args
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=launch)
        try:
            yield browser
        finally:
            await browser.close()


def screenshot_path(label: str) -> str | None:
    """Where a page's screenshot is kept: RVW_SCREENSHOTS, else test-artifacts/screenshots in the project (a test
    artifact for people to look at; CI keeps the folder)."""
    folder = os.environ.get("RVW_SCREENSHOTS") or str(Path(__file__).resolve().parent.parent / SCREENSHOTS)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / f"{label}.png")


class Tab:
    """One page in its own browser context (own cookies, storage and camera), recording page errors."""

    def __init__(self, context: Any, page: Any, name: str, owns_context: bool = True) -> None:
        self.context = context
        self.owns_context = owns_context
        self.page = page
        self.name = name
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))

    @classmethod
    async def open(cls, browser: Any, base_url: str, path: str, name: str) -> Tab:
        context = await browser.new_context(
            base_url=base_url, viewport={"width": 1280, "height": 900}, permissions=["camera", "microphone"]
        )
        page = await context.new_page()
        tab = cls(context, page, name)
        await page.goto(path)
        return tab

    async def debug(self, what: str) -> Any:
        return await self.page.evaluate(f"() => window.rvwDebug && window.rvwDebug.{what}()")

    async def inbound_video(self) -> list[dict[str, Any]]:
        return list(await self.page.evaluate(INBOUND_VIDEO_JS))

    async def hears(self) -> bool:
        audio = await self.page.evaluate(INBOUND_AUDIO_JS)
        return bool(audio and audio["samples"] > 0 and audio["energy"] > 0)

    async def screenshot(self, label: str) -> None:
        path = screenshot_path(label)
        if path:
            await self.page.screenshot(path=path, full_page=True)

    async def close(self) -> None:
        if self.owns_context:
            await self.context.close()
        else:
            await self.page.close()


async def poll(check: Callable[[], Awaitable[Any]], what: str, limit_s: float = 30.0, every_s: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy, at most ``limit_s`` seconds; that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every_s)
    raise AssertionError(f"gave up waiting for {what}; last value {last!r}")


async def log_in(tab: Tab, username: str, password: str = PASSWORD) -> None:
    page = tab.page
    await page.locator("#login-username").fill(username)
    await page.locator("#login-password").fill(password)
    await page.locator("#login-form button[type=submit]").click()


def decoding(minimum_tracks: int = 1) -> Callable[[list[dict[str, Any]]], bool]:
    def ok(stats: list[dict[str, Any]]) -> bool:
        return sum(1 for s in stats if s["frames"] > 0) >= minimum_tracks

    return ok


async def test_kiosk_and_console_serve_a_case_over_webrtc(live_server: Server) -> None:
    await live_server.add_user("clerk1", "clerk", "310000", ["social_insurance"], name="王芳")
    await live_server.add_user("sup1", "supervisor", "310000", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            # The clerk logs in and goes available.
            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk1")
            await console.page.locator("#desk").wait_for(state="visible")
            await console.page.locator("#conn-status[data-state=online]").wait_for()
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator("#my-status[data-status=available]").wait_for()

            # The kiosk in Suzhou asks Shanghai for help with a social insurance transfer.
            kiosk = await Tab.open(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            tabs.append(kiosk)
            await kiosk.page.locator("#conn-status[data-state=online]").wait_for()
            await kiosk.screenshot("kiosk-matters")
            await kiosk.page.locator(f'[data-matter="{MATTER}"]').click()
            await kiosk.page.locator(f'[data-province="{TARGET}"]').click()
            await kiosk.page.locator("#ask-help").click()
            await kiosk.page.locator("#join-queue").click()  # after the camera and microphone check

            # The offer rings on the console; the clerk accepts.
            offer = console.page.locator(".offer")
            await offer.wait_for()
            assert "社会保险关系转移" in await offer.inner_text()
            await console.screenshot("console-offer")
            await offer.locator("button.accept").click()

            await poll(lambda: _is(console.debug("state"), "in_call"), "the console's call", 15)
            await poll(lambda: _is(kiosk.debug("state"), "in_call"), "the kiosk's call", 15)
            case_id = await kiosk.debug("caseId")
            assert case_id and case_id == await console.debug("caseId")

            # Media flows both ways: each side decodes the other's camera.
            await poll(lambda: _check(console.inbound_video(), decoding(1)), "video decoded on the console")
            await poll(lambda: _check(kiosk.inbound_video(), decoding(1)), "video decoded on the kiosk")
            # And hear each other: audio samples with energy (the fake microphone beeps) on both sides.
            await poll(console.hears, "audio heard on the console")
            await poll(kiosk.hears, "audio heard on the kiosk")
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator("#case-media-state[data-state=connected]").wait_for()

            # The citizen shares the screen: a second video track reaches the console and decodes.
            share = kiosk.page.locator("#share-screen")
            await share.wait_for(state="visible")
            await poll(share.is_enabled, "the share button")
            await share.click()
            stats = await poll(lambda: _check(console.inbound_video(), decoding(2)), "the shared screen's frames")
            assert len({s["track"] for s in stats}) >= 2
            await console.page.locator("#remote-screen-box").wait_for(state="visible")
            await poll(
                lambda: console.page.evaluate("() => document.querySelector('#remote-screen').videoWidth > 0"),
                "the shared screen shown on the console",
            )
            await kiosk.screenshot("kiosk-call")
            await console.screenshot("console-call")

            # The clerk ends the case with an outcome and notes.
            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#case-notes").fill("已指导群众提交社保转移申请")
            await console.page.locator("#end-case").click()
            await console.page.locator(f'#history-list li[data-case="{case_id}"]').wait_for()
            await poll(lambda: _is(console.debug("state"), "idle"), "the console back to idle", 10)

            # The kiosk rates the service: 5, 非常满意.
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            await kiosk.screenshot("kiosk-rate")
            await kiosk.page.locator('.rate-button[data-level="5"]').click()
            await kiosk.page.locator("#rate-comment").fill("很耐心")
            await kiosk.page.locator("#submit-rating").click()
            await kiosk.page.locator("#screen-done").wait_for(state="visible")
            assert case_id in await kiosk.page.locator("#done-text").inner_text()
            await console.screenshot("console-after")

            # The supervisor's wall counts the case.
            supervisor = await Tab.open(browser, live_server.base_url, "/supervisor", "supervisor")
            tabs.append(supervisor)
            await log_in(supervisor, "sup1")
            await supervisor.page.locator("#board").wait_for(state="visible")
            await poll(
                lambda: _is(supervisor.page.locator("#kpi-answered").inner_text(), "1"), "the dashboard's figures", 10
            )
            assert await supervisor.page.locator("#kpi-requests").inner_text() == "1"
            assert await supervisor.page.locator("#kpi-sl").inner_text() == "100.0%"
            await supervisor.screenshot("supervisor")

            # The case record has it all.
            token = await live_server.login("sup1")
            status, record = await live_server.get_json(f"/api/cases/{case_id}", token)
            assert status == 200, record
            assert record["connected_at"] and record["ended_at"] and record["answered_at"]
            assert record["outcome"] == "resolved"
            assert record["notes"] == "已指导群众提交社保转移申请"
            assert record["rating"]["level"] == 5
            assert record["rating"]["comment"] == "很耐心"
            assert record["origin_region"] == "320500" and record["target_region"] == TARGET
            assert record["channel"] == "kiosk"

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_citizen_hangs_up_and_the_clerk_wraps_up(live_server: Server) -> None:
    await live_server.add_user("clerk3", "clerk", "330000", ["social_insurance"], name="李强")
    await live_server.add_user("sup3", "supervisor", "330000", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            # The console's transition function refuses a move its flow does not allow: no call before log-in.
            assert await console.page.evaluate("() => window.rvwDebug.go('in_call')") is False
            assert await console.debug("state") == "login"
            assert await console.page.locator("#case-panel").is_hidden()
            await log_in(console, "clerk3")
            await console.page.locator("#conn-status[data-state=online]").wait_for()
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator("#my-status[data-status=available]").wait_for()

            # A citizen in a browser in Hangzhou (no kiosk) asks Zhejiang.
            kiosk = await Tab.open(browser, live_server.base_url, "/kiosk?region=330100", "web citizen")
            tabs.append(kiosk)
            kiosk.page.on("dialog", accept_dialog)
            await kiosk.page.locator(f'[data-matter="{MATTER}"]').click()
            await kiosk.page.locator('[data-province="330000"]').click()
            await kiosk.page.locator("#ask-help").click()
            await kiosk.page.locator("#join-queue").click()  # after the camera and microphone check
            await console.page.locator(".offer button.accept").click()
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator("#case-media-state[data-state=connected]").wait_for()
            case_id = await kiosk.debug("caseId")

            # The citizen hangs up: the console closes the call and asks for the outcome.
            await kiosk.page.locator("#hang-up").click()
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            await console.page.locator("#citizen-ended").wait_for(state="visible")
            assert await console.debug("pc") is None
            await console.page.locator("#my-status[data-status=wrap_up]").wait_for()
            await check_accessible(console.page, "console in wrap-up, the end form")
            # A write-up cannot turn into a call (the server offers nobody until it is sent), nor the rating screen
            # back into waiting: both pages refuse, and stay as they were.
            assert await console.page.evaluate("() => window.rvwDebug.go('in_call')") is False
            assert await console.debug("state") == "wrap_up"
            assert await console.page.locator("#citizen-ended").is_visible()
            assert await console.page.locator("#stage").is_hidden()
            assert await kiosk.page.evaluate("() => window.rvwDebug.go('waiting')") is False
            assert await kiosk.debug("state") == "rating"
            assert await kiosk.page.locator("#screen-waiting").is_hidden()
            await console.screenshot("console-wrap-up")

            await console.page.locator("#outcome-referred").check()
            await console.page.locator("#case-notes").fill("转浙江省社保中心")
            await console.page.locator("#end-case").click()
            await console.page.locator(f'#history-list li[data-case="{case_id}"]').wait_for()
            # Back to taking citizens after the wrap-up.
            await console.page.locator("#my-status[data-status=available]").wait_for()

            await kiosk.page.locator('.rate-button[data-level="4"]').click()
            await kiosk.page.locator("#submit-rating").click()
            await kiosk.page.locator("#screen-done").wait_for(state="visible")

            token = await live_server.login("sup3")
            status, record = await live_server.get_json(f"/api/cases/{case_id}", token)
            assert status == 200, record
            assert record["channel"] == "web" and record["origin_region"] == "330100"
            assert record["connected_at"] and record["ended_at"]
            assert record["outcome"] == "referred" and record["notes"] == "转浙江省社保中心"
            assert record["rating"]["level"] == 4
            events = [e["event"] for e in record["timeline"]]
            assert "citizen_hung_up" in events and "wrapped_up" in events, events

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_clerk_transfers_the_case_to_another_province(live_server: Server) -> None:
    await live_server.add_user("clerk4", "clerk", "310000", ["social_insurance"], name="赵敏")
    await live_server.add_user("sup4", "supervisor", "delta", [])
    note = "参保地在江苏，需由江苏社保中心办理"
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk4")
            await console.page.locator("#conn-status[data-state=online]").wait_for()
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator("#my-status[data-status=available]").wait_for()

            # The kiosk in Suzhou asks Shanghai; the Shanghai clerk answers and the call connects.
            kiosk = await Tab.open(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            tabs.append(kiosk)
            await kiosk.page.locator("#conn-status[data-state=online]").wait_for()
            await kiosk.page.locator(f'[data-matter="{MATTER}"]').click()
            await kiosk.page.locator(f'[data-province="{TARGET}"]').click()
            await kiosk.page.locator("#ask-help").click()
            await kiosk.page.locator("#join-queue").click()  # after the camera and microphone check
            await console.page.locator(".offer button.accept").click()
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator("#case-media-state[data-state=connected]").wait_for()
            case_id = await kiosk.debug("caseId")
            assert case_id and case_id == await console.debug("caseId")

            # The clerk transfers it to Jiangsu, same matter, with a reason.
            await console.page.locator("#transfer-open").click()
            await console.page.locator("#transfer-form").wait_for(state="visible")
            assert await console.page.locator("#transfer-matter").input_value() == MATTER  # the case's own matter
            # The queue the case is already in is not a choice.
            assert await console.page.locator(f'#transfer-province option[value="{TARGET}"]').is_disabled()
            await console.page.locator("#transfer-province").select_option("320000")
            await console.page.locator("#transfer-note").fill(note)
            assert "江苏" in await console.page.locator("#transfer-summary").inner_text()
            await check_accessible(console.page, "console with the transfer form")
            await console.screenshot("console-transfer")
            await console.page.locator("#transfer-submit").click()

            # The console's case closes and the clerk is free for the next citizen.
            await poll(lambda: _is(console.debug("state"), "idle"), "the console back to idle", 10)
            await console.page.locator("#case-panel").wait_for(state="hidden")
            history = console.page.locator(f'#history-list li[data-case="{case_id}"]')
            await history.wait_for()
            assert "已转出" in await history.inner_text()
            await console.page.locator("#my-status[data-status=available]").wait_for()
            assert await console.debug("pc") is None

            # The kiosk closed the call and waits, told why, with the same case number.
            await kiosk.page.locator("#screen-waiting").wait_for(state="visible")
            notice = kiosk.page.locator("#waiting-notice")
            await notice.wait_for(state="visible")
            told = await notice.inner_text()
            assert "江苏" in told and note in told, told
            await kiosk.page.locator(f'#waiting-case[data-case="{case_id}"]').wait_for()
            assert case_id in await kiosk.page.locator("#waiting-case").inner_text()
            assert await kiosk.debug("state") == "waiting" and await kiosk.debug("caseId") == case_id
            assert await kiosk.debug("pc") is None
            # Nobody in Jiangsu is on shift yet: the page says the wait cannot be estimated (not "0").
            await poll(lambda: _is(kiosk.page.locator("#queue-wait").inner_text(), "无法估计"), "no estimate", 10)
            await kiosk.page.locator("#queue-wait-note").wait_for(state="visible")
            await kiosk.screenshot("kiosk-transferred")

            # A Jiangsu clerk comes on duty and is offered the same case; answering it opens a new call.
            js = await clerk_on_duty(live_server, "clerk_js", region="320000")
            offer = await js.wait_for("offer")
            assert offer["case_id"] == case_id and offer["target_region"] == "320000", offer
            assert offer["matter_code"] == MATTER
            assert (await js.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
            await poll(lambda: _is(kiosk.debug("state"), "in_call"), "the kiosk's new call", 10)
            assert await kiosk.debug("caseId") == case_id
            assert "江苏" in await kiosk.page.locator("#call-title").inner_text()

            token = await live_server.login("sup4")
            status, record = await live_server.get_json(f"/api/cases/{case_id}", token)
            assert status == 200, record
            assert record["target_region"] == "320000" and record["matter_code"] == MATTER
            moved = next(e for e in record["timeline"] if e["event"] == "transferred")
            assert moved["actor"] == "clerk:uclerk4" and moved["detail"]["note"] == note
            assert moved["detail"]["from_region"] == TARGET and moved["detail"]["to_region"] == "320000"

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_english_switch_and_wrong_password(live_server: Server) -> None:
    await live_server.add_user("clerk2", "clerk", "320000", ["social_insurance"])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            home = await Tab.open(browser, live_server.base_url, "/", "home")
            tabs.append(home)
            await home.screenshot("index")
            kiosk = await Tab.open(browser, live_server.base_url, "/kiosk?region=320500", "kiosk")
            tabs.append(kiosk)
            heading = kiosk.page.locator("#screen-matter h2")
            assert await heading.inner_text() == "请选择要办理的事项"
            await kiosk.page.locator(f'[data-matter="{MATTER}"]').wait_for()
            assert "社会保险关系转移" in await kiosk.page.locator("#matter-list").inner_text()

            await kiosk.page.locator("#lang-switch").click()
            assert await heading.inner_text() == "What do you need help with?"
            assert "Transfer of social insurance records" in await kiosk.page.locator("#matter-list").inner_text()
            assert await kiosk.page.evaluate("() => document.documentElement.lang") == "en"
            # The choice is remembered.
            await kiosk.page.reload()
            assert await heading.inner_text() == "What do you need help with?"
            assert "Suzhou" in await kiosk.page.locator("#where").inner_text()

            # A wrong password is refused in plain words (English: same browser context).
            console = Tab(kiosk.context, await kiosk.context.new_page(), "console", owns_context=False)
            tabs.append(console)
            await console.page.goto("/console")
            await log_in(console, "clerk2", "not-the-password")
            error = console.page.locator("#login-error")
            await error.wait_for(state="visible")
            assert await error.inner_text() == "Wrong username or password."
            assert await console.page.locator("#desk").is_hidden()
            await check_accessible(console.page, "console log-in error, in English")
            await console.screenshot("console-login-error")

            # In Chinese too, after switching back.
            await console.page.locator("#lang-switch").click()
            await log_in(console, "clerk2", "still-wrong")
            await poll(lambda: _is(error.inner_text(), "用户名或密码错误。"), "the Chinese error", 10)

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def accept_dialog(dialog: Any) -> None:
    await dialog.accept()


async def open_console(browser: Any, base_url: str, username: str) -> Tab:
    """A clerk's console, logged in and available for offers."""
    console = await Tab.open(browser, base_url, "/console", "console")
    await log_in(console, username)
    await console.page.locator("#conn-status[data-state=online]").wait_for()
    await console.page.locator("[data-set-status=available]").click()
    await console.page.locator("#my-status[data-status=available]").wait_for()
    return console


async def ask_for_help(page: Any) -> None:
    """The citizen's page asks for help with MATTER in TARGET, through the camera and microphone check."""
    await page.locator("#conn-status[data-state=online]").wait_for()
    await page.locator(f'[data-matter="{MATTER}"]').click()
    await page.locator(f'[data-province="{TARGET}"]').click()
    await page.locator("#ask-help").click()
    await page.locator("#join-queue").click()  # once the check is done


async def answer_call(kiosk: Tab, console: Tab) -> str:
    """The console accepts the offer and both pages' video connects; the case's number."""
    await console.page.locator(".offer button.accept").click()
    await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
    await console.page.locator("#case-media-state[data-state=connected]").wait_for()
    case_id = await kiosk.debug("caseId")
    assert case_id and case_id == await console.debug("caseId")
    return str(case_id)


async def start_call(browser: Any, base_url: str, tabs: list[Tab], clerk: str, kiosk_path: str) -> str:
    """A clerk's console and a citizen's page (appended to ``tabs``, console first) in a call; the case's number."""
    console = await open_console(browser, base_url, clerk)
    tabs.append(console)
    kiosk = await Tab.open(browser, base_url, kiosk_path, "kiosk")
    tabs.append(kiosk)
    await ask_for_help(kiosk.page)
    return await answer_call(kiosk, console)


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


async def _check(value: Awaitable[Any], ok: Callable[[Any], bool]) -> Any:
    result = await value
    return result if ok(result) else None


# Every value the page keeps where its scripts can read it.
STORED_VALUES_JS = """
() => {
  const values = [];
  for (const store of [sessionStorage, localStorage]) {
    for (let i = 0; i < store.length; i++) values.push(store.getItem(store.key(i)));
  }
  return { values, cookie: document.cookie };
}
"""


async def test_a_kiosk_is_provisioned_once_and_pages_keep_no_session_token(live_server: Server) -> None:
    """Issue 6, items 9 and 10: the kiosk token is entered once on /kiosk/setup and never appears
    in an address; a logged-in console keeps its session in the HttpOnly cookie only (before, the
    token sat in sessionStorage and the kiosk's in the URL)."""
    await live_server.add_user("clerk1", "clerk", "310000", ["social_insurance"])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk = await Tab.open(browser, live_server.base_url, "/kiosk/setup", "setup")
            tabs.append(kiosk)
            await kiosk.page.locator("#setup-token").fill(KIOSK_TOKEN)
            await kiosk.page.locator("#setup-form button[type=submit]").click()
            await kiosk.page.wait_for_url("**/kiosk")
            await kiosk.page.locator("#conn-status[data-state=online]").wait_for()
            assert "苏州" in await kiosk.page.locator("#where").inner_text()  # known as the Suzhou kiosk
            assert KIOSK_TOKEN not in kiosk.page.url
            # After a restart of the browser page it is still the kiosk, from local storage alone.
            await kiosk.page.reload()
            await kiosk.page.locator("#conn-status[data-state=online]").wait_for()
            assert "苏州" in await kiosk.page.locator("#where").inner_text()

            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk1")
            await console.page.locator("#conn-status[data-state=online]").wait_for()
            kept = await console.page.evaluate(STORED_VALUES_JS)
            assert "rvw_session" not in kept["cookie"]  # HttpOnly: no script reads it
            for value in kept["values"]:  # nothing stored works as a log-in token
                status, _ = await live_server.get_json("/api/me", token=value)
                assert status == 401, value
            cookies = await console.context.cookies()
            assert any(c["name"] == "rvw_session" and c["httpOnly"] for c in cookies)
            # A reload connects the console again with the cookie alone.
            await console.page.reload()
            await console.page.locator("#conn-status[data-state=online]").wait_for()
            for tab in tabs:
                assert tab.errors == []
        finally:
            for tab in tabs:
                await tab.close()
