"""What nodes ask of the queue: frozen data that crosses the command stream and replays.

A gateway wraps a command in an :class:`Envelope` (its id, the node, the time it
was taken) and submits it; the writer, the only caller of the routing core,
applies it and answers with a :class:`Result`. Commands carry everything they
need (ids are drawn by the node that takes the request), so applying the same
log to the same snapshot gives the same state and events anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .events import CaseNoted, Event, PositionChanged, TicketOpened, decode_event, encode_event
from .routing import Router


@dataclass(frozen=True)
class Command:
    name: ClassVar[str] = ""

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        raise NotImplementedError


@dataclass(frozen=True)
class Request(Command):
    name: ClassVar[str] = "request"
    ticket_id: str
    case_id: str
    citizen_id: str
    target_region: str
    skill: str
    matter_code: str
    origin_region: str
    channel: str
    priority: str = "normal"
    kiosk_id: str | None = None
    language: str = "zh"
    address: str = ""  # a web citizen's network address (the limit of open requests per address)

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.request(
            now,
            ticket_id=self.ticket_id,
            case_id=self.case_id,
            citizen_id=self.citizen_id,
            target_region=self.target_region,
            skill=self.skill,
            matter_code=self.matter_code,
            origin_region=self.origin_region,
            channel=self.channel,
            priority=self.priority,
            kiosk_id=self.kiosk_id,
            language=self.language,
            address=self.address,
        )
        opened = next(e for e in events if isinstance(e, TicketOpened))
        position, wait = opened.position, opened.estimated_wait_s
        for e in events:
            if isinstance(e, PositionChanged) and e.ticket_id == self.ticket_id:
                position, wait = e.position, e.estimated_wait_s
        if self.ticket_id not in router.tickets:  # offered and gone already? (cannot be: offers keep it queued)
            position = 1
        return {"ticket_id": self.ticket_id, "case_id": self.case_id, "position": position, "estimated_wait_s": wait}, (
            events
        )


@dataclass(frozen=True)
class Cancel(Command):
    name: ClassVar[str] = "cancel"
    citizen_id: str
    ticket_id: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {"ticket_id": self.ticket_id}, router.cancel(now, self.citizen_id, self.ticket_id)


@dataclass(frozen=True)
class CitizenConnected(Command):
    name: ClassVar[str] = "citizen_connected"
    citizen_id: str
    conn: str
    resumed: bool = False
    address: str = ""  # a web connection's network address ("" for kiosks: not limited per address)
    resume_id: str = ""  # the resume token's id the connection presented
    next_resume_id: str = ""  # the id of the token this connection is given

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.citizen_connected(
            now,
            self.citizen_id,
            self.conn,
            self.resumed,
            address=self.address,
            resume_id=self.resume_id,
            next_resume_id=self.next_resume_id,
        )
        return router.citizen_view(now, self.citizen_id), events


@dataclass(frozen=True)
class EndResume(Command):
    """The citizen has rated their case: their resume token dies with it. With ``case_id`` and
    ``level`` (the rating, already in the case record), every node hears a ``CaseRated``."""

    name: ClassVar[str] = "end_resume"
    citizen_id: str
    case_id: str = ""
    level: int = 0

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, router.end_resume(now, self.citizen_id, self.case_id, self.level)


@dataclass(frozen=True)
class CitizenDisconnected(Command):
    name: ClassVar[str] = "citizen_disconnected"
    citizen_id: str
    conn: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, router.citizen_disconnected(now, self.citizen_id, self.conn)


@dataclass(frozen=True)
class HangUp(Command):
    name: ClassVar[str] = "hang_up"
    citizen_id: str
    case_id: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {"case_id": self.case_id}, router.hang_up(now, self.citizen_id, self.case_id)


@dataclass(frozen=True)
class SetClerk(Command):
    name: ClassVar[str] = "set_clerk"
    clerk_id: str
    region: str
    skills: tuple[str, ...]
    presence: str
    levels: tuple[tuple[str, int], ...] = ()
    display_name: str = ""

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.set_clerk(
            now,
            self.clerk_id,
            self.region,
            list(self.skills),
            self.presence,
            levels=dict(self.levels),
            display_name=self.display_name,
        )
        clerk = router.clerks.get(self.clerk_id)
        return {"status": clerk.status if clerk else "offline"}, events


@dataclass(frozen=True)
class ClerkConnected(Command):
    name: ClassVar[str] = "clerk_connected"
    clerk_id: str
    conn: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.clerk_connected(now, self.clerk_id, self.conn)
        return {"clerk": router.clerk_view(self.clerk_id)}, events


@dataclass(frozen=True)
class ClerkDisconnected(Command):
    name: ClassVar[str] = "clerk_disconnected"
    clerk_id: str
    conn: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, router.clerk_disconnected(now, self.clerk_id, self.conn)


@dataclass(frozen=True)
class Accept(Command):
    name: ClassVar[str] = "accept"
    clerk_id: str
    ticket_id: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        ticket = router.tickets.get(self.ticket_id)
        events = router.accept(now, self.clerk_id, self.ticket_id)
        assert ticket is not None  # accept raised otherwise
        return {"ticket_id": self.ticket_id, "case_id": ticket.case_id}, events


@dataclass(frozen=True)
class Decline(Command):
    name: ClassVar[str] = "decline"
    clerk_id: str
    ticket_id: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {"ticket_id": self.ticket_id}, router.decline(now, self.clerk_id, self.ticket_id)


@dataclass(frozen=True)
class EndCase(Command):
    """The clerk ends a call with its outcome (with ``wrap_up``: and writes it up before the next citizen), or
    records the outcome of one in wrap-up (the citizen hung up, or the clerk ended it with ``wrap_up``)."""

    name: ClassVar[str] = "end_case"
    clerk_id: str
    case_id: str
    outcome: str
    notes: str = ""
    wrap_up: bool = False

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        if self.case_id not in router.cases:
            clerk = router.clerks.get(self.clerk_id)
            # (`wrap_up` again, a second press of "end the call", is not a write-up: it finds no call open.)
            if clerk is not None and clerk.wrap_up_case == self.case_id and not self.wrap_up:
                events = router.finish_wrap_up(now, self.clerk_id, self.case_id, self.outcome, self.notes)
                return {"case_id": self.case_id, "wrapped_up": True}, events
        events = router.end_case(now, self.clerk_id, self.case_id, self.outcome, self.notes, wrap_up=self.wrap_up)
        return {"case_id": self.case_id, **({"wrap_up": True} if self.wrap_up else {})}, events


@dataclass(frozen=True)
class Transfer(Command):
    name: ClassVar[str] = "transfer"
    clerk_id: str
    case_id: str
    target_region: str
    skill: str
    matter_code: str
    note: str = ""

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.transfer(
            now,
            self.clerk_id,
            self.case_id,
            target_region=self.target_region,
            skill=self.skill,
            matter_code=self.matter_code,
            note=self.note,
        )
        return {"case_id": self.case_id}, events


@dataclass(frozen=True)
class SuperviseClerk(Command):
    """A supervisor sets a clerk's status; ``provinces`` are those they oversee (empty: all)."""

    name: ClassVar[str] = "supervise_clerk"
    supervisor_id: str
    clerk_id: str
    status: str
    provinces: tuple[str, ...] = ()
    note: str = ""

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.supervise_clerk(
            now, f"supervisor:{self.supervisor_id}", self.clerk_id, self.status, self.provinces or None, self.note
        )
        clerk = router.clerks.get(self.clerk_id)
        return {"clerk_id": self.clerk_id, "status": clerk.wall_status if clerk else "offline"}, events


