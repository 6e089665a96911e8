"""The three namespaces: /citizen (kiosks and browsers), /clerk (the console), /supervisor (the wall).

Handlers parse, authorise and submit commands (:mod:`queueing.commands`); what
a command causes reaches clients through the gateway and the case records
through the recorder, never from here. What a handler sends itself is the ack,
and the welcome of a connection that has just come in.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from queueing.clock import iso, to_datetime
from queueing.commands import (
    Accept,
    Cancel,
    CitizenConnected,
    CitizenDisconnected,
    ClerkConnected,
    ClerkDisconnected,
    Decline,
    EndCase,
    EndResume,
    HangUp,
    MoveRequest,
    NoteCase,
    Request,
    SetClerk,
    SuperviseClerk,
    Transfer,
)
from queueing.routing import RoutingError, province_of
from recordings.media_pool import RecorderUnavailable
from recordings.store import CaseStoreError
from server.auth import kiosk_token_hash, make_token, read_token
from server.catalog import PROVINCES, scope_of

from . import messages
from .connection import (
    CITIZEN_EVENTS,
    CLERK_EVENTS,
    SUPERVISOR_EVENTS,
    BaseNamespace,
    Conn,
    Refused,
    client_address,
    cookie_token,
)
from .const import (
    BAD_REQUEST,
    CITIZEN_NS,
    CLERK_NS,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    SUPERVISOR_NS,
    UNAUTHORIZED,
    UNAVAILABLE,
    ProtocolError,
)
from .gateway import citizen_room, clerk_room
from .hub import CHINA_UTC_OFFSET_S, Hub
from .schemas import (
    CaseRef,
    CloseFollowup,
    Consent,
    MediaState,
    MoveRequestMsg,
    Rate,
    RecordOffer,
    RequestHelp,
    SetStatus,
    Signal,
    SuperviseClerkMsg,
    TicketRef,
    TransferCase,
)
from .schemas import (
    Chat as ChatMsg,
)
from .schemas import (
    EndCase as EndCaseMsg,
)
from .wall import scope_name, wall_room

log = logging.getLogger(__name__)

REGION_RE = re.compile(r"^[1-9][0-9]{5}$")
CITIZEN_ENDED = messages.CITIZEN_ENDED
PRIORITY_NOTE = (
    "优先服务由自助终端或工作人员安排，本次按正常顺序排队 / "
    "Priority is given at a kiosk or by staff; this request is served in normal order"
)
RECORDED_MEDIA_STATES = {"failed": "media_failed", "disconnected": "media_disconnected", "closed": "media_closed"}


def new_ticket_id() -> str:
    return "T" + secrets.token_hex(4).upper()


def new_case_id(now: float) -> str:
    """The case number on the citizen's receipt (办件编号): RVW, the China date, 12 random hex digits
    (a repeat within a day is about one in 10^14 at 100,000 cases a day)."""
    return "RVW" + to_datetime(now + CHINA_UTC_OFFSET_S).strftime("%Y%m%d") + secrets.token_hex(6).upper()


def new_citizen_id() -> str:
    return "c" + secrets.token_hex(8)


class CallSide(BaseNamespace):
    """What both sides of a case do in it: signal to the other side and report the media state."""

    def conn_key(self, sid: str) -> str:
        """A connection's name in the queue state: which node, which socket."""
        return f"{self.hub.queue.node}/{sid}"

    async def _peer(self, conn: Conn, case_id: str) -> tuple[str, str]:
        """The other side's room and namespace, once ``conn`` is known to be a side of the open case."""
        case = await self.hub.queue.get_case(case_id)
        if case is not None and self.role == "citizen":
            mine, room, namespace = case.citizen_id, clerk_room(case.clerk_id), CLERK_NS
        elif case is not None:
            mine, room, namespace = case.clerk_id, citizen_room(case.citizen_id), CITIZEN_NS
        if case is None or mine != conn.subject:
            # Someone else's case is answered like an unknown one: a guessed id tells nothing.
            raise ProtocolError(NOT_FOUND, "no open case of yours with that id")
        return room, namespace

    async def signal(self, conn: Conn, msg: Signal) -> dict[str, Any]:
        room, namespace = await self._peer(conn, msg.case_id)
        # Signals are relayed, not queued: through the Socket.IO message queue when the peer
        # is on another node (best effort; the call's own state machine recovers a lost one).
        await self.hub.sio.emit("signal", {**msg.relay(), "from": self.role}, room=room, namespace=namespace)
        return {}

    async def chat(self, conn: Conn, msg: ChatMsg) -> dict[str, Any]:
        """A line to the other side: on the case's timeline first, then relayed (like a signal)."""
        room, namespace = await self._peer(conn, msg.case_id)
        hub = self.hub
        actor = f"{self.role}:{conn.subject}"
        if not chat_line_allowed(hub, msg.case_id, actor):
            raise ProtocolError(RATE_LIMITED, f"at most {CHAT_LINES_PER_SIDE} chat lines per side in a case")
        at = hub.clock.now()
        await hub.records_settled()
        await hub.store.record(msg.case_id, at=at, event="chat", actor=actor, detail={"text": msg.text})
        await hub.sio.emit("chat", messages.chat(msg.case_id, msg.text, self.role, at), room=room, namespace=namespace)
        return {"case_id": msg.case_id, "at": iso(at)}

    async def media_state(self, conn: Conn, msg: MediaState) -> dict[str, Any]:
        await self._peer(conn, msg.case_id)
        await record_media_state(self.hub, msg, f"{self.role}:{conn.subject}")
        return {}

    async def record_offer(self, conn: Conn, msg: RecordOffer) -> dict[str, Any]:
        """This side's camera, microphone and screen to the recorder peer (after the citizen's consent)."""
        hub = self.hub
        await self._peer(conn, msg.case_id)  # someone else's case first: answered like an unknown one
        if hub.recorder_pool is None:
            raise ProtocolError(FORBIDDEN, "this server does not record sessions (RVW_RECORDING=off)")
        await hub.records_settled()
        consent = await hub.media.consent_of(msg.case_id)
        if consent is None:
            raise ProtocolError(CONFLICT, "the citizen has not answered whether the session may be recorded")
        if not consent:
            raise ProtocolError(FORBIDDEN, "the citizen did not agree to recording: nothing is recorded")
        description = {"type": msg.description.type, "sdp": msg.description.sdp}
        try:
            answer = await hub.recorder_pool.offer(msg.case_id, self.role, description, list(msg.screens))
        except ValueError as exc:
            raise ProtocolError(BAD_REQUEST, f"the recorder could not use this offer: {exc}"[:300]) from None
        except RecorderUnavailable as exc:
            raise ProtocolError(UNAVAILABLE, f"the recorder is not available: {exc}; offer again") from None
        return {"case_id": msg.case_id, "description": answer}


