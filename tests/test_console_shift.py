"""The clerk console for a whole shift (issue 9), in headless Chromium against a real server: an offer rings (a chime
until it is answered, and a browser notification with the matter, where the citizen is and how long they waited);
the keys A and D accept and decline the first offer; the time in the current status counts; during a case the
matter's guidance (materials, steps, time limit) from the catalog shows beside the video; and the clerk's day
(cases, average handling time, ratings) comes from GET /api/clerk/day after each case. axe-core finds no serious
violation with an offer listed, nor in the call, in Chinese and in English (tests/a11y.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.a11y import check_accessible
from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import Tab, ask_for_help, chromium, log_in, poll

pytestmark = pytest.mark.browser

# What the page asks the browser to show as notifications, and which it closes again: a spy around the real API.
NOTIFICATION_SPY = """
(() => {
  const Real = window.Notification;
  window.rvwNotifications = [];
  class Spy extends Real {
    constructor(title, options) {
      super(title, options);
      const seen = { title, body: (options && options.body) || "", closed: false };
      window.rvwNotifications.push(seen);
      const close = this.close.bind(this);
      this.close = () => { seen.closed = true; close(); };
    }
  }
  window.Notification = Spy;
})();
"""


async def asks_and_waits(tab: Tab) -> None:
    await ask_for_help(tab.page)
    await tab.page.locator("#screen-waiting").wait_for(state="visible")


async def test_a_shift_at_the_console(live_server: Server) -> None:
    await live_server.add_user("clerk_shift", "clerk", "310000", ["social_insurance"], name="钱进")
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            context = await browser.new_context(
                base_url=live_server.base_url,
                viewport={"width": 1440, "height": 900},
                permissions=["camera", "microphone", "notifications"],
            )
            await context.add_init_script(NOTIFICATION_SPY)
            page = await context.new_page()
            console = Tab(context, page, "console")
            tabs.append(console)
            await page.goto("/console")
            # "Available" pressed before the console's connection is up (its first request held here) is not lost
            # to a "not connected" error: it is sent once the connection is up.
            held: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

            async def hold_first(route: Any) -> None:
                if not held.done():
                    held.set_result(route)
                    return
                await route.continue_()

            await page.route("**/socket.io/**", hold_first)
            await log_in(console, "clerk_shift")
            first_request = await held
            await page.locator("[data-set-status=available]").click()
            assert await page.locator("#conn-status").get_attribute("data-state") != "online"
            await first_request.continue_()
            await page.unroute("**/socket.io/**")
            await page.locator("#conn-status[data-state=online]").wait_for()
            await page.locator("#my-status[data-status=available]").wait_for()
            assert await page.locator("#console-error").is_hidden()
            assert await page.locator("#ring-toggle").get_attribute("aria-pressed") == "true"
            # The time in status counts up.
            first = int(await page.locator("#status-time").get_attribute("data-seconds") or -1)
            await poll(lambda: _seconds_past(console, first), "the time in status counts", 5)
            assert "已 0:0" in await page.locator("#status-time").inner_text()
            # The day so far: nothing yet.
            await page.locator("#my-day").wait_for(state="visible")
            assert await page.locator("#day-cases").inner_text() == "0"

            # A citizen in Hangzhou asks: the offer rings and shows as a notification.
            web = await Tab.open(browser, live_server.base_url, "/kiosk?region=330100", "web citizen")
            tabs.append(web)
            await asks_and_waits(web)
            offer = page.locator(".offer")
            await offer.wait_for()
            assert await page.locator(".offer button.accept").get_attribute("aria-keyshortcuts") == "A"
            await poll(lambda: console.debug("ringing"), "the ring", 10)
            assert await console.debug("chimes") >= 1
            shown = await poll(lambda: page.evaluate("() => window.rvwNotifications"), "a notification", 10)
            assert "社会保险关系转移" in shown[0]["title"] and "杭州" in shown[0]["body"], shown
            await check_accessible(page, "console idle with an offer")
            # D declines it: the ring stops, the notification goes.
            await page.locator("body").press("d")
            await offer.wait_for(state="detached")
            assert await console.debug("ringing") is False
            assert (await page.evaluate("() => window.rvwNotifications"))[0]["closed"] is True
            await web.page.locator("#cancel-ticket").click()

            # A kiosk asks; A accepts.
            kiosk = await Tab.open(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            tabs.append(kiosk)
            await asks_and_waits(kiosk)
            await offer.wait_for()
            await page.locator("body").press("a")
            await page.locator("#case-panel").wait_for(state="visible")
            assert await console.debug("ringing") is False
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            # The matter's guidance beside the video.
            guide = page.locator("#case-guide")
            await guide.wait_for(state="visible")
            assert await page.locator("#guide-materials li").count() >= 2
            assert await page.locator("#guide-steps li").count() >= 2
            assert (await page.locator("#guide-limit").inner_text()).strip() not in ("", "—")
            await check_accessible(page, "console in a call")
            await page.locator("#lang-switch").click()
            assert "Materials" in await guide.inner_text()
            await check_accessible(page, "console in a call, in English")
            await page.locator("#lang-switch").click()
            await console.screenshot("console-1440x900-case-guide")

            # The clerk ends the call first and writes it up after: the citizen rates meanwhile; the console is in
            # wrap-up, offered nobody, with its timer, until the outcome is sent.
            await page.locator("#outcome-unresolved").check()
            await page.locator("#end-call").click()
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            await page.locator("#my-status[data-status=wrap_up]").wait_for()
            assert await console.debug("state") == "wrap_up" and await console.debug("pc") is None
            assert await page.locator("#stage").is_hidden() and await page.locator("#end-call").is_hidden()
            assert "通话已结束" in await page.locator("#citizen-ended").inner_text()
            assert await page.locator("#end-case").inner_text() == "提交办理结果"
            wrap_start = int(await page.locator("#status-time").get_attribute("data-seconds") or -1)
            await poll(lambda: _seconds_past(console, wrap_start), "the wrap-up's timer counts", 5)
            await console.screenshot("console-1440x900-wrap-up")
            await page.locator("#outcome-resolved").check()
            await page.locator("#case-notes").fill("已告知办理流程")
            await page.locator("#end-case").click()
            await page.locator("#my-status[data-status=available]").wait_for()
            await kiosk.page.locator('.rate-button[data-level="5"]').click()
            await kiosk.page.locator("#submit-rating").click()
            await kiosk.page.locator("#screen-done").wait_for(state="visible")
            await poll(lambda: _text_is(console, "#day-cases", "1"), "the day counts the case", 10)
            await page.reload()  # the day is the server's: it survives a reload
            await page.locator("#day-rating").wait_for(state="visible")
            await poll(lambda: _text_has(console, "#day-rating", "5.0"), "the rating in the day", 10)
            assert await page.locator("#day-poor").inner_text() == "0"

            # The ring can be switched off, and stays off.
            await page.locator("#ring-toggle").click()
            assert await page.locator("#ring-toggle").get_attribute("aria-pressed") == "false"
            await page.reload()
            await page.locator("#ring-toggle[aria-pressed=false]").wait_for()
            await console.screenshot("console-1440x900-day")
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def _seconds_past(tab: Tab, first: int) -> bool:
    return int(await tab.page.locator("#status-time").get_attribute("data-seconds") or -1) > first


async def _text_is(tab: Tab, selector: str, text: str) -> bool:
    return (await tab.page.locator(selector).inner_text()).strip() == text


async def _text_has(tab: Tab, selector: str, part: str) -> bool:
    return part in await tab.page.locator(selector).inner_text()
