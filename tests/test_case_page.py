"""The case page (/cases/{id}, issue 8's "the case page plays them side by side" and issue 9's case pages for
supervisors and auditors) in headless Chromium against a real server with a recorder process.

A real case is made the way tests/test_recording.py makes one: a clerk and a citizen on Socket.IO, the citizen's
consent, a chat line each way, a picture and a PDF uploaded, and real aiortc peers on both sides recording for a
few seconds (the clerk's starting a second later), then the end and a 差评. An auditor then opens the page: the
facts, the conversation (as text, never markup), the documents, the rating with its follow-up and the timeline
are there in words, and the citizen's and the clerk's camera play side by side under one play button, each at its
own offset. axe-core finds no serious violation on the page, in Chinese and in English (tests/a11y.py). The page's
reads are in the audit log; a clerk is told the page is not for them.

Set RVW_SCREENSHOTS=/some/dir to keep the screenshots.
"""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.a11y import check_accessible
from tests.conftest import KIOSK_TOKEN, Client, Server, start_server, stop_server
from tests.helpers import ask, clerk_on_duty
from tests.test_browser import Tab, chromium, log_in, poll
from tests.test_recording import Side, rows_of, settled

pytestmark = pytest.mark.browser

CHINA = timezone(timedelta(hours=8))
CITIZEN_LINE = "我想办社保转移 <img src=x onerror=alert(1)>"  # shown as these characters, not as a picture
CLERK_LINE = "好的，请出示身份证。"
NOTES = "已告知所需材料"
COMMENT = "等得太久了"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PICTURE_SIZE = (64, 48)
CLERK_LATER_S = 1.0  # the clerk's files start this much after the citizen's

# Each camera's <video> and each side's <audio> on the page, with where the shared clock stands.
MEDIA_JS = """
() => {
  const pick = (sel) => {
    const m = document.querySelector(sel);
    return m && { readyState: m.readyState, currentTime: m.currentTime, paused: m.paused, hidden: m.hidden };
  };
  return {
    citizen: pick('#player-stage video[data-side="citizen"][data-kind="video"]'),
    clerk: pick('#player-stage video[data-side="clerk"][data-kind="video"]'),
    audio: Array.from(document.querySelectorAll('#player-sound audio')).map((a) => a.dataset.side).sort(),
    player: window.rvwDebug.player(),
  };
}
"""


