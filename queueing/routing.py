"""The routing core: who is offered which waiting citizen, and when.

Pure and synchronous: every method takes ``now`` (seconds since the epoch)
and returns the events it caused; no I/O, no clock, no randomness. Backends
hold one :class:`Router` (in memory) or load and store its state around each
operation (Redis), and the node that applied an operation carries out its
events. The same code runs in tests and in a simulation in virtual time.

Policy (first step; skills routing with overflow comes later):

* one FIFO queue per (target province, skill); ``priority`` tickets go ahead
  of ``normal`` ones, each kind in arrival order;
* a ticket is offered to an available clerk of that province with that skill,
  the one idle longest; one offer per ticket and per clerk at a time;
* an offer not answered within ``offer_timeout_s`` goes to the next clerk and
  the clerk who let it lapse is put on break, so no more offers go to a clerk
  who is away from the console;
* a clerk who declines is not offered the same ticket again for
  ``decline_cooldown_s`` unless nobody else can take it after that;
* a citizen whose connection dropped keeps their place for
  ``reconnect_grace_s`` and is not offered meanwhile; past it the ticket is
  abandoned.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


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


PRIORITY_RANK = {"priority": 0, "normal": 1}


def province_of(region: str) -> str:
    """The province code (GB/T 2260) of any region code: 320500 -> 320000."""
    return region[:2] + "0000"


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
    requested_at: float
    seq: int = 0
    offered_to: str | None = None
    offer_expires_at: float | None = None
    declined: dict[str, float] = field(default_factory=dict)  # clerk id -> not before
    gone_since: float | None = None
    position: int = 0

    @property
    def state(self) -> TicketState:
        return TicketState.OFFERED if self.offered_to else TicketState.WAITING

    @property
    def key(self) -> tuple[str, str]:
        return (self.region, self.skill)

    @property
    def order(self) -> tuple[int, int]:
        return (PRIORITY_RANK.get(self.priority, 1), self.seq)


@dataclass
class Clerk:
    clerk_id: str
    region: str
    skills: list[str]
    presence: Presence = Presence.OFFLINE
    idle_since: float = 0.0
    offer_ticket: str | None = None
    case_id: str | None = None
    wrap_up_case: str | None = None  # the citizen hung up; the clerk still records the outcome

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


@dataclass
class ActiveCase:
    case_id: str
    ticket_id: str
    citizen_id: str
    clerk_id: str
    answered_at: float


# ---- events -------------------------------------------------------------


@dataclass(frozen=True)
class Offered:
    ticket: Ticket
    clerk_id: str
    expires_at: float


@dataclass(frozen=True)
class OfferEnded:
    ticket_id: str
    case_id: str
    clerk_id: str
    reason: str  # declined | expired | withdrawn | cancelled | citizen_away


@dataclass(frozen=True)
class Answered:
    ticket: Ticket
    clerk_id: str


@dataclass(frozen=True)
class TicketClosed:
    ticket: Ticket
    reason: str  # cancelled | abandoned


@dataclass(frozen=True)
class PositionChanged:
    ticket_id: str
    citizen_id: str
    position: int
    estimated_wait_s: int


@dataclass(frozen=True)
class ClerkChanged:
    clerk_id: str
    status: str
    reason: str


@dataclass(frozen=True)
class CaseClosed:
    case: ActiveCase


Event = Offered | OfferEnded | Answered | TicketClosed | PositionChanged | ClerkChanged | CaseClosed


def estimate_wait(position: int, staffed: int, aht_s: float) -> int:
    """Seconds until a ticket at ``position`` is likely answered.

    A deliberately simple estimate: tickets ahead are served ``staffed`` at a
    time, each taking one average handle time; with nobody staffed we still
    give the figure for one clerk rather than infinity.
    """
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
    ) -> None:
        self.offer_timeout_s = offer_timeout_s
        self.reconnect_grace_s = reconnect_grace_s
        self.decline_cooldown_s = decline_cooldown_s
        self.aht_s = aht_s
        self.tickets: dict[str, Ticket] = {}
        self.queues: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        self.clerks: dict[str, Clerk] = {}
        self.cases: dict[str, ActiveCase] = {}
        self.by_citizen: dict[str, str] = {}  # citizen id -> their waiting ticket id
        # Open connections per citizen and per clerk, across all nodes; may dip below zero
        # for a moment when a drop is applied before the connection it ends.
        self.citizens_online: dict[str, int] = {}
        self.clerks_online: dict[str, int] = {}
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
    ) -> list[Event]:
        if self.ticket_of(citizen_id) or self.case_of_citizen(citizen_id):
            raise RoutingError("conflict", "this citizen already has an open request")
        if ticket_id in self.tickets:
            raise RoutingError("conflict", "duplicate ticket id")
        self.seq += 1
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
            seq=self.seq,
        )
        if self.citizens_online.get(citizen_id, 0) <= 0:
            ticket.gone_since = now  # the connection closed while the request was on its way
        self.tickets[ticket_id] = ticket
        self.by_citizen[citizen_id] = ticket_id
        bisect.insort(self.queues.setdefault(ticket.key, []), (*ticket.order, ticket_id))
        events: list[Event] = []
        self._dispatch(now, events)
        self._positions([ticket.key], events)
        return events

    def cancel(self, now: float, citizen_id: str, ticket_id: str) -> list[Event]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise RoutingError("not_found", "no such waiting ticket")
        if ticket.citizen_id != citizen_id:
            raise RoutingError("forbidden", "this ticket belongs to someone else")
        events: list[Event] = []
        self._close_ticket(now, ticket, "cancelled", events)
        self._dispatch(now, events)
        self._positions([ticket.key], events)
        return events

    def citizen_connected(self, now: float, citizen_id: str) -> list[Event]:
        """One more connection of this citizen (on any node); a waiting ticket is present again."""
        events: list[Event] = []
        if self._count(self.citizens_online, citizen_id, +1) > 0:
            ticket = self.ticket_of(citizen_id)
            if ticket is not None and ticket.gone_since is not None:
                ticket.gone_since = None
                self._dispatch(now, events)
                self._positions([ticket.key], events)
        return events

    def citizen_disconnected(self, now: float, citizen_id: str) -> list[Event]:
        """One connection fewer. With none left the ticket keeps its place for the grace period,
        is not offered meanwhile, and an offer it holds goes back (the clerk cannot reach anyone).

        Connections are counted, not flagged, so a reconnect through another node that is
        noticed before the old node notices the drop leaves the citizen present."""
        events: list[Event] = []
        if self._count(self.citizens_online, citizen_id, -1) <= 0:
            ticket = self.ticket_of(citizen_id)
            if ticket is not None and ticket.gone_since is None:
                ticket.gone_since = now
                if ticket.offered_to:
                    self._end_offer(now, ticket, "citizen_away", events)
                    self._dispatch(now, events)
        return events

    # ---- clerk side -----------------------------------------------------

    def set_clerk(self, now: float, clerk_id: str, region: str, skills: list[str], presence: str) -> list[Event]:
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
        events: list[Event] = []
        before = clerk.presence
        clerk.presence = wanted
        if wanted is Presence.AVAILABLE and before is not Presence.AVAILABLE:
            clerk.idle_since = now
        if clerk.offer_ticket:
            held = self.tickets[clerk.offer_ticket]
            still_fits = held.region == clerk.region and held.skill in clerk.skills
            if wanted is not Presence.AVAILABLE or not still_fits:
                self._end_offer(now, held, "withdrawn", events)
        if wanted is Presence.OFFLINE and not clerk.holds_work:
            # Offline clerks with nothing in hand are forgotten; they come back with set_clerk.
            self.clerks.pop(clerk_id, None)
        events.append(ClerkChanged(clerk_id, clerk.status, "set_status"))
        self._dispatch(now, events)
        self._positions(self._keys_of(clerk), events)
        return events

    def clerk_connected(self, now: float, clerk_id: str) -> list[Event]:
        self._count(self.clerks_online, clerk_id, +1)
        return []

    def clerk_disconnected(self, now: float, clerk_id: str, region: str, skills: list[str]) -> list[Event]:
        """One console connection fewer; with none left, the clerk goes offline (offers withdrawn)."""
        if self._count(self.clerks_online, clerk_id, -1) > 0:
            return []
        return self.set_clerk(now, clerk_id, region, skills, Presence.OFFLINE.value)

    def accept(self, now: float, clerk_id: str, ticket_id: str) -> list[Event]:
        ticket = self._offer_for(clerk_id, ticket_id)
        clerk = self.clerks[clerk_id]
        if ticket.offer_expires_at is not None and now >= ticket.offer_expires_at:
            # Refuse without changing anything (an operation that raises stores nothing);
            # the ticker applies the time-out.
            raise RoutingError("conflict", "the offer has expired")
        self._unqueue(ticket)
        clerk.offer_ticket = None
        clerk.case_id = ticket.case_id
        self.cases[ticket.case_id] = ActiveCase(ticket.case_id, ticket_id, ticket.citizen_id, clerk_id, now)
        events: list[Event] = [Answered(ticket, clerk_id), ClerkChanged(clerk_id, clerk.status, "answered")]
        self._dispatch(now, events)
        self._positions([ticket.key], events)
        return events

    def decline(self, now: float, clerk_id: str, ticket_id: str) -> list[Event]:
        ticket = self._offer_for(clerk_id, ticket_id)
        events: list[Event] = []
        ticket.declined[clerk_id] = now + self.decline_cooldown_s
        self._end_offer(now, ticket, "declined", events)
        self._dispatch(now, events)
        self._positions([ticket.key], events)
        return events

    def end_case(self, now: float, clerk_id: str, case_id: str) -> list[Event]:
        case = self.cases.get(case_id)
        if case is None:
            raise RoutingError("not_found", "no such open case")
        if case.clerk_id != clerk_id:
            raise RoutingError("forbidden", "this case belongs to another clerk")
        return self._close_case(now, case)

    def hang_up(self, now: float, citizen_id: str, case_id: str) -> list[Event]:
        """The citizen leaves the call; the clerk is freed and wraps the case up."""
        case = self.cases.get(case_id)
        if case is None:
            raise RoutingError("not_found", "no such open case")
        if case.citizen_id != citizen_id:
            raise RoutingError("forbidden", "this case is not yours")
        return self._close_case(now, case, wrap_up=True)

    def finish_wrap_up(self, now: float, clerk_id: str, case_id: str) -> list[Event]:
        """The clerk has recorded the outcome of a case the citizen hung up; free for the next citizen."""
        clerk = self.clerks.get(clerk_id)
        if clerk is None or clerk.wrap_up_case != case_id:
            raise RoutingError("not_found", "no open case with that id")
        clerk.wrap_up_case = None
        return self._freed(now, clerk, "wrapped_up")

    def _close_case(self, now: float, case: ActiveCase, wrap_up: bool = False) -> list[Event]:
        del self.cases[case.case_id]
        events: list[Event] = [CaseClosed(case)]
        clerk = self.clerks.get(case.clerk_id)
        if clerk is not None:
            clerk.case_id = None
            if wrap_up:
                clerk.wrap_up_case = case.case_id
                events.append(ClerkChanged(clerk.clerk_id, clerk.status, "citizen_ended"))
            else:
                events += self._freed(now, clerk, "case_ended")
        return events

    def _freed(self, now: float, clerk: Clerk, reason: str) -> list[Event]:
        clerk.idle_since = now
        if clerk.presence is Presence.OFFLINE:
            self.clerks.pop(clerk.clerk_id, None)
        events: list[Event] = [ClerkChanged(clerk.clerk_id, clerk.status, reason)]
        self._dispatch(now, events)
        self._positions(self._keys_of(clerk), events)
        return events

    # ---- time -----------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Apply every deadline that has passed: offer time-outs, reconnect grace, decline cool-downs."""
        events: list[Event] = []
        touched: set[tuple[str, str]] = set()
        for ticket in list(self.tickets.values()):
            if ticket.offer_expires_at is not None and now >= ticket.offer_expires_at:
                self._expire(now, ticket, events)
                touched.add(ticket.key)
            if ticket.gone_since is not None and now - ticket.gone_since >= self.reconnect_grace_s:
                self._close_ticket(now, ticket, "abandoned", events)
                touched.add(ticket.key)
            for clerk_id, until in list(ticket.declined.items()):
                if now >= until:
                    del ticket.declined[clerk_id]
                    touched.add(ticket.key)
        if touched:
            self._dispatch(now, events)
            self._positions(sorted(touched), events)
        return events

    def next_deadline(self) -> float | None:
        deadlines: list[float] = []
        for t in self.tickets.values():
            if t.offer_expires_at is not None:
                deadlines.append(t.offer_expires_at)
            if t.gone_since is not None:
                deadlines.append(t.gone_since + self.reconnect_grace_s)
            deadlines.extend(t.declined.values())
        return min(deadlines) if deadlines else None

    # ---- queries --------------------------------------------------------

    def ticket_of(self, citizen_id: str) -> Ticket | None:
        ticket_id = self.by_citizen.get(citizen_id)
        return self.tickets.get(ticket_id) if ticket_id else None

    def case_of_citizen(self, citizen_id: str) -> ActiveCase | None:
        for c in self.cases.values():
            if c.citizen_id == citizen_id:
                return c
        return None

    def staffed(self, key: tuple[str, str]) -> int:
        region, skill = key
        return sum(
            1
            for c in self.clerks.values()
            if c.region == region and skill in c.skills and (c.presence is Presence.AVAILABLE or c.case_id)
        )

    def snapshot(self, now: float) -> dict[str, Any]:
        """Queues and clerks as a supervisor sees them."""
        queues = []
        for (region, skill), entries in sorted(self.queues.items()):
            if not entries:
                continue
            waits = [now - self.tickets[tid].requested_at for *_, tid in entries]
            queues.append(
                {
                    "region": region,
                    "skill": skill,
                    "waiting": len(entries),
                    "offered": sum(1 for *_, tid in entries if self.tickets[tid].offered_to),
                    "oldest_wait_s": round(max(waits), 1),
                    "staffed": self.staffed((region, skill)),
                }
            )
        by_status: dict[str, int] = {}
        clerks = []
        for c in sorted(self.clerks.values(), key=lambda c: c.clerk_id):
            by_status[c.status] = by_status.get(c.status, 0) + 1
            clerks.append({"clerk_id": c.clerk_id, "region": c.region, "status": c.status, "case_id": c.case_id})
        return {"queues": queues, "clerks": clerks, "clerks_by_status": by_status, "open_cases": len(self.cases)}

    # ---- state for shared backends --------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "tickets": [asdict(t) for t in self.tickets.values()],
            "clerks": [asdict(c) for c in self.clerks.values()],
            "cases": [asdict(c) for c in self.cases.values()],
            "citizens_online": self.citizens_online,
            "clerks_online": self.clerks_online,
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
        self.citizens_online = {k: int(v) for k, v in data.get("citizens_online", {}).items()}
        self.clerks_online = {k: int(v) for k, v in data.get("clerks_online", {}).items()}
        self.queues = {}
        for t in sorted(self.tickets.values(), key=lambda t: t.order):
            self.queues.setdefault(t.key, []).append((*t.order, t.ticket_id))

    # ---- internals ------------------------------------------------------

    @staticmethod
    def _count(counts: dict[str, int], key: str, delta: int) -> int:
        n = counts.get(key, 0) + delta
        if n == 0:
            counts.pop(key, None)
        else:
            counts[key] = n
        return n

    def _offer_for(self, clerk_id: str, ticket_id: str) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is not None and ticket.offered_to and ticket.offered_to != clerk_id:
            raise RoutingError("forbidden", "this offer was made to another clerk")
        if ticket is None or ticket.offered_to != clerk_id or clerk_id not in self.clerks:
            raise RoutingError("not_found", "no such offer for this clerk (it may have expired or been withdrawn)")
        return ticket

    def _keys_of(self, clerk: Clerk) -> list[tuple[str, str]]:
        return [(clerk.region, s) for s in clerk.skills]

    def _unqueue(self, ticket: Ticket) -> None:
        entries = self.queues.get(ticket.key, [])
        i = bisect.bisect_left(entries, (*ticket.order, ticket.ticket_id))
        if i < len(entries) and entries[i][2] == ticket.ticket_id:
            del entries[i]
        if not entries:
            self.queues.pop(ticket.key, None)
        del self.tickets[ticket.ticket_id]
        self.by_citizen.pop(ticket.citizen_id, None)

    def _close_ticket(self, now: float, ticket: Ticket, reason: str, events: list[Event]) -> None:
        if ticket.offered_to:
            self._end_offer(now, ticket, "cancelled", events)
        self._unqueue(ticket)
        events.append(TicketClosed(ticket, reason))

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
            events.append(ClerkChanged(clerk_id, clerk.status, "missed_offer"))

    def _dispatch(self, now: float, events: list[Event]) -> None:
        free = sorted((c for c in self.clerks.values() if c.free), key=lambda c: (c.idle_since, c.clerk_id))
        if not free:
            return
        wanted = {(c.region, s) for c in free for s in c.skills}
        keys = [k for k in self.queues if k in wanted]
        # Walk the relevant queues merged in (priority, arrival) order.
        entries = sorted(e for k in keys for e in self.queues[k])
        for *_, ticket_id in entries:
            ticket = self.tickets[ticket_id]
            if ticket.offered_to or ticket.gone_since is not None:
                continue
            clerk = next(
                (
                    c
                    for c in free
                    if c.region == ticket.region
                    and ticket.skill in c.skills
                    and ticket.declined.get(c.clerk_id, 0.0) <= now
                ),
                None,
            )
            if clerk is None:
                continue
            free.remove(clerk)
            ticket.offered_to = clerk.clerk_id
            ticket.offer_expires_at = now + self.offer_timeout_s
            clerk.offer_ticket = ticket_id
            events.append(Offered(ticket, clerk.clerk_id, ticket.offer_expires_at))
            events.append(ClerkChanged(clerk.clerk_id, clerk.status, "offered"))
            if not free:
                break

    def _positions(self, keys: list[tuple[str, str]], events: list[Event]) -> None:
        for key in keys:
            entries = self.queues.get(key)
            if not entries:
                continue
            staffed = self.staffed(key)
            for i, (*_, ticket_id) in enumerate(entries, start=1):
                ticket = self.tickets[ticket_id]
                if ticket.position != i:
                    ticket.position = i
                    events.append(
                        PositionChanged(ticket_id, ticket.citizen_id, i, estimate_wait(i, staffed, self.aht_s))
                    )
