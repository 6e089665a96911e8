"""The pure routing core, driven directly with explicit times."""

from __future__ import annotations

import json
import random

import pytest

from queueing.routing import (
    Answered,
    ClerkChanged,
    Offered,
    OfferEnded,
    PositionChanged,
    Router,
    RoutingError,
    TicketClosed,
    estimate_wait,
    province_of,
)


def req(router: Router, now: float, n: int, region: str = "310000", skill: str = "s", priority: str = "normal"):
    router.citizen_connected(now, f"c{n}", f"n1/c{n}")
    return router.request(
        now,
        ticket_id=f"T{n}",
        case_id=f"C{n}",
        citizen_id=f"c{n}",
        target_region=region,
        skill=skill,
        matter_code="M",
        origin_region="320500",
        channel="kiosk",
        priority=priority,
    )


def offers(events: list) -> list[tuple[str, str]]:
    return [(e.ticket.ticket_id, e.clerk_id) for e in events if isinstance(e, Offered)]


def test_province_of() -> None:
    assert province_of("320500") == "320000"
    assert province_of("310115") == "310000"


def test_longest_idle_clerk_gets_the_oldest_ticket() -> None:
    r = Router()
    assert offers(r.set_clerk(10, "b", "310000", ["s"], "available")) == []
    r.set_clerk(5, "a", "310000", ["s"], "available")  # idle since 5: longest
    assert offers(req(r, 20, 1)) == [("T1", "a")]
    assert offers(req(r, 21, 2)) == [("T2", "b")]
    assert offers(req(r, 22, 3)) == []
    assert r.tickets["T3"].position == 3


def test_expiry_reroutes_and_puts_the_clerk_on_break() -> None:
    r = Router(offer_timeout_s=15)
    r.set_clerk(0, "a", "310000", ["s"], "available")
    r.set_clerk(1, "b", "310000", ["s"], "available")
    req(r, 2, 1)
    assert r.next_deadline() == 17
    assert r.tick(16.9) == []
    events = r.tick(17)
    assert [type(e) for e in events][:2] == [OfferEnded, ClerkChanged]
    assert offers(events) == [("T1", "b")]
    assert r.clerks["a"].status == "break"
    # a comes back: not offered T1 while b holds it.
    assert offers(r.set_clerk(18, "a", "310000", ["s"], "available")) == []


def test_decline_cooldown_lets_a_lone_clerk_have_it_again() -> None:
    r = Router(decline_cooldown_s=30)
    r.set_clerk(0, "a", "310000", ["s"], "available")
    req(r, 1, 1)
    assert offers(r.decline(2, "a", "T1")) == []
    assert r.next_deadline() == 32
    assert offers(r.tick(32)) == [("T1", "a")]


def test_accept_rules() -> None:
    r = Router(offer_timeout_s=15)
    r.set_clerk(0, "a", "310000", ["s"], "available")
    r.set_clerk(0, "b", "310000", ["s"], "available")
    req(r, 1, 1)
    holder = r.tickets["T1"].offered_to
    other = "b" if holder == "a" else "a"
    with pytest.raises(RoutingError) as exc:
        r.accept(2, other, "T1")
    assert exc.value.code == "forbidden"
    with pytest.raises(RoutingError) as exc:
        r.accept(2, holder or "", "T9")
    assert exc.value.code == "not_found"
    with pytest.raises(RoutingError) as exc:
        r.accept(16, holder or "", "T1")  # past the deadline, before the ticker ran
    assert exc.value.code == "conflict"
    assert r.tickets["T1"].offered_to == holder  # refused without a change
    assert offers(r.tick(16)) == [("T1", other)]
    events = r.accept(17, other, "T1")
    assert isinstance(events[0], Answered)
    assert "T1" not in r.tickets and r.cases["C1"].clerk_id == other
    assert r.clerks[other].status == "busy"


def test_a_clerk_may_end_the_call_and_write_it_up_first() -> None:
    """Pure core: ``end_case(wrap_up=True)`` closes the case but keeps the clerk in wrap-up, offered nobody, until
    ``finish_wrap_up``; without it the clerk is free (and offered the next citizen) at once."""
    r = Router()
    r.set_clerk(0, "a", "310000", ["s"], "available")
    req(r, 1, 1)
    r.accept(2, "a", "T1")
    events = r.end_case(30, "a", "C1", "resolved", wrap_up=True)
    assert "C1" not in r.cases
    assert [(e.status, e.reason) for e in events if isinstance(e, ClerkChanged)] == [("wrap_up", "clerk_ended")]
    assert offers(req(r, 31, 2)) == []  # writing up: nobody is offered
    with pytest.raises(RoutingError):
        r.end_case(32, "a", "C1")  # the call is over already
    events = r.finish_wrap_up(50, "a", "C1", "referred", "notes")
    assert offers(events) == [("T2", "a")]  # free: the waiting citizen is offered at once
    r.accept(51, "a", "T2")
    events = r.end_case(60, "a", "C2", "resolved")
    assert [(e.status, e.reason) for e in events if isinstance(e, ClerkChanged)] == [("available", "case_ended")]