class CitizenNamespace(CallSide):
    role = "citizen"
    other_roles_events = (CLERK_EVENTS | SUPERVISOR_EVENTS) - CITIZEN_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(CITIZEN_NS, hub)
        self.handlers = {
            "request_help": (RequestHelp, self.request_help),
            "cancel": (TicketRef, self.cancel),
            "signal": (Signal, self.signal),
            "media_state": (MediaState, self.media_state),
            "chat": (ChatMsg, self.chat),
            "consent": (Consent, self.consent),
            "record_offer": (RecordOffer, self.record_offer),
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
        resume_id = ""
        if "resume_token" in auth:
            claims = read_token(hub.settings.secret_key, auth["resume_token"], "citizen", hub.clock.now())
            if claims is None or not isinstance(claims.get("j"), str):
                raise Refused(UNAUTHORIZED, "the resume token is invalid or has expired")
            citizen_id, region, channel, kiosk_id = claims["c"], claims["r"], claims["ch"], claims.get("ki")
            resume_id, resumed = claims["j"], True
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
        # Web citizens are anonymous: limited per network address. A kiosk is known by its token.
        conn.address = client_address(hub, environ) if channel == "web" else ""
        next_resume_id = secrets.token_urlsafe(12)
        await self.enter_room(sid, citizen_room(citizen_id))
        connected = CitizenConnected(
            citizen_id,
            self.conn_key(sid),
            resumed,
            address=conn.address,
            resume_id=resume_id,
            next_resume_id=next_resume_id,
        )
        result = await self.admit(conn, connected)
        if result is None:
            return False
        hub.defer(self._welcome(conn, resumed, result.reply, next_resume_id))
        return True

    async def _welcome(self, conn: Conn, resumed: bool, view: dict[str, Any], resume_id: str) -> None:
        hub = self.hub
        # The token works once: the next connection presents it and gets a new one.
        claims = {"c": conn.subject, "r": conn.region, "ch": conn.channel, "ki": conn.kiosk_id, "j": resume_id}
        resume_token = make_token(
            hub.settings.secret_key, "citizen", claims, hub.clock.now(), hub.settings.resume_ttl_s
        )
        # For the REST calls of a case (documents): names the citizen only, as long as the resume token lasts.
        api_token = make_token(
            hub.settings.secret_key, "citizen-api", {"c": conn.subject}, hub.clock.now(), hub.settings.resume_ttl_s
        )
        ticket, case = view.get("ticket"), view.get("case")
        back_to = ("case" if case is not None else "waiting" if ticket is not None else "none") if resumed else None
        await self.emit(
            "session",
            messages.session_citizen(
                citizen_id=conn.subject,
                resume_token=resume_token,
                api_token=api_token,
                origin_region=conn.region,
                channel=conn.channel,
                ice_servers=hub.ice(f"citizen-{conn.subject}"),
                recording=messages.recording_terms(hub.settings.recording, hub.settings.retention_media_days),
                resumed_to=back_to,
            ),
            to=conn.sid,
            ignore_queue=True,
        )
        if not resumed:
            return
        if ticket is not None:
            await self.emit(
                "queue_update",
                messages.queue_update(ticket["ticket_id"], ticket["position"], ticket["estimated_wait_s"]),
                to=conn.sid,
                ignore_queue=True,
            )
        if ticket is None and case is None:
            await hub.records_settled()
            last = await hub.store.latest_of_citizen(conn.subject)
            if last is not None and last["outcome"] not in (None, "cancelled", "rejected") and last["rating"] is None:
                # Closed while the citizen was away (abandoned, or the clerk ended it).
                await self.emit(
                    "case_ended",
                    messages.case_ended(last["case_id"], last["outcome"], ticket_id=last["ticket_id"], resumed=True),
                    to=conn.sid,
                    ignore_queue=True,
                )
        if case is not None:
            await self.emit(
                "matched",
                messages.matched_citizen(
                    ticket_id=case["ticket_id"],
                    case_id=case["case_id"],
                    clerk_name=case["clerk_name"],
                    clerk_region=case["clerk_region"],
                    ice_servers=hub.ice(f"citizen-{conn.subject}"),
                    resumed=True,
                ),
                to=conn.sid,
                ignore_queue=True,
            )
            if case["clerk_away"]:
                await self.emit(
                    "clerk_away",
                    messages.clerk_away(case["case_id"], hub.settings.reconnect_grace_s),
                    to=conn.sid,
                    ignore_queue=True,
                )

    async def on_disconnect(self, conn: Conn) -> None:
        # Must not be lost in a Redis outage: a citizen counted present for ever is never abandoned.
        self.hub.submit_eventually(CitizenDisconnected(conn.subject, self.conn_key(conn.sid)), "a citizen's drop")

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
        await self._within_limits(conn)
        # Priority is the server's decision: a kiosk's attendant may give it; a browser cannot give
        # it to itself (it would jump the queue), so its request is served in normal order.
        priority = msg.priority if conn.channel == "kiosk" else "normal"
        for attempt in range(3):
            # Ticket numbers are short for reading aloud, so one may come round again: draw anew.
            # Ticket numbers are unique among open requests (the queue refuses a duplicate), not
            # across history; case numbers carry the date and 48 random bits.
            ticket_id, case_id = new_ticket_id(), new_case_id(hub.clock.now())
            try:
                result = await hub.submit(
                    Request(
                        ticket_id=ticket_id,
                        case_id=case_id,
                        citizen_id=conn.subject,
                        target_region=province,
                        skill=matter.skill,
                        matter_code=matter.code,
                        origin_region=conn.region,
                        channel=conn.channel,
                        priority=priority,
                        kiosk_id=conn.kiosk_id,
                        language=msg.language,
                        address=conn.address,
                    )
                )
            except RoutingError as exc:
                if exc.message == "duplicate ticket id" and attempt < 2:
                    continue
                raise
            await hub.durable(result)
            reply = {**result.reply, "priority": priority}
            if priority != msg.priority:
                reply["priority_note"] = PRIORITY_NOTE
            return reply
        raise ProtocolError("unavailable", "could not draw a free ticket number; try again")

    async def _within_limits(self, conn: Conn) -> None:
        """Requests over time: per citizen (request/cancel cycles), and per address for web citizens."""
        hub, s = self.hub, self.hub.settings
        if not await hub.limiter.take(f"req:citizen:{conn.subject}", s.requests_per_citizen, s.requests_window_s):
            raise ProtocolError(RATE_LIMITED, "too many requests for help in a short time; please wait a few minutes")
        if conn.address and not await hub.limiter.take(
            f"req:addr:{conn.address}", s.requests_per_address, s.requests_window_s
        ):
            raise ProtocolError(
                RATE_LIMITED, "too many requests for help from this network address; please try again later"
            )

    async def cancel(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        result = await self.hub.submit(Cancel(conn.subject, msg.ticket_id))
        return dict(result.reply)

    async def consent(self, conn: Conn, msg: Consent) -> dict[str, Any]:
        """The citizen's answer about recording: kept in the case and on its timeline, told to the clerk."""
        hub = self.hub
        policy = hub.settings.recording
        room, namespace = await self._peer(conn, msg.case_id)  # someone else's case: as an unknown one
        if policy == "off":
            raise ProtocolError(FORBIDDEN, "this server does not record sessions (RVW_RECORDING=off)")
        await hub.records_settled()
        at = hub.clock.now()
        changed = await hub.media.consent(
            msg.case_id, recording=msg.recording, at=at, actor=f"citizen:{conn.subject}", policy=policy
        )
        if changed:
            await hub.sio.emit(
                "consent", messages.consent(msg.case_id, msg.recording, policy, at), room=room, namespace=namespace
            )
        return {"case_id": msg.case_id, "recording": msg.recording, "policy": policy}

    async def hang_up(self, conn: Conn, msg: CaseRef) -> dict[str, Any]:
        await self.hub.submit(HangUp(conn.subject, msg.case_id))
        return {"case_id": msg.case_id, "outcome": CITIZEN_ENDED}

    async def rate(self, conn: Conn, msg: Rate) -> dict[str, Any]:
        await self.hub.records_settled()
        await self.hub.store.rate(
            msg.case_id, conn.subject, at=self.hub.clock.now(), level=msg.level, comment=msg.comment
        )
        # Rated: the case is over for the citizen, and their resume token dies with it.
        await self.hub.submit(EndResume(conn.subject, msg.case_id, msg.level))
        return {"case_id": msg.case_id}


CHAT_LINES_PER_SIDE = 300  # chat lines a side may put on a case's timeline


def chat_line_allowed(hub: Hub, case_id: str, actor: str) -> bool:
    """Whether one more chat line of this side fits (bounds what one client can write to a timeline)."""
    seen = hub.chat_lines
    key = (case_id, actor)
    count = seen.pop(key, 0)
    seen[key] = count + 1 if count < CHAT_LINES_PER_SIDE else count
    while len(seen) > MEDIA_SIDES_KEPT:
        seen.popitem(last=False)
    return count < CHAT_LINES_PER_SIDE


MEDIA_LINES_PER_SIDE = 20  # timeline lines about media a side may add to a case
MEDIA_SIDES_KEPT = 10_000  # sides remembered (least recently reported forgotten first)


def media_line_allowed(hub: Hub, case_id: str, actor: str, state: str) -> bool:
    """Whether this report goes on the timeline: only a change of the side's state, and at most
    MEDIA_LINES_PER_SIDE of them (before: 491 "failed" rows in 2.9 s from one citizen)."""
    seen = hub.media_lines
    key = (case_id, actor)
    last, count = seen.pop(key, ("", 0))
    allowed = state != last and count < MEDIA_LINES_PER_SIDE
    seen[key] = (state, count + 1) if allowed else (last, count)
    while len(seen) > MEDIA_SIDES_KEPT:
        seen.popitem(last=False)
    return allowed


async def record_media_state(hub: Hub, msg: MediaState, actor: str) -> None:
    if msg.state not in RECORDED_MEDIA_STATES and msg.state != "connected":
        return
    if not media_line_allowed(hub, msg.case_id, actor, msg.state):
        return
    now = hub.clock.now()
    for attempt in range(2):
        try:
            if msg.state == "connected":
                await hub.store.record(
                    msg.case_id, at=now, event="connected", actor=actor, connected_at=now, only_first=True
                )
            elif msg.state in RECORDED_MEDIA_STATES:
                await hub.store.record(msg.case_id, at=now, event=RECORDED_MEDIA_STATES[msg.state], actor=actor)
            return
        except CaseStoreError as exc:
            if exc.code != NOT_FOUND or attempt:
                raise
            await hub.records_settled()  # the recorder has not written the case yet


class ClerkNamespace(CallSide):
    role = "clerk"
    other_roles_events = (CITIZEN_EVENTS | SUPERVISOR_EVENTS) - CLERK_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(CLERK_NS, hub)
        self.handlers = {
            "set_status": (SetStatus, self.set_status),
            "accept": (TicketRef, self.accept),
            "decline": (TicketRef, self.decline),
            "signal": (Signal, self.signal),
            "media_state": (MediaState, self.media_state),
            "chat": (ChatMsg, self.chat),
            "record_offer": (RecordOffer, self.record_offer),
            "end_case": (EndCaseMsg, self.end_case),
            "transfer": (TransferCase, self.transfer),
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        user, session_id = await authenticate(self.hub, environ, auth)
        if user is None:
            raise Refused(
                UNAUTHORIZED, "log in first (POST /api/auth/login), then connect with the cookie or auth {token}"
            )
        if user.role != "clerk":
            raise Refused(FORBIDDEN, "only clerks may connect to /clerk")
        skills, levels = self.hub.settings.routing_for(user.username, list(user.skills or []))
        conn = Conn(
            sid=sid,
            role="clerk",
            subject=user.id,
            bucket=self.bucket(),
            region=user.region,
            display_name=user.display_name,
            skills=skills,
            session_id=session_id,
        )
        conn.levels = levels
        await self.enter_room(sid, clerk_room(user.id))
        result = await self.admit(conn, ClerkConnected(user.id, self.conn_key(sid)))
        if result is None:
            return False
        self.hub.defer(self._welcome(conn, result.reply.get("clerk")))
        return True

    async def _welcome(self, conn: Conn, state: dict[str, Any] | None) -> None:
        hub = self.hub
        await self.emit(
            "session",
            messages.session_clerk(
                clerk_id=conn.subject,
                display_name=conn.display_name,
                region=conn.region,
                skills=conn.skills,
                ice_servers=hub.ice(f"clerk-{conn.subject}"),
                recording=hub.settings.recording,
            ),
            to=conn.sid,
            ignore_queue=True,
        )
        # After a reload mid-case the console gets its case back.
        if state is None:
            return
        await self.emit("status", messages.status(state["status"], "reconnected"), to=conn.sid, ignore_queue=True)
        case = state["case"]
        if case is not None:
            ticket = case.get("ticket") or {}
            await self.emit(
                "matched",
                messages.matched_clerk(
                    ticket_id=case["ticket_id"],
                    case_id=case["case_id"],
                    origin_region=ticket.get("origin_region"),
                    channel=ticket.get("channel"),
                    matter_code=ticket.get("matter_code"),
                    ice_servers=hub.ice(f"clerk-{conn.subject}"),
                    resumed=True,
                ),
                to=conn.sid,
                ignore_queue=True,
            )
            # And the citizen's answer about recording, if given: the console shows it and knows whether to record.
            policy = hub.settings.recording
            answer = await hub.media.consent_answer(case["case_id"]) if policy != "off" else None
            if answer is not None:
                await self.emit(
                    "consent",
                    messages.consent(case["case_id"], answer[0], policy, answer[1]),
                    to=conn.sid,
                    ignore_queue=True,
                )
        if state["wrap_up_case"] is not None:
            await self.emit(
                "case_ended",
                messages.case_ended(state["wrap_up_case"], CITIZEN_ENDED, resumed=True),
                to=conn.sid,
                ignore_queue=True,
            )

    async def on_disconnect(self, conn: Conn) -> None:
        # A clerk with no console left must not be offered citizens (kept trying through an outage).
        self.hub.submit_eventually(ClerkDisconnected(conn.subject, self.conn_key(conn.sid)), "a clerk's drop")

    async def set_status(self, conn: Conn, msg: SetStatus) -> dict[str, Any]:
        result = await self.hub.submit(
            SetClerk(
                conn.subject,
                conn.region,
                tuple(conn.skills),
                msg.status,
                tuple(sorted(conn.levels.items())),
                conn.display_name,
            )
        )
        return dict(result.reply)

    async def accept(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        result = await self.hub.submit(Accept(conn.subject, msg.ticket_id))
        return dict(result.reply)

    async def decline(self, conn: Conn, msg: TicketRef) -> dict[str, Any]:
        result = await self.hub.submit(Decline(conn.subject, msg.ticket_id))
        return dict(result.reply)

    async def end_case(self, conn: Conn, msg: EndCaseMsg) -> dict[str, Any]:
        result = await self.hub.submit(EndCase(conn.subject, msg.case_id, msg.outcome, msg.notes, msg.wrap_up))
        # With `wrap_up` the clerk writes the case up next (no offers) and sends `end_case` again to finish it.
        return {"case_id": msg.case_id, **({"wrap_up": True} if result.reply.get("wrap_up") else {})}

    async def transfer(self, conn: Conn, msg: TransferCase) -> dict[str, Any]:
        hub = self.hub
        code = msg.matter_code
        if code is None:
            await hub.records_settled()
            record = await hub.store.get(msg.case_id)
            if record is None or record.get("clerk_id") != conn.subject:
                raise ProtocolError(NOT_FOUND, "no open case of yours with that id")
            code = str(record["matter_code"])
        matter = hub.catalog.get(code)
        if matter is None:
            raise ProtocolError(NOT_FOUND, f"unknown matter {code!r}")
        if province_of(msg.target_region) not in matter.provinces:
            raise ProtocolError(
                BAD_REQUEST, f"matter {matter.code} is served by {', '.join(matter.provinces)}, not {msg.target_region}"
            )
        await hub.submit(
            Transfer(conn.subject, msg.case_id, province_of(msg.target_region), matter.skill, matter.code, msg.note)
        )
        return {"case_id": msg.case_id, "target_region": province_of(msg.target_region), "matter_code": matter.code}


async def authenticate(hub: Hub, environ: dict[str, Any], auth: Any) -> tuple[Any, str]:
    """The user and log-in session of a console or wall connecting; (None, "") if the token is bad
    or its session has ended (logged out, user disabled, new password)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    token = token or cookie_token(environ)
    claims = read_token(hub.settings.secret_key, token, "user", hub.clock.now())
    if claims is None or not isinstance(claims.get("s"), str):
        return None, ""
    user = await hub.directory.session_user(claims["s"], hub.clock.now())
    if user is None or user.id != claims.get("u"):
        return None, ""
    return user, claims["s"]


class SupervisorNamespace(BaseNamespace):
    role = "supervisor"
    other_roles_events = CITIZEN_EVENTS | CLERK_EVENTS

    def __init__(self, hub: Hub) -> None:
        super().__init__(SUPERVISOR_NS, hub)
        hub.supervisors = self.conns
        self.scopes: dict[str, str] = {}  # sid -> the wall's scope (delta or a province)
        self.handlers = {
            "set_clerk_status": (SuperviseClerkMsg, self.set_clerk_status),
            "move_request": (MoveRequestMsg, self.move_request),
            "close_followup": (CloseFollowup, self.close_followup),
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        user, session_id = await authenticate(self.hub, environ, auth)
        if user is None:
            raise Refused(UNAUTHORIZED, "log in first (POST /api/auth/login)")
        if user.role != "supervisor":
            raise Refused(FORBIDDEN, "only supervisors may watch the queues")
        scope = scope_name(user.region)
        conn = Conn(
            sid=sid, role="supervisor", subject=user.id, bucket=self.bucket(), region=user.region, session_id=session_id
        )
        conn.address = client_address(self.hub, environ)  # for the audit log of the supervisor's actions
        if await self.admit(conn) is None:
            return False
        self.scopes[sid] = scope  # before the next await: a disconnect during it finds the scope to leave
        self.hub.wall.join(scope)
        await self.enter_room(sid, wall_room(scope))
        self.hub.defer(self._first(sid, scope))
        return True

    async def _first(self, sid: str, scope: str) -> None:
        await self.emit("dashboard", await self.hub.wall.dashboard(scope), to=sid, ignore_queue=True)

    async def on_disconnect(self, conn: Conn) -> None:
        scope = self.scopes.pop(conn.sid, None)
        if scope is not None:
            self.hub.wall.leave(scope)

    def _provinces(self, conn: Conn) -> tuple[str, ...]:
        """The provinces this supervisor oversees, for the queue's commands (empty: all four)."""
        scope = scope_of(conn.region)
        return tuple(sorted(scope)) if scope is not None else ()

    async def _audited(self, conn: Conn, action: str, target: str, work: Any) -> dict[str, Any]:
        """Run a supervisor's action and put it in the audit log, allowed or refused."""
        ok = False
        try:
            reply: dict[str, Any] = await work
            ok = True
            return reply
        finally:
            if self.hub.audit is not None:
                await self.hub.audit.record(
                    at=self.hub.clock.now(),
                    user_id=conn.subject,
                    role="supervisor",
                    action=action,
                    target=target,
                    ip=conn.address,
                    ok=ok,
                )

    async def set_clerk_status(self, conn: Conn, msg: SuperviseClerkMsg) -> dict[str, Any]:
        return await self._audited(
            conn, "set_clerk_status", f"{msg.clerk_id} {msg.status}", self._set_status(conn, msg)
        )

    async def _set_status(self, conn: Conn, msg: SuperviseClerkMsg) -> dict[str, Any]:
        result = await self.hub.submit(
            SuperviseClerk(conn.subject, msg.clerk_id, msg.status, self._provinces(conn), msg.note)
        )
        return dict(result.reply)

    async def move_request(self, conn: Conn, msg: MoveRequestMsg) -> dict[str, Any]:
        target = f"{msg.ticket_id} {msg.target_region} {msg.matter_code}"
        return await self._audited(conn, "move_request", target, self._move(conn, msg))

    async def _move(self, conn: Conn, msg: MoveRequestMsg) -> dict[str, Any]:
        matter = self.hub.catalog.get(msg.matter_code)
        if matter is None:
            raise ProtocolError(NOT_FOUND, f"unknown matter {msg.matter_code!r}")
        target = province_of(msg.target_region)
        if target not in matter.provinces:
            raise ProtocolError(
                BAD_REQUEST, f"matter {matter.code} is served by {', '.join(matter.provinces)}, not {target}"
            )
        result = await self.hub.submit(
            MoveRequest(conn.subject, msg.ticket_id, target, matter.skill, matter.code, msg.note, self._provinces(conn))
        )
        return dict(result.reply)

    async def close_followup(self, conn: Conn, msg: CloseFollowup) -> dict[str, Any]:
        return await self._audited(conn, "close_followup", msg.case_id, self._close(conn, msg))

    async def _close(self, conn: Conn, msg: CloseFollowup) -> dict[str, Any]:
        await self.hub.records_settled()
        await self.hub.store.close_followup(
            msg.case_id,
            by=f"supervisor:{conn.subject}",
            at=self.hub.clock.now(),
            note=msg.note,
            provinces=scope_of(conn.region),
        )
        # Every node's live figures count open follow-ups: they hear it through the queue's log.
        self.hub.submit_eventually(NoteCase("followup_closed", msg.case_id), "a follow-up's close")
        return {"case_id": msg.case_id}
