"""Deeper routing in the core, with explicit times: skill levels, overflow, transfer, a clerk who
drops mid-case, expiry, coalesced positions, estimates from the answer rate, restore."""

from __future__ import annotations

from pathlib import Path

import pytest

from queueing.events import (
    CaseRequeued,
    ClerkAway,
    ClerkBack,
    ConnectionReplaced,
    PositionChanged,
    TicketClosed,
    Transferred,
)
from queueing.policy import RoutingFileError, parse
from queueing.routing import Overflow, Router, RoutingError, RoutingPolicy
from server.config import ConfigError, Settings
from tests.test_routing import offers, req


def test_best_skill_level_first_then_idle_longest() -> None:
    r = Router()
    r.set_clerk(0, "novice", "310000", ["s"], "available", levels={"s": 1})
    r.set_clerk(5, "expert", "310000", ["s"], "available", levels={"s": 5})
    r.set_clerk(6, "expert2", "310000", ["s"], "available", levels={"s": 5})
    # The novice has been idle longest, but the experts are better: the longest-idle expert first.
    assert offers(req(r, 10, 1)) == [("T1", "expert")]
    assert offers(req(r, 11, 2)) == [("T2", "expert2")]
    assert offers(req(r, 12, 3)) == [("T3", "novice")]


def test_overflow_to_a_wider_pool_after_the_wait() -> None:
    policy = RoutingPolicy({("310000", "s"): Overflow(30.0, (("310000", "general"),))})
    r = Router(policy=policy)
    r.set_clerk(0, "desk", "310000", ["general"], "available")
    assert offers(req(r, 10, 1)) == []  # the general desk may not take it yet
    assert r.next_deadline() == 40.0
    assert offers(r.tick(39.9)) == []
    assert offers(r.tick(40.0)) == [("T1", "desk")]
    # A clerk of the queue itself comes first when both are free.
    r2 = Router(policy=policy)
    r2.set_clerk(0, "desk", "310000", ["general"], "available")
    r2.set_clerk(5, "own", "310000", ["s"], "available", levels={"s": 1})
    req(r2, 10, 1)
    assert r2.tickets["T1"].offered_to == "own"
    # Overflow never crosses into another province's queue by itself.
    r3 = Router(policy=policy)
    r3.set_clerk(0, "desk", "320000", ["general"], "available")
    req(r3, 10, 1)
    assert offers(r3.tick(100)) == []


def test_transfer_keeps_case_number_and_request_time_and_goes_to_the_head() -> None:
    r = Router()
    r.set_clerk(0, "a", "310000", ["s"], "available")
    req(r, 1, 1)
    r.accept(2, "a", "T1")
    req(r, 3, 2, skill="t", region="320000")  # already waiting in the target queue
    events = r.transfer(20, "a", "C1", target_region="320500", skill="t", matter_code="M2", note="Jiangsu owns it")
    moved = [e for e in events if isinstance(e, Transferred)]
    assert len(moved) == 1 and moved[0].from_clerk == "a" and moved[0].note == "Jiangsu owns it"
    t = r.tickets["T1"]
    assert (t.case_id, t.requested_at, t.region, t.skill, t.matter_code) == ("C1", 1, "320000", "t", "M2")
    assert [tid for *_, tid in r.queues[("320000", "t")]] == ["T1", "T2"]  # ahead of who was waiting
    assert t.position == 1 and r.tickets["T2"].position == 2
    assert r.clerks["a"].status == "available" and "C1" not in r.cases
    with pytest.raises(RoutingError) as exc:
        r.transfer(21, "a", "C1", target_region="320000", skill="t", matter_code="M2", note="")
    assert exc.value.code == "not_found"
    # The clerk of the new queue gets it before the one who was already waiting.
    assert offers(r.set_clerk(22, "js", "320000", ["t"], "available")) == [("T1", "js")]


def test_a_clerk_who_drops_mid_case_has_the_grace_then_the_citizen_is_requeued_at_the_head() -> None:
    r = Router(reconnect_grace_s=30)
    r.clerk_connected(0, "a", "n1/a")
    r.set_clerk(0, "a", "310000", ["s"], "available")
    req(r, 1, 1)
    r.accept(2, "a", "T1")
    req(r, 3, 2)  # waits behind
    events = r.clerk_disconnected(10, "a", "n1/a")
    assert [type(e) for e in events if isinstance(e, ClerkAway)] == [ClerkAway]
    # Back within the grace: the call goes on and the citizen is told.
    events = r.clerk_connected(20, "a", "n1/a2")
    assert [e.case_id for e in events if isinstance(e, ClerkBack)] == ["C1"]
    r.tick(45)
    assert "C1" in r.cases and r.clerks["a"].case_id == "C1"
    # Drops again and does not come back: the citizen waits at the head, with the same case.
    r.clerk_disconnected(50, "a", "n1/a2")
    assert r.next_deadline() is not None and r.next_deadline() <= 80
    events = r.tick(80)
    requeued = [e for e in events if isinstance(e, CaseRequeued)]
    assert [(e.ticket.ticket_id, e.ticket.case_id, e.ticket.requested_at) for e in requeued] == [("T1", "C1", 1)]
    assert [tid for *_, tid in r.queues[("310000", "s")]] == ["T1", "T2"]
    assert "C1" not in r.cases and "a" not in r.clerks


