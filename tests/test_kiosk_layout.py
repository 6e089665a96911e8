"""The kiosk for elderly citizens (issue 9), measured in headless Chromium on a portrait kiosk screen (1080x1920):
on every screen (matter list, province choice, camera and microphone check, waiting, in the call, rating, done)
each visible text is at least
24 px with lines spaced at least 1.3, each visible control at least 80x80 px, axe-core finds no serious or critical
violation, and a "what happens next" line is shown. The larger-text switch makes the text a quarter larger. When the
browser is refused the camera and microphone, or has none, the check says so and how to go on, and the citizen can
still join the queue (in writing), never a dead end. A kiosk
left alone for a minute, and one whose case has ended, keeps nothing of the citizen: not on the page, not in its
storage (the page's timers run on Playwright's clock, so the test does not wait the minute).

Screenshots of every screen go to test-artifacts/screenshots (or RVW_SCREENSHOTS).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.a11y import check_accessible
from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import CHROMIUM_ARGS, MATTER, TARGET, Tab, _is, chromium, log_in, poll

pytestmark = pytest.mark.browser

KIOSK_VIEWPORT = {"width": 1080, "height": 1920}

# Every visible element with text of its own, and every visible control, measured as laid out.
MEASURE_JS = """
() => {
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && !e.closest("[hidden]");
  };
  const name = (e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + e.className : ""}`;
  const texts = [];
  const small = [];
  const cramped = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!shown(e)) continue;
    const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(e);
    const size = parseFloat(s.fontSize);
    texts.push(size);
    if (size < 24) small.push(`${name(e)} ${size}px: ${e.textContent.trim().slice(0, 20)}`);
    const line = s.lineHeight === "normal" ? 1.2 * size : parseFloat(s.lineHeight);
    if (line / size < 1.3 && e.getClientRects().length > 0) cramped.push(`${name(e)} ${(line / size).toFixed(2)}`);
  }
  const controls = [];
  const tiny = [];
  const selector = "button, a[href], input:not([type=hidden]), select, textarea, [role=radio], [role=button]";
  for (const e of document.querySelectorAll(selector)) {
    if (!shown(e)) continue;
    const r = e.getBoundingClientRect();
    controls.push([r.width, r.height]);
    if (r.width < 80 || r.height < 80) tiny.push(`${name(e)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  const next = Array.from(document.querySelectorAll(".screen:not([hidden]) .next-step")).filter(shown);
  return {
    texts: texts.length, smallest: Math.min(...texts), small, cramped, controls: controls.length, tiny,
    next: next.map((e) => e.textContent.trim()),
  };
}
"""

FONT_JS = "(sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize)"

PLAYING_JS = "(video) => video.videoWidth > 0 && !video.paused"

# Chromium as it is started for these tests, but refusing every camera and microphone request (as a person
# pressing "Block" would), or with no camera and microphone at all.
REFUSING = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"] + ["--deny-permission-prompts"]
NO_DEVICES = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]

STORAGE_JS = "() => ({local: Object.keys(localStorage).sort(), session: Object.keys(sessionStorage).sort()})"


async def kiosk_tab(browser: Any, base_url: str, path: str, *, clock: bool = False, devices: bool = True) -> Tab:
    """A page at the kiosk's size; ``devices``: the camera and microphone granted beforehand (as a kiosk is set up)."""
    context = await browser.new_context(
        base_url=base_url,
        viewport=KIOSK_VIEWPORT,
        permissions=["camera", "microphone"] if devices else [],
        locale="zh-CN",
    )
    page = await context.new_page()
    if clock:
        await page.clock.install()
    tab = Tab(context, page, "kiosk")
    await page.goto(path)
    return tab