@dataclass(frozen=True)
class MoveRequest(Command):
    """A supervisor moves a waiting request to another queue; ``provinces`` as for SuperviseClerk."""

    name: ClassVar[str] = "move_request"
    supervisor_id: str
    ticket_id: str
    target_region: str
    skill: str
    matter_code: str
    note: str = ""
    provinces: tuple[str, ...] = ()

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.move_ticket(
            now,
            f"supervisor:{self.supervisor_id}",
            self.ticket_id,
            target_region=self.target_region,
            skill=self.skill,
            matter_code=self.matter_code,
            note=self.note,
            provinces=self.provinces or None,
        )
        ticket = router.tickets[self.ticket_id]
        return {
            "ticket_id": ticket.ticket_id,
            "case_id": ticket.case_id,
            "target_region": ticket.region,
            "matter_code": ticket.matter_code,
        }, events


@dataclass(frozen=True)
class NoteCase(Command):
    """Pass a fact about a case on to every node (``followup_closed``): the core only relays it."""

    name: ClassVar[str] = "note_case"
    kind: str
    case_id: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, [CaseNoted(self.kind, self.case_id, now)]


@dataclass(frozen=True)
class ServiceLevelChanged(Command):
    """The wall of the writer's node saw a queue's recent service level go under the goal, or back."""

    name: ClassVar[str] = "service_level"
    region: str
    skill: str
    below: bool
    service_level: float = 0.0
    counted: int = 0
    window_s: int = 0
    goal: float = 0.0

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.service_level(
            now,
            (self.region, self.skill),
            self.below,
            service_level=self.service_level,
            counted=self.counted,
            window_s=self.window_s,
            goal=self.goal,
        )
        return {"raised": bool(events)}, events


