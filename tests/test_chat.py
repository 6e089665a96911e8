"""Chat in the call (issue 8, part 2): both sides type to each other, every line goes on the case timeline, and
only the two sides of an open case may chat in it. Real servers and Socket.IO clients, one node and two on Redis."""

from __future__ import annotations

from typing import Any

import pytest

from queueing.clock import ManualClock, iso
from signaling import namespaces
from tests.conftest import Client, Server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case


async def chat_lines(server: Server, case_id: str) -> list[tuple[str, str]]:
    if await server.services.directory.user_by_name("audit") is None:
        await server.add_user("audit", "auditor", "delta", [])
    status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("audit"))
    assert status == 200, record
    return [(e["actor"], e["detail"]["text"]) for e in record["timeline"] if e["event"] == "chat"]


async def test_both_sides_chat_and_every_line_is_on_the_timeline(server: Server, manual_clock: ManualClock) -> None:
    clerk, c, case_id = await matched_case(server)
    manual_clock.advance(3)
    ack = await c.call("chat", {"case_id": case_id, "text": "  我的社保卡丢了，怎么办？ "})
    assert ack == {"ok": True, "case_id": case_id, "at": iso(manual_clock.now())}
    got = await clerk.wait_for("chat")
    assert got == {
        "case_id": case_id,
        "text": "我的社保卡丢了，怎么办？",
        "from": "citizen",
        "at": iso(manual_clock.now()),
    }
    manual_clock.advance(5)
    assert (await clerk.call("chat", {"case_id": case_id, "text": "请出示身份证，我来帮您挂失。"}))["ok"] is True
    back = await c.wait_for("chat")
    assert (back["from"], back["text"]) == ("clerk", "请出示身份证，我来帮您挂失。")
    assert c.seen("chat") == [] and clerk.seen("chat") == []  # nobody hears their own line back
    assert await chat_lines(server, case_id) == [
        (f"citizen:{(await server.read_core(lambda r: r.cases[case_id].citizen_id))}", "我的社保卡丢了，怎么办？"),
        ("clerk:uclerk_a", "请出示身份证，我来帮您挂失。"),
    ]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"text": ""}, "bad_request"),
        ({"text": "   \n\t "}, "bad_request"),
        ({"text": "字" * 1001}, "bad_request"),
        ({"text": "a\x00b"}, "bad_request"),
        ({"text": 5}, "bad_request"),
        ({}, "bad_request"),
    ],
)
async def test_bad_lines_are_refused_and_not_stored(server: Server, payload: dict[str, Any], code: str) -> None:
    clerk, c, case_id = await matched_case(server)
    refused = await c.call_raw("chat", {"case_id": case_id, **payload})
    assert refused["ok"] is False and refused["error"]["code"] == code
    assert (await c.call("chat", {"case_id": case_id, "text": "字" * 1000}))["ok"] is True  # the longest allowed
    assert [text for _, text in await chat_lines(server, case_id)] == ["字" * 1000]
    assert (await clerk.wait_for("chat"))["text"] == "字" * 1000  # the refused line was never relayed
    assert clerk.seen("chat") == []


async def test_only_the_two_sides_of_an_open_case_may_chat(server: Server, manual_clock: ManualClock) -> None:
    clerk, c, case_id = await matched_case(server)
    stranger = await citizen(server)
    await ask(stranger)
    other_clerk = await clerk_on_duty(server, "clerk_b")
    for outsider in (stranger, other_clerk):
        refused = await outsider.call_raw("chat", {"case_id": case_id, "text": "hi"})
        assert refused["error"]["code"] == "not_found"  # someone else's case: as an unknown one
    await server.add_user("boss", "supervisor", "delta", [])
    wall = Client(server, "/supervisor")
    await wall.connect({"token": await server.login("boss")})
    assert (await wall.call_raw("chat", {"case_id": case_id, "text": "hi"}))["error"]["code"] == "forbidden"
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    after = await c.call_raw("chat", {"case_id": case_id, "text": "谢谢"})
    assert after["error"]["code"] == "not_found"  # the case is over
    assert await chat_lines(server, case_id) == []
    assert c.seen("chat") == [] and clerk.seen("chat") == []


async def test_a_side_writes_at_most_so_many_lines(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces, "CHAT_LINES_PER_SIDE", 3)
    clerk, c, case_id = await matched_case(server)
    for n in range(3):
        assert (await c.call("chat", {"case_id": case_id, "text": f"第{n}句"}))["ok"] is True
    over = await c.call_raw("chat", {"case_id": case_id, "text": "第3句"})
    assert over["error"]["code"] == "rate_limited"
    assert (await clerk.call("chat", {"case_id": case_id, "text": "好的"}))["ok"] is True  # the other side's own
    assert [text for _, text in await chat_lines(server, case_id)] == ["第0句", "第1句", "第2句", "好的"]


@pytest.mark.redis
@pytest.mark.postgres
async def test_chat_crosses_nodes(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    clerk = await clerk_on_duty(b, "clerk_a")
    c = await citizen(a)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")
    assert (await c.call("chat", {"case_id": ack["case_id"], "text": "你好"}))["ok"] is True
    assert (await clerk.wait_for("chat"))["text"] == "你好"
    assert (await clerk.call("chat", {"case_id": ack["case_id"], "text": "您好，请讲"}))["ok"] is True
    assert (await c.wait_for("chat"))["text"] == "您好，请讲"
