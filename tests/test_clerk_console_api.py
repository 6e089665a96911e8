"""The clerk console's two REST routes, on a real server with real Socket.IO clients: a matter's guidance
(``GET /api/matters/{code}``, and the catalog's checks of it) and the clerk's day (``GET /api/clerk/day``), the
latter on SQLite and on PostgreSQL, on the manual clock across a China midnight."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queueing.clock import ManualClock
from recordings.workdays import CHINA
from server.catalog import Catalog, CatalogError
from tests.conftest import KIOSK_TOKEN, Client, Server, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty

# ---- a matter's guidance -------------------------------------------------------------------------------------------


async def get(server: Server, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}{path}", headers=headers) as resp:
        assert resp.content_type == "application/json", path
        return resp.status, await resp.json()


def phrase(value: Any) -> bool:
    return (
        isinstance(value, dict) and set(value) == {"zh", "en"} and all(isinstance(v, str) and v for v in value.values())
    )


async def test_every_demo_matter_has_guidance_and_the_list_stays_without_it(server: Server) -> None:
    status, listed = await get(server, "/api/matters")
    assert status == 200 and len(listed) == 15
    assert all(set(m) == {"code", "name", "skill", "provinces"} for m in listed)  # the kiosk's list stays small
    for entry in listed:
        status, matter = await get(server, f"/api/matters/{entry['code']}")  # public: no log-in
        assert status == 200, matter
        assert list(matter) == ["code", "name", "skill", "provinces", "guidance"]
        assert {k: matter[k] for k in entry} == entry  # the same matter as the list has
        guidance = matter["guidance"]
        assert list(guidance) == ["materials", "steps", "time_limit"], entry["code"]
        assert 2 <= len(guidance["materials"]) <= 4 and 2 <= len(guidance["steps"]) <= 4, entry["code"]
        assert all(phrase(p) for p in [*guidance["materials"], *guidance["steps"], guidance["time_limit"]])
        # Written in both languages (not the Chinese repeated), and no links or phone numbers in the demo's words.
        for p in [*guidance["materials"], *guidance["steps"], guidance["time_limit"]]:
            assert p["en"] != p["zh"] and p["en"].isascii(), p
            assert "http" not in p["zh"] + p["en"] and not re.search(r"[0-9]{3}", p["zh"] + p["en"]), p
    status, matter = await get(server, "/api/matters/YB-BA-001")
    assert matter["name"] == {"zh": "医保异地就医备案", "en": "Registering for medical treatment in another province"}
    assert matter["guidance"]["time_limit"]["zh"] == "一般即时办结"


@pytest.mark.parametrize(
    "code",
    [
        "NOPE-001",
        "yb-ba-001",  # codes are exact
        "A" * 65,  # longer than a case record holds: refused before any look-up
        "YB-BA-001%00",  # a NUL
        "YB-BA-001%0A",  # a control character
        "%E5%8C%BB%E4%BF%9D",  # printable, not ASCII: looked up, and not there
    ],
)
async def test_an_unknown_matter_is_not_found(server: Server, code: str) -> None:
    status, body = await get(server, f"/api/matters/{code}")
    assert (status, body["error"]["code"]) == (404, "not_found"), body
    assert set(body["error"]) == {"code", "message"}


async def test_a_matter_without_guidance_answers_null(tmp_path: Path, manual_clock: ManualClock) -> None:
    catalog = tmp_path / "matters.json"
    catalog.write_text(
        json.dumps(
            [
                {"code": "X-1", "name": {"zh": "无指引事项"}, "skill": "social_insurance", "provinces": ["310000"]},
                {
                    "code": "X-2",
                    "name": {"zh": "有指引事项", "en": "With guidance"},
                    "skill": "social_insurance",
                    "provinces": ["310000", "320000"],
                    "guidance": {
                        "materials": [{"zh": "身份证"}],
                        "steps": [{"zh": "申请", "en": "Apply"}, {"zh": "审核", "en": ""}],
                        "time_limit": {"zh": "5 个工作日", "en": "5 working days"},
                    },
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    runner, server = await start_server(tmp_path / "srv", manual_clock, catalog_path=str(catalog))
    try:
        assert await get(server, "/api/matters/X-1") == (
            200,
            {
                "code": "X-1",
                "name": {"zh": "无指引事项", "en": "无指引事项"},
                "skill": "social_insurance",
                "provinces": ["310000"],
                "guidance": None,
            },
        )
        status, matter = await get(server, "/api/matters/X-2")
        assert status == 200
        assert matter["guidance"] == {
            "materials": [{"zh": "身份证", "en": "身份证"}],  # English defaults to the Chinese, as names do
            "steps": [{"zh": "申请", "en": "Apply"}, {"zh": "审核", "en": "审核"}],
            "time_limit": {"zh": "5 个工作日", "en": "5 working days"},
        }
    finally:
        await stop_server(runner, server)


MATTER = '- code: "M-1"\n  name: {zh: 测试事项}\n  skill: s\n  provinces: ["310000"]\n'
GOOD = "    materials: [{zh: 身份证}]\n    steps: [{zh: 申请}]\n    time_limit: {zh: 当场办结}\n"


@pytest.mark.parametrize(
    ("guidance", "message"),
    [
        ("  guidance: [身份证]\n", r"matter M-1: guidance must be a mapping with materials, steps, time_limit"),
        ("  guidance: {materials: [{zh: 身份证}], steps: [{zh: 申请}]}\n", r"guidance lacks 'time_limit'"),
        ("  guidance:\n" + GOOD + "    tips: [{zh: 提前预约}]\n", r"guidance has unknown key 'tips'"),
        ("  guidance:\n" + GOOD.replace("[{zh: 身份证}]", "[]"), r"guidance\.materials must be a list of 1 to 20"),
        ("  guidance:\n" + GOOD.replace("[{zh: 申请}]", "{zh: 申请}"), r"guidance\.steps must be a list of 1 to 20"),
        ("  guidance:\n" + GOOD.replace("[{zh: 身份证}]", "[{zh: 身份证}, 户口簿]"), r"materials #2 must be a mapping"),
        ("  guidance:\n" + GOOD.replace("[{zh: 申请}]", "[{en: Apply}]"), r"steps #1\.zh must be text"),
        ("  guidance:\n" + GOOD.replace("[{zh: 申请}]", '[{zh: "  "}]'), r"steps #1\.zh must be text \(not empty\)"),
        ("  guidance:\n" + GOOD.replace("{zh: 当场办结}", "{zh: 当场办结, en: [1]}"), r"time_limit\.en must be text"),
        ("  guidance:\n" + GOOD.replace("{zh: 当场办结}", "当场办结"), r"time_limit must be a mapping \{zh, en\}"),
        # An English phrase with a comma, unquoted in a flow mapping: YAML reads its second half as a key.
        (
            "  guidance:\n" + GOOD.replace("[{zh: 申请}]", "[{zh: 申请, en: Apply, then wait}]"),
            r"steps #1 has unknown key 'then wait'; known: zh, en",
        ),
        ("  guidance:\n" + GOOD.replace("{zh: 当场办结}", "{zh: " + "长" * 501 + "}"), r"longer than 500 characters"),
        ("  guidance:\n" + GOOD.replace("[{zh: 申请}]", "[" + ", ".join(["{zh: 步}"] * 21) + "]"), r"1 to 20"),
    ],
)
def test_a_bad_guidance_is_refused_with_where_it_is(tmp_path: Path, guidance: str, message: str) -> None:
    path = tmp_path / "matters.yaml"
    path.write_text(MATTER + guidance, encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as caught:
        Catalog.load(path)
    assert str(caught.value).startswith(f"{path}: matter M-1: guidance")


def test_guidance_is_optional_and_null_is_none(tmp_path: Path) -> None:
    path = tmp_path / "matters.yaml"
    without, null, with_guidance = MATTER, MATTER.replace("M-1", "M-2"), MATTER.replace("M-1", "M-3")
    path.write_text(f"{without}{null}  guidance: null\n{with_guidance}  guidance:\n{GOOD}", encoding="utf-8")
    catalog = Catalog.load(path)
    assert [m.guidance is None for m in catalog.matters.values()] == [True, True, False]
    assert catalog.get("M-3").detail_json()["guidance"] == {  # type: ignore[union-attr]
        "materials": [{"zh": "身份证", "en": "身份证"}],
        "steps": [{"zh": "申请", "en": "申请"}],
        "time_limit": {"zh": "当场办结", "en": "当场办结"},
    }
    path.write_text("- just a name\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"matter #1 must be a mapping"):
        Catalog.load(path)


# ---- the clerk's day -----------------------------------------------------------------------------------------------


def china(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, CHINA)


async def answer(clerk: Client, c: Client, matter: str = "SB-ZY-001", region: str = "310000") -> str:
    """The citizen asks and the clerk answers: the case's number."""
    ack = await ask(c, matter, region)
    offer = await clerk.wait_for("offer")
    assert offer["case_id"] == ack["case_id"]
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await c.wait_for("matched")
    return str(ack["case_id"])