def test_a_request_waiting_past_max_wait_expires() -> None:
    r = Router(max_wait_s=600)
    req(r, 0, 1)
    assert r.next_deadline() == 600
    assert r.tick(599) == []
    closed = [e for e in r.tick(600) if isinstance(e, TicketClosed)]
    assert [(e.ticket.ticket_id, e.reason, e.ended_at) for e in closed] == [("T1", "expired", 600)]
    assert r.tickets == {}


def test_positions_are_sent_at_most_once_per_interval() -> None:
    r = Router(position_interval_s=1.0)
    for n in range(1, 6):
        req(r, 0, n)  # the first flushes; the rest wait for the interval
    assert r.tickets["T5"].position == 0
    assert r.next_deadline() == 1.0
    moved = [e for e in r.tick(1.0) if isinstance(e, PositionChanged)]
    assert sorted((e.ticket_id, e.position) for e in moved) == [("T2", 2), ("T3", 3), ("T4", 4), ("T5", 5)]
    r.cancel(1.2, "c1", "T1")
    assert r.tickets["T2"].position == 2  # not yet
    moved = [e for e in r.tick(2.0) if isinstance(e, PositionChanged)]
    assert [(e.ticket_id, e.position) for e in moved] == [("T2", 1), ("T3", 2), ("T4", 3), ("T5", 4)]


def test_the_estimate_comes_from_the_answer_rate_and_is_none_when_nobody_serves() -> None:
    r = Router(aht_s=300)
    req(r, 0, 1)
    assert r.estimate(0, ("310000", "s"), 1) is None  # nobody of that skill on shift: unknown
    r.set_clerk(0, "a", "310000", ["s"], "break")
    assert r.estimate(0, ("310000", "s"), 3) == 600  # no answers yet: from the handle time
    # Answers every 60 s: the queue moves one place a minute.
    r.set_clerk(1, "a", "310000", ["s"], "available")
    t = 1.0
    for n in range(2, 8):
        for e in r.tickets.values():
            if e.offered_to:
                r.accept(t, "a", e.ticket_id)
                r.end_case(t, "a", e.case_id)
                break
        t += 60
        req(r, t, n)
    assert r.estimate(t, ("310000", "s"), 3) == pytest.approx(2 * 60, rel=0.25)


def test_restore_puts_back_tickets_in_order_with_their_times_as_away() -> None:
    r = Router(reconnect_grace_s=30)
    saved = [
        {
            "ticket_id": f"T{n}",
            "case_id": f"C{n}",
            "citizen_id": f"c{n}",
            "region": "310000",
            "skill": "s",
            "matter_code": "M",
            "origin_region": "320500",
            "channel": "web",
            "priority": "normal",
            "requested_at": float(n),
        }
        for n in (3, 1, 2)
    ]
    r.restore(100, saved, [])
    assert [tid for *_, tid in r.queues[("310000", "s")]] == ["T1", "T2", "T3"]
    assert [r.tickets[f"T{n}"].requested_at for n in (1, 2, 3)] == [1.0, 2.0, 3.0]
    assert all(t.gone_since == 100 for t in r.tickets.values())
    r.citizen_connected(110, "c2", "n1/c2")
    closed = [e.ticket.ticket_id for e in r.tick(130) if isinstance(e, TicketClosed)]
    assert closed == ["T1", "T3"]  # the one who came back keeps the place


def test_routing_file() -> None:
    rf = parse(
        {
            "clerks": {"js1": {"skills": {"social_insurance": 4, "general": 1}}},
            "overflow": [{"queue": "310000/social_insurance", "after_s": 30, "to": ["310000/general"]}],
        }
    )
    assert rf.for_clerk("js1", ["x"]) == (["general", "social_insurance"], {"general": 1, "social_insurance": 4})
    assert rf.for_clerk("other", ["b", "a"]) == (["a", "b"], {})
    assert rf.policy.overflow[("310000", "social_insurance")] == Overflow(30.0, (("310000", "general"),))
    assert RoutingPolicy.from_dict(rf.policy.to_dict()) == rf.policy
    for bad in (
        {"clerks": {"x": {"skills": {"s": 9}}}},
        {"overflow": [{"queue": "31/s", "after_s": 1, "to": []}]},
        {"overflow": [{"queue": "310000/s", "after_s": -1, "to": ["310000/g"]}]},
        {"surprise": 1},
    ):
        with pytest.raises(RoutingFileError):
            parse(bad)


