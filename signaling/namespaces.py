"""The three namespaces: /citizen (kiosks and browsers), /clerk (the console), /supervisor (the wall)."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError

from queueing.clock import to_datetime
from queueing.routing import CaseClosed, PositionChanged, RoutingError, province_of
from recordings.store import CaseStoreError
from server.auth import kiosk_token_hash, make_token, read_token
from server.catalog import PROVINCES

from .connection import (
    CITIZEN_EVENTS,
    CLERK_EVENTS,
    BaseNamespace,
    Conn,
    Refused,
    cookie_token,
)
from .const import (
    BAD_REQUEST,
    CITIZEN_NS,
    CLERK_NS,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    SUPERVISOR_NS,
    UNAUTHORIZED,
    ProtocolError,
)
from .hub import CHINA_UTC_OFFSET_S, Hub, citizen_room, clerk_room
from .schemas import CaseRef, EndCase, MediaState, Rate, RequestHelp, SetStatus, Signal, TicketRef

log = logging.getLogger(__name__)

REGION_RE = re.compile(r"^[1-9][0-9]{5}$")
RESUME_TTL_S = 2 * 3600.0
CITIZEN_ENDED = "citizen_ended"
RECORDED_MEDIA_STATES = {"failed": "media_failed", "disconnected": "media_disconnected", "closed": "media_closed"}


def new_ticket_id() -> str:
    return "T" + secrets.token_hex(4).upper()


def new_case_id(now: float) -> str:
    """The case number on the citizen's receipt (办件编号): RVW, the China date, 8 random hex digits."""
    return "RVW" + to_datetime(now + CHINA_UTC_OFFSET_S).strftime("%Y%m%d") + secrets.token_hex(4).upper()


def new_citizen_id() -> str:
    return "c" + secrets.token_hex(8)


class CallSide(BaseNamespace):
    """What both sides of a case do in it: signal to the other side and report the media state."""

    async def _peer(self, conn: Conn, case_id: str) -> tuple[str, str]:
        """The other side's room and namespace, once ``conn`` is known to be a side of the open case."""
        case = await self.hub.backend.get_case(case_id)
        if case is None:
            raise ProtocolError(NOT_FOUND, "no open case with that id")
        if self.role == "citizen":
            mine, room, namespace = case.citizen_id, clerk_room(case.clerk_id), CLERK_NS
        else:
            mine, room, namespace = case.clerk_id, citizen_room(case.citizen_id), CITIZEN_NS
        if mine != conn.subject:
            raise ProtocolError(FORBIDDEN, "this case is not yours")
        return room, namespace

    async def signal(self, conn: Conn, msg: Signal) -> dict[str, Any]:
        room, namespace = await self._peer(conn, msg.case_id)
        await self.hub.sio.emit("signal", {**msg.relay(), "from": self.role}, room=room, namespace=namespace)
        return {}

    async def media_state(self, conn: Conn, msg: MediaState) -> dict[str, Any]:
        await self._peer(conn, msg.case_id)
        await record_media_state(self.hub, msg, f"{self.role}:{conn.subject}")
        return {}


