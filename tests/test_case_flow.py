"""A whole case over the real contract: python-socketio clients, real aiortc media, the case record."""

from __future__ import annotations

import asyncio
from datetime import datetime

from queueing.clock import ManualClock
from tests.conftest import KIOSK_TOKEN, Client, Server
from tests.peers import Peer


async def pump(client: Client, peer: Peer, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            message = await client.wait_for("signal", within=0.2)
        except TimeoutError:
            continue
        await peer.handle(message)


async def test_full_case_with_media_and_record(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"], "王敏")
    await server.add_user("boss", "supervisor", "310000", [])
    clerk = Client(server, "/clerk")
    await clerk.connect({"token": await server.login("clerk_a")})
    session = await clerk.wait_for("session")
    assert session["clerk"]["display_name"] == "王敏"
    assert session["clerk"]["skills"] == ["social_insurance"]
    assert isinstance(session["ice_servers"], list)
    assert await clerk.call("set_status", {"status": "available"}) == {"ok": True, "status": "available"}

    kiosk = Client(server, "/citizen")
    await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
    welcome = await kiosk.wait_for("session")
    assert welcome["origin_region"] == "320500" and welcome["resume_token"]

    ack = await kiosk.call(
        "request_help", {"matter_code": "SB-ZY-001", "target_region": "310000", "priority": "normal", "language": "zh"}
    )
    assert ack["ok"] is True and ack["position"] == 1, ack
    case_id, ticket_id = ack["case_id"], ack["ticket_id"]
    offer = await clerk.wait_for("offer")
    assert offer["ticket_id"] == ticket_id and offer["case_id"] == case_id
    assert offer["matter_code"] == "SB-ZY-001" and offer["origin_region"] == "320500"
    assert offer["target_region"] == "310000" and offer["expires_in_s"] == 15.0

    manual_clock.advance(4)
    accepted = await clerk.call("accept", {"ticket_id": ticket_id})
    assert accepted == {"ok": True, "ticket_id": ticket_id, "case_id": case_id}
    clerk_matched = await clerk.wait_for("matched")
    citizen_matched = await kiosk.wait_for("matched")
    assert clerk_matched["case_id"] == citizen_matched["case_id"] == case_id
    assert citizen_matched["clerk"] == {"display_name": "王敏", "region": "310000"}
    assert clerk_matched["citizen"] == {"origin_region": "320500", "channel": "kiosk"}

    clerk_peer, citizen_peer = Peer(clerk, case_id), Peer(kiosk, case_id)
    stop = asyncio.Event()
    pumps = [asyncio.create_task(pump(clerk, clerk_peer, stop)), asyncio.create_task(pump(kiosk, citizen_peer, stop))]
    try:
        await clerk_peer.offer()  # the clerk offers first
        for _ in range(300):  # bounded wait for media on both sides
            if clerk_peer.video_frames >= 5 and citizen_peer.video_frames >= 5:
                break
            await asyncio.sleep(0.05)
        assert clerk_peer.video_frames >= 5, "the clerk decoded no video from the citizen"
        assert citizen_peer.video_frames >= 5, "the citizen decoded no video from the clerk"
        assert clerk_peer.audio_frames > 0 and citizen_peer.audio_frames > 0
        assert clerk_peer.pc.connectionState == citizen_peer.pc.connectionState == "connected"
    finally:
        stop.set()
        await asyncio.gather(*pumps)
        await clerk_peer.close()
        await citizen_peer.close()

    manual_clock.advance(1)
    assert await kiosk.call("media_state", {"case_id": case_id, "state": "connected"}) == {"ok": True}
    manual_clock.advance(1)
    assert await clerk.call("media_state", {"case_id": case_id, "state": "connected"}) == {"ok": True}

    manual_clock.advance(120)
    ended = await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": "已指导完成转移申请"})
    assert ended == {"ok": True, "case_id": case_id}
    assert await kiosk.wait_for("case_ended") == {"case_id": case_id, "outcome": "resolved"}
    status = await clerk.wait_for("status", lambda d: d["reason"] == "case_ended")
    assert status["status"] == "available"

    manual_clock.advance(5)
    rated = await kiosk.call("rate", {"case_id": case_id, "level": 5, "comment": "很耐心"})
    assert rated == {"ok": True, "case_id": case_id}
    again = await kiosk.call("rate", {"case_id": case_id, "level": 1, "comment": "changed my mind"})
    assert again["ok"] is False and again["error"]["code"] == "conflict"

    status_code, record = await server.get_json(f"/api/cases/{case_id}", await server.login("clerk_a"))
    assert status_code == 200, record
    assert record["case_id"] == case_id and record["ticket_id"] == ticket_id
    assert record["matter_code"] == "SB-ZY-001"
    assert (record["origin_region"], record["target_region"], record["channel"]) == ("320500", "310000", "kiosk")
    assert record["clerk_id"] == "uclerk_a"
    stamps = {
        k: datetime.fromisoformat(record[k])
        for k in ("requested_at", "offered_at", "answered_at", "connected_at", "ended_at")
    }
    assert all(t.tzinfo is not None for t in stamps.values())
    start = manual_clock.now() - 131
    assert [round(t.timestamp() - start, 3) for t in stamps.values()] == [0.0, 0.0, 4.0, 5.0, 126.0]
    assert record["outcome"] == "resolved" and record["notes"] == "已指导完成转移申请"
    assert record["rating"] == {"level": 5, "comment": "很耐心"}
    events = [e["event"] for e in record["timeline"]]
    assert events == ["requested", "offered", "answered", "connected", "ended", "rated"]
    times = [datetime.fromisoformat(e["at"]) for e in record["timeline"]]
    assert times == sorted(times)
    assert record["timeline"][2]["actor"] == "clerk:uclerk_a"
    assert record["timeline"][3]["actor"].startswith("citizen:")  # the first to report media wins

    # A supervisor may read it too; the dashboard counts it as answered within the SLA.
    boss = await server.login("boss")
    assert (await server.get_json(f"/api/cases/{case_id}", boss))[0] == 200
    status_code, dash = await server.get_json("/api/dashboard", boss)
    assert status_code == 200
    assert dash["today"]["answered"] == 1 and dash["today"]["service_level"] == 1.0
    assert dash["today"]["positive_rate"] == 1.0 and dash["today"]["resolution_rate"] == 1.0