@dataclass(frozen=True)
class Restore(Command):
    """What a restarted single node had open, read back from its case records."""

    name: ClassVar[str] = "restore"
    tickets: tuple[dict[str, Any], ...] = ()
    cases: tuple[dict[str, Any], ...] = ()

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        events = router.restore(now, list(self.tickets), list(self.cases))
        return {"tickets": len(self.tickets), "cases": len(self.cases)}, events


@dataclass(frozen=True)
class Tick(Command):
    """Deadlines that have passed by this command's time; the writer puts these in the log."""

    name: ClassVar[str] = "tick"

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, router.tick(now)


@dataclass(frozen=True)
class NodeDown(Command):
    name: ClassVar[str] = "node_down"
    node: str

    def apply(self, router: Router, now: float) -> tuple[dict[str, Any], list[Event]]:
        return {}, router.node_down(now, self.node)


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (
        Request,
        Cancel,
        CitizenConnected,
        CitizenDisconnected,
        EndResume,
        HangUp,
        SetClerk,
        ClerkConnected,
        ClerkDisconnected,
        Accept,
        Decline,
        EndCase,
        Transfer,
        SuperviseClerk,
        MoveRequest,
        NoteCase,
        ServiceLevelChanged,
        Restore,
        Tick,
        NodeDown,
    )
}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def encode_command(cmd: Command) -> dict[str, Any]:
    return {"type": cmd.name, **{f.name: _plain(getattr(cmd, f.name)) for f in dataclasses.fields(cmd)}}


def decode_command(data: dict[str, Any]) -> Command:
    fields = dict(data)
    cls = COMMAND_TYPES.get(str(fields.pop("type", "")))
    if cls is None:
        raise ValueError(f"unknown command type {data.get('type')!r}")
    for f in dataclasses.fields(cls):
        if f.name in fields and isinstance(fields[f.name], list):
            items = fields[f.name]
            fields[f.name] = tuple(tuple(i) if isinstance(i, list) else i for i in items)
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ValueError(f"bad {cls.name} command: {exc}") from None


@dataclass(frozen=True)
class Envelope:
    """A command as it travels: who sent it, when, and the id its answer is awaited by."""

    cmd_id: str
    node: str
    at: float
    command: Command

    def encode(self) -> dict[str, Any]:
        return {"id": self.cmd_id, "node": self.node, "at": self.at, "cmd": encode_command(self.command)}

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Envelope:
        return cls(str(data["id"]), str(data["node"]), float(data["at"]), decode_command(data["cmd"]))


@dataclass(frozen=True)
class Result:
    """The answer to one command: its reply or error, and the events it caused, at log time ``at``."""

    cmd_id: str
    node: str
    at: float
    reply: dict[str, Any] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    events: tuple[Event, ...] = ()
    position: str = ""  # where in the log: the command stream entry id, or a local counter

    def encode(self) -> dict[str, Any]:
        return {
            "id": self.cmd_id,
            "node": self.node,
            "at": self.at,
            "reply": self.reply,
            "error": list(self.error) if self.error else None,
            "events": [encode_event(e) for e in self.events],
            "pos": self.position,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Result:
        err = data.get("error")
        return cls(
            cmd_id=str(data["id"]),
            node=str(data["node"]),
            at=float(data["at"]),
            reply=dict(data.get("reply") or {}),
            error=(str(err[0]), str(err[1])) if err else None,
            events=tuple(decode_event(e) for e in data.get("events", [])),
            position=str(data.get("pos", "")),
        )


def execute(router: Router, envelope: Envelope, now: float) -> Result:
    """Apply one command to the core: the one place a command meets the routing policy."""
    from .routing import RoutingError

    try:
        reply, events = envelope.command.apply(router, now)
    except RoutingError as exc:
        return Result(envelope.cmd_id, envelope.node, now, error=(exc.code, exc.message))
    events = [*events, *router.note_statuses(now, events)]
    return Result(envelope.cmd_id, envelope.node, now, reply=reply, events=tuple(events))
