"""The case record: created on request, filled in as the case moves, read back for audit.

Every change appends a line to the case's timeline in the same transaction
that sets the matching column, so the record and its timeline never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from queueing.clock import iso, to_datetime
from queueing.stats import CaseTimes

from .models import Case, CaseEvent, Kiosk, User

# Columns an event may set, each only once (the first value stands).
ONCE_COLUMNS = {"offered_at", "answered_at", "connected_at", "ended_at"}


class CaseStoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _iso(value: datetime | None) -> str | None:
    return iso(value.timestamp()) if value is not None else None


class CaseStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def create(
        self,
        *,
        at: float,
        case_id: str,
        ticket_id: str,
        matter_code: str,
        skill: str,
        origin_region: str,
        target_region: str,
        channel: str,
        kiosk_id: str | None,
        citizen_id: str,
        priority: str,
        language: str,
        actor: str,
    ) -> None:
        async with self.sessions() as session, session.begin():
            session.add(
                Case(
                    case_id=case_id,
                    ticket_id=ticket_id,
                    matter_code=matter_code,
                    skill=skill,
                    origin_region=origin_region,
                    target_region=target_region,
                    channel=channel,
                    kiosk_id=kiosk_id,
                    citizen_id=citizen_id,
                    priority=priority,
                    language=language,
                    requested_at=to_datetime(at),
                )
            )
            await session.flush()
            session.add(
                CaseEvent(
                    case_id=case_id,
                    at=to_datetime(at),
                    event="requested",
                    actor=actor,
                    detail={"matter_code": matter_code, "target_region": target_region, "priority": priority},
                )
            )

    async def record(
        self,
        case_id: str,
        *,
        at: float,
        event: str,
        actor: str,
        detail: dict[str, Any] | None = None,
        only_first: bool = False,
        keep_existing: bool = False,
        **columns: Any,
    ) -> bool:
        """Append ``event`` to the timeline and set ``columns``.

        Time columns in ONCE_COLUMNS keep their first value. With
        ``only_first``, nothing is written when such a column is already set,
        so "connected" is recorded once however often both sides report it;
        the return value says whether the event was written. With ``keep_existing``
        every column keeps a value it already has.
        """
        values = {k: (to_datetime(v) if k.endswith("_at") and isinstance(v, float) else v) for k, v in columns.items()}
        once = {k: v for k, v in values.items() if k in ONCE_COLUMNS or keep_existing}
        plain = {k: v for k, v in values.items() if k not in once}
        async with self.sessions() as session, session.begin():
            exists = await session.scalar(select(Case.case_id).where(Case.case_id == case_id).with_for_update())
            if exists is None:
                raise CaseStoreError("not_found", "no such case")
            for k, v in once.items():
                result = await session.execute(
                    update(Case).where(Case.case_id == case_id, getattr(Case, k).is_(None)).values({k: v})
                )
                if result.rowcount == 0 and only_first:  # type: ignore[attr-defined]
                    return False
            if plain:
                await session.execute(update(Case).where(Case.case_id == case_id).values(**plain))
            session.add(CaseEvent(case_id=case_id, at=to_datetime(at), event=event, actor=actor, detail=detail))
            return True

    async def rate(self, case_id: str, citizen_id: str, *, at: float, level: int, comment: str) -> None:
        async with self.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None or case.citizen_id != citizen_id:
                raise CaseStoreError("not_found", "no such case for this citizen")
            if case.ended_at is None:
                raise CaseStoreError("conflict", "a case can be rated once it has ended")
            if case.rating_level is not None:
                raise CaseStoreError("conflict", "this case has already been rated (one rating per case)")
            result = await session.execute(
                update(Case)
                .where(Case.case_id == case_id, Case.rating_level.is_(None))
                .values(rating_level=level, rating_comment=comment, rated_at=to_datetime(at))
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise CaseStoreError("conflict", "this case has already been rated (one rating per case)")
            session.add(
                CaseEvent(
                    case_id=case_id,
                    at=to_datetime(at),
                    event="rated",
                    actor=f"citizen:{citizen_id}",
                    detail={"level": level},
                )
            )

    async def get(self, case_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            case = await session.get(Case, case_id)
            if case is None:
                return None
            events = (
                await session.execute(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
            ).scalars()
            return {
                "case_id": case.case_id,
                "ticket_id": case.ticket_id,
                "matter_code": case.matter_code,
                "skill": case.skill,
                "origin_region": case.origin_region,
                "target_region": case.target_region,
                "channel": case.channel,
                "kiosk_id": case.kiosk_id,
                "priority": case.priority,
                "language": case.language,
                "clerk_id": case.clerk_id,
                "requested_at": _iso(case.requested_at),
                "offered_at": _iso(case.offered_at),
                "answered_at": _iso(case.answered_at),
                "connected_at": _iso(case.connected_at),
                "ended_at": _iso(case.ended_at),
                "outcome": case.outcome,
                "notes": case.notes,
                "rating": (
                    {"level": case.rating_level, "comment": case.rating_comment}
                    if case.rating_level is not None
                    else None
                ),
                "timeline": [
                    {"at": _iso(e.at), "event": e.event, "actor": e.actor, "detail": e.detail} for e in events
                ],
            }

    async def latest_of_citizen(self, citizen_id: str) -> dict[str, Any] | None:
        """The citizen's most recent case: id, ticket, outcome and whether it was rated."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Case.case_id, Case.ticket_id, Case.outcome, Case.rating_level)
                    .where(Case.citizen_id == citizen_id)
                    .order_by(Case.requested_at.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                return None
            return {"case_id": row[0], "ticket_id": row[1], "outcome": row[2], "rating": row[3]}

    async def clerk_of(self, case_id: str) -> tuple[bool, str | None]:
        async with self.sessions() as session:
            row = (await session.execute(select(Case.clerk_id).where(Case.case_id == case_id))).first()
            return (row is not None, row[0] if row else None)

    async def times_since(self, since: float) -> list[CaseTimes]:
        """The figures of every case requested since ``since``, for the service level."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Case.requested_at, Case.answered_at, Case.ended_at, Case.outcome, Case.rating_level).where(
                    Case.requested_at >= to_datetime(since)
                )
            )
            return [
                CaseTimes(
                    requested_at=r[0].timestamp(),
                    answered_at=r[1].timestamp() if r[1] else None,
                    ended_at=r[2].timestamp() if r[2] else None,
                    outcome=r[3],
                    rating=r[4],
                )
                for r in rows
            ]


class Directory:
    """People and kiosks, looked up when they connect or log in."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def user_by_name(self, username: str) -> User | None:
        async with self.sessions() as session:
            return (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()

    async def user(self, user_id: str) -> User | None:
        async with self.sessions() as session:
            user = await session.get(User, user_id)
            return user if user is not None and user.active else None

    async def kiosk_by_token_hash(self, token_hash: str) -> Kiosk | None:
        async with self.sessions() as session:
            kiosk = (await session.execute(select(Kiosk).where(Kiosk.token_hash == token_hash))).scalar_one_or_none()
            return kiosk if kiosk is not None and kiosk.active else None

    async def display_names(self) -> dict[str, str]:
        async with self.sessions() as session:
            rows = await session.execute(select(User.id, User.display_name))
            return {r[0]: r[1] for r in rows}

    async def add_user(
        self,
        *,
        user_id: str,
        username: str,
        password_hash: str,
        role: str,
        display_name: str,
        region: str,
        skills: list[str],
        at: float,
        replace: bool = False,
    ) -> None:
        """Add a log-in; an existing username is a conflict, or with ``replace`` is reset to these values."""
        async with self.sessions() as session, session.begin():
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is not None and not replace:
                raise CaseStoreError("conflict", f"user {username!r} exists")
            if user is None:
                user = User(id=user_id, username=username, created_at=to_datetime(at))
                session.add(user)
            user.password_hash, user.role, user.display_name = password_hash, role, display_name
            user.region, user.skills, user.active = region, skills, True

    async def add_kiosk(self, *, kiosk_id: str, name: str, region: str, token_hash: str, at: float) -> None:
        async with self.sessions() as session, session.begin():
            existing = (await session.execute(select(Kiosk).where(Kiosk.token_hash == token_hash))).scalar_one_or_none()
            if existing is None:
                session.add(
                    Kiosk(
                        id=kiosk_id,
                        name=name,
                        region=region,
                        token_hash=token_hash,
                        active=True,
                        created_at=to_datetime(at),
                    )
                )
