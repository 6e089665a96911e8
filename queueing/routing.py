"""The routing core: who is offered which waiting citizen, and when.

Pure and synchronous: every method takes ``now`` (seconds since the epoch, from
the command log) and returns the events it caused (:mod:`queueing.events`); no
I/O, no clock, no randomness, and no iteration over sets, so applying the same
commands to a restored snapshot gives the same state and events in any process
(whatever its hash seed). The writer is its only caller in the server; the
simulator and the tests drive it directly.

Policy:

* one queue per (target province, skill), ordered by rank then arrival: a
  transferred or re-queued citizen first, then ``priority``, then ``normal``;
* a ticket is offered to a free clerk who serves its queue, the one with the
  best skill level, then the one idle longest; one offer per ticket and per
  clerk at a time;
* after a ticket has waited ``overflow_after_s`` in its queue, the clerks of
  the wider pools the routing policy names may be offered it too (after the
  queue's own clerks);
* an offer not answered within ``offer_timeout_s`` goes to the next clerk and
  the clerk who let it lapse is put on break;
* a clerk who declines is not offered the same ticket again for
  ``decline_cooldown_s`` unless nobody else can take it after that;
* a citizen whose connections all dropped keeps their place for
  ``reconnect_grace_s`` and is not offered meanwhile; past it the ticket is
  abandoned; a clerk whose console drops mid-case has the same grace, after
  which the citizen waits at the head of the queue again;
* a ticket that waited ``max_wait_s`` in a queue ends ``expired``;
* a citizen still unanswered ``prebreach_s`` after asking raises a
  ``pre_breach`` alert, and at ``sla_s`` a ``breach`` alert, once each per
  ticket (a re-queued or transferred citizen was answered already: none);
* positions are sent at most once per ``position_interval_s`` per queue, so a
  pairing costs the same with 100 or 10,000 waiting; the estimated wait comes
  from the queue's recent answer rate.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .events import (
    Answered,
    CaseClosed,
    CaseRated,
    CaseRequeued,
    CitizenResumed,
    ClerkAway,
    ClerkBack,
    ClerkChanged,
    ClerkStatusChanged,
    ConnectionReplaced,
    Event,
    NodeLost,
    Offered,
    OfferEnded,
    PositionChanged,
    ServiceLevelAlert,
    Supervised,
    TicketClosed,
    TicketOpened,
    TicketView,
    Transferred,
    WaitAlert,
    WrappedUp,
)

__all__ = [
    "ActiveCase",
    "Answered",
    "CaseClosed",
    "Clerk",
    "ClerkChanged",
    "Event",
    "OfferEnded",
    "Offered",
    "PositionChanged",
    "Presence",
    "Router",
    "RoutingError",
    "RoutingPolicy",
    "Ticket",
    "TicketClosed",
    "WaitAlert",
    "estimate_wait",
    "province_of",
]

QueueKey = tuple[str, str]


class RoutingError(Exception):
    """A request the core refuses; ``code`` is one of the wire error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    BREAK = "break"


class TicketState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"


HEAD_RANK = -1  # transferred or re-queued: they have waited already
PRIORITY_RANK = {"priority": 0, "normal": 1}
ANSWER_WINDOW_S = 1800.0  # the estimate's answer rate looks this far back
ANSWER_SAMPLES = 20


def province_of(region: str) -> str:
    """The province code (GB/T 2260) of any region code: 320500 -> 320000."""
    return region[:2] + "0000"


def queue_name(key: QueueKey) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass(frozen=True)
class Overflow:
    after_s: float
    to: tuple[QueueKey, ...]


@dataclass(frozen=True)
class RoutingPolicy:
    """Routing as data (the ``RVW_ROUTING`` file): which wider pools a queue overflows to, and when."""

    overflow: dict[QueueKey, Overflow] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            queue_name(k): {"after_s": o.after_s, "to": [queue_name(t) for t in o.to]}
            for k, o in sorted(self.overflow.items())
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoutingPolicy:
        def key(name: str) -> QueueKey:
            region, _, skill = name.partition("/")
            return (region, skill)

        return cls(
            {key(k): Overflow(float(v["after_s"]), tuple(key(t) for t in v["to"])) for k, v in sorted(data.items())}
        )


@dataclass
class Ticket:
    ticket_id: str
    case_id: str
    citizen_id: str
    region: str  # target province
    skill: str
    matter_code: str
    origin_region: str
    channel: str
    priority: str
    requested_at: float  # when the citizen asked: what the service level counts from
    queued_at: float = 0.0  # when this ticket entered its current queue
    kiosk_id: str | None = None
    language: str = "zh"
    rank: int = 1
    seq: int = 0
    address: str = ""  # a web citizen's network address, for the limit per address ("" for kiosks)
    offered_to: str | None = None
    offer_expires_at: float | None = None
    declined: dict[str, float] = field(default_factory=dict)  # clerk id -> not before
    gone_since: float | None = None
    position: int = 0
    alerted: list[str] = field(default_factory=list)  # wait alerts raised already (kinds), in order

    @property
    def state(self) -> TicketState:
        return TicketState.OFFERED if self.offered_to else TicketState.WAITING

    @property
    def key(self) -> QueueKey:
        return (self.region, self.skill)

    @property
    def order(self) -> tuple[int, int]:
        return (self.rank, self.seq)

    def view(self) -> TicketView:
        return TicketView(
            ticket_id=self.ticket_id,
            case_id=self.case_id,
            citizen_id=self.citizen_id,
            region=self.region,
            skill=self.skill,
            matter_code=self.matter_code,
            origin_region=self.origin_region,
            channel=self.channel,
            priority=self.priority,
            requested_at=self.requested_at,
            queued_at=self.queued_at,
            kiosk_id=self.kiosk_id,
            language=self.language,
            gone_since=self.gone_since,
        )


@dataclass
class Clerk:
    clerk_id: str
    region: str
    skills: list[str]
    levels: dict[str, int] = field(default_factory=dict)  # skill -> level (higher is better; default 1)
    display_name: str = ""
    presence: Presence = Presence.OFFLINE
    idle_since: float = 0.0
    offer_ticket: str | None = None
    case_id: str | None = None
    wrap_up_case: str | None = None  # the citizen hung up; the clerk still records the outcome
    gone_since: float | None = None  # the console dropped while the clerk was in a case
    missed: bool = False  # put on break by the queue for letting an offer time out (until they set a status)

    @property
    def wall_status(self) -> str:
        """The supervisor's word: ``missed`` is a break the queue imposed for a timed-out offer."""
        status = self.status
        return "missed" if status == "break" and self.missed else status

    @property
    def status(self) -> str:
        """What a supervisor sees: busy, wrap_up, offered, available, break or offline."""
        if self.case_id:
            return "busy"
        if self.wrap_up_case:
            return "wrap_up"
        if self.offer_ticket:
            return "offered"
        return self.presence.value

    @property
    def free(self) -> bool:
        return (
            self.presence is Presence.AVAILABLE and not self.offer_ticket and not self.case_id and not self.wrap_up_case
        )

    @property
    def holds_work(self) -> bool:
        return bool(self.offer_ticket or self.case_id or self.wrap_up_case)

    def level(self, key: QueueKey) -> int | None:
        """This clerk's level for a queue, or None if they do not serve it."""
        if key[0] != self.region or key[1] not in self.skills:
            return None
        return self.levels.get(key[1], 1)