def test_a_bad_routing_file_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "routing.yaml"
    bad.write_text("overflow:\n  - queue: nowhere\n    after_s: 3\n    to: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="RVW_ROUTING"):
        Settings.from_env({"RVW_ROUTING": str(bad), "RVW_VAR_DIR": str(tmp_path)})
    good = tmp_path / "ok.yaml"
    good.write_text("overflow:\n  - queue: 310000/s\n    after_s: 30\n    to: [310000/general]\n", encoding="utf-8")
    settings = Settings.from_env({"RVW_ROUTING": str(good), "RVW_VAR_DIR": str(tmp_path)})
    assert settings.routing is not None and settings.routing.policy.overflow[("310000", "s")].after_s == 30


# ---- limits per address and resume ids (issue 6) ------------------------------------------------


def web_request(r: Router, now: float, n: int, address: str) -> list:
    r.citizen_connected(now, f"w{n}", f"n1/w{n}", address=address, next_resume_id=f"r{n}")
    return r.request(
        now,
        ticket_id=f"W{n}",
        case_id=f"CW{n}",
        citizen_id=f"w{n}",
        target_region="310000",
        skill="s",
        matter_code="M",
        origin_region="320500",
        channel="web",
        address=address,
    )


def test_open_requests_and_connections_per_address() -> None:
    r = Router(max_open_per_address=2, max_connections_per_address=3)
    web_request(r, 0, 1, "a")
    web_request(r, 0, 2, "a")
    with pytest.raises(RoutingError) as refused:
        web_request(r, 0, 3, "a")  # connected (the third connection), but a third open request is refused
    assert refused.value.code == "rate_limited" and "W3" not in r.tickets
    web_request(r, 0, 4, "b")  # another address
    with pytest.raises(RoutingError) as refused:
        r.citizen_connected(0, "w5", "n1/w5", address="a")  # a fourth connection from a
    assert refused.value.code == "rate_limited" and "n1/w5" not in r.connections
    r.citizen_connected(0, "k1", "n1/k1")  # a kiosk's citizen: no address, no limit
    r.cancel(1, "w1", "W1")
    assert r.open_by_address == {"a": 1, "b": 1}
    r.citizen_disconnected(2, "w1", "n1/w1")
    r.citizen_connected(2, "w5", "n1/w5", address="a")  # a slot was freed
    assert r.conns_by_address == {"a": 3, "b": 1}


def test_a_resume_id_works_once_and_the_newer_connection_replaces_the_older() -> None:
    r = Router(resume_ttl_s=100)
    r.citizen_connected(0, "c1", "n1/a", next_resume_id="r1")
    with pytest.raises(RoutingError) as refused:
        r.citizen_connected(1, "c1", "n2/b", resumed=True, resume_id="wrong", next_resume_id="r2")
    assert refused.value.code == "unauthorized"
    events = r.citizen_connected(1, "c1", "n2/b", resumed=True, resume_id="r1", next_resume_id="r2")
    assert [e for e in events if type(e).__name__ == "ConnectionReplaced"] == [ConnectionReplaced("n1/a", "c1")]
    with pytest.raises(RoutingError):
        r.citizen_connected(2, "c1", "n2/c", resumed=True, resume_id="r1", next_resume_id="r3")
    r.end_resume(3, "c1")  # rated: no token of theirs works
    with pytest.raises(RoutingError):
        r.citizen_connected(4, "c1", "n2/d", resumed=True, resume_id="r2", next_resume_id="r4")
    # Resume ids are forgotten once their tokens have expired.
    r.citizen_connected(5, "c2", "n1/e", next_resume_id="x")
    r.tick(104)
    assert "c2" in r.resume
    r.tick(105)
    assert r.resume == {}


def test_restored_citizens_may_come_back_with_any_valid_token_once() -> None:
    first = Router()
    req(first, 0, 1)
    ticket = {k: v for k, v in first.to_dict()["tickets"][0].items()}
    r = Router()
    r.restore(10, [ticket], [])
    r.citizen_connected(11, "c1", "n1/x", resumed=True, resume_id="issued-before-the-restart", next_resume_id="r9")
    assert r.tickets["T1"].gone_since is None
    with pytest.raises(RoutingError):
        r.citizen_connected(12, "c1", "n1/y", resumed=True, resume_id="issued-before-the-restart", next_resume_id="z")
