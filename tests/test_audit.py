"""The audit log (issue 8, part 4): people's actions are recorded, auditors read them, nothing edits them.
Real server, real HTTP and Socket.IO clients, the manual clock."""

from __future__ import annotations

from typing import Any

import aiohttp

from queueing.clock import ManualClock
from tests.conftest import Client, Server
from tests.helpers import ask, citizen, matched_case


async def entries(server: Server, token: str, query: str = "") -> list[dict[str, Any]]:
    status, body = await server.get_json(f"/api/audit{query}", token)
    assert status == 200, body
    return list(body["entries"])


def lines(found: list[dict[str, Any]], action: str) -> list[tuple[str, str, str, bool]]:
    return [(e["user"], e["role"], e["target"], e["ok"]) for e in found if e["action"] == action]


async def test_log_ins_case_reads_and_supervisor_actions_are_audited(server: Server, manual_clock: ManualClock) -> None:
    await server.add_user("audit", "auditor", "delta", [])
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_js", "supervisor", "320000", [])
    clerk, _citizen, case_id = await matched_case(server)  # clerk_a of Shanghai, logged in
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"}))["ok"] is True
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.base_url}/api/auth/login", json={"username": "boss", "password": "not it"}
        ) as resp:
            assert resp.status == 401
    boss, boss_js, auditor = [await server.login(u) for u in ("boss", "boss_js", "audit")]

    # Reading records: allowed, and refused (another province's case is answered as unknown).
    assert (await server.get_json(f"/api/cases/{case_id}", boss))[0] == 200
    assert (await server.get_json(f"/api/cases/{case_id}", boss_js))[0] == 404
    assert (await server.get_json("/api/cases?outcome=resolved&limit=5", boss))[0] == 200
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {boss}"}) as http:
        async with http.get(f"{server.base_url}/api/cases?format=csv") as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"\xef\xbb\xbf")

    # A supervisor's action, allowed and refused.
    wall = Client(server, "/supervisor")
    await wall.connect({"token": boss})
    other = await citizen(server)
    ticket = (await ask(other))["ticket_id"]
    move = {"ticket_id": ticket, "target_region": "320000", "matter_code": "GJJ-TQ-001"}
    assert (await wall.call("move_request", move))["ok"] is True
    assert (await wall.call_raw("set_clerk_status", {"clerk_id": "nobody", "status": "break"}))["ok"] is False

    found = await entries(server, auditor)
    assert ("name:boss", "", "boss", False) in lines(found, "login")  # the failure, by the name given
    assert ("uboss", "supervisor", "boss", True) in lines(found, "login")
    assert ("uclerk_a", "clerk", "clerk_a", True) in lines(found, "login")
    assert lines(found, "case_view") == [
        ("uboss", "supervisor", case_id, True),
        ("uboss_js", "supervisor", case_id, False),
    ]
    assert ("uboss", "supervisor", "outcome=resolved&limit=5", True) in lines(found, "case_list")
    assert lines(found, "case_export") == [("uboss", "supervisor", "format=csv", True)]
    assert lines(found, "move_request") == [("uboss", "supervisor", f"{ticket} 320000 GJJ-TQ-001", True)]
    assert lines(found, "set_clerk_status") == [("uboss", "supervisor", "nobody break", False)]
    assert {e["ip"] for e in found} == {"127.0.0.1"}
    assert [e["id"] for e in found] == sorted(e["id"] for e in found)  # in the order written

    # Filters and paging; reading the log is itself in the log.
    only = await entries(server, auditor, "?user=uboss&action=case_view")
    assert [(e["user"], e["action"], e["ok"]) for e in only] == [("uboss", "case_view", True)]
    status, page = await server.get_json("/api/audit?limit=2", auditor)
    assert status == 200 and len(page["entries"]) == 2 and page["next_after"] == page["entries"][1]["id"]
    status, rest = await server.get_json(f"/api/audit?after={page['next_after']}&limit=10000", auditor)
    assert rest["entries"][0]["id"] > page["next_after"] and rest["next_after"] is None
    assert any(e["action"] == "audit_view" and e["user"] == "uaudit" for e in rest["entries"])
    yesterday = await entries(
        server, auditor, f"?from={manual_clock.now() - 2 * 86400:.0f}&to={manual_clock.now() - 86400:.0f}"
    )
    assert yesterday == []


async def test_only_auditors_read_it_and_nothing_changes_it(server: Server) -> None:
    await server.add_user("audit", "auditor", "delta", [])
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    assert (await server.get_json("/api/audit"))[0] == 401
    assert (await server.get_json("/api/audit", await server.login("boss")))[0] == 403
    assert (await server.get_json("/api/audit", await server.login("clerk_a")))[0] == 403
    auditor = await server.login("audit")
    for bad in ("?action=delete", "?limit=0", "?after=-1", "?from=2026-01-02&to=2026-01-01", "?x=1", "?user="):
        status, body = await server.get_json(f"/api/audit{bad}", auditor)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    # Only GET (and HEAD) is served under /api/audit: no route edits or deletes an entry.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {auditor}"}) as http:
        for method in ("DELETE", "PUT", "PATCH", "POST"):
            async with http.request(method, f"{server.base_url}/api/audit") as resp:
                assert resp.status == 405, method
    methods = {
        route.method
        for resource in server.app.router.resources()
        if resource.canonical.startswith("/api/audit")
        for route in resource
    }
    assert methods == {"GET", "HEAD"}