def png(width: int, height: int) -> bytes:
    """A real PNG (8-bit RGB, a colour gradient) the browser decodes, made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 160)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def china_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
async def rec_server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, None, recording="optional", recorder_workers=1)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


async def upload(server: Server, case_id: str, token: str, body: bytes, content_type: str) -> dict[str, Any]:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{server.base_url}/api/cases/{case_id}/attachments"
        async with http.post(url, data=io.BytesIO(body), headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            return dict(await resp.json())


async def recorded_case(server: Server, watcher: str) -> tuple[str, dict[str, str]]:
    """A case served, talked about, documented, recorded on both sides, ended and rated 2 (a 差评); its number
    and the ids of its picture and PDF. ``watcher`` (a supervisor) waits for the files to be finished."""
    clerk = await clerk_on_duty(server, "clerk_a")
    citizen = Client(server, "/citizen")
    await citizen.connect({"kiosk_token": KIOSK_TOKEN})
    api_token = str((await citizen.wait_for("session"))["api_token"])
    case_id = str((await ask(citizen))["case_id"])
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await citizen.wait_for("matched")
    assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
    assert (await clerk.wait_for("consent"))["recording"] is True

    assert (await citizen.call("chat", {"case_id": case_id, "text": CITIZEN_LINE}))["ok"] is True
    assert (await clerk.call("chat", {"case_id": case_id, "text": CLERK_LINE}))["ok"] is True
    picture = await upload(server, case_id, api_token, png(*PICTURE_SIZE), "image/png")
    pdf = await upload(server, case_id, await server.login("clerk_a"), PDF, "application/pdf")

    sides = {"citizen": Side(citizen, case_id), "clerk": Side(clerk, case_id)}
    try:
        assert (await sides["citizen"].offer())["ok"] is True
        await sides["citizen"].connected()
        await asyncio.sleep(CLERK_LATER_S)
        assert (await sides["clerk"].offer())["ok"] is True
        await sides["clerk"].connected()
        await asyncio.sleep(3.0)
        ack = await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": NOTES})
        assert ack["ok"] is True, ack
    finally:
        for side in sides.values():
            await side.close()
    assert (await citizen.call("rate", {"case_id": case_id, "level": 2, "comment": COMMENT}))["ok"] is True
    rows = await rows_of(server, case_id, watcher, settled(4))
    assert {(r["side"], r["kind"], r["state"]) for r in rows} == {
        (side, kind, "complete") for side in ("citizen", "clerk") for kind in ("audio", "video")
    }, rows
    return case_id, {"picture": picture["attachment_id"], "pdf": pdf["attachment_id"]}


async def test_an_auditor_reads_the_case_and_plays_both_sides(rec_server: Server) -> None:
    server = rec_server
    auditor_id = await server.add_user("audit", "auditor", "delta", [])
    await server.add_user("boss", "supervisor", "delta", [])
    boss = await server.login("boss")  # the test's own reads: the auditor's rows in the log are the page's
    case_id, docs = await recorded_case(server, boss)
    status, record = await server.get_json(f"/api/cases/{case_id}", boss)
    assert status == 200, record
    _, rows = await server.get_json(f"/api/cases/{case_id}/recordings", boss)
    by_track = {(r["side"], r["kind"]): r for r in rows}

    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            tab = await Tab.open(browser, server.base_url, f"/cases/{case_id}", "case")
            tabs.append(tab)
            page = tab.page
            await page.locator("#login-panel").wait_for(state="visible")
            await log_in(tab, "audit")
            await page.locator("#case[data-phase=shown]").wait_for()
            await page.locator("#rec-status[data-phase=shown]").wait_for()

            # The facts, in China time and in words.
            async def fact(name: str) -> str:
                return str(await page.locator(f'[data-fact="{name}"]').inner_text())

            assert await page.locator("#case-heading").inner_text() == f"办件 {case_id}"
            assert await fact("case_id") == case_id
            assert "SB-ZY-001" in await fact("matter")
            assert await fact("target_region") == "上海"
            assert await fact("clerk") == record["clerk_id"]
            assert await fact("outcome") == "已办结"
            assert await fact("notes") == NOTES
            assert await fact("requested_at") == china_time(record["requested_at"])
            assert (await fact("answered_at")).startswith(china_time(record["answered_at"])[11:])
            assert await fact("rating") == "不满意（2/5）"
            assert await fact("comment") == COMMENT
            await page.locator('#followup-state[data-state="open"]').wait_for()
            assert await page.locator("#followup-state").inner_text() == "待联系"
            assert await page.locator('#case-consent[data-consent="true"]').inner_text() == "群众同意录音录像。"

            # The conversation, in order, as plain text.
            lines = page.locator("#case-chat li")
            assert await lines.evaluate_all("(items) => items.map((li) => li.dataset.from)") == ["citizen", "clerk"]
            assert await lines.locator(".chat-text").all_inner_texts() == [CITIZEN_LINE, CLERK_LINE]
            assert await page.locator("#case-chat img").count() == 0
            assert await lines.locator(".chat-who").all_inner_texts() == ["群众", "工作人员"]

            # The documents: the picture as a thumbnail that opens the full file, the PDF as a link.
            thumb = page.locator(f'#case-docs li[data-attachment="{docs["picture"]}"] img')
            await poll(lambda: thumb.evaluate("(img) => img.complete && img.naturalWidth"), "the thumbnail", 10)
            assert await thumb.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == list(PICTURE_SIZE)
            assert await page.locator(f'#case-docs li[data-attachment="{docs["picture"]}"] a').get_attribute(
                "href"
            ) == (f"/api/attachments/{docs['picture']}")
            pdf = page.locator(f'#case-docs li[data-attachment="{docs["pdf"]}"]')
            assert await pdf.get_attribute("data-type") == "pdf"
            assert await pdf.locator("a").get_attribute("href") == f"/api/attachments/{docs['pdf']}"
            assert "工作人员 " in await pdf.locator(".case-doc-meta").inner_text()

            # The timeline: every line's event in words (none left as its code), the consent and the chat in it.
            events = await page.locator("#case-timeline li").evaluate_all(
                "(items) => items.map((li) => [li.dataset.event, li.querySelector('.tl-event').textContent])"
            )
            assert [e for e, _ in events] == [e["event"] for e in record["timeline"]]
            assert all(code != text for code, text in events), events
            assert {"requested", "answered", "consent", "chat", "attachment", "ended", "rated"} <= {
                e for e, _ in events
            }
            assert dict(events)["consent"] == "录音录像意见"

            # Each recorded file: side, kind, length, size, state and the SHA-256 (short, whole in the title).
            files = page.locator("#rec-files-rows tr")
            assert await files.count() == 4
            for row in rows:
                tr = page.locator(f'#rec-files-rows tr[data-recording="{row["recording_id"]}"]')
                assert await tr.get_attribute("data-state") == "complete"
                sha = tr.locator("code")
                assert await sha.get_attribute("title") == row["sha256"]
                assert await sha.inner_text() == row["sha256"][:12] + "…"
                assert "完整" in await tr.inner_text()

            # Both cameras side by side, each side's sound as <audio>; loaded before anything plays.
            async def media() -> dict[str, Any]:
                return dict(await page.evaluate(MEDIA_JS))

            shown = await poll(
                lambda: _when(media(), lambda m: m["citizen"]["readyState"] >= 2 and m["clerk"]["readyState"] >= 2),
                "both cameras loaded",
                20,
            )
            assert shown["audio"] == ["citizen", "clerk"]
            offsets = {f["side"] + "-" + f["kind"]: f["offset"] for f in shown["player"]["files"]}
            assert offsets["citizen-video"] == 0 or offsets["citizen-audio"] == 0
            later = offsets["clerk-video"] - offsets["citizen-video"]
            assert later == pytest.approx(
                (
                    datetime.fromisoformat(by_track[("clerk", "video")]["started_at"])
                    - datetime.fromisoformat(by_track[("citizen", "video")]["started_at"])
                ).total_seconds(),
                abs=0.01,
            )
            # And the gap is the real one, not nothing: the clerk connected CLERK_LATER_S after the citizen, less the
            # time the citizen's first frame took to reach the recorder (0.05-0.25 s on a busy machine).
            assert later > CLERK_LATER_S / 2, offsets
            assert shown["player"]["total"] >= 3.0

            # One play button: both play, in step (each at the shared position less its own offset).
            await page.locator("#player-play").click()
            playing = await poll(
                lambda: _when(
                    media(),
                    lambda m: (
                        m["player"]["position"] > later + 1.0
                        and not m["citizen"]["paused"]
                        and not m["clerk"]["paused"]
                        and m["clerk"]["currentTime"] > 0.5
                    ),
                ),
                "both cameras playing",
                20,
            )
            gap = (playing["citizen"]["currentTime"] + offsets["citizen-video"]) - (
                playing["clerk"]["currentTime"] + offsets["clerk-video"]
            )
            assert abs(gap) < 0.5, playing
            await tab.screenshot("case-page")
            await page.locator("#player-play").click()
            paused = await poll(
                lambda: _when(media(), lambda m: m["citizen"]["paused"] and m["clerk"]["paused"]), "paused", 5
            )
            assert paused["player"]["playing"] is False
            await asyncio.sleep(0.3)
            assert (await media())["citizen"]["currentTime"] == pytest.approx(paused["citizen"]["currentTime"])
            await check_accessible(page, "case page, paused")

            # English: the page re-renders its words; the players are the same elements, where they were.
            await page.evaluate("() => { window.kept = document.querySelector('#player-stage video'); }")
            await page.locator("#lang-switch").click()
            await page.locator("#case-heading", has_text=f"Case {case_id}").wait_for()
            assert await fact("outcome") == "Resolved"
            assert await fact("rating") == "Dissatisfied (2/5)"
            assert await page.locator("#player-play").inner_text() == "Play"
            assert dict(
                await page.locator("#case-timeline li").evaluate_all(
                    "(items) => items.map((li) => [li.dataset.event, li.querySelector('.tl-event').textContent])"
                )
            )["consent"] == ("Answer about recording")
            assert await page.evaluate("() => window.kept === document.querySelector('#player-stage video')")
            assert (await media())["player"]["position"] == pytest.approx(paused["player"]["position"])
            await check_accessible(page, "case page in English")
            await tab.screenshot("case-page-en")

            # A case that is not there is said so.
            await page.goto("/cases/RVW-NOPE")
            await page.locator("#case[data-phase=failed]").wait_for()
            assert "RVW-NOPE" in await page.locator("#case-error").inner_text()

            # The supervisor's wall lists the 差评 for follow-up: its case number opens this page.
            wall = await Tab.open(browser, server.base_url, "/supervisor", "wall")
            tabs.append(wall)
            await log_in(wall, "boss")
            link = wall.page.locator(f'#followup-rows tr[data-case="{case_id}"] a')
            await link.wait_for()
            assert await link.get_attribute("href") == f"/cases/{case_id}"
            await link.click()
            await wall.page.locator("#case[data-phase=shown]").wait_for()
            assert await wall.page.locator('[data-fact="case_id"]').inner_text() == case_id
            assert await wall.page.locator("#link-wall").is_visible()  # a supervisor is offered the way back
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for t in reversed(tabs):
                await t.close()

    # What the page read is in the audit log under the auditor: the case, its recordings' list and both cameras.
    auditor = await server.login("audit")
    mine: dict[str, set[tuple[str, bool]]] = {}
    for action in ("case_view", "recording_list", "recording_view", "attachment_view"):
        status, found = await server.get_json(f"/api/audit?action={action}&user={auditor_id}", auditor)
        assert status == 200, found
        mine[action] = {(e["target"], e["ok"]) for e in found["entries"]}
    assert (case_id, True) in mine["case_view"] and ("RVW-NOPE", False) in mine["case_view"]
    assert mine["recording_list"] == {(case_id, True)}
    assert {(r["recording_id"], True) for r in rows} <= mine["recording_view"]
    assert (docs["picture"], True) in mine["attachment_view"]


async def test_a_clerk_is_told_the_case_page_is_not_for_them(live_server: Server) -> None:
    server = live_server
    await server.add_user("clerk_b", "clerk", "310000", ["social_insurance"])
    async with chromium() as browser:
        tab = await Tab.open(browser, server.base_url, "/cases/RVW-20261128-000000000000", "case-clerk")
        try:
            await log_in(tab, "clerk_b")
            error = tab.page.locator("#login-error")
            await error.wait_for(state="visible")
            assert await error.inner_text() == "此账号不能查看办件详情：仅限值班长和审计人员。"
            assert await tab.page.locator("#case").is_hidden()
            await tab.screenshot("case-page-clerk")
            assert tab.errors == []
        finally:
            await tab.close()


async def _when(value: Any, ok: Any) -> Any:
    got = await value
    return got if ok(got) else None