@dataclass
class ActiveCase:
    case_id: str
    ticket_id: str
    citizen_id: str
    clerk_id: str
    answered_at: float
    ticket: dict[str, Any] = field(default_factory=dict)  # the ticket it was, to re-queue or transfer


def estimate_wait(position: int, staffed: int, aht_s: float) -> int:
    """Seconds until a ticket at ``position`` is answered, from a handle time: the fallback
    when a queue has no recent answers to measure its pace by."""
    ahead = max(0, position - 1)
    rounds = ahead / max(1, staffed)
    return math.ceil(rounds * aht_s)


class Router:
    """The whole queue state of a deployment. Every public method checks before it changes
    anything, so one that raises leaves the state as it was."""

    def __init__(
        self,
        *,
        offer_timeout_s: float = 15.0,
        reconnect_grace_s: float = 30.0,
        decline_cooldown_s: float = 30.0,
        aht_s: float = 180.0,
        max_wait_s: float = 600.0,
        position_interval_s: float = 0.0,
        policy: RoutingPolicy | None = None,
        max_open_per_address: int = 0,
        max_connections_per_address: int = 0,
        resume_ttl_s: float = 7200.0,
        prebreach_s: float = 0.0,
        sla_s: float = 0.0,
    ) -> None:
        self.offer_timeout_s = offer_timeout_s
        self.reconnect_grace_s = reconnect_grace_s
        self.decline_cooldown_s = decline_cooldown_s
        self.aht_s = aht_s
        self.max_wait_s = max_wait_s
        self.position_interval_s = position_interval_s
        self.policy = policy or RoutingPolicy()
        # Limits on anonymous (web) traffic per network address; 0: none.
        self.max_open_per_address = max_open_per_address
        self.max_connections_per_address = max_connections_per_address
        self.resume_ttl_s = resume_ttl_s
        # Wait alerts: (kind, seconds after the request), earliest first; 0 turns a kind off.
        self.alert_after: tuple[tuple[str, float], ...] = tuple(
            sorted(((k, s) for k, s in (("pre_breach", prebreach_s), ("breach", sla_s)) if s > 0), key=lambda a: a[1])
        )
        # Pools that other queues overflow into: pool -> the queues that overflow there.
        self.overflow_from: dict[QueueKey, list[QueueKey]] = {}
        for src, rule in sorted(self.policy.overflow.items()):
            for dst in rule.to:
                self.overflow_from.setdefault(dst, []).append(src)
        self.tickets: dict[str, Ticket] = {}
        self.queues: dict[QueueKey, list[tuple[int, int, str]]] = {}
        self.clerks: dict[str, Clerk] = {}
        self.cases: dict[str, ActiveCase] = {}
        self.by_citizen: dict[str, str] = {}  # citizen id -> their waiting ticket id
        self.case_by_citizen: dict[str, str] = {}  # citizen id -> their open case id
        # Open connections, across all nodes: "node/sid" -> (role, subject id). Keyed per
        # connection, so a drop seen before its own connect, or a node that dies, is exact.
        self.connections: dict[str, tuple[str, str]] = {}
        self.citizens_online: dict[str, int] = {}
        self.clerks_online: dict[str, int] = {}
        self.early_drops: dict[str, float] = {}  # connection drops applied before their connect
        self.citizen_conns: dict[str, list[str]] = {}  # citizen id -> their open connections
        # Each clerk's wall status as last announced: (status, province, since); offline ones are dropped.
        self.shown: dict[str, tuple[str, str, float]] = {}
        self.sl_below: set[str] = set()  # queues whose service-level alert is raised (queue_name)
        self.conn_address: dict[str, str] = {}  # web citizen connection -> network address
        self.conns_by_address: dict[str, int] = {}
        self.open_by_address: dict[str, int] = {}  # address -> waiting web tickets
        # The one resume id each citizen may come back with (it changes at every connect), in
        # the order issued so that expired ones are forgotten from the front.
        self.resume: dict[str, tuple[str, float]] = {}
        self.answers: dict[str, list[float]] = {}  # queue name -> recent answer times
        self.dirty: dict[str, float] = {}  # queue name -> positions pending since
        self.flushed: dict[str, float] = {}  # queue name -> positions last sent
        self.seq = 0

    # ---- citizen side ---------------------------------------------------

    def request(
        self,
        now: float,
        *,
        ticket_id: str,
        case_id: str,
        citizen_id: str,
        target_region: str,
        skill: str,
        matter_code: str,
        origin_region: str,
        channel: str,
        priority: str = "normal",
        kiosk_id: str | None = None,
        language: str = "zh",
        address: str = "",
    ) -> list[Event]:
        if self.ticket_of(citizen_id) or self.case_of_citizen(citizen_id):
            raise RoutingError("conflict", "this citizen already has an open request")
        if ticket_id in self.tickets or case_id in self.cases:
            raise RoutingError("conflict", "duplicate ticket id")
        if address and 0 < self.max_open_per_address <= self.open_by_address.get(address, 0):
            raise RoutingError(
                "rate_limited", "too many people are waiting from this network address; please try again later"
            )
        ticket = Ticket(
            ticket_id=ticket_id,
            case_id=case_id,
            citizen_id=citizen_id,
            region=province_of(target_region),
            skill=skill,
            matter_code=matter_code,
            origin_region=origin_region,
            channel=channel,
            priority=priority if priority in PRIORITY_RANK else "normal",
            requested_at=now,
            queued_at=now,
            kiosk_id=kiosk_id,
            language=language,
            rank=PRIORITY_RANK.get(priority, 1),
            address=address,
        )
        if self.citizens_online.get(citizen_id, 0) <= 0:
            ticket.gone_since = now  # the connection closed while the request was on its way
        self._enqueue(ticket)
        position = self._rank_of(ticket)
        events: list[Event] = [TicketOpened(ticket.view(), position, self.estimate(now, ticket.key, position))]
        self._dispatch(now, events)
        self._touch(now, [ticket.key], events)
        return events

    def restore(self, now: float, tickets: list[dict[str, Any]], cases: list[dict[str, Any]]) -> list[Event]:
        """Put back what a restarted single node had open (from its case records): waiting
        tickets with their original ids, order and request times, and calls in progress.
        Nobody is connected yet, so each gets the reconnect grace to come back."""
        events: list[Event] = []
        for data in sorted(tickets, key=lambda d: (float(d["requested_at"]), str(d["ticket_id"]))):
            if data["ticket_id"] in self.tickets or self.ticket_of(data["citizen_id"]):
                continue
            ticket = Ticket(**{k: v for k, v in data.items() if k in _TICKET_FIELDS})
            ticket.region = province_of(ticket.region)
            ticket.rank = PRIORITY_RANK.get(ticket.priority, 1)
            ticket.queued_at = ticket.queued_at or ticket.requested_at
            ticket.offered_to = ticket.offer_expires_at = None
            ticket.declined = {}
            ticket.gone_since = now
            # Thresholds already passed were alerted before the restart (or while it was down).
            ticket.alerted = [k for k, after in self.alert_after if now >= ticket.requested_at + after]
            self._enqueue(ticket)
            self.resume.setdefault(ticket.citizen_id, (ANY_RESUME, now))
        for data in cases:
            if data["case_id"] in self.cases:
                continue
            case = ActiveCase(**data)
            self.cases[case.case_id] = case
            self.case_by_citizen[case.citizen_id] = case.case_id
            self.resume.setdefault(case.citizen_id, (ANY_RESUME, now))
            clerk = self.clerks.get(case.clerk_id)
            if clerk is None:
                view = case.ticket
                clerk = self.clerks[case.clerk_id] = Clerk(
                    case.clerk_id, str(view.get("region", "")), [str(view.get("skill", ""))]
                )
            clerk.case_id = case.case_id
            clerk.gone_since = now
        self._touch(now, sorted({k: None for k in self.queues}), events)
        return events

    def cancel(self, now: float, citizen_id: str, ticket_id: str) -> list[Event]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket.citizen_id != citizen_id:
            # Someone else's ticket is answered like an unknown one: a prober learns nothing.
            raise RoutingError("not_found", "no such waiting ticket of yours")
        events: list[Event] = []
        self._close_ticket(now, ticket, "cancelled", events)
        self._dispatch(now, events)
        self._touch(now, [ticket.key], events)
        return events

    def citizen_connected(
        self,
        now: float,
        citizen_id: str,
        conn: str,
        resumed: bool = False,
        *,
        address: str = "",
        resume_id: str = "",
        next_resume_id: str = "",
    ) -> list[Event]:
        """One more connection of this citizen (on any node); a waiting ticket is present again.

        A citizen has one live connection: a newer one replaces the older ones, which are told
        (``ConnectionReplaced``). One that presents ``resume_id`` must present the citizen's
        current one, which ``next_resume_id`` then replaces: a resume token works once.
        A web connection (``address`` given) counts against the limit for its address.
        """
        events: list[Event] = []
        if conn in self.connections:
            return events  # a command applied twice changes nothing the second time
        if resumed and resume_id:
            held = self.resume.get(citizen_id)
            if held is None or held[0] not in (resume_id, ANY_RESUME):
                raise RoutingError("unauthorized", "this resume token has been used or has ended; start again")
        older = list(self.citizen_conns.get(citizen_id, ()))
        if address and not older and 0 < self.max_connections_per_address <= self.conns_by_address.get(address, 0):
            raise RoutingError("rate_limited", "too many connections from this network address; please try again later")
        if not self._open(conn, "citizen", citizen_id, address):
            return events
        if next_resume_id:
            self.resume.pop(citizen_id, None)
            self.resume[citizen_id] = (next_resume_id, now)
        events += [ConnectionReplaced(old, citizen_id) for old in older]
        if self.citizens_online.get(citizen_id, 0) == 1:
            ticket = self.ticket_of(citizen_id)
            if ticket is not None and ticket.gone_since is not None:
                ticket.gone_since = None
                self._dispatch(now, events)
                self._touch(now, [ticket.key], events)
        if resumed:
            case = self.case_of_citizen(citizen_id)
            if case is not None:
                events.append(CitizenResumed(case.case_id, case.clerk_id))
        return events

    def citizen_disconnected(self, now: float, citizen_id: str, conn: str) -> list[Event]:
        """One connection fewer. With none left the ticket keeps its place for the grace period,
        is not offered meanwhile, and an offer it holds goes back (the clerk cannot reach anyone)."""
        events: list[Event] = []
        if not self._close(now, conn, "citizen", citizen_id):
            return events
        if self.citizens_online.get(citizen_id, 0) <= 0:
            ticket = self.ticket_of(citizen_id)
            if ticket is not None and ticket.gone_since is None:
                ticket.gone_since = now
                if ticket.offered_to:
                    self._end_offer(now, ticket, "citizen_away", events)
                    self._dispatch(now, events)
        return events

    def end_resume(self, now: float, citizen_id: str, case_id: str = "", level: int = 0) -> list[Event]:
        """The citizen is done (their case is rated): no resume token of theirs works any more.
        The rating itself is not the queue's business; it is passed on for the live figures."""
        self.resume.pop(citizen_id, None)
        return [CaseRated(case_id, citizen_id, level, now)] if case_id and 1 <= level <= 5 else []

    def hang_up(self, now: float, citizen_id: str, case_id: str) -> list[Event]:
        """The citizen leaves the call; the clerk is freed and wraps the case up."""
        case = self.cases.get(case_id)
        if case is None or case.citizen_id != citizen_id:
            raise RoutingError("not_found", "no open case of yours with that id")
        return self._close_case(now, case, by="citizen", outcome="citizen_ended", notes="")

    # ---- clerk side -----------------------------------------------------

    def set_clerk(
        self,
        now: float,
        clerk_id: str,
        region: str,
        skills: Iterable[str],
        presence: str,
        *,
        levels: dict[str, int] | None = None,
        display_name: str = "",
        reason: str = "set_status",
    ) -> list[Event]:
        try:
            wanted = Presence(presence)
        except ValueError:
            raise RoutingError("bad_request", f"unknown status {presence!r}") from None
        clerk = self.clerks.get(clerk_id)
        if clerk is None:
            clerk = self.clerks[clerk_id] = Clerk(clerk_id, province_of(region), sorted(skills))
        else:
            clerk.region = province_of(region)
            clerk.skills = sorted(skills)
        clerk.levels = {k: int(v) for k, v in sorted((levels or {}).items())}
        clerk.display_name = display_name or clerk.display_name
        events: list[Event] = []
        before = clerk.presence
        clerk.presence = wanted
        clerk.missed = False
        if wanted is Presence.AVAILABLE and before is not Presence.AVAILABLE:
            clerk.idle_since = now
        if clerk.offer_ticket:
            held = self.tickets[clerk.offer_ticket]
            if wanted is not Presence.AVAILABLE or not self._eligible(now, clerk, held):
                self._end_offer(now, held, "withdrawn", events)
        if wanted is Presence.OFFLINE and not clerk.holds_work:
            # Offline clerks with nothing in hand are forgotten; they come back with set_clerk.
            self.clerks.pop(clerk_id, None)
        events.append(ClerkChanged(clerk_id, clerk.status, reason))
        self._dispatch(now, events)
        self._touch(now, self._keys_of(clerk), events)
        return events

    def clerk_connected(self, now: float, clerk_id: str, conn: str) -> list[Event]:
        events: list[Event] = []
        if not self._open(conn, "clerk", clerk_id):
            return events
        clerk = self.clerks.get(clerk_id)
        if clerk is not None and clerk.gone_since is not None:
            clerk.gone_since = None
            if clerk.case_id and clerk.case_id in self.cases:
                case = self.cases[clerk.case_id]
                events.append(ClerkBack(case.case_id, case.citizen_id, clerk_id))
        return events

    def clerk_disconnected(self, now: float, clerk_id: str, conn: str) -> list[Event]:
        """One console connection fewer; with none left the clerk goes offline (offers
        withdrawn), and a case in hand waits ``reconnect_grace_s`` for them."""
        if not self._close(now, conn, "clerk", clerk_id) or self.clerks_online.get(clerk_id, 0) > 0:
            return []
        clerk = self.clerks.get(clerk_id)
        if clerk is None:
            return []
        events = self.set_clerk(
            now,
            clerk_id,
            clerk.region,
            clerk.skills,
            Presence.OFFLINE.value,
            levels=clerk.levels,
            reason="disconnected",
        )
        if clerk.case_id and clerk.case_id in self.cases and clerk.gone_since is None:
            clerk.gone_since = now
            case = self.cases[clerk.case_id]
            events.append(ClerkAway(case.case_id, case.citizen_id, clerk_id, now))
        return events

    def accept(self, now: float, clerk_id: str, ticket_id: str) -> list[Event]:
        ticket = self._offer_for(clerk_id, ticket_id)
        clerk = self.clerks[clerk_id]
        if ticket.offer_expires_at is not None and now >= ticket.offer_expires_at:
            # Refuse without changing anything; the next tick applies the time-out.
            raise RoutingError("conflict", "the offer has expired")
        self._unqueue(ticket)
        clerk.offer_ticket = None
        clerk.case_id = ticket.case_id
        # What re-queueing or transferring the case needs of the ticket (cheaper than asdict).
        saved = {f: getattr(ticket, f) for f in _SAVED_FIELDS}
        self.cases[ticket.case_id] = ActiveCase(ticket.case_id, ticket_id, ticket.citizen_id, clerk_id, now, saved)
        self.case_by_citizen[ticket.citizen_id] = ticket.case_id
        name = queue_name(ticket.key)
        recent = self.answers.setdefault(name, [])
        recent.append(now)
        del recent[:-ANSWER_SAMPLES]
        events: list[Event] = [
            Answered(ticket.view(), clerk_id, clerk.display_name, clerk.region, now),
            ClerkChanged(clerk_id, clerk.status, "answered"),
        ]
        self._dispatch(now, events)
        self._touch(now, [ticket.key], events)
        return events

    def decline(self, now: float, clerk_id: str, ticket_id: str) -> list[Event]:
        ticket = self._offer_for(clerk_id, ticket_id)
        events: list[Event] = []
        ticket.declined[clerk_id] = now + self.decline_cooldown_s
        self._end_offer(now, ticket, "declined", events)
        self._dispatch(now, events)
        self._touch(now, [ticket.key], events)
        return events

    def end_case(
        self,
        now: float,
        clerk_id: str,
        case_id: str,
        outcome: str = "resolved",
        notes: str = "",
        *,
        wrap_up: bool = False,
    ) -> list[Event]:
        """The clerk ends the call with its outcome. With ``wrap_up`` the clerk is not free yet: they write the
        case up (no offers meanwhile) and finish it with ``finish_wrap_up``, as after a citizen's hang-up."""
        case = self.cases.get(case_id)
        if case is None:
            raise RoutingError("not_found", "no such open case")
        if case.clerk_id != clerk_id:
            raise RoutingError("forbidden", "this case belongs to another clerk")
        return self._close_case(now, case, by="clerk", outcome=outcome, notes=notes, wrap_up=wrap_up)

    def finish_wrap_up(
        self, now: float, clerk_id: str, case_id: str, outcome: str = "resolved", notes: str = ""
    ) -> list[Event]:
        """The clerk has recorded the outcome of a case the citizen hung up; free for the next citizen."""
        clerk = self.clerks.get(clerk_id)
        if clerk is None or clerk.wrap_up_case != case_id:
            raise RoutingError("not_found", "no open case with that id")
        clerk.wrap_up_case = None
        return [WrappedUp(case_id, clerk_id, outcome, notes), *self._freed(now, clerk, "wrapped_up")]

    def transfer(
        self,
        now: float,
        clerk_id: str,
        case_id: str,
        *,
        target_region: str,
        skill: str,
        matter_code: str,
        note: str,
    ) -> list[Event]:
        """Hand a case to another queue: the citizen keeps the case number and request time and
        waits at the head of the new queue; the clerk is free again."""
        case = self.cases.get(case_id)
        if case is None:
            raise RoutingError("not_found", "no such open case")
        if case.clerk_id != clerk_id:
            raise RoutingError("forbidden", "this case belongs to another clerk")
        old = case.ticket
        skill = skill or str(old.get("skill"))
        matter_code = matter_code or str(old.get("matter_code"))
        if (province_of(target_region), skill) == (old.get("region"), old.get("skill")):
            raise RoutingError("bad_request", "the case is already in that queue")
        self._drop_case(case)
        ticket = self._reopen(now, case)
        ticket.region, ticket.skill, ticket.matter_code = province_of(target_region), skill, matter_code
        self._enqueue(ticket)
        events: list[Event] = [
            Transferred(ticket.view(), clerk_id, str(old.get("region")), str(old.get("skill")), note, now)
        ]
        clerk = self.clerks.get(clerk_id)
        if clerk is not None:
            clerk.case_id = None
            events += self._freed(now, clerk, "transferred")
        self._dispatch(now, events)
        self._touch(now, [ticket.key], events)
        return events

    # ---- supervisors ----------------------------------------------------

    def supervise_clerk(
        self, now: float, by: str, clerk_id: str, presence: str, provinces: Iterable[str] | None, note: str = ""
    ) -> list[Event]:
        """A supervisor sets a clerk's status (``available``, ``break``, ``offline``), as the clerk could.
        ``provinces``: those the supervisor oversees (None: all); a clerk elsewhere is answered like one
        not on shift."""
        clerk = self.clerks.get(clerk_id)
        if clerk is None or (provinces is not None and clerk.region not in set(provinces)):
            raise RoutingError("not_found", "no clerk on shift with that id in your provinces")
        before = clerk.wall_status
        case_id = clerk.case_id or clerk.wrap_up_case or ""
        events = self.set_clerk(
            now,
            clerk_id,
            clerk.region,
            clerk.skills,
            presence,
            levels=clerk.levels,
            display_name=clerk.display_name,
            reason="supervisor",
        )
        detail = {"from": before, "to": presence, "note": note}
        events.append(Supervised(by, "set_clerk_status", clerk_id, case_id, detail, now))
        return events

    def move_ticket(
        self,
        now: float,
        by: str,
        ticket_id: str,
        *,
        target_region: str,
        skill: str,
        matter_code: str,
        note: str,
        provinces: Iterable[str] | None,
    ) -> list[Event]:
        """A supervisor moves a waiting request to another queue. Like a transfer, the citizen keeps
        the case number and request time and waits at the head of the new queue (they have waited
        already); an offer on its way is withdrawn."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None or (provinces is not None and ticket.region not in set(provinces)):
            raise RoutingError("not_found", "no waiting request with that ticket in your provinces")
        if (province_of(target_region), skill) == ticket.key:
            raise RoutingError("bad_request", "the request is already in that queue")
        events: list[Event] = []
        if ticket.offered_to:
            self._end_offer(now, ticket, "withdrawn", events)
        old_key = ticket.key
        self._unqueue(ticket)
        ticket.region, ticket.skill, ticket.matter_code = province_of(target_region), skill, matter_code
        ticket.rank = HEAD_RANK
        ticket.queued_at = now
        ticket.declined = {}
        ticket.position = 0
        self._enqueue(ticket)
        events.append(Transferred(ticket.view(), "", old_key[0], old_key[1], note, now, by=by))
        self._dispatch(now, events)
        self._touch(now, [old_key, ticket.key], events)
        return events

    def service_level(
        self,
        now: float,
        key: QueueKey,
        below: bool,
        *,
        service_level: float = 0.0,
        counted: int = 0,
        window_s: int = 0,
        goal: float = 0.0,
    ) -> list[Event]:
        """A queue's recent service level is under the goal (``below``) or back: an alert the first
        time it goes under, none while it stays there, whichever node's wall reports it."""
        name = queue_name(key)
        if not below:
            self.sl_below.discard(name)
            return []
        if name in self.sl_below:
            return []
        self.sl_below.add(name)
        return [ServiceLevelAlert(key[0], key[1], service_level, counted, window_s, goal, now)]

    def node_down(self, now: float, node: str) -> list[Event]:
        """A node stopped heartbeating: every connection it had is dropped, as if each closed."""
        prefix = node + "/"
        gone = [(k, v) for k, v in self.connections.items() if k.startswith(prefix)]
        events: list[Event] = []
        for conn, (role, subject) in gone:
            if role == "citizen":
                events += self.citizen_disconnected(now, subject, conn)
            else:
                events += self.clerk_disconnected(now, subject, conn)
        citizens = sum(1 for _, (role, _s) in gone if role == "citizen")
        events.append(NodeLost(node, citizens, len(gone) - citizens))
        return events

    # ---- time -----------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Apply every deadline that has passed: offer time-outs, reconnect grace, expiry,
        decline cool-downs, overflow, clerks who did not come back, pending positions."""
        events: list[Event] = []
        touched: dict[QueueKey, None] = {}
        for ticket in list(self.tickets.values()):
            if ticket.offer_expires_at is not None and now >= ticket.offer_expires_at:
                self._expire(now, ticket, events)
                touched[ticket.key] = None
            if ticket.gone_since is not None and now >= ticket.gone_since + self.reconnect_grace_s:
                self._close_ticket(now, ticket, "abandoned", events)
                touched[ticket.key] = None
                continue
            if now >= ticket.queued_at + self.max_wait_s:
                self._close_ticket(now, ticket, "expired", events)
                touched[ticket.key] = None
                continue
            for kind, after in self.alert_after:
                if kind not in ticket.alerted and now >= ticket.requested_at + after:
                    ticket.alerted.append(kind)
                    events.append(WaitAlert(ticket.view(), kind, now, round(now - ticket.requested_at, 3)))
            for clerk_id, until in list(ticket.declined.items()):
                if now >= until:
                    del ticket.declined[clerk_id]
                    touched[ticket.key] = None
            rule = self.policy.overflow.get(ticket.key)
            if rule is not None and not ticket.offered_to and now >= ticket.queued_at + rule.after_s:
                touched[ticket.key] = None
        for clerk in list(self.clerks.values()):
            if clerk.gone_since is not None and now >= clerk.gone_since + self.reconnect_grace_s:
                self._clerk_lost(now, clerk, events, touched)
        self.early_drops = {k: v for k, v in self.early_drops.items() if now - v < 3600}
        while self.resume:
            citizen_id, (_, issued) = next(iter(self.resume.items()))
            if now < issued + self.resume_ttl_s:
                break
            del self.resume[citizen_id]  # its token has expired anyway
        if touched:
            self._dispatch(now, events)
        self._touch(now, list(touched), events)
        return events

    def next_deadline(self) -> float | None:
        deadlines: list[float] = []
        for t in self.tickets.values():
            if t.offer_expires_at is not None:
                deadlines.append(t.offer_expires_at)
            if t.gone_since is not None:
                deadlines.append(t.gone_since + self.reconnect_grace_s)
            deadlines.append(t.queued_at + self.max_wait_s)
            deadlines.extend(t.declined.values())
            for kind, after in self.alert_after:
                if kind not in t.alerted:
                    deadlines.append(t.requested_at + after)
                    break  # the later kinds come after this one
        for key, rule in self.policy.overflow.items():
            # The oldest ticket of a queue that overflows: a pool may take it once it is old enough.
            for *_, tid in self.queues.get(key, ())[:1]:
                deadlines.append(self.tickets[tid].queued_at + rule.after_s)
        for clerk in self.clerks.values():
            if clerk.gone_since is not None:
                deadlines.append(clerk.gone_since + self.reconnect_grace_s)
        for name, since in self.dirty.items():
            deadlines.append(max(since, self.flushed.get(name, 0.0) + self.position_interval_s))
        return min(deadlines) if deadlines else None

    # ---- queries --------------------------------------------------------

    def ticket_of(self, citizen_id: str) -> Ticket | None:
        ticket_id = self.by_citizen.get(citizen_id)
        return self.tickets.get(ticket_id) if ticket_id else None

    def case_of_citizen(self, citizen_id: str) -> ActiveCase | None:
        case_id = self.case_by_citizen.get(citizen_id)
        return self.cases.get(case_id) if case_id else None

    def staffed(self, key: QueueKey) -> int:
        """Clerks on shift for a queue: available, offered, in a case or wrapping up."""
        return sum(
            1
            for c in self.clerks.values()
            if c.level(key) is not None and (c.presence is Presence.AVAILABLE or c.case_id or c.wrap_up_case)
        )

    def on_shift(self, key: QueueKey) -> int:
        """Clerks who serve a queue and are logged in (on a break too: they come back)."""
        return sum(
            1
            for c in self.clerks.values()
            if c.level(key) is not None and (c.presence is not Presence.OFFLINE or c.holds_work)
        )

    def estimate(self, now: float, key: QueueKey, position: int) -> int | None:
        """Seconds until the ticket at ``position`` is likely answered, or None when nobody
        who serves the queue is on shift (an honest "unknown", not a made-up figure).

        From the queue's recent answer rate when it has one (answers in the last half hour),
        otherwise from the configured handle time and the clerks on shift."""
        return self._estimate(self._pace(now, key), position)

    def _pace(self, now: float, key: QueueKey) -> tuple[int, float | None]:
        """Clerks on shift for a queue, and its answers per second over the last half hour
        (None with fewer than three): what every estimate of that queue is made from."""
        staffed = self.on_shift(key)
        recent = [t for t in self.answers.get(queue_name(key), ()) if now - t <= ANSWER_WINDOW_S]
        rate = len(recent) / max(now - recent[0], 1.0) if len(recent) >= 3 else None
        return staffed, rate

    def _estimate(self, pace: tuple[int, float | None], position: int) -> int | None:
        staffed, rate = pace
        if staffed == 0:
            return None
        if rate is not None:
            return math.ceil(max(0, position - 1) / rate)
        return estimate_wait(position, staffed, self.aht_s)

    def snapshot(self, now: float) -> dict[str, Any]:
        """Queues and clerks as a supervisor sees them."""
        queues = []
        # Queues with someone waiting, and those a clerk on shift serves (staffed with nobody waiting).
        keys = {k for k, entries in self.queues.items() if entries}
        keys.update((c.region, skill) for c in self.clerks.values() for skill in c.skills)
        for region, skill in sorted(keys):
            entries = self.queues.get((region, skill), [])
            waits = [now - self.tickets[tid].requested_at for *_, tid in entries]
            queues.append(
                {
                    "region": region,
                    "skill": skill,
                    "waiting": len(entries),
                    "offered": sum(1 for *_, tid in entries if self.tickets[tid].offered_to),
                    "oldest_wait_s": round(max(waits), 1) if waits else 0.0,
                    "staffed": self.staffed((region, skill)),
                }
            )
        by_status: dict[str, int] = {}
        clerks = []
        for c in sorted(self.clerks.values(), key=lambda c: c.clerk_id):
            by_status[c.wall_status] = by_status.get(c.wall_status, 0) + 1
            clerks.append(
                {
                    "clerk_id": c.clerk_id,
                    "region": c.region,
                    "status": c.wall_status,
                    "case_id": c.case_id or c.wrap_up_case,
                    "since": self.shown[c.clerk_id][2] if c.clerk_id in self.shown else None,
                    "skills": list(c.skills),
                }
            )
        return {
            "queues": queues,
            "clerks": clerks,
            "clerks_by_status": by_status,
            "open_cases": len(self.cases),
            "sl_below": sorted(self.sl_below),
        }

    def waiting(self, now: float) -> list[dict[str, Any]]:
        """Every waiting citizen, longest wait first."""
        return sorted(
            (
                {
                    "ticket_id": t.ticket_id,
                    "case_id": t.case_id,
                    "region": t.region,
                    "skill": t.skill,
                    "matter_code": t.matter_code,
                    "origin_region": t.origin_region,
                    "channel": t.channel,
                    "waited_s": round(now - t.requested_at, 1),
                    "state": t.state.value,
                }
                for t in self.tickets.values()
            ),
            key=lambda w: (-w["waited_s"], w["ticket_id"]),
        )

    def citizen_view(self, now: float, citizen_id: str) -> dict[str, Any]:
        """What a reconnecting citizen is told: their place in the queue, or their call."""
        ticket = self.ticket_of(citizen_id)
        case = self.case_of_citizen(citizen_id)
        out: dict[str, Any] = {"ticket": None, "case": None}
        if ticket is not None:
            position = self._rank_of(ticket)
            out["ticket"] = {
                "ticket_id": ticket.ticket_id,
                "case_id": ticket.case_id,
                "position": position,
                "estimated_wait_s": self.estimate(now, ticket.key, position),
            }
        if case is not None:
            clerk = self.clerks.get(case.clerk_id)
            out["case"] = {
                "case_id": case.case_id,
                "ticket_id": case.ticket_id,
                "clerk_id": case.clerk_id,
                "clerk_name": clerk.display_name if clerk else "",
                "clerk_region": clerk.region if clerk else "",
                "clerk_away": bool(clerk and clerk.gone_since is not None),
            }
        return out

    def clerk_view(self, clerk_id: str) -> dict[str, Any] | None:
        """What a reconnecting console is told: its status and the case in hand."""
        clerk = self.clerks.get(clerk_id)
        if clerk is None:
            return None
        case = self.cases.get(clerk.case_id) if clerk.case_id else None
        return {
            "status": clerk.status,
            "case": asdict(case) if case is not None else None,
            "wrap_up_case": clerk.wrap_up_case,
        }

    def note_statuses(self, now: float, events: Iterable[Event]) -> list[Event]:
        """After a command: a ``ClerkStatusChanged`` for each clerk the events name whose wall status
        changed (every change comes with an event naming the clerk). A clerk forgotten by the core
        (offline with nothing in hand) is ``offline``."""
        out: list[Event] = []
        for ev in events:
            clerk_id = getattr(ev, "clerk_id", None) or getattr(ev, "from_clerk", None)
            if not isinstance(clerk_id, str) or not clerk_id:
                continue
            clerk = self.clerks.get(clerk_id)
            was = self.shown.get(clerk_id)
            status = clerk.wall_status if clerk is not None else "offline"
            if was is None and status == "offline":
                continue
            if was is None or was[0] != status:
                region = clerk.region if clerk is not None else (was[1] if was else "")
                if status == "offline":
                    self.shown.pop(clerk_id, None)
                else:
                    self.shown[clerk_id] = (status, region, now)
                out.append(ClerkStatusChanged(clerk_id, region, status, now))
        return out

    # ---- state for snapshots ----------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "tickets": [asdict(t) for t in self.tickets.values()],
            "clerks": [asdict(c) for c in self.clerks.values()],
            "cases": [asdict(c) for c in self.cases.values()],
            "connections": [[k, r, s] for k, (r, s) in self.connections.items()],
            "early_drops": dict(self.early_drops),
            "conn_address": dict(self.conn_address),
            "resume": [[c, r, t] for c, (r, t) in self.resume.items()],
            "answers": {k: list(v) for k, v in self.answers.items()},
            "dirty": dict(self.dirty),
            "flushed": dict(self.flushed),
            "shown": {k: list(v) for k, v in self.shown.items()},
            "sl_below": sorted(self.sl_below),
        }

    def load(self, data: dict[str, Any]) -> None:
        self.seq = int(data.get("seq", 0))
        self.tickets = {t["ticket_id"]: Ticket(**t) for t in data.get("tickets", [])}
        self.by_citizen = {t.citizen_id: t.ticket_id for t in self.tickets.values()}
        self.clerks = {}
        for c in data.get("clerks", []):
            c = dict(c)
            c["presence"] = Presence(c["presence"])
            self.clerks[c["clerk_id"]] = Clerk(**c)
        self.cases = {c["case_id"]: ActiveCase(**c) for c in data.get("cases", [])}
        self.case_by_citizen = {c.citizen_id: c.case_id for c in self.cases.values()}
        self.connections = {}
        self.citizens_online, self.clerks_online = {}, {}
        self.citizen_conns, self.conn_address, self.conns_by_address = {}, {}, {}
        self.early_drops = {}
        addresses = data.get("conn_address", {})
        for key, role, subject in data.get("connections", []):
            self._open(key, role, subject, addresses.get(key, ""))
        self.open_by_address = {}
        for t in self.tickets.values():
            if t.address:
                self.open_by_address[t.address] = self.open_by_address.get(t.address, 0) + 1
        self.resume = {c: (r, float(t)) for c, r, t in data.get("resume", [])}
        self.early_drops = {k: float(v) for k, v in data.get("early_drops", {}).items()}
        self.answers = {k: [float(x) for x in v] for k, v in data.get("answers", {}).items()}
        self.dirty = {k: float(v) for k, v in data.get("dirty", {}).items()}
        self.flushed = {k: float(v) for k, v in data.get("flushed", {}).items()}
        self.shown = {k: (str(v[0]), str(v[1]), float(v[2])) for k, v in data.get("shown", {}).items()}
        self.sl_below = {str(k) for k in data.get("sl_below", [])}
        self.queues = {}
        for t in sorted(self.tickets.values(), key=lambda t: (t.order, t.ticket_id)):
            self.queues.setdefault(t.key, []).append((*t.order, t.ticket_id))

    # ---- internals ------------------------------------------------------

    def _open(self, conn: str, role: str, subject: str, address: str = "") -> bool:
        if conn in self.connections:
            return False  # a command applied twice changes nothing the second time
        if self.early_drops.pop(conn, None) is not None:
            return False  # its drop was applied first: it is already closed
        self.connections[conn] = (role, subject)
        counts = self.citizens_online if role == "citizen" else self.clerks_online
        counts[subject] = counts.get(subject, 0) + 1
        if role == "citizen":
            self.citizen_conns.setdefault(subject, []).append(conn)
            if address:
                self.conn_address[conn] = address
                self.conns_by_address[address] = self.conns_by_address.get(address, 0) + 1
        return True

    def _close(self, now: float, conn: str, role: str, subject: str) -> bool:
        if self.connections.get(conn) != (role, subject):
            self.early_drops[conn] = now
            return False
        del self.connections[conn]
        counts = self.citizens_online if role == "citizen" else self.clerks_online
        n = counts.get(subject, 0) - 1
        if n <= 0:
            counts.pop(subject, None)
        else:
            counts[subject] = n
        if role == "citizen":
            conns = self.citizen_conns.get(subject, [])
            if conn in conns:
                conns.remove(conn)
            if not conns:
                self.citizen_conns.pop(subject, None)
            address = self.conn_address.pop(conn, "")
            if address:
                _decrement(self.conns_by_address, address)
        return True

    def _enqueue(self, ticket: Ticket) -> None:
        self.seq += 1
        ticket.seq = self.seq
        self.tickets[ticket.ticket_id] = ticket
        self.by_citizen[ticket.citizen_id] = ticket.ticket_id
        if ticket.address:
            self.open_by_address[ticket.address] = self.open_by_address.get(ticket.address, 0) + 1
        bisect.insort(self.queues.setdefault(ticket.key, []), (*ticket.order, ticket.ticket_id))

    def _rank_of(self, ticket: Ticket) -> int:
        entries = self.queues.get(ticket.key, [])
        return bisect.bisect_left(entries, (*ticket.order, ticket.ticket_id)) + 1

    def _reopen(self, now: float, case: ActiveCase) -> Ticket:
        """The ticket of an open case, back in a queue at the head, with its request time."""
        ticket = Ticket(**{k: v for k, v in case.ticket.items() if k in _TICKET_FIELDS})
        ticket.rank = HEAD_RANK
        ticket.queued_at = now
        ticket.offered_to = ticket.offer_expires_at = None
        ticket.declined = {}
        ticket.position = 0
        ticket.alerted = [kind for kind, _ in self.alert_after]  # answered once: the wait was served
        online = self.citizens_online.get(case.citizen_id, 0) > 0
        ticket.gone_since = None if online else now
        return ticket

    def _clerk_lost(self, now: float, clerk: Clerk, events: list[Event], touched: dict[QueueKey, None]) -> None:
        clerk.gone_since = None
        case = self.cases.get(clerk.case_id) if clerk.case_id else None
        if case is not None:
            self._drop_case(case)
        clerk.case_id = None
        if clerk.presence is Presence.OFFLINE and not clerk.holds_work:
            self.clerks.pop(clerk.clerk_id, None)
        events.append(ClerkChanged(clerk.clerk_id, clerk.status, "lost"))
        if case is not None and case.ticket:
            ticket = self._reopen(now, case)
            self._enqueue(ticket)
            events.append(CaseRequeued(ticket.view(), clerk.clerk_id, now))
            touched[ticket.key] = None

    def _offer_for(self, clerk_id: str, ticket_id: str) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is not None and ticket.offered_to and ticket.offered_to != clerk_id:
            raise RoutingError("forbidden", "this offer was made to another clerk")
        if ticket is None or ticket.offered_to != clerk_id or clerk_id not in self.clerks:
            raise RoutingError("not_found", "no such offer for this clerk (it may have expired or been withdrawn)")
        return ticket

    def _keys_of(self, clerk: Clerk) -> list[QueueKey]:
        keys: dict[QueueKey, None] = {}
        for s in clerk.skills:
            key = (clerk.region, s)
            keys[key] = None
            for src in self.overflow_from.get(key, ()):
                keys[src] = None
        return list(keys)

    def _unqueue(self, ticket: Ticket) -> None:
        entries = self.queues.get(ticket.key, [])
        i = bisect.bisect_left(entries, (*ticket.order, ticket.ticket_id))
        if i < len(entries) and entries[i][2] == ticket.ticket_id:
            del entries[i]
        if not entries:
            self.queues.pop(ticket.key, None)
        del self.tickets[ticket.ticket_id]
        self.by_citizen.pop(ticket.citizen_id, None)
        if ticket.address:
            _decrement(self.open_by_address, ticket.address)

    def _close_ticket(self, now: float, ticket: Ticket, reason: str, events: list[Event]) -> None:
        if ticket.offered_to:
            self._end_offer(now, ticket, "cancelled", events)
        self._unqueue(ticket)
        # An abandon ends when the citizen left, not when the grace ran out: that is how long
        # they waited, and what tells a short abandon (docs/sla.md).
        ended = ticket.gone_since if reason == "abandoned" and ticket.gone_since is not None else now
        events.append(TicketClosed(ticket.view(), reason, ended))

    def _drop_case(self, case: ActiveCase) -> None:
        del self.cases[case.case_id]
        if self.case_by_citizen.get(case.citizen_id) == case.case_id:
            del self.case_by_citizen[case.citizen_id]

    def _close_case(
        self, now: float, case: ActiveCase, *, by: str, outcome: str, notes: str, wrap_up: bool = False
    ) -> list[Event]:
        self._drop_case(case)
        events: list[Event] = [
            CaseClosed(case.case_id, case.ticket_id, case.citizen_id, case.clerk_id, by, outcome, notes, now)
        ]
        clerk = self.clerks.get(case.clerk_id)
        if clerk is not None:
            clerk.case_id = None
            clerk.gone_since = None
            if by == "citizen" or wrap_up:
                clerk.wrap_up_case = case.case_id
                reason = "citizen_ended" if by == "citizen" else "clerk_ended"
                events.append(ClerkChanged(clerk.clerk_id, clerk.status, reason))
            else:
                events += self._freed(now, clerk, "case_ended")
        return events

    def _freed(self, now: float, clerk: Clerk, reason: str) -> list[Event]:
        clerk.idle_since = now
        if clerk.presence is Presence.OFFLINE and not clerk.holds_work:
            self.clerks.pop(clerk.clerk_id, None)
        events: list[Event] = [ClerkChanged(clerk.clerk_id, clerk.status, reason)]
        self._dispatch(now, events)
        self._touch(now, self._keys_of(clerk), events)
        return events

    def _end_offer(self, now: float, ticket: Ticket, reason: str, events: list[Event]) -> None:
        clerk_id = ticket.offered_to
        assert clerk_id is not None
        ticket.offered_to = None
        ticket.offer_expires_at = None
        clerk = self.clerks.get(clerk_id)
        if clerk is not None and clerk.offer_ticket == ticket.ticket_id:
            clerk.offer_ticket = None
            clerk.idle_since = now
            if clerk.presence is Presence.OFFLINE and not clerk.holds_work:
                self.clerks.pop(clerk_id, None)
        events.append(OfferEnded(ticket.ticket_id, ticket.case_id, clerk_id, reason))

    def _expire(self, now: float, ticket: Ticket, events: list[Event]) -> None:
        clerk_id = ticket.offered_to
        assert clerk_id is not None
        self._end_offer(now, ticket, "expired", events)
        ticket.declined[clerk_id] = now + self.decline_cooldown_s
        clerk = self.clerks.get(clerk_id)
        if clerk is not None and clerk.presence is Presence.AVAILABLE:
            clerk.presence = Presence.BREAK
            clerk.missed = True
            events.append(ClerkChanged(clerk_id, clerk.status, "missed_offer"))

    def _eligible(self, now: float, clerk: Clerk, ticket: Ticket) -> bool:
        return self._preference(now, clerk, ticket) is not None

    def _preference(self, now: float, clerk: Clerk, ticket: Ticket) -> int | None:
        """How well ``clerk`` fits ``ticket``: their skill level for its queue, 0 through an
        overflow pool once the ticket has waited long enough, None if not at all."""
        level = clerk.level(ticket.key)
        if level is not None:
            return level
        rule = self.policy.overflow.get(ticket.key)
        if rule is not None and now >= ticket.queued_at + rule.after_s:
            for pool in rule.to:
                if clerk.level(pool) is not None:
                    return 0
        return None

    def _dispatch(self, now: float, events: list[Event]) -> None:
        free = [c for c in self.clerks.values() if c.free]
        if not free:
            return
        # Queues that a free clerk could take from, directly or through an overflow pool.
        keys: dict[QueueKey, None] = {}
        for c in free:
            for key in self._keys_of(c):
                if key in self.queues:
                    keys[key] = None
        if not keys:
            return
        # Walk those queues merged in (rank, arrival) order, lazily: a pairing looks at the
        # heads, not at every waiting citizen.
        for *_, ticket_id in heapq.merge(*(self.queues[k] for k in keys)):
            ticket = self.tickets[ticket_id]
            if ticket.offered_to or ticket.gone_since is not None:
                continue
            best: Clerk | None = None
            best_rank: tuple[int, float, str] | None = None
            for c in free:
                if ticket.declined.get(c.clerk_id, 0.0) > now:
                    continue
                pref = self._preference(now, c, ticket)
                if pref is None:
                    continue
                rank = (-pref, c.idle_since, c.clerk_id)
                if best_rank is None or rank < best_rank:
                    best, best_rank = c, rank
            if best is None:
                continue
            free.remove(best)
            ticket.offered_to = best.clerk_id
            ticket.offer_expires_at = now + self.offer_timeout_s
            best.offer_ticket = ticket_id
            events.append(Offered(ticket.view(), best.clerk_id, ticket.offer_expires_at, now))
            events.append(ClerkChanged(best.clerk_id, best.status, "offered"))
            if not free:
                break

    def _touch(self, now: float, keys: Iterable[QueueKey], events: list[Event]) -> None:
        """Positions of these queues changed: send them now, or once the interval has passed."""
        for key in keys:
            name = queue_name(key)
            self.dirty.setdefault(name, now)
        for name in list(self.dirty):
            if now >= self.flushed.get(name, -math.inf) + self.position_interval_s:
                del self.dirty[name]
                self.flushed[name] = now
                region, _, skill = name.partition("/")
                self._positions(now, (region, skill), events)

    def _positions(self, now: float, key: QueueKey, events: list[Event]) -> None:
        entries = self.queues.get(key)
        if not entries:
            return
        pace = self._pace(now, key)
        for i, (*_, ticket_id) in enumerate(entries, start=1):
            ticket = self.tickets[ticket_id]
            if ticket.position != i:
                ticket.position = i
                events.append(PositionChanged(ticket_id, ticket.citizen_id, i, self._estimate(pace, i)))


_TICKET_FIELDS = frozenset(Ticket.__dataclass_fields__)
# The ticket fields an open case keeps, to put the citizen back in a queue.
_SAVED_FIELDS = (
    "ticket_id",
    "case_id",
    "citizen_id",
    "region",
    "skill",
    "matter_code",
    "origin_region",
    "channel",
    "priority",
    "requested_at",
    "queued_at",
    "kiosk_id",
    "language",
    "rank",
    "seq",
    "address",
)


# Restored from the case records, which do not keep resume ids: the citizen's first resume
# token of a valid signature claims the place (and gets the next id like any other).
ANY_RESUME = "*"


def _decrement(counts: dict[str, int], key: str) -> None:
    n = counts.get(key, 0) - 1
    if n <= 0:
        counts.pop(key, None)
    else:
        counts[key] = n
