"""Recording through the pages (issue 8): headless Chromium's kiosk and console with a fake camera, a real
server with recorder processes. The kiosk tells the citizen about recording before any media starts; with
their consent both pages also send to the recorder (the console its screen too, once shared), and the files
play; without it nothing is recorded and the call goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import KIOSK_TOKEN, Server, start_server, stop_server
from tests.test_browser import MATTER, TARGET, Tab, _is, chromium, log_in, poll

pytestmark = pytest.mark.browser


@pytest.fixture
async def recording_server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, None, recording="optional", recorder_workers=1)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


async def call_started(server: Server, browser: Any, tabs: list[Tab]) -> tuple[Tab, Tab]:
    console = await Tab.open(browser, server.base_url, "/console", "console")
    tabs.append(console)
    await log_in(console, "clerk_rec")
    await console.page.locator("#conn-status[data-state=online]").wait_for()
    await console.page.locator("[data-set-status=available]").click()
    await console.page.locator("#my-status[data-status=available]").wait_for()
    kiosk = await Tab.open(browser, server.base_url, f"/kiosk#kiosk_token={KIOSK_TOKEN}", "kiosk")
    tabs.append(kiosk)
    await kiosk.page.locator("#conn-status[data-state=online]").wait_for()
    await kiosk.page.locator(f'[data-matter="{MATTER}"]').click()
    await kiosk.page.locator(f'[data-province="{TARGET}"]').click()
    await kiosk.page.locator("#ask-help").click()
    await kiosk.page.locator("#join-queue").click()  # after the camera and microphone check
    await console.page.locator(".offer button.accept").click()
    return kiosk, console


def frames_of(path: Path) -> tuple[int, tuple[int, int] | None]:
    frames, size = 0, None
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams[0]):
            frames += 1
            if isinstance(frame, av.VideoFrame):
                size = (frame.width, frame.height)
    return frames, size


async def test_kiosk_asks_first_then_both_pages_record(recording_server: Server) -> None:
    server = recording_server
    await server.add_user("clerk_rec", "clerk", "310000", ["social_insurance"], name="王芳")
    await server.add_user("audit", "auditor", "delta", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk, console = await call_started(server, browser, tabs)
            # Before any media: the notice, with how long recordings are kept; no camera, no call media yet.
            await kiosk.page.locator("#consent").wait_for(state="visible")
            notice = await kiosk.page.locator("#consent-text").inner_text()
            assert "录音录像" in notice and "180 天" in notice, notice
            await console.page.locator('#case-consent[data-key="console.consent.waiting"]').wait_for()
            await asyncio.sleep(1.0)
            assert await kiosk.page.evaluate("() => document.querySelector('#local-video').srcObject") is None
            assert await kiosk.page.locator("#media-state[data-state=connected]").count() == 0
            await kiosk.screenshot("kiosk-consent")

            await kiosk.page.locator("#consent-yes").click()
            await kiosk.page.locator("#consent").wait_for(state="hidden")
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator('#case-consent[data-key="console.consent.yes"]').wait_for()
            for tab in (kiosk, console):
                await poll(lambda tab=tab: _is(tab.debug("recorder"), "connected"), f"{tab.name} records", 20)
                await tab.page.locator("#rec-badge[data-state=connected]").wait_for()
            case_id = await kiosk.debug("caseId")
            await console.screenshot("console-recording")

            # The clerk shares the screen: the recorder connection renegotiates and a screen file starts.
            await asyncio.sleep(2.0)
            await console.page.locator("#share-screen").click()
            await console.page.locator("#share-screen[aria-pressed=true]").wait_for()
            token = await server.login("audit")

            async def has_screen() -> bool:
                status, rows = await server.get_json(f"/api/cases/{case_id}/recordings", token)
                return status == 200 and any(r["kind"] == "screen" for r in rows)

            await poll(has_screen, "the shared screen is recorded", 20)
            await asyncio.sleep(2.0)
            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#end-case").click()
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            assert await kiosk.debug("recorder") is None

            want = {
                ("citizen", "audio"),
                ("citizen", "video"),
                ("clerk", "audio"),
                ("clerk", "video"),
                ("clerk", "screen"),
            }
            rows: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                status, rows = await server.get_json(f"/api/cases/{case_id}/recordings", token)
                assert status == 200, rows
                if {(r["side"], r["kind"]) for r in rows} >= want and all(r["state"] == "complete" for r in rows):
                    break
                await asyncio.sleep(0.2)
            assert {(r["side"], r["kind"]) for r in rows} >= want, rows
            assert all(r["state"] == "complete" and r["sha256"] for r in rows), rows
            media = server.services.media
            assert media is not None
            for row in rows:
                found = await media.get(row["recording_id"])
                assert found is not None
                frames, size = await asyncio.to_thread(frames_of, Path(found["path"]))
                assert frames == row["frames"] and frames > 0, row
                if row["kind"] == "video":
                    # The fake camera's 640x480, or a step down the sender took while its bandwidth ramped up.
                    assert size is not None and size[0] * 3 == size[1] * 4 and size[0] >= 160, (row, size)
                    assert row["duration_s"] >= 3, row
            _, record = await server.get_json(f"/api/cases/{case_id}", token)
            assert record["recording_consent"] is True
            assert [e["detail"]["recording"] for e in record["timeline"] if e["event"] == "consent"] == [True]
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_a_refusal_records_nothing_and_the_call_goes_on(recording_server: Server) -> None:
    server = recording_server
    await server.add_user("clerk_rec", "clerk", "310000", ["social_insurance"], name="王芳")
    await server.add_user("audit", "auditor", "delta", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk, console = await call_started(server, browser, tabs)
            await kiosk.page.locator("#consent-no").click()
            await kiosk.page.locator("#media-state[data-state=connected]").wait_for()
            await console.page.locator('#case-consent[data-key="console.consent.no"]').wait_for()
            await console.page.locator("#case-media-state[data-state=connected]").wait_for()
            assert await kiosk.debug("recorder") is None and await console.debug("recorder") is None
            assert await kiosk.page.locator("#rec-badge").is_hidden()
            case_id = await kiosk.debug("caseId")
            status, rows = await server.get_json(f"/api/cases/{case_id}/recordings", await server.login("audit"))
            assert status == 200 and rows == []
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()
