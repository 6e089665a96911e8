"""The audit log (等保 2.0): an append-only record of what people did, read by auditors.

Written by the REST handlers and the supervisor's namespace (log-in and its failures, viewing,
listing and exporting case records, the clerks' status history, supervisor actions), one row per
action. The only writes are inserts; nothing in the product updates or deletes a row.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from queueing.clock import iso, to_datetime

from .models import AuditEntry
from .store import _Writes

log = logging.getLogger(__name__)

# The actions recorded, in the words GET /api/audit?action= takes.
ACTIONS = (
    "login",
    "logout",
    "case_view",
    "case_list",
    "case_export",
    "sla_view",
    "clerk_status_view",
    "audit_view",
    "set_clerk_status",
    "move_request",
    "close_followup",
    "attachment_upload",
    "attachment_view",
    "recording_list",
    "recording_view",
    "followup_list",
    "followup_action",
    "retention_run",
)


def _clip(text: str, longest: int) -> str:
    # Targets and names come from requests: kept whole when they fit, never refused for their length.
    return text if len(text) <= longest else text[: longest - 1] + "…"


class AuditLog(_Writes):
    async def record(self, *, at: float, user_id: str, role: str, action: str, target: str, ip: str, ok: bool) -> None:
        """One action. A database that refuses the row is logged, not raised: the action itself
        already happened (or was refused) and its answer must not turn into a server error."""
        entry = AuditEntry(
            at=to_datetime(at),
            user_id=_clip(user_id.replace("\x00", ""), 64),
            role=role[:16],
            action=action[:32],
            target=_clip(target.replace("\x00", ""), 200),
            ip=ip[:64],
            ok=ok,
        )
        try:
            async with self._writing(), self.sessions() as session, session.begin():
                session.add(entry)
        except DBAPIError:
            log.exception("could not write an audit entry: %s %s %s", action, user_id, target)

    async def page(
        self,
        start: datetime,
        end: datetime,
        *,
        user_id: str | None,
        action: str | None,
        after_id: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Entries in ``[start, end)``, of one user or action, in the order written, after ``after_id``."""
        stmt = select(AuditEntry).where(AuditEntry.at >= start, AuditEntry.at < end, AuditEntry.id > after_id)
        if user_id is not None:
            stmt = stmt.where(AuditEntry.user_id == user_id)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        async with self.sessions() as session:
            rows = (await session.execute(stmt.order_by(AuditEntry.id).limit(limit))).scalars().all()
        return [
            {
                "id": r.id,
                "at": iso(r.at.timestamp()),
                "user": r.user_id,
                "role": r.role,
                "action": r.action,
                "target": r.target,
                "ip": r.ip,
                "ok": r.ok,
            }
            for r in rows
        ]
