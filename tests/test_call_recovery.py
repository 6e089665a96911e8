"""A call through the kiosk and console pages survives trouble without a reload (issue 9), in headless Chromium
against a real server; the kiosk and the console run in two browsers, as they do on two machines.

1. The kiosk's signaling connection is cut for several seconds (its browser context set offline): the page says so in
   words, stays in the call, comes back with its resume token, and the video is decoded again on both pages.
2. The kiosk's network fails: its browser's network service (the process that holds every socket, WebRTC's and
   Socket.IO's) is killed, as a network change or a crash would. The kiosk comes back with its resume token, the
   console hears `citizen_resumed` and offers a new connection; the kiosk says in words what is happening while the
   picture is not through, and the video is decoded again on both pages, the case and the pages unchanged.

And the recovery ladder of rtc.js's Call when only the media path fails (the signaling still up): two Calls in one
page, their signals passed in the page, lose their sockets the same way; the clerk's side restarts ICE two seconds
after "disconnected", and the same connection is decoding again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import Tab, answer_call, ask_for_help, chromium, open_console, poll

pytestmark = pytest.mark.browser

# Every text the kiosk's video note shows, from now on.
NOTES_JS = """
() => {
  window.rvwNotes = [];
  const note = document.querySelector("#video-note");
  new MutationObserver(() => {
    if (!note.hidden && note.textContent) window.rvwNotes.push(note.textContent);
  }).observe(note, { attributes: true, childList: true, characterData: true, subtree: true });
}
"""

# Video frames decoded by the page's current RTCPeerConnection, and which connection that is (a rebuilt call has a
# new one, whose count starts again).
FRAMES_JS = """
async () => {
  const pc = window.rvwDebug && window.rvwDebug.pc();
  if (!pc) return [null, 0];
  pc.rvwTestId = pc.rvwTestId || String(Math.random());
  let frames = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
  });
  return [pc.rvwTestId, frames];
}
"""


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    parents = _parents() if parents is None else parents
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found.extend(children)
        frontier.extend(children)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def browser_mains() -> set[int]:
    """The main processes of the Chromiums this test process started (through Playwright's driver).

    Not a child of another such process: a main forks its helpers (zygote, crashpad, ...), and a child that has
    not yet exec'd still shows its parent's command line (a two-worker run once counted one as a second browser)."""
    parents = _parents()
    chromiums = {
        pid
        for pid in _descendants(os.getpid(), parents)
        if "--remote-debugging-pipe" in _cmdline(pid) and "--type=" not in _cmdline(pid)
    }
    return {pid for pid in chromiums if parents.get(pid) not in chromiums}


def network_service(main: int) -> int:
    found = [pid for pid in _descendants(main) if "network.mojom.NetworkService" in _cmdline(pid)]
    assert len(found) == 1, found
    return found[0]


async def decoding(tab: Tab, what: str) -> None:
    """Video is being decoded now: the page's connection decodes at least 15 frames in a second."""
    await poll(lambda: _progress(tab), what, 40, every_s=0.1)


async def _progress(tab: Tab) -> bool:
    first, before = await tab.page.evaluate(FRAMES_JS)
    await tab.page.wait_for_timeout(1000)
    second, after = await tab.page.evaluate(FRAMES_JS)
    return first is not None and first == second and after - before >= 15


async def test_a_call_survives_a_signaling_cut_and_a_media_path_failure(live_server: Server) -> None:
    await live_server.add_user("clerk_recover", "clerk", "310000", ["social_insurance"], name="郑华")
    tabs: list[Tab] = []
    async with chromium() as console_browser:
        before = browser_mains()
        async with chromium() as kiosk_browser:
            (kiosk_main,) = browser_mains() - before
            try:
                console = await open_console(console_browser, live_server.base_url, "clerk_recover")
                tabs.append(console)
                kiosk_path = f"/kiosk#kiosk_token={KIOSK_TOKEN}"
                kiosk = await Tab.open(kiosk_browser, live_server.base_url, kiosk_path, "kiosk")
                tabs.append(kiosk)
                page = kiosk.page
                await ask_for_help(page)
                case_id = await answer_call(kiosk, console)
                for tab in tabs:
                    await decoding(tab, f"{tab.name} decodes video")

                # 1. The kiosk's signaling connection is cut for several seconds.
                await kiosk.context.set_offline(True)
                await page.locator("#conn-status[data-state=lost]").wait_for(timeout=60_000)
                assert "连接" in await page.locator("#conn-status").inner_text()
                await page.wait_for_timeout(4000)
                assert await page.locator("#screen-call").is_visible()  # still in the call, no reload
                await kiosk.context.set_offline(False)
                await page.locator("#conn-status[data-state=online]").wait_for(timeout=30_000)
                await page.locator("#media-state[data-state=connected]").wait_for(timeout=30_000)
                assert await kiosk.debug("caseId") == case_id
                for tab in tabs:
                    await decoding(tab, f"{tab.name} decodes after the cut")

                # 2. The kiosk's media path fails: its browser's network service dies.
                restarts = await console.page.evaluate("() => window.rvwDebug.call().recoveries['ice-restart']")
                rebuilt = await console.page.evaluate("() => window.rvwDebug.pc()")
                await page.evaluate(NOTES_JS)
                os.kill(network_service(kiosk_main), signal.SIGKILL)
                await poll(lambda: page.evaluate("() => window.rvwNotes.length > 0"), "the kiosk says why", 30)
                await page.locator("#media-state[data-state=connected]").wait_for(timeout=60_000)
                await console.page.locator("#case-media-state[data-state=connected]").wait_for(timeout=30_000)
                notes = await page.evaluate("() => window.rvwNotes")
                # In words, never a bare picture: what the media state is, as the page says it.
                said = {"准备中", "正在接通视频……", "视频信号不稳定，正在恢复……", "视频中断，正在重新接通……"}
                assert notes and set(notes) <= said, notes
                assert await page.locator("#video-note").is_hidden()
                recovered = await console.page.evaluate("() => window.rvwDebug.call().recoveries")
                assert recovered["ice-restart"] >= restarts, recovered
                assert rebuilt is not None
                for tab in tabs:
                    await decoding(tab, f"{tab.name} decodes after the failure")
                assert await kiosk.debug("caseId") == case_id == await console.debug("caseId")
                await kiosk.screenshot("kiosk-after-recovery")
                assert [e for t in tabs for e in t.errors] == []
            finally:
                for tab in reversed(tabs):
                    await tab.close()


# Two Calls of rtc.js in one page (clerk: impolite, citizen: polite), their signals handed over in the page.
LADDER_JS = """
async () => {
  const { Call } = await import("/static/rtc.js");
  const log = (window.ladder = { clerk: [], citizen: [], recovery: [] });
  const media = () => navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const calls = {};
  const pass = (to) => async (message) => {
    setTimeout(() => calls[to].handle(JSON.parse(JSON.stringify(message))), 0);
    return { ok: true };
  };
  calls.clerk = new Call({ caseId: "C", polite: false, iceServers: [], localMedia: media(), send: pass("citizen") });
  calls.citizen = new Call({ caseId: "C", polite: true, iceServers: [], localMedia: media(), send: pass("clerk") });
  calls.clerk.on("state", (s) => log.clerk.push(s));
  calls.citizen.on("state", (s) => log.citizen.push(s));
  calls.clerk.on("recovery", (kind) => log.recovery.push(kind));
  window.rvwDebug = { pc: () => calls.citizen.pc };
  window.ladderCalls = calls;
  await calls.clerk.start();
  await calls.citizen.start();
}
"""


async def test_a_failed_media_path_gets_an_ice_restart(live_server: Server) -> None:
    before = browser_mains()
    async with chromium() as browser:
        (main,) = browser_mains() - before
        tab = await Tab.open(browser, live_server.base_url, "/", "page")
        try:
            await tab.page.evaluate(LADDER_JS)
            await poll(lambda: tab.page.evaluate("() => window.ladder.clerk.includes('connected')"), "connected", 20)
            await decoding(tab, "the citizen's side decodes video")
            pc_before = await tab.page.evaluate("() => (window.ladderCalls.clerk.pc.rvwTestId = 'first')")
            os.kill(network_service(main), signal.SIGKILL)
            await poll(
                lambda: tab.page.evaluate("() => window.ladder.recovery.includes('ice-restart')"), "an ICE restart", 40
            )
            log = await tab.page.evaluate("() => window.ladder")
            assert "disconnected" in log["clerk"] or "failed" in log["clerk"], log
            await poll(
                lambda: tab.page.evaluate("() => window.ladderCalls.clerk.pc.connectionState === 'connected'"),
                "connected again",
                30,
            )
            # The same connection, mended: no rebuild was needed.
            assert await tab.page.evaluate("() => window.ladderCalls.clerk.pc.rvwTestId") == pc_before
            assert "rebuild" not in (await tab.page.evaluate("() => window.ladder"))["recovery"]
            await decoding(tab, "the citizen's side decodes video again")
            assert tab.errors == []
        finally:
            await tab.close()
