"""Two server processes' worth of app on one Redis and one PostgreSQL act as one."""

from __future__ import annotations

import pytest

from queueing.clock import ManualClock
from tests.conftest import KIOSK_TOKEN, Client, Server
from tests.helpers import ask, clerk_on_duty

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


async def test_case_across_nodes(two_nodes: tuple[Server, Server], manual_clock: ManualClock) -> None:
    a, b = two_nodes
    status_a = (await a.get_json("/readyz"))[1]
    assert status_a["checks"] == {"database": "ok", "redis": "ok"}
    await a.add_user("clerk_a", "clerk", "310000", ["social_insurance"], "王敏")
    await a.add_user("boss", "supervisor", "310000", [])
    clerk = await clerk_on_duty(a, "clerk_a")  # on node a, logged in there
    kiosk = Client(b, "/citizen")  # on node b
    await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
    await kiosk.wait_for("session")
    ack = await ask(kiosk)
    offer = await clerk.wait_for("offer")  # routed on b, delivered on a
    assert offer["case_id"] == ack["case_id"]
    accepted = await clerk.call("accept", {"ticket_id": offer["ticket_id"]})
    assert accepted["ok"] is True
    matched = await kiosk.wait_for("matched")
    assert matched["clerk"]["display_name"] == "王敏"

    description = {"type": "offer", "sdp": "v=0\r\n"}
    assert await clerk.call("signal", {"case_id": ack["case_id"], "description": description}) == {"ok": True}
    assert await kiosk.wait_for("signal") == {"case_id": ack["case_id"], "description": description, "from": "clerk"}
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
    assert await kiosk.call("signal", {"case_id": ack["case_id"], "candidate": candidate}) == {"ok": True}
    assert await clerk.wait_for("signal") == {"case_id": ack["case_id"], "candidate": candidate, "from": "citizen"}

    manual_clock.advance(30)
    assert (await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": "resolved", "notes": ""}))["ok"]
    assert (await kiosk.wait_for("case_ended"))["outcome"] == "resolved"
    assert (await kiosk.call("rate", {"case_id": ack["case_id"], "level": 4, "comment": ""}))["ok"] is True
    # Either node serves the record, from PostgreSQL.
    for node in (a, b):
        code, record = await node.get_json(f"/api/cases/{ack['case_id']}", await node.login("boss"))
        assert code == 200
        assert [e["event"] for e in record["timeline"]] == ["requested", "offered", "answered", "ended", "rated"]
        assert record["rating"] == {"level": 4, "comment": ""}


async def test_offer_time_out_applied_once_by_two_tickers(
    two_nodes: tuple[Server, Server], manual_clock: ManualClock
) -> None:
    a, b = two_nodes
    await a.add_user("boss", "supervisor", "310000", [])
    first = await clerk_on_duty(a, "clerk_a")
    manual_clock.advance(1)
    second = await clerk_on_duty(b, "clerk_b")
    kiosk = Client(a, "/citizen")
    await kiosk.connect({"channel": "web", "region": "320500"})
    await kiosk.wait_for("session")
    ack = await ask(kiosk)
    assert (await first.wait_for("offer"))["ticket_id"] == ack["ticket_id"]
    manual_clock.advance(15)  # both nodes' tickers wake and race for the time-out
    assert (await second.wait_for("offer"))["ticket_id"] == ack["ticket_id"]
    assert (await second.call("accept", {"ticket_id": ack["ticket_id"]}))["ok"] is True
    code, record = await b.get_json(f"/api/cases/{ack['case_id']}", await b.login("boss"))
    assert code == 200
    events = [e["event"] for e in record["timeline"]]
    assert events == ["requested", "offered", "offer_expired", "offered", "answered"], events
    assert len(first.seen("offer")) == 0 and len(second.seen("offer")) == 0
