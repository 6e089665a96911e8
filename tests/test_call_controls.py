"""The citizen's controls in the call (issue 9), in headless Chromium against a real server, the kiosk with two
cameras (a face camera and a document camera, Chromium's fake devices): mute, and the clerk's page hears silence;
camera off, and the clerk's page sees black; switch camera, and the clerk's page decodes the other camera; the
volume of the clerk's voice; and, while the clerk shares a screen, which of the two is shown large.
"""

from __future__ import annotations

import pytest

from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import CHROMIUM_ARGS, INBOUND_AUDIO_JS, MATTER, TARGET, Tab, chromium, log_in, poll

pytestmark = pytest.mark.browser

TWO_CAMERAS = [
    "--use-fake-device-for-media-stream=device-count=2" if a == "--use-fake-device-for-media-stream" else a
    for a in CHROMIUM_ARGS
]

# The mean brightness (0-255) of what the clerk's page shows of the citizen's camera.
BRIGHTNESS_JS = """
() => {
  const video = document.querySelector("#remote-video");
  if (!video.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0, 64, 48);
  const data = context.getImageData(0, 0, 64, 48).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
  return sum / (data.length / 4);
}
"""

# The label of the camera the kiosk's call sends.
SENT_CAMERA_JS = """
() => {
  const sender = window.rvwDebug.pc().getSenders().find((s) => s.track && s.track.kind === "video");
  return sender ? sender.track.label : null;
}
"""


async def audio_energy(tab: Tab) -> float:
    audio = await tab.page.evaluate(INBOUND_AUDIO_JS)
    return float(audio["energy"]) if audio else 0.0


async def energy_over(tab: Tab, seconds: float) -> float:
    """The sound energy the page received over the next ``seconds`` (the fake microphone beeps every second)."""
    before = await audio_energy(tab)
    await tab.page.wait_for_timeout(seconds * 1000)
    return await audio_energy(tab) - before


async def test_mute_camera_switch_volume_and_the_large_picture(live_server: Server) -> None:
    await live_server.add_user("clerk_controls", "clerk", "310000", ["social_insurance"], name="孙丽")
    tabs: list[Tab] = []
    async with chromium(TWO_CAMERAS) as browser:
        try:
            console = await Tab.open(browser, live_server.base_url, "/console", "console")
            tabs.append(console)
            await log_in(console, "clerk_controls")
            await console.page.locator("[data-set-status=available]").click()
            await console.page.locator("#my-status[data-status=available]").wait_for()
            kiosk = await Tab.open(browser, live_server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
            tabs.append(kiosk)
            page = kiosk.page
            await page.locator(f'[data-matter="{MATTER}"]').click()
            await page.locator(f'[data-province="{TARGET}"]').click()
            await page.locator("#ask-help").click()
            await page.locator("#join-queue").click()
            await console.page.locator(".offer button.accept").click()
            await page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator("#case-media-state[data-state=connected]").wait_for()

            # Heard, then muted: silence reaches the clerk; then heard again.
            await poll(lambda: energy_over(console, 2), "the clerk hears the citizen", 20)
            await page.locator("#mute").click()
            assert await page.locator("#mute").get_attribute("aria-pressed") == "true"
            assert "听不到" in await page.locator("#mute").inner_text()
            await console.page.wait_for_timeout(500)  # what was already on its way
            assert await energy_over(console, 2.5) < 1e-4
            await page.locator("#mute").click()
            await poll(lambda: energy_over(console, 2), "the clerk hears the citizen again", 20)

            # Seen, then the camera off: the clerk's page shows black; then the picture again.
            seen = await poll(lambda: console.page.evaluate(BRIGHTNESS_JS), "the clerk sees the citizen", 20)
            assert seen > 40, seen
            await page.locator("#camera-toggle").click()
            await poll(lambda: _below(console, 8), "black on the clerk's page", 20)
            await page.locator("#camera-toggle").click()
            await poll(lambda: _above(console, 40), "the picture again", 20)

            # The document camera: the call sends the other camera, and the clerk's page decodes it.
            assert await page.locator("#switch-camera").is_visible()
            first = await page.evaluate(SENT_CAMERA_JS)
            await page.locator("#switch-camera").click()
            await poll(lambda: _differs(kiosk, first), "the other camera sent", 15)
            assert await page.evaluate(SENT_CAMERA_JS) == "fake_device_1" and first == "fake_device_0"
            await poll(lambda: _above(console, 40), "the other camera seen", 20)

            # The volume of the clerk's voice, with the keys (a step is a tenth).
            volume = page.locator("#volume")
            await volume.focus()
            for _ in range(7):
                await volume.press("ArrowLeft")
            assert await page.locator("#remote-video").evaluate("(v) => v.volume") == pytest.approx(0.3)

            # The clerk shares a screen: it is shown large; the citizen may show the clerk large instead.
            await console.page.locator("#share-screen").click()
            await page.locator("#remote-screen-box").wait_for(state="visible")
            swap = page.locator("#swap-view")
            await swap.wait_for(state="visible")
            assert await _wider(kiosk, "#remote-screen-box", ".remote-box")
            await swap.click()
            assert await swap.get_attribute("aria-pressed") == "true"
            assert await _wider(kiosk, ".remote-box", "#remote-screen-box")
            await kiosk.screenshot("kiosk-call-controls-clerk-large")
            await console.page.locator("#share-screen").click()  # the share stops: the switch goes
            await swap.wait_for(state="hidden")
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def _below(tab: Tab, level: float) -> bool:
    value = await tab.page.evaluate(BRIGHTNESS_JS)
    return value is not None and value < level


async def _above(tab: Tab, level: float) -> bool:
    value = await tab.page.evaluate(BRIGHTNESS_JS)
    return value is not None and value > level


async def _differs(tab: Tab, label: str | None) -> bool:
    return await tab.page.evaluate(SENT_CAMERA_JS) not in (None, label)


async def _wider(tab: Tab, large: str, small: str) -> bool:
    a = await tab.page.locator(large).bounding_box()
    b = await tab.page.locator(small).bounding_box()
    return bool(a and b and a["width"] > 1.5 * b["width"])