def test_one_open_request_per_citizen_and_cancel_rules() -> None:
    r = Router()
    req(r, 0, 1)
    with pytest.raises(RoutingError) as exc:
        r.request(
            1,
            ticket_id="T2",
            case_id="C2",
            citizen_id="c1",
            target_region="310000",
            skill="s",
            matter_code="M",
            origin_region="320500",
            channel="web",
        )
    assert exc.value.code == "conflict"
    with pytest.raises(RoutingError) as exc:
        r.cancel(2, "someone-else", "T1")
    assert exc.value.code == "not_found"  # like an unknown ticket
    events = r.cancel(3, "c1", "T1")
    assert [type(e) for e in events] == [TicketClosed]
    assert r.tickets == {} and r.queues == {}


def test_positions_and_estimates() -> None:
    r = Router(aht_s=120)
    for n in range(1, 5):
        req(r, n, n)
    r.set_clerk(10, "a", "310000", ["s"], "break")
    r.set_clerk(10, "b", "310000", ["s"], "break")
    assert [r.tickets[f"T{n}"].position for n in range(1, 5)] == [1, 2, 3, 4]
    events = r.cancel(11, "c2", "T2")
    moved = {e.ticket_id: e.position for e in events if isinstance(e, PositionChanged)}
    assert moved == {"T3": 2, "T4": 3}
    assert estimate_wait(1, 2, 120) == 0
    assert estimate_wait(3, 2, 120) == 120
    assert estimate_wait(4, 0, 120) == 360


def test_reconnect_grace() -> None:
    r = Router(reconnect_grace_s=30)
    r.set_clerk(0, "a", "310000", ["s"], "break")
    req(r, 0, 1)
    r.citizen_disconnected(5, "c1", "n1/c1")
    # gone citizens are not offered
    assert offers(r.set_clerk(6, "a", "310000", ["s"], "available")) == []
    assert offers(r.citizen_connected(10, "c1", "n2/x")) == [("T1", "a")]
    # Dropping while offered hands the offer back: the clerk could not reach anyone.
    events = r.citizen_disconnected(11, "c1", "n2/x")
    assert [(type(e), e.reason) for e in events if isinstance(e, OfferEnded)] == [(OfferEnded, "citizen_away")]
    with pytest.raises(RoutingError):
        r.accept(11.5, "a", "T1")
    events = r.tick(41)
    assert [(type(e), getattr(e, "reason", None)) for e in events if isinstance(e, TicketClosed)] == [
        (TicketClosed, "abandoned")
    ]


def test_connections_are_counted_across_nodes() -> None:
    """A reconnect seen before the old connection's drop leaves the citizen present (two nodes, any order)."""
    r = Router(reconnect_grace_s=30)
    req(r, 0, 1)  # connected once, as n1/c1
    r.citizen_connected(1, "c1", "n2/new")  # the new connection, on another node
    r.citizen_disconnected(2, "c1", "n1/c1")  # the old node notices the old one late
    assert r.tickets["T1"].gone_since is None
    assert r.tick(100) == [] and "T1" in r.tickets
    # A drop applied before its connection: the connection never counts.
    r.citizen_disconnected(101, "c2", "n1/early")
    r.citizen_connected(101, "c2", "n1/early")
    assert "c2" not in r.citizens_online
    # The same connect applied twice (a retried command) counts once.
    r.citizen_connected(101, "c4", "n1/twice")
    r.citizen_connected(101, "c4", "n1/twice")
    assert r.citizens_online["c4"] == 1
    # A request whose connection closed on the way is queued as away, and abandoned after the grace.
    r.request(
        102,
        ticket_id="T3",
        case_id="C3",
        citizen_id="c3",
        target_region="310000",
        skill="s",
        matter_code="M",
        origin_region="320500",
        channel="web",
    )
    assert r.tickets["T3"].gone_since == 102
    closed = [e for e in r.tick(132) if isinstance(e, TicketClosed)]
    assert [(e.ticket.ticket_id, e.reason) for e in closed] == [("T3", "abandoned")]
    # Clerks: offline only when the last console closes.
    r.clerk_connected(0, "k", "n1/k1")
    r.clerk_connected(0, "k", "n2/k2")
    r.set_clerk(0, "k", "310000", ["s"], "available")
    r.clerk_disconnected(1, "k", "n1/k1")
    assert r.clerks["k"].status in ("available", "offered")
    r.clerk_disconnected(2, "k", "n2/k2")
    assert "k" not in r.clerks


