"""Supervisor actions on the /supervisor namespace: each authorised by role and province, each on the
case timeline. Real server, real Socket.IO clients, the manual clock."""

from __future__ import annotations

from typing import Any

from queueing.clock import ManualClock
from tests.conftest import Client, Server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case


async def wall(server: Server, username: str, region: str) -> Client:
    if await server.services.directory.user_by_name(username) is None:
        await server.add_user(username, "supervisor", region, [])
    w = Client(server, "/supervisor")
    await w.connect({"token": await server.login(username)})
    await w.wait_for("dashboard")
    return w


async def timeline(server: Server, case_id: str) -> list[dict[str, Any]]:
    if await server.services.directory.user_by_name("audit") is None:
        await server.add_user("audit", "auditor", "delta", [])
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("audit"))
    assert status == 200, record
    return list(record["timeline"])


async def test_a_supervisor_sets_a_clerks_status_within_their_provinces(
    server: Server, manual_clock: ManualClock
) -> None:
    clerk, _citizen, case_id = await matched_case(server)  # clerk_a, Shanghai, in a case
    delta = await wall(server, "boss", "delta")
    jiangsu = await wall(server, "boss_js", "320000")

    # Another province's supervisor cannot touch a Shanghai clerk: answered like an unknown clerk.
    refused = await jiangsu.call_raw("set_clerk_status", {"clerk_id": "uclerk_a", "status": "break"})
    assert refused["error"]["code"] == "not_found"
    assert (await delta.call_raw("set_clerk_status", {"clerk_id": "nobody", "status": "break"}))["error"][
        "code"
    ] == "not_found"
    assert (await delta.call_raw("set_clerk_status", {"clerk_id": "uclerk_a", "status": "busy"}))["error"][
        "code"
    ] == "bad_request"

    manual_clock.advance(5)
    ack = await delta.call("set_clerk_status", {"clerk_id": "uclerk_a", "status": "break", "note": "培训"})
    assert ack["ok"] is True and ack["clerk_id"] == "uclerk_a"
    told = await clerk.wait_for("status", lambda d: d.get("reason") == "supervisor")
    assert told["status"] == "busy"  # still in the case: the break starts when it ends
    # On the timeline of the case the clerk holds: who, what, why.
    lines = [e for e in await timeline(server, case_id) if e["event"] == "set_clerk_status"]
    assert len(lines) == 1 and lines[0]["actor"] == "supervisor:uboss"
    assert lines[0]["detail"] == {"clerk_id": "uclerk_a", "from": "busy", "to": "break", "note": "培训"}

    # The clerk ends the case: on break now, as the supervisor set, and not offered the next citizen.
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    assert (await clerk.wait_for("status", lambda d: d["status"] == "break"))["status"] == "break"
    other = await citizen(server)
    await ask(other)
    dash = await delta.wait_for("dashboard", lambda d: d["waiting_total"] == 1)
    assert [c["status"] for c in dash["clerks"] if c["clerk_id"] == "uclerk_a"] == ["break"]
    ack = await delta.call("set_clerk_status", {"clerk_id": "uclerk_a", "status": "available"})
    assert ack["status"] in ("available", "offered")
    assert (await clerk.wait_for("offer"))["matter_code"] == "SB-ZY-001"


async def test_a_supervisor_moves_a_waiting_request_to_another_queue(server: Server, manual_clock: ManualClock) -> None:
    c = await citizen(server)
    ack = await ask(c)  # Shanghai, social insurance; nobody on duty
    delta = await wall(server, "boss", "delta")
    anhui = await wall(server, "boss_ah", "340000")
    move = {"ticket_id": ack["ticket_id"], "target_region": "320000", "matter_code": "GJJ-TQ-001", "note": "属江苏"}

    assert (await anhui.call_raw("move_request", move))["error"]["code"] == "not_found"
    assert (await delta.call_raw("move_request", {**move, "matter_code": "NO-SUCH"}))["error"]["code"] == "not_found"
    wrong = await delta.call_raw("move_request", {**move, "matter_code": "SB-ZY-001", "target_region": "310000"})
    assert wrong["error"]["code"] == "bad_request"  # already in that queue
    assert (await c.call_raw("move_request", move))["error"]["code"] == "forbidden"

    manual_clock.advance(30)
    moved = await delta.call("move_request", move)
    assert moved["ok"] is True and moved["target_region"] == "320000" and moved["matter_code"] == "GJJ-TQ-001"
    told = await c.wait_for("transferred")
    assert told["target_region"] == "320000"
    # A Jiangsu clerk who serves housing funds is offered it; the citizen kept the case and request time.
    js = await clerk_on_duty(server, "clerk_js", "320000", ["housing_fund"])
    offer = await js.wait_for("offer")
    assert offer["case_id"] == ack["case_id"] and offer["waited_s"] >= 30
    lines = [e for e in await timeline(server, ack["case_id"]) if e["event"] == "transferred"]
    assert lines[0]["actor"] == "supervisor:uboss" and lines[0]["detail"]["note"] == "属江苏"
    assert (lines[0]["detail"]["from_region"], lines[0]["detail"]["to_region"]) == ("310000", "320000")