async def check_screen(tab: Tab, label: str) -> dict[str, Any]:
    """Measure the screen as shown, run axe-core on it, and keep a screenshot."""
    await tab.page.evaluate("() => document.fonts.ready")
    measured = await tab.page.evaluate(MEASURE_JS)
    assert measured["texts"] >= 3 and measured["controls"] >= 1, (label, measured)
    assert measured["small"] == [], (label, measured["small"])
    assert measured["cramped"] == [], (label, measured["cramped"])
    assert measured["tiny"] == [], (label, measured["tiny"])
    assert len(measured["next"]) == 1 and measured["next"][0].startswith(("下一步", "Next")), (label, measured)
    await check_accessible(tab.page, label)
    await tab.screenshot(f"kiosk-1080x1920-{label}")
    return dict(measured)


async def test_every_kiosk_screen_is_elder_friendly_at_1080x1920(live_server: Server) -> None:
    await live_server.add_user("clerk_layout", "clerk", "310000", ["social_insurance"], name="周敏")
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk = await kiosk_tab(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}")
            tabs.append(kiosk)
            page = kiosk.page
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator(f'[data-matter="{MATTER}"]').wait_for()
            await check_screen(kiosk, "1-matters")

            # The larger-text switch: a quarter larger, and still every rule holds.
            before = await page.evaluate(FONT_JS, ".choice-title")
            await page.locator("#text-size").click()
            assert await page.locator("#text-size").get_attribute("aria-pressed") == "true"
            assert await page.evaluate(FONT_JS, ".choice-title") == pytest.approx(1.25 * before, rel=0.01)
            await check_screen(kiosk, "1-matters-larger-text")
            await page.locator("#text-size").click()

            await page.locator(f'[data-matter="{MATTER}"]').click()
            # A provisioned kiosk went full screen with its first touch.
            await poll(lambda: page.evaluate("() => document.fullscreenElement !== null"), "full screen", 10)
            await page.locator(f'[data-province="{TARGET}"]').click()
            # The province screen uses the height of the screen: its buttons sit in the lower part.
            ask = await page.locator("#ask-help").bounding_box()
            assert ask is not None and ask["y"] > KIOSK_VIEWPORT["height"] / 2, ask
            await check_screen(kiosk, "2-province")

            # The camera and microphone check: the citizen sees themself, the meter moves with the fake microphone's
            # beeps, and both lines say the device works.
            await page.locator("#ask-help").click()
            await page.locator("#check-camera[data-state=ok]").wait_for()
            assert await page.locator("#check-mic").get_attribute("data-state") == "ok"
            assert await poll(lambda: page.locator("#check-video").evaluate(PLAYING_JS), "the preview plays", 15)
            await page.locator("#mic-level[data-heard=true]").wait_for(timeout=15_000)
            assert await page.locator("#check-help").is_hidden() and await page.locator("#check-again").is_hidden()
            assert await page.locator("#join-queue").inner_text() == "开始排队"
            await check_screen(kiosk, "3-device-check")

            await page.locator("#join-queue").click()  # nobody is on shift yet: the citizen waits
            await page.locator("#screen-waiting").wait_for(state="visible")
            # The check let the camera go: the call opens its own.
            assert await page.locator("#check-video").evaluate("(v) => v.srcObject === null")
            await check_screen(kiosk, "4-waiting")

            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk_layout")
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator(".offer button.accept").click()
            await page.locator("#media-state[data-state=connected]").wait_for()
            await check_screen(kiosk, "5-in-call")
            await console.screenshot("console-1280x900-in-call")

            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#end-case").click()
            await page.locator("#screen-rate").wait_for(state="visible")
            await check_screen(kiosk, "6-rating")
            await page.locator("#skip-rating").click()
            await page.locator("#screen-done").wait_for(state="visible")
            await check_screen(kiosk, "7-done")

            # In English too (the longest words), on the start screen.
            await page.locator("#start-over").click()
            await page.locator("#lang-switch").click()
            await page.locator(f'[data-matter="{MATTER}"]').wait_for()
            await check_screen(kiosk, "1-matters-en")
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_a_kiosk_left_alone_keeps_nothing_of_the_citizen(live_server: Server) -> None:
    await live_server.add_user("clerk_idle", "clerk", "310000", ["social_insurance"], name="吴刚")
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk = await kiosk_tab(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", clock=True)
            tabs.append(kiosk)
            page = kiosk.page
            await page.locator("#conn-status[data-state=online]").wait_for()
            clean = await page.evaluate(STORAGE_JS)
            assert clean["local"] == ["rvw.kiosk_token"], clean

            # Someone chooses a matter in English with larger text, then walks away: after a minute, the start screen.
            await page.locator("#lang-switch").click()
            await page.locator("#text-size").click()
            await page.locator(f'[data-matter="{MATTER}"]').click()
            await page.locator("#screen-province").wait_for(state="visible")
            await page.clock.run_for(30_000)
            assert await page.locator("#screen-province").is_visible()  # not yet: half a minute
            await page.locator(f'[data-province="{TARGET}"]').click()  # a touch restarts the minute
            await page.clock.run_for(45_000)
            assert await page.locator("#screen-province").is_visible()
            await page.clock.run_for(16_000)
            await page.locator("#screen-matter").wait_for(state="visible")
            assert await page.evaluate("() => document.documentElement.lang") == "zh-CN"
            assert await page.locator("#text-size").get_attribute("aria-pressed") == "false"
            await poll(lambda: page.evaluate("() => sessionStorage.getItem('rvw.resume')"), "a new identity", 15)
            assert (await page.evaluate(STORAGE_JS))["local"] == ["rvw.kiosk_token"]

            # A whole case: chat and a document on the page, then the case ends and the citizen leaves the rating.
            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk_idle")
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator("#my-status[data-status=available]").wait_for()
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator(f'[data-matter="{MATTER}"]').click()
            await page.locator(f'[data-province="{TARGET}"]').click()
            await page.locator("#ask-help").click()
            await page.locator("#join-queue").click()
            await console.page.locator(".offer button.accept").click()
            await page.locator("#media-state[data-state=connected]").wait_for()
            case_id = await kiosk.debug("caseId")
            resume_before = await page.evaluate("() => sessionStorage.getItem('rvw.resume')")
            assert resume_before and case_id
            await page.locator("#chat-input").fill("我的电话是 13812345678")
            await page.locator("#chat-send").click()
            await page.locator('#chat-list li[data-from="citizen"]').wait_for()
            await page.clock.run_for(70_000)  # a call is never idle
            assert await page.locator("#screen-call").is_visible()
            await page.locator("#doc-snap").click()
            await page.locator('#doc-list li[data-state="ready"]').wait_for()
            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#end-case").click()
            await page.locator("#screen-rate").wait_for(state="visible")
            await page.locator("#rate-comment").fill("张先生，身份证 310101199001011234")
            await page.clock.run_for(61_000)
            await page.locator("#screen-matter").wait_for(state="visible")

            # Nothing of that citizen is left: not their words, not their case number, not their storage.
            await poll(lambda: _is(page.locator("#chat-list li").count(), 0), "the chat cleared", 10)
            assert await page.locator("#doc-list li").count() == 0
            assert await page.locator("#rate-comment").input_value() == ""
            text = await page.locator("body").inner_text()
            for trace in ("13812345678", "310101199001011234", str(case_id), "张先生"):
                assert trace not in text, trace
            html = await page.content()
            at = html.find(str(case_id))
            assert at < 0, html[max(0, at - 300) : at + 50]
            await poll(
                lambda: page.evaluate("() => sessionStorage.getItem('rvw.resume')"), "the next person's identity", 15
            )
            storage = await page.evaluate(STORAGE_JS)
            assert storage["local"] == ["rvw.kiosk_token"], storage
            resume_after = await page.evaluate("() => sessionStorage.getItem('rvw.resume')")
            assert resume_after != resume_before
            assert await kiosk.debug("caseId") is None
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


@pytest.mark.parametrize(
    ("args", "state", "help_key", "words"),
    [
        (REFUSING, "denied", "check.help.denied", "没有允许使用"),
        (NO_DEVICES, "missing", "check.help.noMic", "12345"),
    ],
    ids=["refused", "no-devices"],
)
async def test_the_device_check_is_never_a_dead_end(
    live_server: Server, args: list[str], state: str, help_key: str, words: str
) -> None:
    tabs: list[Tab] = []
    async with chromium(args) as browser:
        try:
            kiosk = await kiosk_tab(browser, live_server.base_url, "/kiosk?region=320500", devices=False)
            tabs.append(kiosk)
            page = kiosk.page
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator(f'[data-matter="{MATTER}"]').click()
            await page.locator(f'[data-province="{TARGET}"]').click()
            await page.locator("#ask-help").click()
            await page.locator(f"#check-camera[data-state={state}]").wait_for()
            assert await page.locator("#check-mic").get_attribute("data-state") == state
            help_box = page.locator("#check-help")
            assert await help_box.get_attribute("data-key") == help_key
            assert words in await help_box.inner_text()
            assert await page.locator("#mic-meter").is_hidden()
            assert await page.locator("#check-again").is_visible()
            await check_screen(kiosk, f"3-device-check-{state}")
            # Checking again gives the same answer; English says it too.
            await page.locator("#check-again").click()
            await page.locator(f"#check-camera[data-state={state}]").wait_for()
            await page.locator("#lang-switch").click()
            assert "Join and write to the clerk" == await page.locator("#join-queue").inner_text()
            await page.locator("#lang-switch").click()
            # Not a dead end: the citizen joins the queue, to be served in writing.
            assert await page.locator("#join-queue").inner_text() == "用文字交流排队"
            await page.locator("#join-queue").click()
            await page.locator("#screen-waiting").wait_for(state="visible")
            assert (await page.locator("#ticket-id").inner_text()).startswith("T")
            await page.locator("#cancel-ticket").click()
            await page.locator("#screen-matter").wait_for(state="visible")
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


# How far the page is wider than the screen (a phone's browser would zoom out to fit it: innerWidth grows).
OVERFLOW_JS = "(width) => Math.max(document.scrollingElement.scrollWidth, window.innerWidth) - width"


@pytest.mark.parametrize(
    ("width", "height", "label"),
    [(390, 844, "phone-390x844"), (1920, 1080, "landscape-1920x1080")],
    ids=["phone", "landscape"],
)
async def test_the_same_page_on_a_phone_and_in_landscape(
    live_server: Server, width: int, height: int, label: str
) -> None:
    """A citizen's own phone (a browser, not a kiosk) and a landscape screen: the same rules hold, nothing sticks
    out sideways, and the flow goes through to the queue."""
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            context = await browser.new_context(
                base_url=live_server.base_url,
                viewport={"width": width, "height": height},
                permissions=["camera", "microphone"],
                is_mobile=width < 600,
                has_touch=width < 600,
            )
            page = await context.new_page()
            tab = Tab(context, page, label)
            tabs.append(tab)
            await page.goto("/kiosk?region=330100")
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator(f'[data-matter="{MATTER}"]').wait_for()
            for step in ("1-matters", "2-province", "3-device-check", "4-waiting"):
                if step == "2-province":
                    await page.locator(f'[data-matter="{MATTER}"]').click()
                    await page.locator(f'[data-province="{TARGET}"]').click()
                elif step == "3-device-check":
                    await page.locator("#ask-help").click()
                    await page.locator("#check-camera[data-state=ok]").wait_for()
                elif step == "4-waiting":
                    await page.locator("#join-queue").click()
                    await page.locator("#screen-waiting").wait_for(state="visible")
                assert await page.evaluate(OVERFLOW_JS, width) <= 0, step
                measured = await page.evaluate(MEASURE_JS)
                assert measured["small"] == [] and measured["tiny"] == [], (step, measured)
                await check_accessible(page, step)
                await tab.screenshot(f"kiosk-{label}-{step}")
            await page.locator("#cancel-ticket").click()
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()
