"""What the routing core says happened: frozen data, the only source of effects.

The writer applies a command to the core and publishes the events it returns;
on every node a gateway turns them into messages to its own sockets, and one
recorder turns them into case-record lines. Events hold plain values only (a
:class:`TicketView` is a copy, never the core's live object), so they encode to
JSON for the events stream and decode back to equal objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TicketView:
    """A ticket as it was when the event happened."""

    ticket_id: str
    case_id: str
    citizen_id: str
    region: str  # target province
    skill: str
    matter_code: str
    origin_region: str
    channel: str
    priority: str
    requested_at: float
    queued_at: float
    kiosk_id: str | None = None
    language: str = "zh"
    gone_since: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.region, self.skill)


@dataclass(frozen=True)
class TicketOpened:
    """A request entered a queue: the case record starts here."""

    ticket: TicketView
    position: int
    estimated_wait_s: int | None


@dataclass(frozen=True)
class Offered:
    ticket: TicketView
    clerk_id: str
    expires_at: float
    at: float


@dataclass(frozen=True)
class OfferEnded:
    ticket_id: str
    case_id: str
    clerk_id: str
    reason: str  # declined | expired | withdrawn | cancelled | citizen_away


@dataclass(frozen=True)
class Answered:
    ticket: TicketView
    clerk_id: str
    clerk_name: str
    clerk_region: str
    at: float


@dataclass(frozen=True)
class TicketClosed:
    ticket: TicketView
    reason: str  # cancelled | abandoned | expired
    ended_at: float


@dataclass(frozen=True)
class PositionChanged:
    ticket_id: str
    citizen_id: str
    position: int
    estimated_wait_s: int | None  # None: nobody who serves this queue is on shift


@dataclass(frozen=True)
class ClerkChanged:
    clerk_id: str
    status: str
    reason: str


@dataclass(frozen=True)
class CaseClosed:
    """A call ended: by the clerk (with the outcome) or by the citizen (the clerk then wraps up)."""

    case_id: str
    ticket_id: str
    citizen_id: str
    clerk_id: str
    by: str  # clerk | citizen
    outcome: str
    notes: str
    at: float


@dataclass(frozen=True)
class WrappedUp:
    case_id: str
    clerk_id: str
    outcome: str
    notes: str


@dataclass(frozen=True)
class Transferred:
    """A clerk handed the case on; the citizen waits at the head of the new queue."""

    ticket: TicketView
    from_clerk: str
    from_region: str
    from_skill: str
    note: str
    at: float
    by: str = ""  # who moved it when not the clerk: "supervisor:<id>" (a waiting request moved)


@dataclass(frozen=True)
class ClerkAway:
    """The clerk's console dropped mid-case; the citizen waits for the grace period."""

    case_id: str
    citizen_id: str
    clerk_id: str
    at: float


@dataclass(frozen=True)
class ClerkBack:
    case_id: str
    citizen_id: str
    clerk_id: str


@dataclass(frozen=True)
class CaseRequeued:
    """The clerk did not come back within the grace: the citizen waits at the head of the queue again."""

    ticket: TicketView
    clerk_id: str
    at: float


@dataclass(frozen=True)
class CitizenResumed:
    """A citizen in a call reconnected: the clerk's side of the call is stale."""

    case_id: str
    clerk_id: str


@dataclass(frozen=True)
class ConnectionReplaced:
    """A newer connection of the citizen came in (on any node): this older one is told and closed."""

    conn: str  # "node/sid"
    citizen_id: str


@dataclass(frozen=True)
class NodeLost:
    """A node stopped heartbeating; its connections were dropped from the queue state."""

    node: str
    citizens: int
    clerks: int


@dataclass(frozen=True)
class WaitAlert:
    """A citizen has waited ``waited_s`` unanswered: ``pre_breach`` before the SLA, ``breach`` at it.

    Raised once per ticket and kind, at the tick that passes the threshold."""

    ticket: TicketView
    kind: str  # pre_breach | breach
    at: float
    waited_s: float


@dataclass(frozen=True)
class Supervised:
    """A supervisor changed a clerk's status; on the timeline of the case the clerk holds, if any."""

    by: str  # "supervisor:<id>"
    action: str  # set_clerk_status
    clerk_id: str
    case_id: str  # "" when the clerk holds no case
    detail: dict[str, Any]
    at: float


@dataclass(frozen=True)
class ServiceLevelAlert:
    """A queue's service level over the last ``window_s`` fell under the goal (raised by the wall of
    the writer's node, deduplicated by the core: once until the queue is back at the goal)."""

    region: str
    skill: str
    service_level: float
    counted: int
    window_s: int
    goal: float
    at: float


@dataclass(frozen=True)
class ClerkStatusChanged:
    """A clerk's status as the wall words it changed (available, offered, busy, wrap_up, missed,
    break, offline): the clerk status history that occupancy is measured from."""

    clerk_id: str
    region: str
    status: str
    at: float


@dataclass(frozen=True)
class CaseNoted:
    """Something about a case the queue does not act on but every node's live figures count
    (``followup_closed``); passed through the log so that every node hears it in order."""

    kind: str
    case_id: str
    at: float


@dataclass(frozen=True)
class CaseRated:
    """The citizen rated their case (好差评). The rating is written to the case record by the
    handler that took it; the event tells every node's live figures."""

    case_id: str
    citizen_id: str
    level: int
    at: float


Event = (
    TicketOpened
    | Offered
    | OfferEnded
    | Answered
    | TicketClosed
    | PositionChanged
    | ClerkChanged
    | CaseClosed
    | WrappedUp
    | Transferred
    | ClerkAway
    | ClerkBack
    | CaseRequeued
    | CitizenResumed
    | ConnectionReplaced
    | NodeLost
    | WaitAlert
    | CaseRated
    | Supervised
    | ClerkStatusChanged
    | CaseNoted
    | ServiceLevelAlert
)

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        TicketOpened,
        Offered,
        OfferEnded,
        Answered,
        TicketClosed,
        PositionChanged,
        ClerkChanged,
        CaseClosed,
        WrappedUp,
        Transferred,
        ClerkAway,
        ClerkBack,
        CaseRequeued,
        CitizenResumed,
        ConnectionReplaced,
        NodeLost,
        WaitAlert,
        CaseRated,
        Supervised,
        ClerkStatusChanged,
        CaseNoted,
        ServiceLevelAlert,
    )
}


def encode_event(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def decode_event(data: dict[str, Any]) -> Event:
    """The event ``encode_event`` encoded; ``ValueError`` for anything else."""
    fields = dict(data)
    cls = EVENT_TYPES.get(str(fields.pop("type", "")))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    if isinstance(fields.get("ticket"), dict):
        fields["ticket"] = TicketView(**fields["ticket"])
    try:
        event: Event = cls(**fields)
    except TypeError as exc:
        raise ValueError(f"bad {cls.__name__}: {exc}") from None
    return event
