"""The controls in the call (issue 9), in headless Chromium against a real server, the kiosk with two cameras (a
face camera and a document camera, Chromium's fake devices): mute, and the clerk's page hears silence; camera off,
and the clerk's page sees black; switch camera, and the clerk's page decodes the other camera; the volume of the
clerk's voice; and, while the clerk shares a screen, which of the two is shown large. The console has the same call
panel (web/static/call_panel.js): the clerk's mute and camera off reach the kiosk the same way.
"""

from __future__ import annotations

import pytest

from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import CHROMIUM_ARGS, INBOUND_AUDIO_JS, Tab, chromium, poll, start_call

pytestmark = pytest.mark.browser

KIOSK = f"/kiosk#kiosk_token={KIOSK_TOKEN}"

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
            await start_call(browser, live_server.base_url, tabs, "clerk_controls", KIOSK)
            console, kiosk = tabs
            page = kiosk.page

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

            # The console has the same call panel: the clerk mutes (the kiosk hears silence), turns the camera off
            # (the kiosk sees black), and shows the citizen large while the citizen shares a screen.
            await poll(lambda: energy_over(kiosk, 2), "the citizen hears the clerk", 20)
            await console.page.locator("#mute").click()
            assert await console.page.locator("#mute").get_attribute("aria-pressed") == "true"
            await page.wait_for_timeout(500)  # what was already on its way
            assert await energy_over(kiosk, 2.5) < 1e-4
            await console.page.locator("#mute").click()
            await poll(lambda: energy_over(kiosk, 2), "the citizen hears the clerk again", 20)
            await console.page.locator("#camera-toggle").click()
            await poll(lambda: _below(kiosk, 8), "black on the kiosk", 20)
            await console.page.locator("#camera-toggle").click()
            await poll(lambda: _above(kiosk, 40), "the clerk's picture again", 20)
            await page.locator("#share-screen").click()
            clerk_swap = console.page.locator("#swap-view")
            await clerk_swap.wait_for(state="visible")
            assert await clerk_swap.inner_text() == "放大群众"
            await clerk_swap.click()
            assert await _wider(console, ".remote-box", "#remote-screen-box")
            await console.screenshot("console-call-controls-citizen-large")
            await page.locator("#share-screen").click()
            await clerk_swap.wait_for(state="hidden")
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


# The clerk's camera video capped at a trickle, as over a poor uplink: the sender's own bandwidth limit.
THROTTLE_JS = """
async (bps) => {
  for (const sender of window.rvwDebug.pc().getSenders()) {
    if (!sender.track || sender.track.kind !== "video") continue;
    const parameters = sender.getParameters();
    for (const encoding of parameters.encodings) encoding.maxBitrate = bps;
    await sender.setParameters(parameters);
  }
}
"""

# Video frames decoded by the page's connection.
FRAMES_JS = """
async () => {
  let frames = 0;
  (await window.rvwDebug.pc().getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
  });
  return frames;
}
"""

# The direction the kiosk's camera video has settled on with the clerk.
CAMERA_DIRECTION_JS = """
() => {
  const ours = window.rvwDebug.local().getVideoTracks();
  const tr = window.rvwDebug.pc().getTransceivers().find((t) => t.sender.track && ours.includes(t.sender.track));
  return tr ? tr.currentDirection : null;
}
"""


async def frames_over(tab: Tab, seconds: float) -> int:
    before = int(await tab.page.evaluate(FRAMES_JS))
    await tab.page.wait_for_timeout(seconds * 1000)
    return int(await tab.page.evaluate(FRAMES_JS)) - before


async def test_a_poor_link_offers_sound_only(live_server: Server) -> None:
    await live_server.add_user("clerk_link", "clerk", "310000", ["social_insurance"], name="冯敏")
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            await start_call(browser, live_server.base_url, tabs, "clerk_link", KIOSK)
            console, kiosk = tabs
            page = kiosk.page
            notice = page.locator("#link-notice")
            await poll(lambda: frames_over(console, 1), "the clerk sees the citizen", 20)
            assert await notice.is_hidden()  # a good link asks nothing

            # The clerk's video comes at 40 kbit/s: the kiosk says so in words and offers sound only.
            await console.page.evaluate(THROTTLE_JS, 40_000)
            await notice.wait_for(state="visible", timeout=30_000)
            assert "网络较慢" in await page.locator("#link-text").inner_text()
            assert (await kiosk.debug("link"))["poor"] is True
            await kiosk.screenshot("kiosk-poor-link")

            # Sound only: no video either way, the voice goes on.
            await page.locator("#audio-only").click()
            await poll(lambda: _is_direction(kiosk, "inactive"), "the camera's video inactive", 15)
            await console.page.wait_for_timeout(500)
            assert await frames_over(console, 1.5) == 0
            assert await energy_over(console, 2) > 0
            assert "只用声音" in await page.locator("#video-note").inner_text()
            await page.locator("#video-again").wait_for(state="visible")

            # Video again, at full rate: the clerk's page decodes the citizen again.
            await console.page.evaluate(THROTTLE_JS, 2_000_000)
            await page.locator("#video-again").click()
            await poll(lambda: _is_direction(kiosk, "sendrecv"), "the camera's video back", 15)
            await poll(lambda: frames_over(console, 1), "the clerk sees the citizen again", 20)
            assert await page.locator("#video-note").is_hidden()
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def _is_direction(tab: Tab, direction: str) -> bool:
    return await tab.page.evaluate(CAMERA_DIRECTION_JS) == direction
