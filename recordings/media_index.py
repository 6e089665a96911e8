"""The rows of recorded media and the citizen's consent to recording.

A file's row is written when the recorder opens it (state ``recording``) and
completed when the file is closed (``complete``, with its length, size and
SHA-256) or its recorder process dies (``interrupted``, measured from what reached
the disk). Files live under RVW_RECORDINGS_DIR at the row's ``path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from queueing.clock import iso, to_datetime

from .models import Case, CaseEvent, Recording
from .store import CaseStoreError, _Writes

STATES = ("recording", "complete", "interrupted")


class MediaIndex(_Writes):
    def __init__(self, sessions: Any, root: str | Path) -> None:
        super().__init__(sessions)
        self.root = Path(root)

    # ---- consent ---------------------------------------------------------------------------

    async def consent(self, case_id: str, *, recording: bool, at: float, actor: str, policy: str) -> bool:
        """Keep the citizen's answer and put it on the timeline. The answer is given once: the same
        answer again changes nothing (False), a different one is refused (``conflict``)."""
        async with self._writing(), self.sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None:
                raise CaseStoreError("not_found", "no such case")
            if case.recording_consent is not None:
                if case.recording_consent != recording:
                    raise CaseStoreError("conflict", "the answer about recording was given already in this case")
                return False
            case.recording_consent = recording
            session.add(
                CaseEvent(
                    case_id=case_id,
                    at=to_datetime(at),
                    event="consent",
                    actor=actor,
                    detail={"recording": recording, "policy": policy},
                )
            )
            return True

    async def consent_answer(self, case_id: str) -> tuple[bool, float] | None:
        """The citizen's answer about recording in a case and when it was given (None: not given yet)."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(CaseEvent.at, CaseEvent.detail)
                    .where(CaseEvent.case_id == case_id, CaseEvent.event == "consent")
                    .order_by(CaseEvent.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return bool((row.detail or {}).get("recording")), row.at.timestamp()

    async def consent_of(self, case_id: str) -> bool | None:
        async with self.sessions() as session:
            case = await session.get(Case, case_id)
            return None if case is None else case.recording_consent

    # ---- files -----------------------------------------------------------------------------

    async def opened(self, row: dict[str, Any], node: str) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            session.add(
                Recording(
                    id=row["recording_id"],
                    case_id=row["case_id"],
                    side=row["side"],
                    kind=row["kind"],
                    codec=row["codec"],
                    container=row["container"],
                    path=row["path"],
                    state="recording",
                    node=node,
                    started_at=to_datetime(row["started_at"]),
                )
            )

    async def finished(self, recording_id: str, state: str, facts: dict[str, Any]) -> None:
        """Complete a file's row: ``facts`` has ended_at (epoch seconds), duration_s, frames, bytes, sha256."""
        if state not in STATES[1:]:
            raise ValueError(f"a finished file is complete or interrupted, not {state!r}")
        values = {
            "state": state,
            "ended_at": to_datetime(facts["ended_at"]) if facts.get("ended_at") is not None else None,
            "duration_s": facts.get("duration_s"),
            "frames": facts.get("frames"),
            "bytes": facts.get("bytes"),
            "sha256": facts.get("sha256"),
        }
        async with self._writing(), self.sessions() as session, session.begin():
            await session.execute(update(Recording).where(Recording.id == recording_id).values(**values))

    async def unfinished(self, node: str) -> list[dict[str, Any]]:
        """Files this node left in ``recording`` (a crash of the whole node), to close at start-up."""
        async with self.sessions() as session:
            rows = (
                await session.execute(select(Recording).where(Recording.node == node, Recording.state == "recording"))
            ).scalars()
            return [self._json(r, with_path=True) for r in rows]

    async def of_case(self, case_id: str) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Recording)
                    .where(Recording.case_id == case_id)
                    .order_by(Recording.started_at, Recording.side, Recording.kind)
                )
            ).scalars()
            return [self._json(r) for r in rows]

    async def get(self, recording_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            row = await session.get(Recording, recording_id)
            if row is None:
                return None
            case = await session.get(Case, row.case_id)
            return {
                **self._json(row, with_path=True),
                "target_region": case.target_region if case else None,
            }

    def _json(self, row: Recording, with_path: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recording_id": row.id,
            "case_id": row.case_id,
            "side": row.side,
            "kind": row.kind,
            "state": row.state,
            "started_at": iso(row.started_at.timestamp()),
            "ended_at": iso(row.ended_at.timestamp()) if row.ended_at else None,
            "duration_s": row.duration_s,
            "frames": row.frames,
            "bytes": row.bytes,
            "sha256": row.sha256,
            "container": row.container,
            "codec": row.codec,
        }
        if with_path:
            out["path"] = self.root / row.path
            out["node"] = row.node
        return out