async def end(clerk: Client, c: Client, case_id: str, outcome: str, rating: int | None) -> None:
    ended = await clerk.call("end_case", {"case_id": case_id, "outcome": outcome, "notes": ""})
    assert ended["ok"] is True, ended
    await c.wait_for("case_ended")
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    if rating is not None:
        rated = await c.call("rate", {"case_id": case_id, "level": rating, "comment": ""})
        assert rated["ok"] is True, rated


async def served(
    clerk: Client, server: Server, clock: ManualClock, hold_s: float, outcome: str, rating: int | None
) -> str:
    c = await citizen(server)
    case_id = await answer(clerk, c)
    clock.advance(hold_s)
    await end(clerk, c, case_id, outcome, rating)
    await c.close()
    return case_id


NOTHING = {
    "cases": 0,
    "ended": 0,
    "resolved": 0,
    "handle_s_avg": None,
    "ratings": {"count": 0, "average": None, "poor": 0},
}


async def test_the_clerks_day_counts_their_own_cases_of_today(any_db: Server, manual_clock: ManualClock) -> None:
    server, clock = any_db, manual_clock
    # The manual clock starts on Monday 21 September 2026, 22:13:20 China time. Late on Monday clerk_a answers a
    # case that ends after midnight and is rated 差评: it is Monday's, not Tuesday's.
    assert china(clock.now()).isoformat() == "2026-09-21T22:13:20+08:00"
    clerk_a = await clerk_on_duty(server, "clerk_a")
    token_a = await server.login("clerk_a")
    clock.advance(6390)  # 23:59:50
    late = await citizen(server)
    late_case = await answer(clerk_a, late)
    assert await get(server, "/api/clerk/day", token_a) == (
        200,
        {**NOTHING, "date": "2026-09-21", "cases": 1},  # answered today, not ended yet
    )
    clock.advance(20)  # 00:00:10 on Tuesday
    await end(clerk_a, late, late_case, "resolved", 1)
    await late.close()
    assert await get(server, "/api/clerk/day", token_a) == (200, {**NOTHING, "date": "2026-09-22"})

    # Tuesday: three cases ended with outcomes (held 100, 200 and 60 s), two rated, one of them 差评.
    clock.advance(8 * 3600)
    await served(clerk_a, server, clock, 100, "resolved", 5)
    await served(clerk_a, server, clock, 200, "unresolved", 2)
    await served(clerk_a, server, clock, 60, "referred", None)
    # One clerk_a answers and transfers to Jiangsu, where clerk_js answers, ends and is rated 1: it counts in
    # clerk_a's cases (they answered it), its end and rating in clerk_js's.
    moved = await citizen(server)
    moved_case = await answer(clerk_a, moved)
    clock.advance(30)
    ack = await clerk_a.call(
        "transfer", {"case_id": moved_case, "target_region": "320000", "matter_code": "GJJ-TQ-001", "note": "江苏受理"}
    )
    assert ack["ok"] is True, ack
    await moved.wait_for("transferred")
    await clerk_a.call("set_status", {"status": "offline"})
    clerk_js = await clerk_on_duty(server, "clerk_js", region="320000", skills=["housing_fund"])
    offer = await clerk_js.wait_for("offer")
    assert offer["case_id"] == moved_case
    assert (await clerk_js.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    await moved.wait_for("matched")
    clock.advance(45)
    await end(clerk_js, moved, moved_case, "resolved", 1)
    await moved.close()
    # Another clerk's case of today, resolved and rated 1: not clerk_a's.
    clerk_b = await clerk_on_duty(server, "clerk_b")
    await served(clerk_b, server, clock, 500, "resolved", 1)
    await clerk_b.call("set_status", {"status": "offline"})
    # And one clerk_a is in now: answered, not ended.
    assert (await clerk_a.call("set_status", {"status": "available"}))["ok"] is True
    open_citizen = await citizen(server)
    await answer(clerk_a, open_citizen)

    status, day = await get(server, "/api/clerk/day", token_a)
    assert status == 200, day
    assert day == {
        "date": "2026-09-22",
        "cases": 5,  # three ended, the transferred one, the open one (Monday's left out)
        "ended": 3,
        "resolved": 1,
        "handle_s_avg": 120.0,  # (100 + 200 + 60) / 3
        "ratings": {"count": 2, "average": 3.5, "poor": 1},
    }
    assert list(day) == ["date", "cases", "ended", "resolved", "handle_s_avg", "ratings"]
    assert await get(server, "/api/clerk/day", await server.login("clerk_js")) == (
        200,
        {
            "date": "2026-09-22",
            "cases": 1,
            "ended": 1,
            "resolved": 1,
            "handle_s_avg": 45.0,  # from clerk_js's answer, not clerk_a's
            "ratings": {"count": 1, "average": 1.0, "poor": 1},
        },
    )
    status, b_day = await get(server, "/api/clerk/day", await server.login("clerk_b"))
    assert (status, b_day["cases"], b_day["handle_s_avg"], b_day["ratings"]) == (
        200,
        1,
        500.0,
        {"count": 1, "average": 1.0, "poor": 1},
    )
    # A clerk with no case today gets zeros and nulls, not an error.
    await server.add_user("clerk_new", "clerk", "340000", ["pension"])
    assert await get(server, "/api/clerk/day", await server.login("clerk_new")) == (
        200,
        {**NOTHING, "date": "2026-09-22"},
    )
    await open_citizen.close()


async def test_only_a_logged_in_clerk_has_a_day(server: Server) -> None:
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("audit", "auditor", "delta", [])
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    c = Client(server, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    citizen_token = (await c.wait_for("session"))["api_token"]
    for token, expected in (
        (None, (401, "unauthorized")),
        ("not-a-token", (401, "unauthorized")),
        (citizen_token, (401, "unauthorized")),  # a citizen's document token is no log-in
        (await server.login("boss"), (403, "forbidden")),
        (await server.login("audit"), (403, "forbidden")),
    ):
        status, body = await get(server, "/api/clerk/day", token)
        assert (status, body["error"]["code"]) == expected, (token, body)
    clerk = await server.login("clerk_a")
    status, body = await get(server, "/api/clerk/day?date=2026-09-20", clerk)
    assert (status, body["error"]["code"]) == (400, "bad_request")
    status, body = await get(server, "/api/clerk/day", clerk)
    assert status == 200 and body["cases"] == 0
    # The session cookie works as the pages send it.
    async with aiohttp.ClientSession(cookies={"rvw_session": clerk}) as http:
        async with http.get(f"{server.base_url}/api/clerk/day") as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    await c.close()