def test_node_down_drops_that_nodes_connections_only() -> None:
    r = Router(reconnect_grace_s=30)
    r.clerk_connected(0, "k1", "dead/s1")
    r.set_clerk(0, "k1", "310000", ["s"], "available")
    r.clerk_connected(0, "k2", "alive/s2")
    r.set_clerk(1, "k2", "310000", ["s"], "available")
    req(r, 2, 1)  # offered to k1 (idle longest), connected on n1
    assert r.tickets["T1"].offered_to == "k1"
    events = r.node_down(5, "dead")
    assert offers(events) == [("T1", "k2")]  # k1's offer goes to the next clerk
    assert "k1" not in r.clerks
    assert r.tickets["T1"].gone_since is None  # the citizen was on n1, which lives


def test_state_round_trips_through_json() -> None:
    rng = random.Random(7)
    r = Router()
    for n in range(40):
        req(
            r,
            n,
            n,
            region=rng.choice(["310000", "320000"]),
            skill=rng.choice(["s", "t"]),
            priority=rng.choice(["normal", "priority"]),
        )
    r.set_clerk(50, "a", "310000", ["s", "t"], "available")
    r.set_clerk(51, "b", "320000", ["t"], "available")
    first = next(iter(r.clerks["a"].offer_ticket or ""), None)
    assert first is not None
    r.accept(52, "a", r.clerks["a"].offer_ticket or "")
    r.citizen_disconnected(53, "c5", "n1/c5")
    copy = Router()
    copy.load(json.loads(json.dumps(r.to_dict())))
    assert copy.to_dict() == r.to_dict()
    assert copy.queues == r.queues
    assert copy.snapshot(60) == r.snapshot(60)
    assert offers(copy.tick(80)) == offers(r.tick(80))


def test_random_operations_keep_invariants() -> None:
    """Whatever happens, a ticket has at most one offer, a clerk at most one offer or case."""
    rng = random.Random(11)
    r = Router(offer_timeout_s=15, reconnect_grace_s=30)
    now = 0.0
    n = 0
    clerks = [f"k{i}" for i in range(5)]
    for _ in range(3000):
        now += rng.random() * 3
        op = rng.random()
        try:
            if op < 0.3:
                n += 1
                req(r, now, n, skill=rng.choice(["s", "t"]), priority=rng.choice(["normal", "priority"]))
            elif op < 0.45:
                k = rng.choice(clerks)
                r.set_clerk(
                    now,
                    k,
                    "310000",
                    rng.choice([["s"], ["t"], ["s", "t"]]),
                    rng.choice(["available", "available", "break", "offline"]),
                )
            elif op < 0.6 and r.clerks:
                k = rng.choice(list(r.clerks))
                if r.clerks[k].offer_ticket:
                    (r.accept if rng.random() < 0.7 else r.decline)(now, k, r.clerks[k].offer_ticket or "")
            elif op < 0.7 and r.cases:
                case = rng.choice(list(r.cases.values()))
                r.end_case(now, case.clerk_id, case.case_id)
            elif op < 0.8 and r.tickets:
                t = rng.choice(list(r.tickets.values()))
                r.cancel(now, t.citizen_id, t.ticket_id)
            elif op < 0.85 and r.tickets:
                t = rng.choice(list(r.tickets.values()))
                r.citizen_disconnected(now, t.citizen_id, f"n1/{t.citizen_id}")
            else:
                r.tick(now)
        except RoutingError:
            pass
        offered = [t.offered_to for t in r.tickets.values() if t.offered_to]
        assert len(offered) == len(set(offered))
        for t in r.tickets.values():
            if t.offered_to:
                clerk = r.clerks[t.offered_to]
                assert clerk.offer_ticket == t.ticket_id and clerk.case_id is None
                assert t.region == clerk.region and t.skill in clerk.skills
        for c in r.clerks.values():
            assert not (c.offer_ticket and c.case_id)
            if c.case_id:
                assert r.cases[c.case_id].clerk_id == c.clerk_id
        queued = sorted(tid for entries in r.queues.values() for *_, tid in entries)
        assert queued == sorted(r.tickets)
        assert r.by_citizen == {t.citizen_id: t.ticket_id for t in r.tickets.values()}
        for entries in r.queues.values():
            assert [r.tickets[tid].position for *_, tid in entries] == list(range(1, len(entries) + 1))
    assert n > 500
