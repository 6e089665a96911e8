"""GET /api/cases: the case records listed with filters and keyset paging, and the CSV export, on a real server
with real Socket.IO clients making the cases, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from queueing.clock import ManualClock
from server import records
from tests.conftest import Client, Server
from tests.helpers import ask, citizen, clerk_on_duty

WEB = {"channel": "web", "region": "320500"}


@dataclass
class Made:
    """The cases made, by name, and when the first was requested."""

    ids: dict[str, str]
    t0: float


async def serve(
    server: Server, clerk: Client, matter: str, region: str, outcome: str, notes: str, rating: int | None
) -> str:
    c = await citizen(server, WEB)
    ack = await ask(c, matter, region)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    ended = await clerk.call("end_case", {"case_id": ack["case_id"], "outcome": outcome, "notes": notes})
    assert ended["ok"] is True, ended
    await c.wait_for("case_ended")
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    if rating is not None:
        rated = await c.call("rate", {"case_id": ack["case_id"], "level": rating, "comment": "很耐心"})
        assert rated["ok"] is True, rated
    await c.close()
    return str(ack["case_id"])


async def make_cases(server: Server, clock: ManualClock) -> Made:
    """Eight cases: four served by three clerks in two provinces, four cancelled in the same instant."""
    t0 = clock.now()
    ids: dict[str, str] = {}
    clerk_a = await clerk_on_duty(server, "clerk_a")
    ids["a1"] = await serve(server, clerk_a, "SB-ZY-001", "310000", "resolved", '=HYPERLINK("http://x")', 5)
    clock.advance(60)
    ids["a2"] = await serve(server, clerk_a, "SB-PZ-002", "310000", "referred", "已转办，请携带身份证", 2)
    await clerk_a.call("set_status", {"status": "offline"})
    clock.advance(60)
    clerk_b = await clerk_on_duty(server, "clerk_b")
    ids["b1"] = await serve(server, clerk_b, "SB-ZY-001", "310000", "unresolved", "-1 材料不全", None)
    await clerk_b.call("set_status", {"status": "offline"})
    clock.advance(60)
    clerk_js = await clerk_on_duty(server, "clerk_js", region="320000")
    ids["j1"] = await serve(server, clerk_js, "SB-ZY-001", "320000", "resolved", "", 5)
    await clerk_js.call("set_status", {"status": "offline"})
    clock.advance(60)
    for i in range(4):  # the same requested_at: the case number orders them
        c = await citizen(server, WEB)
        ack = await ask(c, "GJJ-TQ-001", "330000")
        assert (await c.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
        ids[f"x{i}"] = str(ack["case_id"])
        await c.close()
    return Made(ids, t0)


async def get(server: Server, query: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}/api/cases{query}", headers=headers) as r:
        return r.status, await r.json()


async def all_pages(server: Server, query: str, token: str, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        sep = "&" if query else "?"
        page = f"{query}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = await get(server, page, token)
        assert status == 200, body
        assert len(body["cases"]) <= limit
        found += body["cases"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("paging never ended")


def names(made: Made, cases: list[dict[str, Any]]) -> list[str]:
    by_id = {v: k for k, v in made.ids.items()}
    return [by_id[c["case_id"]] for c in cases]


def key(case: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(case["requested_at"]), case["case_id"]


async def test_paging_filters_roles_and_the_export(any_db: Server, manual_clock: ManualClock) -> None:
    server = any_db
    made = await make_cases(server, manual_clock)
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_sh", "supervisor", "310000", [])
    await server.add_user("audit", "auditor", "310000", [])
    auditor = await server.login("audit")

    # Paging with a small limit: every case once, in (requested_at, case_id) order, whatever the page size.
    everything = await all_pages(server, "", auditor, 100)
    assert sorted(names(made, everything)) == sorted(made.ids)
    assert [key(c) for c in everything] == sorted(key(c) for c in everything)
    for limit in (1, 3, 8):
        assert await all_pages(server, "", auditor, limit) == everything
    status, first = await get(server, "?limit=8", auditor)
    assert status == 200 and first["next_cursor"] is None  # exactly a page: no empty page after it
    status, record = await server.get_json(f"/api/cases/{made.ids['a1']}", auditor)
    assert status == 200
    del record["timeline"]
    assert record.pop("attachments") == []
    assert record.pop("recordings") == [] and record.pop("recording_consent") is None
    assert everything[0] == record  # the record of GET /api/cases/{id}, without its timeline and documents
    assert record["rating"] == {"level": 5, "comment": "很耐心"}

    # Each filter.
    t0 = made.t0
    china_naive = datetime.fromtimestamp(t0 + 180, records.CHINA).replace(tzinfo=None).isoformat()
    cases = {
        "?target_region=320000": ["j1"],
        "?matter_code=SB-PZ-002": ["a2"],
        "?clerk_id=uclerk_b": ["b1"],
        "?outcome=cancelled": ["x0", "x1", "x2", "x3"],
        "?outcome=resolved": ["a1", "j1"],
        "?rating=5": ["a1", "j1"],
        "?rating=2": ["a2"],
        "?rating=none": ["b1", "x0", "x1", "x2", "x3"],
        f"?from={int(t0) + 60}&to={china_naive}": ["a2", "b1"],
        f"?from={int(t0) + 240}": ["x0", "x1", "x2", "x3"],
        f"?to={quote(datetime.fromtimestamp(t0 + 1, records.CHINA).isoformat())}": ["a1"],
        "?target_region=310000&outcome=resolved&rating=5": ["a1"],
        "?matter_code=NO-SUCH": [],
    }
    for query, expected in cases.items():
        got = await all_pages(server, query, auditor, 2)
        assert sorted(names(made, got)) == sorted(expected), query

    # Roles: supervisors of the delta and auditors (of any region) see all, a province's supervisor
    # their province; a clerk only their own, and asking for another clerk's is 403.
    assert await all_pages(server, "", await server.login("boss"), 5) == everything
    shanghai = await all_pages(server, "", await server.login("boss_sh"), 5)
    assert shanghai == [c for c in everything if c["target_region"] == "310000"] and "j1" not in names(made, shanghai)
    clerk_a = await server.login("clerk_a")
    assert names(made, await all_pages(server, "", clerk_a, 1)) == ["a1", "a2"]
    assert names(made, await all_pages(server, "?clerk_id=uclerk_a&rating=2", clerk_a, 10)) == ["a2"]
    status, body = await get(server, "?clerk_id=uclerk_b", clerk_a)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await get(server, "", None)
    assert status == 401 and body["error"]["code"] == "unauthorized"

    # The CSV export: BOM, header, Chinese readable, times in China time, every case, no formulas.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.base_url}/api/cases?format=csv", headers={"Authorization": f"Bearer {auditor}"}) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Transfer-Encoding"] == "chunked"
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(records.CSV_COLUMNS)
    col = {name: i for i, name in enumerate(rows[0])}
    assert [r[col["case_id"]] for r in rows[1:]] == [c["case_id"] for c in everything]
    by_id = {r[col["case_id"]]: r for r in rows[1:]}
    a1, a2, b1 = by_id[made.ids["a1"]], by_id[made.ids["a2"]], by_id[made.ids["b1"]]
    assert a1[col["matter_name"]] == "社会保险关系转移" and a1[col["matter_code"]] == "SB-ZY-001"
    assert a1[col["notes"]] == '\'=HYPERLINK("http://x")'  # shown as text, never run
    assert b1[col["notes"]] == "'-1 材料不全"
    assert a2[col["notes"]] == "已转办，请携带身份证" and a2[col["rating_level"]] == "2"
    assert a1[col["requested_at"]] == datetime.fromtimestamp(t0, records.CHINA).isoformat(timespec="milliseconds")
    assert a1[col["requested_at"]].endswith("+08:00") and a1[col["answered_at"]].endswith("+08:00")
    assert by_id[made.ids["x0"]][col["clerk_id"]] == "" and by_id[made.ids["x0"]][col["outcome"]] == "cancelled"


async def test_the_export_streams_every_page_and_a_clerk_exports_only_their_own(
    any_db: Server, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = any_db
    made = await make_cases(server, manual_clock)
    monkeypatch.setattr(records, "EXPORT_PAGE", 3)  # eight cases: three keyset queries, the export in pieces
    await server.add_user("audit", "auditor", "310000", [])
    for who, query, expected in (
        ("audit", "?format=csv", sorted(made.ids.values())),
        ("audit", "?format=csv&outcome=cancelled", sorted(made.ids[f"x{i}"] for i in range(4))),
        ("clerk_a", "?format=csv", sorted([made.ids["a1"], made.ids["a2"]])),
    ):
        headers = {"Authorization": f"Bearer {await server.login(who)}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.base_url}/api/cases{query}", headers=headers) as r,
        ):
            assert r.status == 200
            text = (await r.read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert sorted(r[0] for r in rows[1:]) == expected, (who, query)
        assert len(rows) == len(expected) + 1


async def test_bad_input_and_a_tampered_cursor_are_400(server: Server, manual_clock: ManualClock) -> None:
    made = await make_cases(server, manual_clock)
    await server.add_user("audit", "auditor", "310000", [])
    auditor = await server.login("audit")
    status, page = await get(server, "?limit=2", auditor)
    assert status == 200 and len(page["cases"]) == 2
    cursor: str = page["next_cursor"]
    body, mac = cursor.split(".")
    flipped = "A" if mac[0] != "A" else "B"
    tampered = [
        f"{body}.{flipped}{mac[1:]}",
        f"{'A' if body[0] != 'A' else 'B'}{body[1:]}.{mac}",
        "not-a-cursor",
        "a.b.c",
        f"{body}.",
        "%E4%B8%AD.%00",
        "x" * 300,
    ]
    for bad_cursor in tampered:
        status, answer = await get(server, f"?cursor={bad_cursor}", auditor)
        assert status == 400 and answer["error"]["code"] == "bad_request", bad_cursor
        assert "cursor" in answer["error"]["message"]
    status, rest = await get(server, f"?cursor={cursor}", auditor)
    assert status == 200 and len(rest["cases"]) == len(made.ids) - 2

    for query, word in (
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=99999999999999999", "from"),
        ("?from=2026-11-28T10:00:00%2B08:00&to=2026-11-28", "from"),
        ("?rating=6", "rating"),
        ("?rating=", "rating"),
        ("?outcome=won", "outcome"),
        ("?target_region=31", "target_region"),
        ("?matter_code=%00", "matter_code"),
        ("?clerk_id=" + "x" * 40, "clerk_id"),
        ("?format=xml", "format"),
        ("?format=csv&limit=5", "limit"),
        ("?colour=red", "colour"),
        ("?outcome=resolved&outcome=referred", "outcome"),
    ):
        status, answer = await get(server, query, auditor)
        assert status == 400 and answer["error"]["code"] == "bad_request", query
        assert word in answer["error"]["message"], (query, answer)
    # Times: an offset is honoured, a naive time is China time, epoch seconds and dates work.
    for query in ("?from=2026-11-28T10:00:00Z", "?from=2026-11-28", "?to=1790000000.5", "?from=2026-11-28T10:00"):
        status, _ = await get(server, query, auditor)
        assert status == 200, query


async def test_an_export_that_fails_part_way_is_cut_off_not_completed(
    server: Server, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_cases(server, manual_clock)
    monkeypatch.setattr(records, "EXPORT_PAGE", 3)
    store = server.services.store
    real = store.list_page
    calls = 0

    async def failing(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("the database went away")
        return await real(*args)

    monkeypatch.setattr(store, "list_page", failing)
    await server.add_user("audit", "auditor", "310000", [])
    headers = {"Authorization": f"Bearer {await server.login('audit')}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.base_url}/api/cases?format=csv", headers=headers) as r,
    ):
        assert r.status == 200  # the head went out before the failure
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
