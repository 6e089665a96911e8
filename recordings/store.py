"""The case record: created on request, filled in as the case moves, read back for audit.

Every change appends a line to the case's timeline in the same transaction
that sets the matching column, so the record and its timeline never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from queueing.clock import iso, to_datetime

from .models import Case, CaseEvent, ClerkStatus, Followup, Kiosk, LoginSession, QueuePosition, User

log = logging.getLogger(__name__)

# Columns an event may set, each only once (the first value stands).
ONCE_COLUMNS = {"offered_at", "answered_at", "connected_at", "ended_at"}


FOLLOWUP_CLOSED = "followup_closed"  # the timeline line that closes a 差评 follow-up


class CaseStoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def refused_value(exc: DBAPIError) -> bool:
    """Whether the database refused what was written (a constraint, a character it cannot store),
    rather than being unreachable: only then does writing the same change again never help."""
    return not isinstance(exc, OperationalError | InterfaceError) and not exc.connection_invalidated


@dataclass
class RecordOp:
    """One change to the case records: ``create`` a case, or ``record`` a line (and columns)."""

    kind: str
    case_id: str
    fields: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return iso(value.timestamp()) if value is not None else None


def _write_lock(sessions: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    """SQLite allows one writer and answers "database is locked" at once when a read
    transaction tries to become a write while another writes: one process (the embedded
    default) takes its writes in turn instead. PostgreSQL needs no lock of ours."""
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return None
    return _SQLITE_LOCKS.setdefault(bind, asyncio.Lock())  # one per database, shared by the stores


_SQLITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


class _Writes:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._lock = _write_lock(sessions)

    def _writing(self) -> asyncio.Lock | contextlib.nullcontext[None]:
        return self._lock if self._lock is not None else contextlib.nullcontext()


@dataclass(frozen=True)
class CaseQuery:
    """Which case records to list: requested in [requested_from, requested_to) and the other
    fields equal (None: any). ``unrated`` asks for cases without a rating (``rating`` is then None)."""

    requested_from: datetime | None = None
    requested_to: datetime | None = None
    target_region: str | None = None
    matter_code: str | None = None
    clerk_id: str | None = None
    outcome: str | None = None
    rating: int | None = None
    unrated: bool = False
    regions: tuple[str, ...] | None = None  # only these target provinces (a province's supervisor)
    followup: str | None = None  # "open" | "closed": 差评 (rated 1 or 2) whose follow-up is open or closed


def case_json(case: Case) -> dict[str, Any]:
    """A case record as the REST API gives it, without its timeline."""
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
            {"level": case.rating_level, "comment": case.rating_comment} if case.rating_level is not None else None
        ),
        "wrapped_at": _iso(case.wrapped_at),
        "offers": case.offers,
        "answers": case.answers,
        "transfers": case.transfers,
        "followup_closed_at": _iso(case.followup_closed_at),
    }


class CaseStore(_Writes):
    async def create(self, *, at: float, actor: str, **fields: Any) -> None:
        """A new case record (fields: case_id, ticket_id, matter_code, skill, origin_region,
        target_region, channel, kiosk_id, citizen_id, priority, language) with its first line."""
        async with self._writing(), self.sessions() as session, session.begin():
            await self._create_in(session, at=at, actor=actor, **fields)

    @staticmethod
    async def _create_in(session: AsyncSession, *, at: float, actor: str, **fields: Any) -> None:
        session.add(Case(requested_at=to_datetime(at), **fields))
        await session.flush()
        session.add(
            CaseEvent(
                case_id=fields["case_id"],
                at=to_datetime(at),
                event="requested",
                actor=actor,
                detail={
                    "matter_code": fields["matter_code"],
                    "target_region": fields["target_region"],
                    "priority": fields["priority"],
                },
            )
        )

    @staticmethod
    async def _create_many(session: AsyncSession, many: list[dict[str, Any]]) -> None:
        cases, lines = [], []
        for f in many:
            at = to_datetime(f["at"])
            cases.append({**{k: v for k, v in f.items() if k not in ("at", "actor")}, "requested_at": at})
            lines.append(
                {
                    "case_id": f["case_id"],
                    "at": at,
                    "event": "requested",
                    "actor": f["actor"],
                    "detail": {
                        "matter_code": f["matter_code"],
                        "target_region": f["target_region"],
                        "priority": f["priority"],
                    },
                }
            )
        await session.execute(insert(Case), cases)
        await session.execute(insert(CaseEvent), lines)

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
        async with self._writing(), self.sessions() as session, session.begin():
            return await self._record_in(
                session,
                case_id,
                at=at,
                event=event,
                actor=actor,
                detail=detail,
                only_first=only_first,
                keep_existing=keep_existing,
                **columns,
            )

    @staticmethod
    async def _record_in(
        session: AsyncSession,
        case_id: str,
        *,
        at: float,
        event: str,
        actor: str,
        detail: dict[str, Any] | None = None,
        only_first: bool = False,
        keep_existing: bool = False,
        increment: tuple[str, ...] = (),
        **columns: Any,
    ) -> bool:
        values = {k: (to_datetime(v) if k.endswith("_at") and isinstance(v, float) else v) for k, v in columns.items()}
        once = {k: v for k, v in values.items() if k in ONCE_COLUMNS or keep_existing}
        plain = {k: v for k, v in values.items() if k not in once}
        exists = await session.scalar(select(Case.case_id).where(Case.case_id == case_id).with_for_update())
        if exists is None:
            raise CaseStoreError("not_found", "no such case")
        for k, v in once.items():
            result = await session.execute(
                update(Case).where(Case.case_id == case_id, getattr(Case, k).is_(None)).values({k: v})
            )
            if result.rowcount == 0 and only_first:  # type: ignore[attr-defined]
                return False
        for k in increment:  # a counter (offers, answers, transfers): the recorder writes each event once
            plain[k] = getattr(Case, k) + 1
        if plain:
            await session.execute(update(Case).where(Case.case_id == case_id).values(**plain))
        session.add(CaseEvent(case_id=case_id, at=to_datetime(at), event=event, actor=actor, detail=detail))
        return True

    async def write_batch(self, ops: list[RecordOp], position: tuple[str, str | None, str] | None = None) -> bool:
        """Write many record changes in one transaction (the recorder's group commit).

        With ``position`` ``(name, expected, new)`` the consumer's position moves from
        ``expected`` to ``new`` in the same transaction, or nothing is written and False is
        returned (another recorder wrote these already): each change is made once. A batch that
        fails on a constraint or on a value the database refuses is written again one change per
        transaction, so one bad change (a case number seen before, a character PostgreSQL does not
        store) is set aside with an error in the log and does not hold up every later record.
        """
        try:
            async with self._writing(), self.sessions() as session, session.begin():
                if position is not None and not await self._move(session, *position):
                    return False
                i = 0
                while i < len(ops):
                    if ops[i].kind == "create":
                        # New cases come in runs (a burst of requests): two multi-row inserts for the
                        # run instead of two ORM round trips per case.
                        j = i
                        while j < len(ops) and ops[j].kind == "create":
                            j += 1
                        await self._create_many(session, [op.fields for op in ops[i:j]])
                        i = j
                    else:
                        await self._apply_op(session, ops[i])
                        i += 1
                return True
        except DBAPIError as exc:
            if not refused_value(exc):
                raise  # the database is away: the recorder tries the batch again
            log.warning(
                "a batch of %s record changes failed (%s); writing them one by one", len(ops), type(exc).__name__
            )
        async with self._writing(), self.sessions() as session, session.begin():
            if position is not None and not await self._move(session, *position):
                return False
        for op in ops:
            try:
                async with self._writing(), self.sessions() as session, session.begin():
                    await self._apply_op(session, op)
            except IntegrityError:
                log.error("could not write %s of case %s: it exists already", op.kind, op.case_id)
            except DBAPIError as exc:
                if not refused_value(exc):
                    raise
                log.error(
                    "could not write %s of case %s, set aside: the database refused a value (%s)",
                    op.kind,
                    op.case_id,
                    str(exc.orig)[:200],
                )
        return True

    @staticmethod
    async def _move(session: AsyncSession, name: str, expected: str | None, new: str) -> bool:
        if expected is None:
            if await session.get(QueuePosition, name, with_for_update=True) is not None:
                return False
            session.add(QueuePosition(name=name, position=new))
            await session.flush()
            return True
        moved = await session.execute(
            update(QueuePosition)
            .where(QueuePosition.name == name, QueuePosition.position == expected)
            .values(position=new)
        )
        return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

    async def _apply_op(self, session: AsyncSession, op: RecordOp) -> None:
        try:
            if op.kind == "create":
                await self._create_in(session, **op.fields)
            elif op.kind == "status":
                f = op.fields
                session.add(
                    ClerkStatus(
                        clerk_id=f["clerk_id"], region=f["region"], status=f["status"], started_at=to_datetime(f["at"])
                    )
                )
            else:
                await self._record_in(session, op.case_id, **op.fields)
        except CaseStoreError:
            # Checked before anything of this change is written: the others go on.
            log.warning("no case %s for %s; line skipped", op.case_id, op.fields.get("event"))

    async def position(self, name: str) -> str | None:
        async with self.sessions() as session:
            row = await session.get(QueuePosition, name)
            return row.position if row is not None else None

    async def open_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What was open when the process stopped: requests still waiting (no answer, no end)
        and calls in progress (answered, not ended), as the routing core restores them."""
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(Case).where(Case.ended_at.is_(None), Case.outcome.is_(None)).order_by(Case.requested_at)
                    )
                )
                .scalars()
                .all()
            )
        tickets, cases = [], []
        for c in rows:
            ticket = {
                "ticket_id": c.ticket_id,
                "case_id": c.case_id,
                "citizen_id": c.citizen_id,
                "region": c.target_region,
                "skill": c.skill,
                "matter_code": c.matter_code,
                "origin_region": c.origin_region,
                "channel": c.channel,
                "priority": c.priority,
                "requested_at": c.requested_at.timestamp(),
                "kiosk_id": c.kiosk_id,
                "language": c.language,
            }
            if c.answered_at is None or c.clerk_id is None:
                tickets.append(ticket)
            else:
                ticket["region"] = str(c.target_region)[:2] + "0000"
                cases.append(
                    {
                        "case_id": c.case_id,
                        "ticket_id": c.ticket_id,
                        "citizen_id": c.citizen_id,
                        "clerk_id": c.clerk_id,
                        "answered_at": c.answered_at.timestamp(),
                        "ticket": {**ticket, "queued_at": c.requested_at.timestamp()},
                    }
                )
        return tickets, cases

    async def rate(self, case_id: str, citizen_id: str, *, at: float, level: int, comment: str) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None or case.citizen_id != citizen_id:
                raise CaseStoreError("not_found", "no such case for this citizen")
            if case.answered_at is None:
                # 好差评 rates the service a clerk gave: a request cancelled, abandoned or expired
                # before anyone answered has nothing to rate (and would skew the positive rate).
                raise CaseStoreError("conflict", "only a case a clerk answered can be rated")
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
            if level <= 2:  # 差评: a follow-up opens with it (contact within 1 working day, fix within 5 or 15)
                session.add(Followup(case_id=case_id, opened_at=to_datetime(at), complexity="simple", history=[]))

    async def followups(self, *, regions: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """Every follow-up (of ``regions``' cases), newest first, with its case's rating and queue."""
        stmt = select(Followup, Case).join(Case, Case.case_id == Followup.case_id)
        if regions is not None:
            stmt = stmt.where(Case.target_region.in_(regions))
        async with self.sessions() as session:
            rows = (await session.execute(stmt.order_by(Followup.opened_at.desc()).limit(5000))).all()
        return [
            {
                "case_id": f.case_id,
                "rating": c.rating_level,
                "comment": c.rating_comment,
                "target_region": c.target_region,
                "matter_code": c.matter_code,
                "opened_at": f.opened_at.timestamp(),
                "complexity": f.complexity,
                "contacted_at": f.contacted_at.timestamp() if f.contacted_at else None,
                "resolved_at": f.resolved_at.timestamp() if f.resolved_at else None,
                "appealed_at": f.appealed_at.timestamp() if f.appealed_at else None,
                "history": list(f.history or []),
            }
            for f, c in rows
        ]

    async def close_followup(
        self, case_id: str, *, by: str, at: float, note: str, provinces: frozenset[str] | None
    ) -> None:
        """Close the 差评 follow-up of a case (rated 1 or 2) with a note: the follow-up's ``resolved``."""
        await self.followup_action(
            case_id, action="resolved", by=by, at=at, note=note, complexity=None, provinces=provinces
        )

    async def followup_action(
        self,
        case_id: str,
        *,
        action: str,
        by: str,
        at: float,
        note: str,
        complexity: str | None,
        provinces: frozenset[str] | None,
    ) -> dict[str, Any]:
        """Record a step of a 差评 follow-up: ``contacted`` (the citizen was reached), ``resolved`` (closed:
        also `followup_closed_at` on the case), ``appealed`` (the rating is contested). Each step once, none
        after the close; on the follow-up's history and the case's timeline (`followup_contacted`,
        `followup_appealed`, `followup_closed`). A case
        outside ``provinces`` (None: all) is answered like an unknown one."""
        async with self._writing(), self.sessions() as session, session.begin():
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None or (provinces is not None and case.target_region not in provinces):
                raise CaseStoreError("not_found", "no such case in your provinces")
            followup = await session.get(Followup, case_id, with_for_update=True)
            if followup is None:
                raise CaseStoreError("conflict", "only a case rated 1 or 2 (差评) has a follow-up")
            if followup.resolved_at is not None:
                raise CaseStoreError("conflict", "this follow-up is already closed")
            column = {"contacted": "contacted_at", "resolved": "resolved_at", "appealed": "appealed_at"}[action]
            if getattr(followup, column) is not None:
                raise CaseStoreError("conflict", f"this follow-up is already {action}")
            setattr(followup, column, to_datetime(at))
            if complexity is not None:
                followup.complexity = complexity
            step: dict[str, object] = {"at": iso(at), "action": action, "by": by, "note": note}
            if complexity is not None:
                step["complexity"] = complexity
            followup.history = [*(followup.history or []), step]
            if action == "resolved":
                case.followup_closed_at = to_datetime(at)
            detail = {"note": note, **({"complexity": complexity} if complexity else {})}
            # The close keeps the line name it had before follow-ups had steps (`followup_closed`).
            event = FOLLOWUP_CLOSED if action == "resolved" else f"followup_{action}"
            session.add(CaseEvent(case_id=case_id, at=to_datetime(at), event=event, actor=by, detail=detail))
            return {"case_id": case_id, "action": action}

    async def get(self, case_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            case = await session.get(Case, case_id)
            if case is None:
                return None
            events = (
                await session.execute(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
            ).scalars()
            return {
                **case_json(case),
                "timeline": [
                    {"at": _iso(e.at), "event": e.event, "actor": e.actor, "detail": e.detail} for e in events
                ],
            }

    async def clerk_statuses(
        self,
        start: datetime,
        end: datetime,
        *,
        regions: tuple[str, ...] | None,
        clerk_id: str | None,
        after_id: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The clerks' status history rows begun in ``[start, end)`` (of ``regions``, of one clerk), in
        the order written, after row ``after_id``: what occupancy is computed from."""
        stmt = select(ClerkStatus).where(
            ClerkStatus.started_at >= start, ClerkStatus.started_at < end, ClerkStatus.id > after_id
        )
        if regions is not None:
            stmt = stmt.where(ClerkStatus.region.in_(regions))
        if clerk_id is not None:
            stmt = stmt.where(ClerkStatus.clerk_id == clerk_id)
        async with self.sessions() as session:
            rows = (await session.execute(stmt.order_by(ClerkStatus.id).limit(limit))).scalars().all()
        return [
            {
                "id": r.id,
                "clerk_id": r.clerk_id,
                "region": r.region,
                "status": r.status,
                "started_at": _iso(r.started_at),
            }
            for r in rows
        ]

    async def list_page(self, query: CaseQuery, after: tuple[datetime, str] | None, limit: int) -> list[Case]:
        """Up to ``limit`` cases matching ``query``, in (requested_at, case_id) order, after the key
        ``after`` (keyset paging: a page starts where the last one ended on the requested_at index,
        however deep it is; no OFFSET)."""
        conditions: list[Any] = []
        if query.requested_from is not None:
            conditions.append(Case.requested_at >= query.requested_from)
        if query.requested_to is not None:
            conditions.append(Case.requested_at < query.requested_to)
        for column, value in (
            (Case.target_region, query.target_region),
            (Case.matter_code, query.matter_code),
            (Case.clerk_id, query.clerk_id),
            (Case.outcome, query.outcome),
        ):
            if value is not None:
                conditions.append(column == value)
        if query.regions is not None:
            conditions.append(Case.target_region.in_(query.regions))
        if query.followup is not None:
            conditions.append(Case.rating_level <= 2)
            closed = Case.followup_closed_at.is_not(None)
            conditions.append(closed if query.followup == "closed" else Case.followup_closed_at.is_(None))
        if query.unrated:
            conditions.append(Case.rating_level.is_(None))
        elif query.rating is not None:
            conditions.append(Case.rating_level == query.rating)
        if after is not None:
            at, case_id = after
            conditions.append(or_(Case.requested_at > at, and_(Case.requested_at == at, Case.case_id > case_id)))
        async with self.sessions() as session:
            rows = await session.execute(
                select(Case).where(*conditions).order_by(Case.requested_at, Case.case_id).limit(limit)
            )
            return list(rows.scalars().all())

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


class Directory(_Writes):
    """People and kiosks, looked up when they connect or log in."""

    async def user_by_name(self, username: str) -> User | None:
        async with self.sessions() as session:
            return (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()

    async def user(self, user_id: str) -> User | None:
        async with self.sessions() as session:
            user = await session.get(User, user_id)
            return user if user is not None and user.active else None

    async def open_session(self, *, session_id: str, user_id: str, at: float, ttl_s: float) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            session.add(
                LoginSession(
                    id=session_id,
                    user_id=user_id,
                    created_at=to_datetime(at),
                    expires_at=to_datetime(at + ttl_s),
                )
            )

    async def session_user(self, session_id: str, now: float) -> User | None:
        """The user of a live log-in session: not revoked, not expired, the user still active."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(User)
                    .join(LoginSession, LoginSession.user_id == User.id)
                    .where(
                        LoginSession.id == session_id,
                        LoginSession.revoked_at.is_(None),
                        LoginSession.expires_at > to_datetime(now),
                        User.active.is_(True),
                    )
                )
            ).scalar_one_or_none()
            return row

    async def revoke_session(self, session_id: str, at: float) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            await session.execute(
                update(LoginSession)
                .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=to_datetime(at))
            )

    async def ended_sessions(self, session_ids: list[str], now: float) -> set[str]:
        """Which of these sessions no longer stand (revoked, expired, or their user disabled)."""
        if not session_ids:
            return set()
        async with self.sessions() as session:
            live = await session.execute(
                select(LoginSession.id)
                .join(User, LoginSession.user_id == User.id)
                .where(
                    LoginSession.id.in_(session_ids),
                    LoginSession.revoked_at.is_(None),
                    LoginSession.expires_at > to_datetime(now),
                    User.active.is_(True),
                )
            )
            return set(session_ids) - {r[0] for r in live}

    async def disable_user(self, username: str, at: float) -> bool:
        """Disable a log-in and end its sessions; False if there is no such user."""
        async with self._writing(), self.sessions() as session, session.begin():
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is None:
                return False
            user.active = False
            await session.execute(
                update(LoginSession)
                .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=to_datetime(at))
            )
            return True

    async def kiosk_by_token_hash(self, token_hash: str) -> Kiosk | None:
        async with self.sessions() as session:
            kiosk = (await session.execute(select(Kiosk).where(Kiosk.token_hash == token_hash))).scalar_one_or_none()
            return kiosk if kiosk is not None and kiosk.active else None

    async def clerks(self) -> list[tuple[str, str, str]]:
        """Every active clerk account as (id, display name, region): the wall lists those offline too."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(User.id, User.display_name, User.region)
                .where(User.role == "clerk", User.active.is_(True))
                .order_by(User.id)
            )
            return [(r[0], r[1], r[2]) for r in rows]

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
        async with self._writing(), self.sessions() as session, session.begin():
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is not None and not replace:
                raise CaseStoreError("conflict", f"user {username!r} exists")
            if user is None:
                user = User(id=user_id, username=username, created_at=to_datetime(at))
                session.add(user)
            else:
                # A new password (or role) ends the sessions opened with the old one.
                await session.execute(
                    update(LoginSession)
                    .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
                    .values(revoked_at=to_datetime(at))
                )
            user.password_hash, user.role, user.display_name = password_hash, role, display_name
            user.region, user.skills, user.active = region, skills, True

    async def add_kiosk(self, *, kiosk_id: str, name: str, region: str, token_hash: str, at: float) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
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
