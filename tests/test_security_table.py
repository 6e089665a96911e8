"""docs/security.md, row by row, against a running server: the REST table, the namespaces,
the events of each role and the attempts on someone else's case. The tables are parsed from
the page itself, so a row the server does not honour, or a route or event without a row, fails."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from queueing.clock import ManualClock
from tests.conftest import KIOSK_TOKEN, PASSWORD, Client, Server, refused
from tests.helpers import ask, citizen, clerk_on_duty

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table under ``## heading``, header row first."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    return [cells[0], *cells[2:]]  # without the |---| line


def code_of(cell: str) -> str:
    found = re.search(r"`([^`]+)`", cell)
    assert found, cell
    return found.group(1)


# ---- REST ------------------------------------------------------------------------------------

ACCOUNTS = {"clerk": "clerk_a", "supervisor": "boss", "auditor": "audit"}


async def status_of(server: Server, method: str, path: str, token: str | None, body: Any = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{server.base_url}{path}", json=body, headers=headers) as resp:
            await resp.read()
            return resp.status


async def served_case(server: Server, clerk: Client) -> str:
    c = await citizen(server)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": "resolved", "notes": ""})
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    await c.close()
    return str(ack["case_id"])


async def test_every_rest_row_holds(server: Server, manual_clock: ManualClock) -> None:
    rows = table("REST")
    roles = rows[0][1:]
    assert roles == ["anonymous", "clerk", "supervisor", "auditor"]
    clerk_a = await clerk_on_duty(server, "clerk_a")
    own = await served_case(server, clerk_a)
    await clerk_a.call("set_status", {"status": "offline"})
    clerk_b = await clerk_on_duty(server, "clerk_b")
    other = await served_case(server, clerk_b)
    await server.add_user("boss", "supervisor", "310000", [])
    await server.add_user("audit", "auditor", "310000", [])

    async def token(role: str) -> str | None:
        return await server.login(ACCOUNTS[role]) if role in ACCOUNTS else None

    requests: dict[str, Callable[[str], Awaitable[int]]] = {}

    async def login(role: str) -> int:
        name = ACCOUNTS.get(role, "nobody")
        return await status_of(server, "POST", "/api/auth/login", None, {"username": name, "password": PASSWORD})

    async def logout(role: str) -> int:
        return await status_of(server, "POST", "/api/auth/logout", await token(role))

    def get(path: str) -> Callable[[str], Awaitable[int]]:
        async def run(role: str) -> int:
            return await status_of(server, "GET", path, await token(role))

        return run

    def post_json(path: str, body: Any) -> Callable[[str], Awaitable[int]]:
        async def run(role: str) -> int:
            return await status_of(server, "POST", path, await token(role), body)

        return run

    def post(path: str) -> Callable[[str], Awaitable[int]]:
        async def run(role: str) -> int:
            return await status_of(server, "POST", path, await token(role), {"not": "a document"})

        return run

    requests = {
        "`POST /api/auth/login` (right password)": login,
        "`POST /api/auth/logout`": logout,
        "`GET /api/me`": get("/api/me"),
        "`GET /api/matters`": get("/api/matters"),
        "`GET /api/matters/{code}` (known)": get("/api/matters/YB-BA-001"),
        "`GET /api/clerk/day`": get("/api/clerk/day"),
        "`GET /api/cases`": get("/api/cases"),
        "`GET /api/cases` (`clerk_id` of another clerk)": get("/api/cases?clerk_id=uclerk_b"),
        "`GET /api/cases/{id}` (own)": get(f"/api/cases/{own}"),
        "`GET /api/cases/{id}` (other)": get(f"/api/cases/{other}"),
        "`GET /api/dashboard`": get("/api/dashboard"),
        "`GET /api/sla`": get("/api/sla"),
        "`GET /api/clerk-status`": get("/api/clerk-status"),
        "`GET /api/audit`": get("/api/audit"),
        "`POST /api/cases/{id}/attachments` (no open case of theirs)": post(f"/api/cases/{own}/attachments"),
        "`GET /api/attachments/{id}` (unknown)": get("/api/attachments/A0000"),
        "`GET /api/cases/{id}/recordings` (own)": get(f"/api/cases/{own}/recordings"),
        "`GET /api/recordings/{id}` (unknown)": get("/api/recordings/M0000"),
        "`GET /api/followups`": get("/api/followups"),
        "`POST /api/followups/{id}` (unknown case)": post_json(
            "/api/followups/RVW-NOPE", {"action": "contacted", "note": "打过电话"}
        ),
        "`GET /api/staffing`": get("/api/staffing?arrivals_per_hour=200&aht_s=180"),
        "`GET /api/openapi.json`": get("/api/openapi.json"),
        "`GET /healthz`": get("/healthz"),
        "`GET /readyz`": get("/readyz"),
    }
    assert [r[0] for r in rows[1:]] == list(requests), "a row without a test, or a test without a row"
    for row in rows[1:]:
        for role, expected in zip(roles, row[1:], strict=True):
            assert await requests[row[0]](role) == int(expected), (row[0], role)

    # Every route the server has is in the table.
    documented = {code_of(r[0]) for r in rows[1:]}
    served = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if (path.startswith("/api/") or path in ("/healthz", "/readyz")) and route.method != "HEAD":
            for name in ("{case_id}", "{attachment_id}", "{recording_id}"):
                path = path.replace(name, "{id}")
            served.add(f"{route.method} {path}")
    assert served == documented


# ---- namespaces --------------------------------------------------------------------------------


async def test_every_namespace_row_holds(server: Server) -> None:
    rows = table("Socket.IO connections")
    roles = rows[0][1:]
    assert roles == ["web citizen", "kiosk citizen", "clerk", "supervisor", "auditor"]
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    await server.add_user("boss", "supervisor", "310000", [])
    await server.add_user("audit", "auditor", "310000", [])
    auth = {
        "web citizen": {"channel": "web", "region": "320500"},
        "kiosk citizen": {"kiosk_token": KIOSK_TOKEN},
    }
    for role, name in (("clerk", "clerk_a"), ("supervisor", "boss"), ("auditor", "audit")):
        auth[role] = {"token": await server.login(name)}
    assert {code_of(r[0]) for r in rows[1:]} == {"/citizen", "/clerk", "/supervisor"}
    for row in rows[1:]:
        namespace = code_of(row[0])
        for role, expected in zip(roles, row[1:], strict=True):
            how = auth[role]
            if namespace == "/citizen" and "token" in how:
                how = {**auth["web citizen"], **how}  # a user on /citizen is a web citizen
            if expected == "yes":
                c = Client(server, namespace)
                await c.connect(how)
                await c.close()
            else:
                assert (await refused(server, namespace, how))["code"] == expected, (namespace, role)


# ---- events --------------------------------------------------------------------------------------

# A well-formed payload for each event, about ids nobody holds: accepted by a namespace that takes
# the event, it gets the handler's own answer (ok, not_found, conflict), never forbidden.
PAYLOADS: dict[str, dict[str, Any]] = {
    "request_help": {"matter_code": "NO-SUCH-MATTER", "target_region": "310000"},
    "cancel": {"ticket_id": "T00000000"},
    "hang_up": {"case_id": "RVW20260101000000000000"},
    "rate": {"case_id": "RVW20260101000000000000", "level": 5, "comment": ""},
    "signal": {"case_id": "RVW20260101000000000000", "candidate": None},
    "media_state": {"case_id": "RVW20260101000000000000", "state": "connected"},
    "set_status": {"status": "break"},
    "accept": {"ticket_id": "T00000000"},
    "decline": {"ticket_id": "T00000000"},
    "end_case": {"case_id": "RVW20260101000000000000", "outcome": "resolved", "notes": ""},
    "transfer": {"case_id": "RVW20260101000000000000", "target_region": "320000", "matter_code": "SB-ZY-001"},
    "chat": {"case_id": "RVW20260101000000000000", "text": "你好"},
    "consent": {"case_id": "RVW20260101000000000000", "recording": True},
    "record_offer": {
        "case_id": "RVW20260101000000000000",
        "description": {"type": "offer", "sdp": "v=0\r\n"},
    },
    "set_clerk_status": {"clerk_id": "unobody", "status": "break"},
    "move_request": {"ticket_id": "T00000000", "target_region": "320000", "matter_code": "GJJ-TQ-001"},
    "close_followup": {"case_id": "RVW20260101000000000000", "note": "done"},
}


async def test_every_event_row_holds(server: Server) -> None:
    from signaling.connection import CITIZEN_EVENTS, CLERK_EVENTS, SUPERVISOR_EVENTS

    rows = table("Socket.IO events")
    namespaces = [code_of(c) for c in rows[0][1:]]
    assert namespaces == ["/citizen", "/clerk", "/supervisor"]
    assert {code_of(r[0]) for r in rows[1:]} == CITIZEN_EVENTS | CLERK_EVENTS | SUPERVISOR_EVENTS == set(PAYLOADS)
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    await server.add_user("boss", "supervisor", "310000", [])
    conns = {
        "/citizen": await citizen(server),
        "/clerk": Client(server, "/clerk"),
        "/supervisor": Client(server, "/supervisor"),
    }
    await conns["/clerk"].connect({"token": await server.login("clerk_a")})
    await conns["/supervisor"].connect({"token": await server.login("boss")})
    for row in rows[1:]:
        event = code_of(row[0])
        for namespace, expected in zip(namespaces, row[1:], strict=True):
            ack = await conns[namespace].call(event, PAYLOADS[event])
            where = (event, namespace, ack)
            if expected == "yes":
                assert ack["ok"] is True or ack["error"]["code"] in ("not_found", "conflict"), where
            else:
                assert ack["ok"] is False and ack["error"]["code"] == expected, where


# ---- someone else's case -------------------------------------------------------------------------


async def test_every_attempt_on_someone_elses_case_is_answered_as_documented(server: Server) -> None:
    rows = table("Someone else's case")
    offered_to = await clerk_on_duty(server, "clerk_a")
    owner = await citizen(server)
    mine = await ask(owner)
    assert (await offered_to.wait_for("offer"))["ticket_id"] == mine["ticket_id"]
    bystander = await clerk_on_duty(server, "clerk_b")
    prober = await citizen(server, {"channel": "web", "region": "320500"})
    # Before anyone answers: someone else's ticket, and an offer made to another clerk.
    cancel = await prober.call("cancel", {"ticket_id": mine["ticket_id"]})
    steal = await bystander.call("accept", {"ticket_id": mine["ticket_id"]})
    assert (await offered_to.call("accept", {"ticket_id": mine["ticket_id"]}))["ok"] is True
    case_id = mine["case_id"]
    ended_elsewhere = await ask(prober)  # the prober's own request: nobody will answer it
    answers = {
        "a citizen cancels another citizen's ticket": cancel,
        "a citizen hangs up another citizen's case": await prober.call("hang_up", {"case_id": case_id}),
        "a citizen signals into another citizen's case": await prober.call(
            "signal", {"case_id": case_id, "candidate": None}
        ),
        "a citizen reports media state in another citizen's case": await prober.call(
            "media_state", {"case_id": case_id, "state": "failed"}
        ),
        "a citizen rates another citizen's case": await prober.call(
            "rate", {"case_id": case_id, "level": 1, "comment": ""}
        ),
        "a citizen answers about recording in another citizen's case": await prober.call(
            "consent", {"case_id": case_id, "recording": True}
        ),
        "a citizen sends media to the recorder in another citizen's case": await prober.call(
            "record_offer", {"case_id": case_id, "description": {"type": "offer", "sdp": "v=0\r\n"}}
        ),
        "a clerk accepts an offer made to another clerk": steal,
        "a clerk ends another clerk's case": await bystander.call(
            "end_case", {"case_id": case_id, "outcome": "unresolved", "notes": ""}
        ),
        "a clerk transfers another clerk's case": await bystander.call(
            "transfer", {"case_id": case_id, "target_region": "320000", "matter_code": "SB-ZY-001"}
        ),
        "a clerk signals into another clerk's case": await bystander.call(
            "signal", {"case_id": case_id, "candidate": None}
        ),
        "a clerk sends media to the recorder in another clerk's case": await bystander.call(
            "record_offer", {"case_id": case_id, "description": {"type": "offer", "sdp": "v=0\r\n"}}
        ),
    }
    assert (await prober.call("cancel", {"ticket_id": ended_elsewhere["ticket_id"]}))["ok"] is True
    answers["a citizen rates a case nobody answered"] = await prober.call(
        "rate", {"case_id": ended_elsewhere["case_id"], "level": 1, "comment": ""}
    )
    web = await citizen(server, {"channel": "web", "region": "320500"})
    priority = await web.call(
        "request_help", {"matter_code": "SB-ZY-001", "target_region": "310000", "priority": "priority"}
    )
    assert {r[0] for r in rows[1:]} == {*answers, "a web citizen asks for priority"}
    for attempt, expected in rows[1:]:
        if attempt == "a web citizen asks for priority":
            assert priority["ok"] is True and priority["priority"] == "normal" and priority["priority_note"]
            continue
        ack = answers[attempt]
        assert ack["ok"] is False and ack["error"]["code"] == expected, (attempt, ack)
