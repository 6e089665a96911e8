"""Decline, offer time-out, cancel, positions, abandonment, transfer, a clerk who drops, expiry:
over the wire, on a manual clock, on both queue backends (in process, and Redis with its writer)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from queueing.clock import ManualClock
from tests.conftest import KIOSK2_TOKEN, KIOSK_TOKEN, REDIS_URL, Client, Server, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case, until


@pytest.fixture(params=["in_process", "redis"])
async def server(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    """The same routing suite on each backend: one node, in process or on Redis."""
    options: dict = {}
    prefix = "rvwtest-" + secrets.token_hex(4)
    if request.param == "redis":
        options = {"redis_url": REDIS_URL, "redis_prefix": prefix}
    runner, srv = await start_server(tmp_path, manual_clock, **options)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)
        if request.param == "redis":
            r = aioredis.from_url(REDIS_URL)
            keys = [k async for k in r.scan_iter(f"{prefix}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()


async def timeline(server: Server, case_id: str) -> list[tuple[str, str]]:
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("boss"))
    assert status == 200, record
    return [(e["event"], e["actor"]) for e in record["timeline"]]


async def record_of(server: Server, case_id: str) -> dict:
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("boss"))
    assert status == 200
    return record


async def test_decline_and_time_out_move_the_request_on(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    a = await clerk_on_duty(server, "clerk_a")
    manual_clock.advance(1)
    b = await clerk_on_duty(server, "clerk_b")
    manual_clock.advance(1)
    c = await clerk_on_duty(server, "clerk_c")
    kiosk = await citizen(server)
    ack = await ask(kiosk)

    first = await a.wait_for("offer")  # idle longest
    assert first["ticket_id"] == ack["ticket_id"]
    assert not b.seen("offer") and not c.seen("offer")
    assert (await a.call("decline", {"ticket_id": ack["ticket_id"]}))["ok"] is True
    assert (await a.wait_for("offer_withdrawn"))["reason"] == "declined"
    second = await b.wait_for("offer")
    assert second["ticket_id"] == ack["ticket_id"]

    # Clerk b lets it lapse: at 15 s the ticker (woken by the manual clock) re-routes it.
    manual_clock.advance(14.9)
    manual_clock.advance(0.2)
    assert (await b.wait_for("offer_withdrawn"))["reason"] == "expired"
    missed = await b.wait_for("status", lambda d: d["reason"] == "missed_offer")
    assert missed["status"] == "break"
    third = await c.wait_for("offer")
    assert third["ticket_id"] == ack["ticket_id"]
    assert third["waited_s"] == 15.1
    late = await b.call_raw("accept", {"ticket_id": ack["ticket_id"]})
    assert late["ok"] is False and late["error"]["code"] == "forbidden"
    assert (await c.call("accept", {"ticket_id": ack["ticket_id"]}))["ok"] is True
    assert not a.seen("offer") and not b.seen("offer")  # nobody got it twice

    events = await timeline(server, ack["case_id"])
    assert events == [
        events[0],
        ("offered", "system"),
        ("offer_declined", "clerk:uclerk_a"),
        ("offered", "system"),
        ("offer_expired", "system"),
        ("offered", "system"),
        ("answered", "clerk:uclerk_c"),
    ]
    record = await record_of(server, ack["case_id"])
    assert record["clerk_id"] == "uclerk_c"
    offered_first = next(e for e in record["timeline"] if e["event"] == "offered")["at"]
    assert record["offered_at"] == offered_first  # the first offer's time stands


async def test_positions_update_and_cancel_removes(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    citizens = [await citizen(server, {"channel": "web", "region": "320500"}) for _ in range(3)]
    acks = []
    for c in citizens:
        acks.append(await ask(c))
        manual_clock.advance(1)
    assert [a["position"] for a in acks] == [1, 2, 3]
    # Nobody who serves the queue is on shift: the wait is unknown, and said so (not a made-up figure).
    assert [a["estimated_wait_s"] for a in acks] == [None, None, None]

    assert (await citizens[0].call("cancel", {"ticket_id": acks[0]["ticket_id"]}))["ok"] is True
    assert (await citizens[1].wait_for("queue_update", lambda d: d["position"] == 1))["ticket_id"] == acks[1][
        "ticket_id"
    ]
    assert (await citizens[2].wait_for("queue_update", lambda d: d["position"] == 2))["estimated_wait_s"] is None
    ended = await citizens[0].wait_for("case_ended")
    assert ended["outcome"] == "cancelled"
    again = await citizens[0].call_raw("cancel", {"ticket_id": acks[0]["ticket_id"]})
    assert again["error"]["code"] == "not_found"
    # Someone else's ticket cannot be cancelled, and answers like an unknown one.
    other = await citizens[0].call_raw("cancel", {"ticket_id": acks[1]["ticket_id"]})
    nobodys = await citizens[0].call_raw("cancel", {"ticket_id": "TFFFFFFFF"})
    assert other["error"]["code"] == "not_found" and other == nobodys

    record = await record_of(server, acks[0]["case_id"])
    assert record["outcome"] == "cancelled" and record["ended_at"] is not None and record["answered_at"] is None
    assert [e for e, _ in await timeline(server, acks[0]["case_id"])] == ["requested", "cancelled"]

    # A clerk coming on duty is offered the oldest waiting ticket at once.
    clerk = await clerk_on_duty(server, "clerk_a")
    assert (await clerk.wait_for("offer"))["ticket_id"] == acks[1]["ticket_id"]


async def test_priority_goes_first_and_skills_and_province_are_respected(
    server: Server, manual_clock: ManualClock
) -> None:
    normal = await citizen(server)
    n = await ask(normal)
    manual_clock.advance(1)
    urgent = await citizen(server, {"kiosk_token": KIOSK2_TOKEN})
    u = await ask(urgent, priority="priority")
    assert u["position"] == 1
    assert (await normal.wait_for("queue_update", lambda d: d["position"] == 2))["ticket_id"] == n["ticket_id"]
    wrong_skill = await clerk_on_duty(server, "clerk_pension", skills=["pension"])
    wrong_province = await clerk_on_duty(server, "clerk_zj", region="330000")
    right = await clerk_on_duty(server, "clerk_sh")
    assert (await right.wait_for("offer"))["ticket_id"] == u["ticket_id"]
    assert not wrong_skill.seen("offer") and not wrong_province.seen("offer")


async def test_dropped_citizen_resumes_or_is_abandoned(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    leaver = await citizen(server, {"channel": "web", "region": "340100"})
    leave = await ask(leaver)
    stayer = Client(server, "/citizen")
    await stayer.connect({"kiosk_token": KIOSK_TOKEN})
    first_session = await stayer.wait_for("session")
    stay = await ask(stayer)
    assert (leave["position"], stay["position"]) == (1, 2)

    # The stayer drops and comes back inside the 30 s grace with its resume token.
    await stayer.close()
    await until(server, lambda r: r.tickets[stay["ticket_id"]].gone_since is not None, "the drop was noticed")
    manual_clock.advance(10)
    back = Client(server, "/citizen")
    await back.connect({"resume_token": first_session["resume_token"]})
    again = await back.wait_for("session")
    assert again["citizen_id"] == first_session["citizen_id"] and again["origin_region"] == "320500"
    update = await back.wait_for("queue_update")
    assert (update["ticket_id"], update["position"]) == (stay["ticket_id"], 2)

    # The leaver stays away past the grace: abandoned, and the stayer moves up.
    await leaver.close()
    await until(server, lambda r: r.tickets[leave["ticket_id"]].gone_since is not None, "the drop was noticed")
    manual_clock.advance(31)
    moved = await back.wait_for("queue_update", lambda d: d["position"] == 1)
    assert moved["ticket_id"] == stay["ticket_id"]
    gone = await record_of(server, leave["case_id"])
    assert gone["outcome"] == "abandoned" and gone["answered_at"] is None
    assert [e for e, _ in await timeline(server, leave["case_id"])] == ["requested", "abandoned"]
    kept = await record_of(server, stay["case_id"])
    assert kept["outcome"] is None and kept["ended_at"] is None
    # Resumed citizens keep acting on their own ticket.
    assert (await back.call("cancel", {"ticket_id": stay["ticket_id"]}))["ok"] is True


async def test_clerk_going_away_withdraws_the_offer(server: Server, manual_clock: ManualClock) -> None:
    a = await clerk_on_duty(server, "clerk_a")
    manual_clock.advance(1)
    b = await clerk_on_duty(server, "clerk_b")
    c = await citizen(server)
    ack = await ask(c)
    assert (await a.wait_for("offer"))["ticket_id"] == ack["ticket_id"]
    await a.close()  # the console closed: no offers may wait on it
    assert (await b.wait_for("offer"))["ticket_id"] == ack["ticket_id"]
    assert (await b.call("set_status", {"status": "break"}))["status"] == "break"
    assert (await b.wait_for("offer_withdrawn"))["reason"] == "withdrawn"


async def test_citizen_hangs_up_and_clerk_wraps_up(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    clerk = await clerk_on_duty(server, "clerk_a")
    c = await citizen(server)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")
    manual_clock.advance(30)
    assert (await c.call("hang_up", {"case_id": ack["case_id"]}))["outcome"] == "citizen_ended"
    assert (await clerk.wait_for("case_ended"))["outcome"] == "citizen_ended"
    assert (await clerk.wait_for("status", lambda d: d["reason"] == "citizen_ended"))["status"] == "wrap_up"
    # While writing up, the clerk is offered nobody.
    other = await citizen(server, {"channel": "web", "region": "310104"})
    waiting = await ask(other)
    # A console reload during the write-up gets the case back to finish.
    await clerk.close()
    clerk = Client(server, "/clerk")
    await clerk.connect({"token": await server.login("clerk_a")})
    assert (await clerk.wait_for("status"))["status"] == "wrap_up"
    assert await clerk.wait_for("case_ended") == {
        "case_id": ack["case_id"],
        "outcome": "citizen_ended",
        "resumed": True,
    }
    assert not clerk.seen("offer")
    wrap = await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": "unresolved", "notes": "材料不全"})
    assert wrap["ok"] is True
    # Free again (the reload set the clerk offline, so come back first): the waiting citizen is offered.
    assert (await clerk.call("set_status", {"status": "available"}))["ok"] is True
    assert (await clerk.wait_for("offer"))["ticket_id"] == waiting["ticket_id"]
    twice = await clerk.call_raw("end_case", {"case_id": ack["case_id"], "outcome": "resolved", "notes": ""})
    assert twice["error"]["code"] == "not_found"
    record = await record_of(server, ack["case_id"])
    assert (record["outcome"], record["notes"]) == ("unresolved", "材料不全")
    assert [e for e, _ in await timeline(server, ack["case_id"])][-2:] == ["citizen_hung_up", "wrapped_up"]
    assert (await c.call("rate", {"case_id": ack["case_id"], "level": 2, "comment": ""}))["ok"] is True


async def test_clerk_ends_the_call_then_writes_it_up(server: Server, manual_clock: ManualClock) -> None:
    """``end_case`` with ``wrap_up``: the call ends for the citizen at once (who may rate), the clerk is in wrap-up
    and offered nobody until the second ``end_case``, whose outcome and notes are the case's; the write-up's time
    counts in the handling time."""
    await server.add_user("boss", "supervisor", "310000", [])
    clerk, c, case_id = await matched_case(server, "clerk_w")
    manual_clock.advance(40)
    ended = await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "wrap_up": True})
    assert ended == {"ok": True, "case_id": case_id, "wrap_up": True}
    assert (await c.wait_for("case_ended"))["outcome"] == "resolved"
    assert (await clerk.wait_for("status", lambda d: d["reason"] == "clerk_ended"))["status"] == "wrap_up"
    assert (await c.call("rate", {"case_id": case_id, "level": 5, "comment": ""}))["ok"] is True
    # While writing up, the clerk is offered nobody; the call itself is over (no second wrap-up, no transfer).
    other = await citizen(server, {"channel": "web", "region": "310104"})
    waiting = await ask(other)
    again = await clerk.call_raw("end_case", {"case_id": case_id, "outcome": "resolved", "wrap_up": True})
    assert again["error"]["code"] == "not_found"
    moved = await clerk.call_raw("transfer", {"case_id": case_id, "target_region": "320000", "note": "x"})
    assert moved["ok"] is False
    manual_clock.advance(25)
    assert not clerk.seen("offer")
    done = await clerk.call("end_case", {"case_id": case_id, "outcome": "referred", "notes": "转区社保中心"})
    assert done == {"ok": True, "case_id": case_id}
    assert (await clerk.wait_for("offer"))["ticket_id"] == waiting["ticket_id"]
    record = await record_of(server, case_id)
    assert (record["outcome"], record["notes"]) == ("referred", "转区社保中心")
    assert [e for e, _ in await timeline(server, case_id)][-3:] == ["ended", "rated", "wrapped_up"]
    assert record["wrapped_at"] is not None and record["wrapped_at"] > record["ended_at"]


async def test_resumes_tell_the_other_side(server: Server, manual_clock: ManualClock) -> None:
    clerk = await clerk_on_duty(server, "clerk_a")
    kiosk = Client(server, "/citizen")
    await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
    token = (await kiosk.wait_for("session"))["resume_token"]
    ack = await ask(kiosk)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await kiosk.wait_for("matched")
    # The kiosk page reloads mid-call: it gets the case back and the clerk is told to offer again.
    await kiosk.close()
    back = Client(server, "/citizen")
    await back.connect({"resume_token": token})
    again = await back.wait_for("matched")
    assert again["case_id"] == ack["case_id"] and again["resumed"] is True
    assert await clerk.wait_for("citizen_resumed") == {"case_id": ack["case_id"]}
    token = (await back.wait_for("session"))["resume_token"]  # a resume token works once: here is the next
    # The clerk ends the case while the citizen is away; on return the citizen learns it and can rate.
    await back.close()
    assert (await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": "resolved", "notes": ""}))["ok"]
    last = Client(server, "/citizen")
    await last.connect({"resume_token": token})
    ended = await last.wait_for("case_ended")
    assert ended == {"case_id": ack["case_id"], "ticket_id": ack["ticket_id"], "outcome": "resolved", "resumed": True}
    assert (await last.call("rate", {"case_id": ack["case_id"], "level": 5, "comment": ""}))["ok"] is True


async def test_transfer_keeps_the_case_and_goes_to_the_head(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("boss", "supervisor", "delta", [])
    clerk, c, case_id = await matched_case(server)
    waiting = await citizen(server, {"channel": "web", "region": "320500"})
    other = await ask(waiting, matter="GJJ-TQ-001", region="320000")  # already in Jiangsu's queue
    manual_clock.advance(20)
    bad = await clerk.call("transfer", {"case_id": case_id, "target_region": "990000"})
    assert bad["error"]["code"] == "bad_request"
    ack = await clerk.call(
        "transfer", {"case_id": case_id, "target_region": "320500", "matter_code": "GJJ-TQ-001", "note": "江苏受理"}
    )
    assert ack["ok"] is True and ack["target_region"] == "320000", ack
    told = await c.wait_for("transferred")
    assert told["case_id"] == case_id and told["note"] == "江苏受理"
    assert (await c.wait_for("queue_update"))["position"] == 1  # ahead of who was already waiting
    js = await clerk_on_duty(server, "clerk_js", region="320000", skills=["housing_fund"])
    offer = await js.wait_for("offer")
    assert offer["case_id"] == case_id and offer["ticket_id"] != other["ticket_id"]
    assert offer["waited_s"] >= 20  # the original request time stands
    record = await record_of(server, case_id)
    assert record["target_region"] == "320000" and record["matter_code"] == "GJJ-TQ-001"
    moved = next(e for e in record["timeline"] if e["event"] == "transferred")
    assert moved["actor"] == "clerk:uclerk_a" and moved["detail"]["note"] == "江苏受理"
    assert moved["detail"]["from_region"] == "310000" and moved["detail"]["to_region"] == "320000"
    # A citizen cannot transfer, and a clerk cannot transfer someone else's case.
    assert (await c.call_raw("transfer", {"case_id": case_id, "target_region": "320000"}))["error"]["code"] == (
        "forbidden"
    )
    assert (await clerk.call("transfer", {"case_id": case_id, "target_region": "320000"}))["error"]["code"] in (
        "not_found",
        "forbidden",
    )


async def test_clerk_dropping_mid_case_requeues_the_citizen_after_the_grace(
    server: Server, manual_clock: ManualClock
) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    clerk, c, case_id = await matched_case(server)
    later = await citizen(server, {"channel": "web", "region": "320500"})
    await ask(later)
    await clerk.close()
    away = await c.wait_for("clerk_away")
    assert away["case_id"] == case_id and away["grace_s"] == 30
    manual_clock.advance(31)
    requeued = await c.wait_for("requeued")
    assert requeued["case_id"] == case_id
    other = await clerk_on_duty(server, "clerk_b")
    offer = await other.wait_for("offer")
    assert offer["case_id"] == case_id  # at the head, before the citizen who asked later
    events = [e for e, _ in await timeline(server, case_id)]
    assert events[-3:] == ["clerk_connection_lost", "requeued", "offered"], events


async def test_a_request_waiting_too_long_expires_with_a_clear_message(
    server: Server, manual_clock: ManualClock
) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    c = await citizen(server, {"channel": "web", "region": "320500"})
    ack = await ask(c)
    manual_clock.advance(600)
    ended = await c.wait_for("case_ended")
    assert ended["outcome"] == "expired" and "too long" in ended["message"]
    record = await record_of(server, ack["case_id"])
    assert record["outcome"] == "expired" and record["answered_at"] is None