async def test_a_supervisor_closes_a_complaint_follow_up(server: Server, manual_clock: ManualClock) -> None:
    clerk, c, case_id = await matched_case(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "unresolved"}))["ok"] is True
    delta = await wall(server, "boss", "delta")
    zhejiang = await wall(server, "boss_zj", "330000")
    close = {"case_id": case_id, "note": "已电话联系，材料已补齐"}

    # Not rated yet: nothing to follow up.
    assert (await delta.call_raw("close_followup", close))["error"]["code"] == "conflict"
    assert (await c.call("rate", {"case_id": case_id, "level": 2, "comment": "没解决"}))["ok"] is True
    assert (await zhejiang.call_raw("close_followup", close))["error"]["code"] == "not_found"
    assert (await clerk.call_raw("close_followup", close))["error"]["code"] == "forbidden"
    assert (await delta.call_raw("close_followup", {"case_id": case_id, "note": ""}))["error"]["code"] == "bad_request"

    if await server.services.directory.user_by_name("audit") is None:
        await server.add_user("audit", "auditor", "delta", [])
    audit = await server.login("audit")
    status, listed = await server.get_json("/api/cases?followup=open", audit)
    assert status == 200 and [c["case_id"] for c in listed["cases"]] == [case_id]
    manual_clock.advance(3600)
    assert (await delta.call("close_followup", close))["ok"] is True
    assert (await server.get_json("/api/cases?followup=open", audit))[1]["cases"] == []
    closed = (await server.get_json("/api/cases?followup=closed", audit))[1]["cases"]
    assert [c["case_id"] for c in closed] == [case_id] and closed[0]["followup_closed_at"]
    assert (await delta.call_raw("close_followup", close))["error"]["code"] == "conflict"  # once
    lines = [e for e in await timeline(server, case_id) if e["event"] == "followup_closed"]
    assert len(lines) == 1 and lines[0]["actor"] == "supervisor:uboss"
    assert lines[0]["detail"] == {"note": "已电话联系，材料已补齐"}


async def test_a_good_rating_has_no_follow_up(server: Server) -> None:
    clerk, c, case_id = await matched_case(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    assert (await c.call("rate", {"case_id": case_id, "level": 5}))["ok"] is True
    delta = await wall(server, "boss", "delta")
    refused = await delta.call_raw("close_followup", {"case_id": case_id, "note": "x"})
    assert refused["error"]["code"] == "conflict"


async def test_a_province_supervisor_reads_only_their_provinces_records(server: Server) -> None:
    clerk, _citizen, case_id = await matched_case(server)  # a Shanghai case
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    await server.add_user("boss_sh", "supervisor", "310104", [])  # a district's code: its province
    await server.add_user("boss_js", "supervisor", "320000", [])
    await server.add_user("boss", "supervisor", "delta", [])
    sh, js, delta = [await server.login(u) for u in ("boss_sh", "boss_js", "boss")]
    assert (await server.get_json(f"/api/cases/{case_id}", sh))[0] == 200
    assert (await server.get_json(f"/api/cases/{case_id}", delta))[0] == 200
    status, body = await server.get_json(f"/api/cases/{case_id}", js)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert [c["case_id"] for c in (await server.get_json("/api/cases", sh))[1]["cases"]] == [case_id]
    assert (await server.get_json("/api/cases", js))[1]["cases"] == []
    assert (await server.get_json("/api/cases?target_region=310000", js))[1]["cases"] == []
    assert (await server.get_json("/api/sla", js))[1]["total"]["requests"] == 0
    assert (await server.get_json("/api/sla", sh))[1]["total"]["requests"] == 1
