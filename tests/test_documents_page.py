"""Documents in the call on the pages (issue 8, part 2): in headless Chromium with a fake camera, against a real
server. The kiosk's "show a document" sends a still of its camera, which the clerk console shows in its gallery and
opens in a viewer with zoom; the clerk sends a picked file back, which the kiosk shows; a citizen in their own
browser may pick a file, and a wrong type or size is refused in words before anything is sent. When the case ends,
neither page keeps a document.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.conftest import KIOSK_TOKEN, Server
from tests.test_browser import Tab, _is, chromium, poll, start_call

pytestmark = pytest.mark.browser

# Whether a gallery image has been decoded by the page (its bytes fetched with the page's credentials).
DECODED_JS = "(img) => img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null"


def png(width: int, height: int) -> bytes:
    """A real PNG of a flat colour, small enough to build here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x60\xa0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def test_the_kiosk_shows_a_document_and_the_clerk_sends_one_back(live_server: Server) -> None:
    await live_server.add_user("clerk_docs", "clerk", "310000", ["social_insurance"], name="王芳")
    await live_server.add_user("audit_docs", "auditor", "delta", [])
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            kiosk_path = f"/kiosk#kiosk_token={KIOSK_TOKEN}"
            case_id = await start_call(browser, live_server.base_url, tabs, "clerk_docs", kiosk_path)
            console, kiosk = tabs
            # A kiosk has its camera, not a file picker.
            assert await kiosk.page.locator("#doc-pick").is_hidden()
            snap = kiosk.page.locator("#doc-snap")
            box = await snap.bounding_box()
            assert box is not None and box["width"] >= 80 and box["height"] >= 80, box

            # The citizen holds a paper up and presses the big button: a still of the camera reaches the console.
            await snap.click()
            mine = kiosk.page.locator('#doc-list li[data-from="citizen"][data-state="ready"]')
            await mine.wait_for()
            assert "材料 1（我发的）" in await mine.inner_text()
            shown = console.page.locator('#doc-list li[data-from="citizen"][data-state="ready"] img')
            await shown.wait_for()
            size = await poll(lambda: shown.evaluate(DECODED_JS), "the console decoded the still", 15)
            assert size == [640, 480], size  # the fake camera's frame, whole
            attachment_id = await console.page.locator('#doc-list li[data-from="citizen"]').get_attribute(
                "data-attachment"
            )
            assert attachment_id

            # The clerk opens it and zooms in and out.
            await console.page.locator("#doc-list .doc-thumb").click()
            viewer = console.page.locator("#doc-viewer")
            await viewer.wait_for(state="visible")
            assert await viewer.get_attribute("data-zoom") == "1"
            assert await console.page.locator("#doc-zoom-out").is_disabled()
            fitted = await console.page.locator("#doc-image").evaluate("(img) => img.getBoundingClientRect().width")
            await console.page.locator("#doc-zoom-in").click()
            await console.page.locator("#doc-zoom-in").click()
            assert await viewer.get_attribute("data-zoom") == "2"
            zoomed = await console.page.locator("#doc-image").evaluate("(img) => img.getBoundingClientRect().width")
            assert zoomed == pytest.approx(2 * fitted, rel=0.02), (fitted, zoomed)
            await console.screenshot("console-document-viewer")
            await console.page.locator("#doc-close").click()
            await viewer.wait_for(state="hidden")

            # The clerk sends a form as a PNG; the kiosk fetches it with the citizen's api_token and shows it.
            form = png(300, 200)
            await console.page.locator("#doc-file").set_input_files(
                files=[{"name": "form.png", "mimeType": "image/png", "buffer": form}]
            )
            await console.page.locator('#doc-list li[data-from="clerk"][data-state="ready"]').wait_for()
            received = kiosk.page.locator('#doc-list li[data-from="clerk"][data-state="ready"] img')
            await received.wait_for()
            assert await poll(lambda: received.evaluate(DECODED_JS), "the kiosk decoded the form", 15) == [300, 200]
            assert "材料 1（工作人员）" in await kiosk.page.locator('#doc-list li[data-from="clerk"]').inner_text()
            await kiosk.screenshot("kiosk-documents")

            # A file of the wrong type is refused on the clerk's page before it is sent, in words.
            await console.page.locator("#doc-file").set_input_files(
                files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
            )
            error = console.page.locator("#doc-error")
            await error.wait_for(state="visible")
            assert "只能发送" in await error.inner_text()
            assert await console.page.locator("#doc-list li").count() == 2

            # Both documents are on the case record; the fetches were audited.
            token = await live_server.login("audit_docs")
            status, record = await live_server.get_json(f"/api/cases/{case_id}", token)
            assert status == 200, record
            kinds = sorted((a["content_type"], a["bytes"]) for a in record["attachments"])
            assert kinds[1] == ("image/png", len(form)) and kinds[0][0] == "image/jpeg", kinds
            status, audit = await live_server.get_json("/api/audit?action=attachment_view", token)
            assert status == 200, audit
            viewed = {(row["role"], row["target"], row["ok"]) for row in audit["entries"]}
            assert ("clerk", attachment_id, True) in viewed, viewed

            # The case ends: neither page keeps a document.
            await console.page.locator("#outcome-resolved").check()
            await console.page.locator("#end-case").click()
            await kiosk.page.locator("#screen-rate").wait_for(state="visible")
            for tab in (kiosk, console):
                await poll(lambda tab=tab: _is(tab.page.locator("#doc-list li").count(), 0), f"{tab.name} cleared", 10)
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def test_a_citizen_in_a_browser_picks_a_file(live_server: Server) -> None:
    await live_server.add_user("clerk_docs2", "clerk", "310000", ["social_insurance"], name="李明")
    tabs: list[Tab] = []
    async with chromium() as browser:
        try:
            await start_call(browser, live_server.base_url, tabs, "clerk_docs2", "/kiosk?region=310104")
            console, citizen = tabs
            picker = citizen.page.locator("#doc-file")
            assert await citizen.page.locator("#doc-pick").is_visible()
            # Too large (the server's 10 MiB limit), then the wrong type: told at once, nothing sent.
            await picker.set_input_files(
                files=[{"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" + b"0" * (10 << 20)}]
            )
            error = citizen.page.locator("#doc-error")
            await error.wait_for(state="visible")
            assert "10 MB" in await error.inner_text()
            await picker.set_input_files(files=[{"name": "a.gif", "mimeType": "image/gif", "buffer": b"GIF89a"}])
            await poll(lambda: _check_text(error, "只能发送"), "the type refused", 10)
            # A PDF goes through; the console offers it as a file to open.
            pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
            await picker.set_input_files(files=[{"name": "id.pdf", "mimeType": "application/pdf", "buffer": pdf}])
            await citizen.page.locator('#doc-list li[data-from="citizen"][data-state="ready"]').wait_for()
            assert await error.is_hidden()
            item = console.page.locator('#doc-list li[data-from="citizen"][data-type="pdf"][data-state="ready"]')
            link = item.locator("a")
            await link.wait_for()
            assert (await link.get_attribute("href") or "").startswith("blob:")  # the bytes the console fetched
            # The file as the clerk's log-in reads it: the citizen's bytes, whole.
            attachment_id = await item.get_attribute("data-attachment")
            fetched = await console.context.request.get(f"/api/attachments/{attachment_id}")
            assert fetched.status == 200 and await fetched.body() == pdf
            # English too.
            await citizen.page.locator("#lang-switch").click()
            assert "Document 1 (mine)" in await citizen.page.locator("#doc-list li").inner_text()
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for tab in reversed(tabs):
                await tab.close()


async def _check_text(locator: object, part: str) -> bool:
    return part in await locator.inner_text()  # type: ignore[attr-defined]
