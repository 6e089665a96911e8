"""Chat in the call on the pages (issue 8, part 2): the kiosk and the clerk console type to each other in headless
Chromium with a fake camera, against a real server. Lines show on the other page as text (never HTML), a refused
line stays in the box with the reason in words, every line is on the case timeline, and when the case ends the
kiosk's page keeps nothing of the conversation.
"""

from __future__ import annotations

import pytest

from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import Tab, _is, answer_call, ask_for_help, chromium, open_console, poll

pytestmark = pytest.mark.browser

CITIZEN_LINE = "您好，我想把社保关系转到上海。"
CLERK_LINE = "<b>x</b>"  # must show as these eight characters, not as bold "x"
TOO_LONG = "字" * 1001  # past the 1,000 the server allows (set by script: the box itself stops at 1,000)

SIDES_JS = "(items) => items.map((item) => item.dataset.from)"

# The computed size of chat text and of the send button on the kiosk (elderly users: text >= 24 px, button >= 80x80).
KIOSK_SIZES_JS = """
() => {
  const px = (sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize);
  const send = document.querySelector('#chat-send').getBoundingClientRect();
  return {
    input: px('#chat-input'), text: px('#chat-list .chat-text'), meta: px('#chat-list .chat-meta'),
    width: send.width, height: send.height,
  };
}
"""


async def test_kiosk_and_console_chat_during_the_call(live_server: Server) -> None:
    await live_server.add_user("clerk_chat", "clerk", "310000", ["social_insurance"], name="陈静")
    await live_server.add_user("audit", "auditor", "delta", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            console = await open_console(browser, live_server.base_url, "clerk_chat")
            tabs.append(console)
            kiosk = await Tab.open(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            tabs.append(kiosk)
            await ask_for_help(kiosk.page)
            case_id = await answer_call(kiosk, console)

            # The citizen types a line and presses the big send button: it shows on both pages, theirs as the citizen's.
            await kiosk.page.locator("#chat-input").fill(CITIZEN_LINE)
            await kiosk.page.locator("#chat-send").click()
            heard = console.page.locator('#chat-list li[data-from="citizen"]')
            await heard.wait_for()
            assert CITIZEN_LINE in await heard.inner_text()
            await kiosk.page.locator('#chat-list li[data-from="citizen"]').wait_for()
            assert await kiosk.page.locator("#chat-input").input_value() == ""

            # The clerk answers with Enter; the markup arrives as literal text on the kiosk.
            await console.page.locator("#chat-input").fill(CLERK_LINE)
            await console.page.locator("#chat-input").press("Enter")
            answer = kiosk.page.locator('#chat-list li[data-from="clerk"]')
            await answer.wait_for()
            assert await answer.locator(".chat-text").inner_text() == CLERK_LINE
            assert await kiosk.page.locator("#chat-list b").count() == 0
            await console.page.locator('#chat-list li[data-from="clerk"]').wait_for()
            assert await console.page.locator("#chat-input").input_value() == ""
            # Each page lists both lines in the order they were said.
            for tab in (kiosk, console):
                order = await tab.page.locator("#chat-list li").evaluate_all(SIDES_JS)
                assert order == ["citizen", "clerk"], (tab.name, order)

            # Large enough for elderly citizens on the kiosk.
            sizes = await kiosk.page.evaluate(KIOSK_SIZES_JS)
            assert min(sizes["input"], sizes["text"], sizes["meta"]) >= 24, sizes
            assert sizes["width"] >= 80 and sizes["height"] >= 80, sizes
            await kiosk.screenshot("kiosk-chat")
            await console.screenshot("console-chat")

            # A line the server refuses stays in the box, with the reason in words (Chinese, then English).
            await kiosk.page.locator("#chat-input").evaluate("(box, text) => { box.value = text; }", TOO_LONG)
            await kiosk.page.locator("#chat-send").click()
            error = kiosk.page.locator("#chat-error")
            await error.wait_for(state="visible")
            assert "没有发出" in await error.inner_text()
            assert await kiosk.page.locator("#chat-input").input_value() == TOO_LONG
            assert await kiosk.page.locator("#chat-list li").count() == 2
            await kiosk.page.locator("#lang-switch").click()
            assert "not sent" in await error.inner_text()
            await kiosk.screenshot("kiosk-chat-error-en")
            await kiosk.page.locator("#lang-switch").click()
            assert "没有发出" in await error.inner_text()

            # Both lines are on the case's timeline, by the right side.
            token = await live_server.login("audit")
            status, record = await live_server.get_json(f"/api/cases/{case_id}", token)
            assert status == 200, record
            chat = [e for e in record["timeline"] if e["event"] == "chat"]
            assert [e["detail"]["text"] for e in chat] == [CITIZEN_LINE, CLERK_LINE], chat
            assert chat[0]["actor"].startswith("citizen:") and chat[1]["actor"] == "clerk:uclerk_chat", chat

            # The citizen starts another line; the clerk ends the case: the kiosk's page keeps nothing of the chat.
            await kiosk.page.locator("#chat-input").fill("还有一个问题")
            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#end-case").click()
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            await poll(lambda: _is(kiosk.page.locator("#chat-list li").count(), 0), "the kiosk's chat cleared", 10)
            assert await kiosk.page.locator("#chat-input").input_value() == ""
            assert await kiosk.page.locator("#chat-error").is_hidden()
            await poll(lambda: _is(console.page.locator("#chat-list li").count(), 0), "the console's chat cleared", 10)

            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()
