"""Hostile and broken input: every event gets a stable error code and the server keeps serving others."""

from __future__ import annotations

import aiohttp

from tests.conftest import Client, Server, refused
from tests.helpers import ask, citizen, clerk_on_duty, matched_case


def code(ack: object) -> str:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert set(ack["error"]) == {"code", "message"} and ack["error"]["message"], ack
    return str(ack["error"]["code"])


async def test_malformed_events_are_refused_with_codes(server: Server) -> None:
    c = await citizen(server)
    assert code(await c.call_raw("no_such_event", {})) == "bad_request"
    assert code(await c.call_raw("request_help", "not an object")) == "bad_request"
    assert code(await c.call_raw("request_help", [1, 2])) == "bad_request"
    assert code(await c.call_raw("request_help", {})) == "bad_request"  # missing fields
    missing = await c.call_raw("request_help", {"matter_code": "SB-ZY-001"})
    assert code(missing) == "bad_request" and "target_region" in missing["error"]["message"]
    wrong_type = await c.call_raw("request_help", {"matter_code": 42, "target_region": "310000"})
    assert code(wrong_type) == "bad_request" and "matter_code" in wrong_type["error"]["message"]
    assert (
        code(await c.call_raw("request_help", {"matter_code": "SB-ZY-001", "target_region": 310000})) == "bad_request"
    )
    assert code(await c.call_raw("request_help", {"matter_code": "SB-ZY-001", "target_region": "31"})) == "bad_request"
    extra = {"matter_code": "SB-ZY-001", "target_region": "310000", "sneaky": True}
    assert code(await c.call_raw("request_help", extra)) == "bad_request"
    assert code(await c.call_raw("request_help", {"matter_code": "NOPE", "target_region": "310000"})) == "not_found"
    # SC-SL-002 (company registration) is not served by Anhui in the demo catalog.
    assert (
        code(await c.call_raw("request_help", {"matter_code": "SC-SL-002", "target_region": "340000"})) == "bad_request"
    )
    assert code(await c.call_raw("rate", {"case_id": "X", "level": 9})) == "bad_request"
    assert code(await c.call_raw("rate", {"case_id": "X", "level": "5"})) == "bad_request"
    assert code(await c.call_raw("cancel", {"ticket_id": "T00000000"})) == "not_found"
    assert code(await c.call_raw("signal", {"case_id": "X"})) == "bad_request"  # neither description nor candidate
    both = {"case_id": "X", "description": {"type": "offer", "sdp": ""}, "candidate": None}
    assert code(await c.call_raw("signal", both)) == "bad_request"
    assert (
        code(await c.call_raw("signal", {"case_id": "X", "description": {"type": "bogus", "sdp": ""}})) == "bad_request"
    )
    assert code(await c.call_raw("signal", {"case_id": "X", "candidate": None})) == "not_found"
    # Oversized: within the transport's limit but past the event limit.
    huge = {"case_id": "X", "description": {"type": "offer", "sdp": "v=0\r\n" + "a" * 200_000}}
    too_big = await c.call_raw("signal", huge)
    assert code(too_big) == "bad_request" and "too large" in too_big["error"]["message"]
    # Still serving: a valid request goes through on the same connection.
    ack = await ask(c)
    assert ack["position"] == 1
    assert code(await c.call_raw("request_help", {"matter_code": "SB-ZY-001", "target_region": "310000"})) == "conflict"


async def test_citizen_cannot_send_clerk_events_or_touch_other_cases(server: Server) -> None:
    clerk, owner, case_id = await matched_case(server)
    intruder = await citizen(server, {"channel": "web", "region": "330100"})
    assert code(await intruder.call_raw("accept", {"ticket_id": "T1"})) == "forbidden"
    assert code(await intruder.call_raw("end_case", {"case_id": case_id, "outcome": "resolved"})) == "forbidden"
    assert code(await intruder.call_raw("set_status", {"status": "available"})) == "forbidden"
    offer = {"case_id": case_id, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    # Someone else's case answers like an unknown one (a guessed id that is live tells nothing).
    unknown = {"case_id": "RVW20260101000000000000", "description": {"type": "offer", "sdp": "v=0\r\n"}}
    for event, data in (
        ("signal", offer),
        ("media_state", {"case_id": case_id, "state": "failed"}),
        ("hang_up", {"case_id": case_id}),
    ):
        theirs = await intruder.call_raw(event, data)
        nobodys = await intruder.call_raw(event, {**data, "case_id": unknown["case_id"]})
        assert code(theirs) == "not_found" and theirs == nobodys, (event, theirs, nobodys)
    assert code(await intruder.call_raw("rate", {"case_id": case_id, "level": 1})) == "not_found"
    assert not clerk.seen("signal"), "nothing from the intruder may reach the clerk"
    # The clerk cannot use citizen events either.
    assert (
        code(await clerk.call_raw("request_help", {"matter_code": "SB-ZY-001", "target_region": "310000"}))
        == "forbidden"
    )
    # The real pair still works.
    assert await owner.call("signal", offer) == {"ok": True}
    relayed = await clerk.wait_for("signal")
    assert relayed == {**offer, "from": "citizen"}
    # And the case record holds nothing from the intruder.
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("clerk_a"))
    assert status == 200
    assert [e["event"] for e in record["timeline"]] == ["requested", "offered", "answered"]


