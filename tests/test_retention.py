"""Retention (issue 8, part 4): `rvw retention run` deletes the documents and audit entries older than their kind
allows, says what it did, and audits itself; the audit log is kept at least 180 days."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recordings import retention
from recordings.audit import AuditLog
from server.config import ConfigError, Settings
from tests.conftest import Server
from tests.helpers import matched_case
from tests.test_cli_and_api import env_for, run

DAY = 86400.0
JPEG_OLD = b"\xff\xd8\xff\xe0old" + bytes(64)
JPEG_SHARED = b"\xff\xd8\xff\xe0shared" + bytes(64)
PNG_NEW = b"\x89PNG\r\n\x1a\nnew" + bytes(64)


async def test_a_run_deletes_only_what_has_expired_and_audits_itself(server: Server, tmp_path: Path) -> None:
    _clerk, _citizen, case_id = await matched_case(server)
    svc = server.services
    assert svc.attachments is not None and svc.audit is not None
    t0 = server.clock.now()
    old = await svc.attachments.add(case_id, data=JPEG_OLD, content_type="image/jpeg", by="citizen:c", at=t0)
    old_shared = await svc.attachments.add(case_id, data=JPEG_SHARED, content_type="image/jpeg", by="clerk:k", at=t0)
    await svc.attachments.add(case_id, data=JPEG_SHARED, content_type="image/jpeg", by="clerk:k", at=t0 + 200 * DAY)
    new = await svc.attachments.add(case_id, data=PNG_NEW, content_type="image/png", by="clerk:k", at=t0 + 200 * DAY)
    audit = AuditLog(svc.store.sessions)
    await audit.record(
        at=t0 - 10 * DAY, user_id="uold", role="clerk", action="login", target="x", ip="1.2.3.4", ok=True
    )
    await audit.record(
        at=t0 + 300 * DAY, user_id="unew", role="clerk", action="login", target="y", ip="1.2.3.4", ok=True
    )
    files = tmp_path / "recordings" / "attachments"

    def kept(sha: str) -> bool:
        return (files / sha[:2] / sha[2:4] / sha).exists()

    assert kept(old["sha256"]) and kept(old_shared["sha256"]) and kept(new["sha256"])
    report = await retention.run(
        svc.store.sessions,
        tmp_path / "recordings",
        now=t0 + 366 * DAY,
        attachment_days=365,
        audit_days=365,
        media_days=180,
    )
    # The two documents of day 0 go; the file shared with a later document stays; the audit entry of
    # day -10 goes (the log-ins of this test, made on day 0, are 366 days old too).
    assert report.attachments_deleted == 2 and report.files_deleted == 1
    assert not kept(old["sha256"]) and kept(old_shared["sha256"]) and kept(new["sha256"])
    assert await svc.attachments.get(old["attachment_id"]) is None
    assert await svc.attachments.get(new["attachment_id"]) is not None
    rest = await audit.page(
        *(server_time(t) for t in (t0 - 400 * DAY, t0 + 400 * DAY)), user_id=None, action=None, after_id=0, limit=100
    )
    assert [e["user"] for e in rest if e["action"] == "login"] == ["unew"]
    assert report.audit_entries_deleted >= 1
    ran = [e for e in rest if e["action"] == "retention_run"]
    assert len(ran) == 1 and ran[0]["target"] == (
        f"attachments_deleted=2, files_deleted=1, audit_entries_deleted={report.audit_entries_deleted}, media_deleted=0"
    )
    # The case's record keeps its timeline (the attachment lines say what was shown).
    record = await svc.store.get(case_id)
    assert record is not None and sum(e["event"] == "attachment" for e in record["timeline"]) == 4
    with pytest.raises(ValueError, match="180"):
        await retention.run(svc.store.sessions, tmp_path, now=t0, attachment_days=1, audit_days=90, media_days=1)


def server_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_the_audit_log_is_kept_at_least_180_days() -> None:
    with pytest.raises(ConfigError, match="180"):
        Settings.from_env({"RVW_RETENTION_AUDIT_DAYS": "90", "RVW_SECRET_KEY": "k"})
    assert Settings.from_env({"RVW_RETENTION_AUDIT_DAYS": "200", "RVW_SECRET_KEY": "k"}).retention_audit_days == 200


def test_the_command_says_what_it_did(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    done = run(["retention", "run"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "attachments_deleted": 0,
        "files_deleted": 0,
        "audit_entries_deleted": 0,
        "media_deleted": 0,
    }


async def test_recorded_media_expires_by_its_own_days(server: Server, tmp_path: Path) -> None:
    _clerk, _citizen, case_id = await matched_case(server)
    svc = server.services
    assert svc.media is not None
    t0 = server.clock.now()
    root = tmp_path / "recordings"
    kinds = {"old": t0, "new": t0 + 100 * DAY, "open": t0}  # "open": an old file still being written
    for name, started in kinds.items():
        relative = f"media/{case_id}/citizen-video-1-M{name.upper()}.webm"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"\x1a\x45\xdf\xa3" + name.encode())
        row = {
            "recording_id": f"M{name.upper()}",
            "case_id": case_id,
            "side": "citizen",
            "kind": "video",
            "codec": "vp8",
            "container": "webm",
            "path": relative,
            "started_at": started,
        }
        await svc.media.opened(row, "node-a")
        if name != "open":
            facts = {"ended_at": started + 60, "duration_s": 60.0, "frames": 1800, "bytes": 9, "sha256": "0" * 64}
            await svc.media.finished(row["recording_id"], "complete", facts)
    report = await retention.run(
        svc.store.sessions, root, now=t0 + 181 * DAY, attachment_days=365, audit_days=365, media_days=180
    )
    assert report.media_deleted == 1 and report.files_deleted == 1
    left = {r["recording_id"]: r["state"] for r in await svc.media.of_case(case_id)}
    assert left == {"MNEW": "complete", "MOPEN": "recording"}
    assert sorted(p.name for p in (root / "media" / case_id).iterdir()) == [
        "citizen-video-1-MNEW.webm",
        "citizen-video-1-MOPEN.webm",
    ]
