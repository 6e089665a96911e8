"""Tables: people who log in, registered kiosks, cases and their append-only timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, UTCDateTime


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # clerk | supervisor | auditor
    display_name: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(6))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Kiosk(Base):
    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(6))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_requested_at", "requested_at"),
        Index("ix_cases_clerk_id", "clerk_id"),
        Index("ix_cases_citizen_id", "citizen_id"),
        Index("ix_cases_ticket_id", "ticket_id"),
    )

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(16))  # unique among open requests (the queue checks)
    matter_code: Mapped[str] = mapped_column(String(64))
    skill: Mapped[str] = mapped_column(String(64))
    origin_region: Mapped[str] = mapped_column(String(6))
    target_region: Mapped[str] = mapped_column(String(6))
    channel: Mapped[str] = mapped_column(String(8))  # kiosk | web
    kiosk_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    citizen_id: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    clerk_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    rating_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Counted by the recorder as the timeline grows (the figures read them without scanning the timeline).
    offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    followup_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recording_consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # the citizen's answer
    wrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # the last `wrapped_up`


class CaseEvent(Base):
    """One line of a case's timeline. Rows are only ever inserted."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey("cases.case_id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)


class QueuePosition(Base):
    """How far a consumer of the queue's events stream has written (updated with its writes)."""

    __tablename__ = "queue_positions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[str] = mapped_column(String(64))


class LoginSession(Base):
    """One log-in: its token names it, and it ends at log-out, when the user is disabled, or at expiry."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClerkStatus(Base):
    """A clerk's status from ``started_at`` until their next row: what occupancy is measured from.
    Rows are only ever inserted (by the recorder, from the queue's ``ClerkStatusChanged`` events)."""

    __tablename__ = "clerk_status"
    __table_args__ = (
        Index("ix_clerk_status_clerk_started", "clerk_id", "started_at"),
        Index("ix_clerk_status_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clerk_id: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One person's action (等保 2.0 audit): who, in what role, did what to what, from where, and whether it
    was allowed. Rows are only ever inserted; no route edits or deletes them."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_id", "user_id"),
        Index("ix_audit_log_action", "action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[str] = mapped_column(String(64))  # a user id, or "name:<username>" of a failed log-in
    role: Mapped[str] = mapped_column(String(16))  # "" when nobody was logged in
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)


class Attachment(Base):
    """A document shown in a case: a photo from the kiosk's camera or a file a side uploaded. The bytes
    live under RVW_RECORDINGS_DIR, named by their SHA-256 (the same file twice is stored once)."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey("cases.case_id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(48))  # "citizen:<id>" | "clerk:<id>"
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Followup(Base):
    """The follow-up a 差评 (a rating of 1 or 2) opens: contact the citizen, then fix the matter. Its due
    dates are worked out when read, from ``opened_at``, the complexity and the working-day calendar."""

    __tablename__ = "followups"

    case_id: Mapped[str] = mapped_column(String(32), ForeignKey("cases.case_id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    complexity: Mapped[str] = mapped_column(String(8), default="simple")  # simple: 5 working days; complex: 15
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    history: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)


class Recording(Base):
    """One recorded file: one track (audio, camera or screen) of one side of a case, from one peer
    connection to the recorder. ``state`` is recording (being written), complete (closed cleanly)
    or interrupted (its recorder process died; the file holds what reached the disk)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey("cases.case_id"), index=True)
    side: Mapped[str] = mapped_column(String(8))  # citizen | clerk
    kind: Mapped[str] = mapped_column(String(8))  # audio | video | screen
    codec: Mapped[str] = mapped_column(String(16))  # vp8 | opus
    container: Mapped[str] = mapped_column(String(16))  # webm
    path: Mapped[str] = mapped_column(String(255))  # under RVW_RECORDINGS_DIR
    state: Mapped[str] = mapped_column(String(12))
    node: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
