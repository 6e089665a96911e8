"""Steps several tests share: a clerk on duty, a citizen asking for help, a matched case."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import KIOSK_TOKEN, Client, Server


async def clerk_on_duty(
    server: Server, username: str, region: str = "310000", skills: list[str] | None = None
) -> Client:
    if await server.services.directory.user_by_name(username) is None:
        await server.add_user(username, "clerk", region, skills or ["social_insurance"])
    clerk = Client(server, "/clerk")
    await clerk.connect({"token": await server.login(username)})
    await clerk.wait_for("session")
    ack = await clerk.call("set_status", {"status": "available"})
    assert ack["ok"] is True, ack
    return clerk


async def citizen(server: Server, auth: dict[str, Any] | None = None) -> Client:
    c = Client(server, "/citizen")
    await c.connect(auth or {"kiosk_token": KIOSK_TOKEN})
    await c.wait_for("session")
    return c


async def ask(c: Client, matter: str = "SB-ZY-001", region: str = "310000", priority: str = "normal") -> dict[str, Any]:
    ack = await c.call("request_help", {"matter_code": matter, "target_region": region, "priority": priority})
    assert ack["ok"] is True, ack
    return dict(ack)


async def matched_case(server: Server, clerk_name: str = "clerk_a") -> tuple[Client, Client, str]:
    clerk = await clerk_on_duty(server, clerk_name)
    c = await citizen(server)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")
    await clerk.wait_for("matched")
    return clerk, c, str(ack["case_id"])


async def until(server: Server, probe: Any, what: str) -> None:
    """Wait (bounded) until ``probe(router)`` holds in the server's queue state, e.g. a disconnect was handled."""
    import asyncio

    for _ in range(500):
        if await server.read_core(probe):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def ws_closed(ws: aiohttp.ClientWebSocketResponse, no_ack_of: str | None = None) -> bool:
    """Whether the server closed a raw Socket.IO WebSocket: Engine.IO's close packet, or the
    WebSocket's own close. With ``no_ack_of`` (a packet prefix such as "43/citizen,1"), an ack
    arriving meanwhile fails the test."""
    while True:
        msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return True
        if msg.type == aiohttp.WSMsgType.ERROR or (msg.type == aiohttp.WSMsgType.TEXT and msg.data == "1"):
            return True
        if no_ack_of is not None and msg.type == aiohttp.WSMsgType.TEXT:
            assert not msg.data.startswith(no_ack_of), msg.data
