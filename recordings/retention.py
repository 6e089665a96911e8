"""Retention: what has been kept longer than its kind allows is deleted (PIPL: no longer than needed).

Per kind, in days: recorded media (``RVW_RETENTION_MEDIA_DAYS``, by when a file started; a file still
being written is left for the next run), documents (``RVW_RETENTION_ATTACHMENT_DAYS``) and the audit log
(``RVW_RETENTION_AUDIT_DAYS``, at least 180: 等保 2.0 keeps audit records six months). A run deletes the
expired rows, then the files no remaining row names (off the event loop), and puts itself in the audit
log with what it did. The case records and their timelines stay: they are the file of the case.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from queueing.clock import to_datetime

from .audit import AuditLog
from .models import Attachment, AuditEntry, Recording

log = logging.getLogger(__name__)

MIN_AUDIT_DAYS = 180
DAY_S = 86400.0


@dataclass
class RetentionReport:
    attachments_deleted: int = 0
    files_deleted: int = 0
    audit_entries_deleted: int = 0
    media_deleted: int = 0


def _unlink(paths: list[Path]) -> int:
    gone = 0
    for path in paths:
        try:
            path.unlink()
            gone += 1
        except FileNotFoundError:
            pass
    return gone


async def run(
    sessions: Any,
    root: str | Path,
    *,
    now: float,
    attachment_days: float,
    audit_days: float,
    media_days: float,
    by: str = "retention",
) -> RetentionReport:
    """Delete what has expired as of ``now``; returns what was deleted (and audits the run)."""
    if audit_days < MIN_AUDIT_DAYS:
        raise ValueError(f"the audit log is kept at least {MIN_AUDIT_DAYS} days")
    report = RetentionReport()
    files = Path(root) / "attachments"
    async with sessions() as session, session.begin():
        cut = to_datetime(now - attachment_days * DAY_S)
        expired = (
            await session.execute(select(Attachment.id, Attachment.sha256).where(Attachment.uploaded_at < cut))
        ).all()
        if expired:
            await session.execute(delete(Attachment).where(Attachment.id.in_([r.id for r in expired])))
        report.attachments_deleted = len(expired)
        hashes = sorted({r.sha256 for r in expired})
        still = set()
        if hashes:
            rows = await session.execute(select(Attachment.sha256).where(Attachment.sha256.in_(hashes)))
            still = {r[0] for r in rows}
        doomed = [files / h[:2] / h[2:4] / h for h in hashes if h not in still]
        media_cut = to_datetime(now - media_days * DAY_S)
        media = (
            await session.execute(
                select(Recording.id, Recording.path).where(
                    Recording.started_at < media_cut, Recording.state != "recording"
                )
            )
        ).all()
        if media:
            await session.execute(delete(Recording).where(Recording.id.in_([r.id for r in media])))
        report.media_deleted = len(media)
        doomed += [Path(root) / r.path for r in media]
        audit_cut = to_datetime(now - audit_days * DAY_S)
        counted = await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.at < audit_cut))
        await session.execute(delete(AuditEntry).where(AuditEntry.at < audit_cut))
        report.audit_entries_deleted = int(counted or 0)
    # Files after the rows are gone (a crash between leaves a file no row names, found by the next run's
    # sweep of hashes; never a row without its file).
    report.files_deleted = await asyncio.to_thread(_unlink, doomed)
    summary = ", ".join(f"{k}={v}" for k, v in asdict(report).items())
    await AuditLog(sessions).record(
        at=now, user_id=by, role="system", action="retention_run", target=summary, ip="", ok=True
    )
    log.info("retention run: %s", summary)
    return report