async def test_clerk_cannot_take_another_clerks_offer_or_case(server: Server) -> None:
    first = await clerk_on_duty(server, "clerk_a")
    c = await citizen(server)
    await ask(c)
    offer = await first.wait_for("offer")
    await server.add_user("clerk_b", "clerk", "310000", ["social_insurance"])
    second = Client(server, "/clerk")
    await second.connect({"token": await server.login("clerk_b")})
    await second.wait_for("session")
    assert code(await second.call_raw("accept", {"ticket_id": offer["ticket_id"]})) == "forbidden"
    assert code(await second.call_raw("decline", {"ticket_id": offer["ticket_id"]})) == "forbidden"
    assert code(await second.call_raw("accept", {"ticket_id": "TNOSUCH"})) == "not_found"
    assert code(await second.call_raw("set_status", {"status": "dancing"})) == "bad_request"
    ack = await first.call("accept", {"ticket_id": offer["ticket_id"]})
    assert ack["ok"] is True
    case_id = ack["case_id"]
    assert code(await second.call_raw("end_case", {"case_id": case_id, "outcome": "resolved"})) == "forbidden"
    assert code(await second.call_raw("signal", {"case_id": case_id, "candidate": None})) == "not_found"
    assert code(await first.call_raw("end_case", {"case_id": case_id, "outcome": "maybe"})) == "bad_request"
    assert (await first.call("end_case", {"case_id": case_id, "outcome": "referred", "notes": ""}))["ok"] is True


async def test_refused_connections_carry_error_objects(server: Server) -> None:
    assert (await refused(server, "/citizen", {"kiosk_token": "k_wrong"}))["code"] == "unauthorized"
    assert (await refused(server, "/citizen", None))["code"] == "unauthorized"
    assert (await refused(server, "/citizen", {"channel": "web", "region": "110000"}))["code"] == "bad_request"
    assert (await refused(server, "/citizen", {"resume_token": "forged.token"}))["code"] == "unauthorized"
    assert (await refused(server, "/clerk", {}))["code"] == "unauthorized"
    assert (await refused(server, "/clerk", {"token": "bad"}))["code"] == "unauthorized"
    await server.add_user("boss", "supervisor", "310000", [])
    assert (await refused(server, "/clerk", {"token": await server.login("boss")}))["code"] == "forbidden"
    await server.add_user("clerk_x", "clerk", "310000", ["social_insurance"])
    assert (await refused(server, "/supervisor", {"token": await server.login("clerk_x")}))["code"] == "forbidden"


async def test_rate_limit_answers_rate_limited(server: Server) -> None:
    c = await citizen(server)
    answers = [await c.call_raw("cancel", {"ticket_id": "T1"}) for _ in range(230)]
    codes = [a["error"]["code"] for a in answers]
    assert codes.count("rate_limited") > 0, "a flood must be slowed down"
    assert set(codes) == {"not_found", "rate_limited"}


async def test_rest_errors(server: Server) -> None:
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    async with aiohttp.ClientSession() as http:
        form = {"username": "clerk_a", "password": "test-password-1"}
        async with http.post(f"{server.base_url}/api/auth/login", data=form) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
        headers = {"Content-Type": "application/json"}
        async with http.post(f"{server.base_url}/api/auth/login", data="{not json", headers=headers) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
        async with http.post(f"{server.base_url}/api/auth/login", json={"username": "clerk_a", "password": "x"}) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        async with http.get(f"{server.base_url}/api/cases/whatever") as r:
            assert r.status == 401
        async with http.get(f"{server.base_url}/api/cases/x", headers={"Authorization": "Bearer forged"}) as r:
            assert r.status == 401
    assert (await server.get_json("/api/dashboard", await server.login("clerk_a")))[0] == 403
