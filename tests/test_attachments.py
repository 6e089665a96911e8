"""Documents in the call (issue 8, part 2): a side of the open case uploads, the other side hears of it, the
file is stored by its SHA-256 and read back by those who may. Real server, HTTP and Socket.IO clients."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import KIOSK_TOKEN, Client, Server
from tests.helpers import ask, citizen, clerk_on_duty

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


async def send(
    server: Server, case_id: str, token: str | None, body: bytes, content_type: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.base_url}/api/cases/{case_id}/attachments", data=io.BytesIO(body), headers=headers
        ) as resp:
            return resp.status, await resp.json()


async def fetch(server: Server, attachment_id: str, token: str | None) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base_url}/api/attachments/{attachment_id}", headers=headers) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def citizen_with_token(server: Server) -> tuple[Client, str]:
    c = Client(server, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    session = await c.wait_for("session")
    assert isinstance(session["api_token"], str) and session["api_token"]
    return c, str(session["api_token"])


async def test_a_document_goes_to_the_other_side_and_is_kept(server: Server, tmp_path: Path) -> None:
    c, api_token = await citizen_with_token(server)
    clerk = await clerk_on_duty(server, "clerk_a")
    case_id = (await ask(c))["case_id"]
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")

    status, stored = await send(server, case_id, api_token, JPEG, "image/jpeg")
    assert status == 201, stored
    assert stored["sha256"] == hashlib.sha256(JPEG).hexdigest() and stored["bytes"] == len(JPEG)
    heard = await clerk.wait_for("attachment")
    assert heard == {
        "case_id": case_id,
        "attachment_id": stored["attachment_id"],
        "content_type": "image/jpeg",
        "bytes": len(JPEG),
        "from": "citizen",
    }
    clerk_token = await server.login("clerk_a")
    status, pdf = await send(server, case_id, clerk_token, PDF, "application/pdf")
    assert status == 201
    assert (await c.wait_for("attachment"))["from"] == "clerk"
    # The same photo twice is one file, named by its hash, under RVW_RECORDINGS_DIR.
    status, again = await send(server, case_id, api_token, JPEG, "image/jpeg")
    assert status == 201 and again["attachment_id"] != stored["attachment_id"]
    sha = stored["sha256"]
    kept = tmp_path / "recordings" / "attachments" / sha[:2] / sha[2:4] / sha
    assert kept.read_bytes() == JPEG
    assert sorted(p.name for p in (tmp_path / "recordings" / "attachments").rglob("*") if p.is_file()) == sorted(
        {sha, pdf["sha256"]}
    )

    # Read back by the case's two sides, an auditor and the delta's supervisor; not by others.
    await server.add_user("audit", "auditor", "delta", [])
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_js", "supervisor", "320000", [])
    await clerk_on_duty(server, "clerk_b")
    for token in (api_token, clerk_token, await server.login("audit"), await server.login("boss")):
        status, body, content_type = await fetch(server, stored["attachment_id"], token)
        assert (status, body, content_type) == (200, JPEG, "image/jpeg")
    for token in (await server.login("clerk_b"), await server.login("boss_js")):
        assert (await fetch(server, stored["attachment_id"], token))[0] == 403
    assert (await fetch(server, stored["attachment_id"], None))[0] == 401
    assert (await fetch(server, "A0000000000000000000", clerk_token))[0] == 404

    # The case record lists them, its timeline has them, and every fetch is audited.
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("audit"))
    assert [a["attachment_id"] for a in record["attachments"]] == [
        stored["attachment_id"],
        pdf["attachment_id"],
        again["attachment_id"],
    ]
    lines = [e for e in record["timeline"] if e["event"] == "attachment"]
    assert [(e["actor"].partition(":")[0], e["detail"]["content_type"]) for e in lines] == [
        ("citizen", "image/jpeg"),
        ("clerk", "application/pdf"),
        ("citizen", "image/jpeg"),
    ]
    status, audit = await server.get_json("/api/audit?action=attachment_view", await server.login("audit"))
    assert status == 200
    # Four allowed, two refused, one unknown (no log-in at all is refused before anyone is known).
    assert [e["ok"] for e in audit["entries"]] == [True, True, True, True, False, False, False]
    assert audit["entries"][0]["user"].startswith("citizen:") and audit["entries"][1]["user"] == "uclerk_a"


async def test_bad_documents_are_refused_and_nothing_is_stored(server: Server, tmp_path: Path) -> None:
    c, api_token = await citizen_with_token(server)
    clerk = await clerk_on_duty(server, "clerk_a")
    case_id = (await ask(c))["case_id"]
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")
    await server.add_user("boss", "supervisor", "delta", [])
    cases = [
        (api_token, JPEG, "image/png", 415),  # the bytes are a JPEG
        (api_token, b"hello", "text/plain", 415),
        (api_token, b"MZ\x90\x00" + bytes(100), "application/pdf", 415),
        (api_token, b"", "image/jpeg", 400),
        (api_token, b"\xff\xd8\xff" + bytes(10 * 1024 * 1024), "image/jpeg", 413),
        (None, JPEG, "image/jpeg", 401),
        (await server.login("boss"), JPEG, "image/jpeg", 403),
    ]
    for token, body, content_type, expected in cases:
        status, answer = await send(server, case_id, token, body, content_type)
        assert status == expected, (content_type, len(body), answer)
        assert answer["error"]["code"] in ("bad_request", "unauthorized", "forbidden")
    # Not a side of that case: answered like an unknown case.
    other, other_token = await citizen_with_token(server)
    assert (await send(server, case_id, other_token, JPEG, "image/jpeg"))[0] == 404
    assert (await send(server, "RVW-NOPE", api_token, JPEG, "image/jpeg"))[0] == 404
    # After the case ends, no more documents.
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    assert (await send(server, case_id, api_token, PNG, "image/png"))[0] == 404
    assert not (tmp_path / "recordings" / "attachments").exists()
    assert clerk.seen("attachment") == [] and other.seen("attachment") == []
    await citizen(server)  # the server still serves