class CitizenNamespace(CallSide):
    role = "citizen"
    other_roles_events = CLERK_EVENTS - CITIZEN_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(CITIZEN_NS, hub)
        self.handlers = {
            "request_help": (RequestHelp, self.request_help),
            "cancel": (TicketRef, self.cancel),
            "signal": (Signal, self.signal),
            "media_state": (MediaState, self.media_state),
            "hang_up": (CaseRef, self.hang_up),
            "rate": (Rate, self.rate),
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        if not isinstance(auth, dict):
            raise Refused(
                UNAUTHORIZED, 'connect with auth {"kiosk_token"}, {"channel": "web", "region"} or {"resume_token"}'
            )
        hub = self.hub
        resumed = False
        kiosk_id: str | None = None
        if "resume_token" in auth:
            claims = read_token(hub.settings.secret_key, auth["resume_token"], "citizen", hub.clock.now())
            if claims is None:
                raise Refused(UNAUTHORIZED, "the resume token is invalid or has expired")
            citizen_id, region, channel, kiosk_id = claims["c"], claims["r"], claims["ch"], claims.get("ki")
            resumed = True
        elif "kiosk_token" in auth:
            token = auth["kiosk_token"]
            kiosk = None
            if isinstance(token, str) and 0 < len(token) <= 200:
                kiosk = await hub.directory.kiosk_by_token_hash(kiosk_token_hash(token))
            if kiosk is None:
                raise Refused(UNAUTHORIZED, "unknown or disabled kiosk token")
            citizen_id, region, channel, kiosk_id = new_citizen_id(), kiosk.region, "kiosk", kiosk.id
        elif auth.get("channel") == "web":
            region = auth.get("region")
            if not isinstance(region, str) or not REGION_RE.match(region) or province_of(region) not in PROVINCES:
                raise Refused(
                    BAD_REQUEST, "region must be a six-digit region code in Shanghai, Jiangsu, Zhejiang or Anhui"
                )
            citizen_id, channel = new_citizen_id(), "web"
        else:
            raise Refused(
                UNAUTHORIZED, 'connect with auth {"kiosk_token"}, {"channel": "web", "region"} or {"resume_token"}'
            )
        conn = Conn(sid=sid, role="citizen", subject=citizen_id, bucket=self.bucket(), region=region, channel=channel)
        conn.kiosk_id = kiosk_id
        await self.enter_room(sid, citizen_room(citizen_id))
        if not await self.admit(conn, lambda r, now: r.citizen_connected(now, citizen_id)):
            return False
        hub.defer(self._welcome(conn, resumed))
        return True

    async def _welcome(self, conn: Conn, resumed: bool) -> None:
        hub = self.hub
        claims = {"c": conn.subject, "r": conn.region, "ch": conn.channel, "ki": conn.kiosk_id}
        resume_token = make_token(hub.settings.secret_key, "citizen", claims, hub.clock.now(), RESUME_TTL_S)
        await self.emit(
            "session",
            {
                "citizen_id": conn.subject,
                "resume_token": resume_token,
                "origin_region": conn.region,
                "channel": conn.channel,
                "ice_servers": hub.ice(f"citizen-{conn.subject}"),
            },
            to=conn.sid,
        )
        if not resumed:
            return
        ticket, case = await hub.backend.read(lambda r: (r.ticket_of(conn.subject), r.case_of_citizen(conn.subject)))
        if ticket is not None:
            staffed = await hub.backend.read(lambda r: r.staffed(ticket.key))
            from queueing.routing import estimate_wait

            await self.emit(
                "queue_update",
                {
                    "ticket_id": ticket.ticket_id,
                    "position": ticket.position,
                    "estimated_wait_s": estimate_wait(ticket.position, staffed, hub.settings.aht_s),
                },
                to=conn.sid,
            )
        if ticket is None and case is None:
            last = await hub.store.latest_of_citizen(conn.subject)
            if last is not None and last["outcome"] not in (None, "cancelled", "rejected") and last["rating"] is None:
                # Closed while the citizen was away (abandoned, or the clerk ended it).
                await self.emit(
                    "case_ended",
                    {
                        "case_id": last["case_id"],
                        "ticket_id": last["ticket_id"],
                        "outcome": last["outcome"],
                        "resumed": True,
                    },
                    to=conn.sid,
                )
        if case is not None:
            # The clerk's side of the call is stale: let the console offer again at once.
            await hub.sio.emit(
                "citizen_resumed", {"case_id": case.case_id}, room=clerk_room(case.clerk_id), namespace=CLERK_NS
            )
            clerk = await hub.directory.user(case.clerk_id)
            await self.emit(
                "matched",
                {
                    "ticket_id": case.ticket_id,
                    "case_id": case.case_id,
                    "clerk": {
                        "display_name": clerk.display_name if clerk else "",
                        "region": clerk.region if clerk else "",
                    },
                    "ice_servers": hub.ice(f"citizen-{conn.subject}"),
                    "resumed": True,
                },
                to=conn.sid,
            )

    async def on_disconnect(self, conn: Conn) -> None:
        await self.hub.apply(lambda r, now: r.citizen_disconnected(now, conn.subject))

    async def request_help(self, conn: Conn, msg: RequestHelp) -> dict[str, Any]:
        hub = self.hub
        matter = hub.catalog.get(msg.matter_code)
        if matter is None:
            raise ProtocolError(NOT_FOUND, f"unknown matter {msg.matter_code!r}")
        province = province_of(msg.target_region)
        if province not in matter.provinces:
            raise ProtocolError(
                BAD_REQUEST, f"matter {matter.code} is served by {', '.join(matter.provinces)}, not {msg.target_region}"
            )
        busy = await hub.backend.read(
            lambda r: r.ticket_of(conn.subject) is not None or r.case_of_citizen(conn.subject) is not None
        )
        if busy:
            raise ProtocolError(CONFLICT, "you already have an open request")
        now = hub.clock.now()
        for attempt in range(3):
            # Ticket numbers are short for reading aloud, so one may come round again: draw anew.
            ticket_id, case_id = new_ticket_id(), new_case_id(now)
            try:
                await hub.store.create(
                    at=now,
                    case_id=case_id,
                    ticket_id=ticket_id,
                    matter_code=matter.code,
                    skill=matter.skill,
                    origin_region=conn.region,
                    target_region=msg.target_region,
                    channel=conn.channel,
                    kiosk_id=conn.kiosk_id,
                    citizen_id=conn.subject,
                    priority=msg.priority,
                    language=msg.language,
                    actor=f"citizen:{conn.subject}",
                )
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        try:
            events = await hub.apply(
                lambda r, t: r.request(
                    t,
                    ticket_id=ticket_id,
                    case_id=case_id,
                    citizen_id=conn.subject,
                    target_region=province,
                    skill=matter.skill,
                    matter_code=matter.code,
                    origin_region=conn.region,
                    channel=conn.channel,
                    priority=msg.priority,
                )
            )
        except Exception as exc:
            # The record says why the request went no further, whatever stopped it.
            reason = exc.message if isinstance(exc, RoutingError) else "the queue was unavailable"
            try:
                await hub.store.record(
                    case_id,
                    at=hub.clock.now(),
                    event="rejected",
                    actor="system",
                    detail={"reason": reason},
                    ended_at=hub.clock.now(),
                    outcome="rejected",
                )
            except Exception:
                log.exception("could not close the record of rejected case %s", case_id)
            raise
        mine = [e for e in events if isinstance(e, PositionChanged) and e.ticket_id == ticket_id]
        position, wait = (mine[-1].position, mine[-1].estimated_wait_s) if mine else (1, 0)
        return {"ticket_id": ticket_id, "case_id": case_id, "position": position, "estimated_wait_s": wait}

    async def cancel(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        await self.hub.apply(lambda r, now: r.cancel(now, conn.subject, msg.ticket_id))
        return {"ticket_id": msg.ticket_id}

    async def hang_up(self, conn: Conn, msg: CaseRef) -> dict[str, Any]:
        hub = self.hub
        events = await hub.apply(lambda r, now: r.hang_up(now, conn.subject, msg.case_id))
        closed = next(e for e in events if isinstance(e, CaseClosed))
        now = hub.clock.now()
        await hub.store.record(
            msg.case_id,
            at=now,
            event="citizen_hung_up",
            actor=f"citizen:{conn.subject}",
            keep_existing=True,  # the clerk's wrap-up may have been written first
            ended_at=now,
            outcome=CITIZEN_ENDED,
        )
        await hub.sio.emit(
            "case_ended",
            {"case_id": msg.case_id, "outcome": CITIZEN_ENDED},
            room=clerk_room(closed.case.clerk_id),
            namespace=CLERK_NS,
        )
        return {"case_id": msg.case_id, "outcome": CITIZEN_ENDED}

    async def rate(self, conn: Conn, msg: Rate) -> dict[str, Any]:
        await self.hub.store.rate(
            msg.case_id, conn.subject, at=self.hub.clock.now(), level=msg.level, comment=msg.comment
        )
        return {"case_id": msg.case_id}


async def record_media_state(hub: Hub, msg: MediaState, actor: str) -> None:
    now = hub.clock.now()
    if msg.state == "connected":
        await hub.store.record(msg.case_id, at=now, event="connected", actor=actor, connected_at=now, only_first=True)
    elif msg.state in RECORDED_MEDIA_STATES:
        await hub.store.record(msg.case_id, at=now, event=RECORDED_MEDIA_STATES[msg.state], actor=actor)


class ClerkNamespace(CallSide):
    role = "clerk"
    other_roles_events = CITIZEN_EVENTS - CLERK_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(CLERK_NS, hub)
        self.handlers = {
            "set_status": (SetStatus, self.set_status),
            "accept": (TicketRef, self.accept),
            "decline": (TicketRef, self.decline),
            "signal": (Signal, self.signal),
            "media_state": (MediaState, self.media_state),
            "end_case": (EndCase, self.end_case),
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        user = await authenticate(self.hub, environ, auth)
        if user is None:
            raise Refused(
                UNAUTHORIZED, "log in first (POST /api/auth/login), then connect with the cookie or auth {token}"
            )
        if user.role != "clerk":
            raise Refused(FORBIDDEN, "only clerks may connect to /clerk")
        conn = Conn(
            sid=sid,
            role="clerk",
            subject=user.id,
            bucket=self.bucket(),
            region=user.region,
            display_name=user.display_name,
            skills=list(user.skills or []),
        )
        await self.enter_room(sid, clerk_room(user.id))
        if not await self.admit(conn, lambda r, now: r.clerk_connected(now, user.id)):
            return False
        self.hub.defer(self._welcome(conn))
        return True

    async def _welcome(self, conn: Conn) -> None:
        hub = self.hub
        await self.emit(
            "session",
            {
                "clerk": {
                    "id": conn.subject,
                    "display_name": conn.display_name,
                    "region": conn.region,
                    "skills": conn.skills,
                },
                "ice_servers": hub.ice(f"clerk-{conn.subject}"),
            },
            to=conn.sid,
        )
        # After a reload mid-case the console gets its case back.
        state = await hub.backend.read(lambda r: _clerk_state(r, conn.subject))
        if state is not None:
            await self.emit("status", {"status": state["status"], "reason": "reconnected"}, to=conn.sid)
            if state["case"] is not None:
                case = state["case"]
                record = await hub.store.get(case.case_id) or {}
                await self.emit(
                    "matched",
                    {
                        "ticket_id": case.ticket_id,
                        "case_id": case.case_id,
                        "citizen": {"origin_region": record.get("origin_region"), "channel": record.get("channel")},
                        "matter_code": record.get("matter_code"),
                        "ice_servers": hub.ice(f"clerk-{conn.subject}"),
                        "resumed": True,
                    },
                    to=conn.sid,
                )
            if state["wrap_up_case"] is not None:
                await self.emit(
                    "case_ended",
                    {"case_id": state["wrap_up_case"], "outcome": CITIZEN_ENDED, "resumed": True},
                    to=conn.sid,
                )

    async def on_disconnect(self, conn: Conn) -> None:
        # A clerk with no console left must not be offered citizens.
        await self.hub.apply(lambda r, now: r.clerk_disconnected(now, conn.subject, conn.region, conn.skills))

    async def set_status(self, conn: Conn, msg: SetStatus) -> dict[str, Any]:
        await self.hub.apply(lambda r, now: r.set_clerk(now, conn.subject, conn.region, conn.skills, msg.status))
        status = await self.hub.backend.read(
            lambda r: r.clerks[conn.subject].status if conn.subject in r.clerks else "offline"
        )
        return {"status": status}

    async def accept(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        events = await self.hub.apply(lambda r, now: r.accept(now, conn.subject, msg.ticket_id))
        case_id = next(e.ticket.case_id for e in events if hasattr(e, "ticket") and e.ticket.ticket_id == msg.ticket_id)
        return {"ticket_id": msg.ticket_id, "case_id": case_id}

    async def decline(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        await self.hub.apply(lambda r, now: r.decline(now, conn.subject, msg.ticket_id))
        return {"ticket_id": msg.ticket_id}

    async def end_case(self, conn: Conn, msg: EndCase) -> dict[str, Any]:
        hub = self.hub
        try:
            events = await hub.apply(lambda r, now: r.end_case(now, conn.subject, msg.case_id))
        except RoutingError as exc:
            if exc.code != NOT_FOUND:
                raise
            return await self._wrap_up(conn, msg)
        closed = next(e for e in events if isinstance(e, CaseClosed))
        now = hub.clock.now()
        try:
            await hub.store.record(
                msg.case_id,
                at=now,
                event="ended",
                actor=f"clerk:{conn.subject}",
                detail={"outcome": msg.outcome},
                ended_at=now,
                outcome=msg.outcome,
                notes=msg.notes,
            )
        except CaseStoreError:
            log.exception("case %s ended but could not be recorded", msg.case_id)
        await hub.sio.emit(
            "case_ended",
            {"case_id": msg.case_id, "outcome": msg.outcome},
            room=citizen_room(closed.case.citizen_id),
            namespace=CITIZEN_NS,
        )
        return {"case_id": msg.case_id}

    async def _wrap_up(self, conn: Conn, msg: EndCase) -> dict[str, Any]:
        """The citizen hung up first: the clerk records the outcome and notes, once, and is then free."""
        hub = self.hub
        await hub.apply(lambda r, now: r.finish_wrap_up(now, conn.subject, msg.case_id))
        await hub.store.record(
            msg.case_id,
            at=hub.clock.now(),
            event="wrapped_up",
            actor=f"clerk:{conn.subject}",
            detail={"outcome": msg.outcome},
            outcome=msg.outcome,
            notes=msg.notes,
        )
        return {"case_id": msg.case_id}


def _clerk_state(router: Any, clerk_id: str) -> dict[str, Any] | None:
    clerk = router.clerks.get(clerk_id)
    if clerk is None:
        return None
    return {
        "status": clerk.status,
        "case": router.cases.get(clerk.case_id) if clerk.case_id else None,
        "wrap_up_case": clerk.wrap_up_case,
    }


async def authenticate(hub: Hub, environ: dict[str, Any], auth: Any) -> Any:
    token = auth.get("token") if isinstance(auth, dict) else None
    token = token or cookie_token(environ)
    claims = read_token(hub.settings.secret_key, token, "user", hub.clock.now())
    if claims is None:
        return None
    return await hub.directory.user(str(claims.get("u")))


class SupervisorNamespace(BaseNamespace):
    role = "supervisor"
    other_roles_events = CITIZEN_EVENTS | CLERK_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(SUPERVISOR_NS, hub)
        hub.supervisors = self.conns  # the dashboard loop runs only while someone watches

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        user = await authenticate(self.hub, environ, auth)
        if user is None:
            raise Refused(UNAUTHORIZED, "log in first (POST /api/auth/login)")
        if user.role != "supervisor":
            raise Refused(FORBIDDEN, "only supervisors may watch the queues")
        await self.enter_room(sid, "supervisors")
        if not await self.admit(Conn(sid=sid, role="supervisor", subject=user.id, bucket=self.bucket())):
            return False
        self.hub.defer(self._first(sid))
        return True

    async def _first(self, sid: str) -> None:
        await self.emit("dashboard", await self.hub.dashboard(), to=sid)

    async def on_disconnect(self, conn: Conn) -> None:
        return None  # the wall's loop reads self.conns (hub.supervisors): nothing else to undo
