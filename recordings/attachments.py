"""Documents shown in a case: content-addressed files under RVW_RECORDINGS_DIR and their rows.

A file is named by the SHA-256 of its bytes (``attachments/ab/cd/abcd…``): the same photo sent twice is
stored once, and a file's name proves its content. Files are written to a temporary name and renamed,
in a worker thread (never on the event loop), so a crash leaves no half-written file under a real name.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from queueing.clock import iso, to_datetime

from .models import Attachment, Case, CaseEvent
from .store import CaseStoreError, _Writes

# What a document may be, told from its first bytes (the Content-Type header alone is not trusted).
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
MAX_BYTES = 10 * 1024 * 1024


def sniff(data: bytes) -> str | None:
    """The type the bytes are (JPEG, PNG or PDF), or None."""
    for magic, content_type in SIGNATURES:
        if data.startswith(magic):
            return content_type
    return None


def new_attachment_id() -> str:
    return "A" + secrets.token_hex(10).upper()


def _write(root: Path, sha256: str, data: bytes) -> Path:
    path = root / "attachments" / sha256[:2] / sha256[2:4] / sha256
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class Attachments(_Writes):
    def __init__(self, sessions: Any, root: str | Path) -> None:
        super().__init__(sessions)
        self.root = Path(root)

    async def add(self, case_id: str, *, data: bytes, content_type: str, by: str, at: float) -> dict[str, Any]:
        """Store the file (off the loop), then its row and the case's `attachment` line in one transaction."""
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(_write, self.root, sha256, data)
        attachment_id = new_attachment_id()
        detail = {"attachment_id": attachment_id, "content_type": content_type, "bytes": len(data), "sha256": sha256}
        async with self._writing(), self.sessions() as session, session.begin():
            if await session.get(Case, case_id) is None:
                raise CaseStoreError("not_found", "no such case")
            session.add(
                Attachment(
                    id=attachment_id,
                    case_id=case_id,
                    sha256=sha256,
                    content_type=content_type,
                    bytes=len(data),
                    uploaded_by=by,
                    uploaded_at=to_datetime(at),
                )
            )
            session.add(CaseEvent(case_id=case_id, at=to_datetime(at), event="attachment", actor=by, detail=detail))
        return {"attachment_id": attachment_id, "case_id": case_id, **detail, "from": by.partition(":")[0]}

    async def get(self, attachment_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            row = await session.get(Attachment, attachment_id)
            if row is None:
                return None
            case = await session.get(Case, row.case_id)
        return {
            **_json(row),
            "path": self.root / "attachments" / row.sha256[:2] / row.sha256[2:4] / row.sha256,
            "citizen_id": case.citizen_id if case else None,
            "clerk_id": case.clerk_id if case else None,
            "target_region": case.target_region if case else None,
        }

    async def of_case(self, case_id: str) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.uploaded_at)
                )
            ).scalars()
            return [_json(r) for r in rows]


def _json(row: Attachment) -> dict[str, Any]:
    return {
        "attachment_id": row.id,
        "case_id": row.case_id,
        "content_type": row.content_type,
        "bytes": row.bytes,
        "sha256": row.sha256,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": iso(row.uploaded_at.timestamp()),
    }
