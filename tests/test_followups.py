"""差评 follow-ups (issue 8, part 3): a rating of 1 or 2 opens one, with due dates in working days across weekends,
holidays and make-up working days; supervisors take its steps; overdue ones show. Real server, manual clock."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queueing.clock import ManualClock
from recordings.workdays import CHINA, CalendarError, WorkCalendar
from server.config import Settings
from tests.conftest import Server
from tests.helpers import matched_case

CALENDAR = WorkCalendar.load(Settings(database_url="sqlite://", secret_key="k").holidays_path)


def china(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp()


def due(opened: str, n: int) -> str:
    return datetime.fromtimestamp(CALENDAR.due(china(opened), n), CHINA).isoformat()


def test_working_days_skip_weekends_and_holidays_and_count_make_up_days() -> None:
    # Friday 18 September 2026: Sunday the 20th is a make-up working day (for the National Day holiday).
    assert due("2026-09-18T10:00:00", 1) == "2026-09-21T00:00:00+08:00"  # the end of Sunday the 20th
    assert due("2026-09-18T10:00:00", 5) == "2026-09-25T00:00:00+08:00"  # 20, 21, 22, 23, 24
    # 15: 20-24 (5), the Mid-Autumn Festival 25-27 off, 28-30 (8), National Day 1-7 October off, 8, 9 (10),
    # Saturday the 10th worked in exchange (11), 12-15 (15).
    assert due("2026-09-18T10:00:00", 15) == "2026-10-16T00:00:00+08:00"
    # An ordinary weekend: Saturday 28 November opens; Monday is the first working day.
    assert due("2026-11-28T09:00:00", 1) == "2026-12-01T00:00:00+08:00"
    assert due("2026-11-28T09:00:00", 5) == "2026-12-05T00:00:00+08:00"
    # Late in the evening China time is still that day (UTC is the day before... or after).
    assert due("2026-11-27T23:30:00", 1) == "2026-12-01T00:00:00+08:00"
    assert CALENDAR.is_working(date(2026, 10, 10)) and not CALENDAR.is_working(date(2026, 10, 1))


def test_a_bad_holidays_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "h.yaml"
    bad.write_text("holidays: [2026-13-01]\n")
    with pytest.raises(CalendarError, match="not a date"):
        WorkCalendar.load(bad)
    bad.write_text("holidays: 5\n")
    with pytest.raises(CalendarError, match="list of dates"):
        WorkCalendar.load(bad)


async def post(server: Server, path: str, token: str | None, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base_url}{path}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def complaint(server: Server, level: int = 2) -> str:
    clerk, c, case_id = await matched_case(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "unresolved"}))["ok"] is True
    assert (await c.call("rate", {"case_id": case_id, "level": level, "comment": "没解决"}))["ok"] is True
    return case_id


async def test_a_complaint_opens_a_follow_up_with_its_due_dates(server: Server, manual_clock: ManualClock) -> None:
    # The manual clock starts on Monday 21 September 2026, 22:13:20 China time.
    case_id = await complaint(server)
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_zj", "supervisor", "330000", [])
    await server.add_user("audit", "auditor", "delta", [])
    boss, auditor = await server.login("boss"), await server.login("audit")

    status, listed = await server.get_json("/api/followups", boss)
    assert status == 200 and [f["case_id"] for f in listed] == [case_id]
    f = listed[0]
    assert (f["rating"], f["comment"], f["state"], f["overdue"], f["complexity"]) == (
        2,
        "没解决",
        "open",
        False,
        "simple",
    )
    assert f["contact_due"] == "2026-09-23T00:00:00+08:00"  # Tuesday the 22nd
    # 22, 23, 24, then the Mid-Autumn Festival (25-27), 28, 29.
    assert f["fix_due"] == "2026-09-30T00:00:00+08:00"
    assert "citizen_id" not in f  # who rated stays in the case's own record
    assert (await server.get_json("/api/followups?state=overdue", boss))[1] == []

    # Past the contact deadline: overdue.
    manual_clock.advance(china("2026-09-23T01:00:00") - manual_clock.now())
    boss, auditor = await server.login("boss"), await server.login("audit")  # a day on: log in again
    assert [x["case_id"] for x in (await server.get_json("/api/followups?state=overdue", auditor))[1]] == [case_id]

    # Contacted, and found complex: fifteen working days; no longer overdue.
    step = {"action": "contacted", "note": "已电话联系，需补充材料", "complexity": "complex"}
    assert await post(server, f"/api/followups/{case_id}", boss, step) == (
        200,
        {"case_id": case_id, "action": "contacted"},
    )
    f = (await server.get_json("/api/followups", boss))[1][0]
    assert (f["state"], f["overdue"], f["complexity"]) == ("contacted", False, "complex")
    # 22, 23, 24, 28, 29, 30, (National Day) 8, 9, Saturday 10 (worked), 12, 13, 14, 15, 16, 19.
    assert f["fix_due"] == "2026-10-20T00:00:00+08:00"
    assert (await post(server, f"/api/followups/{case_id}", boss, step))[0] == 409  # once

    # Resolved: closed, on the case's timeline, counted as closed in the figures.
    done = {"action": "resolved", "note": "已补办完成"}
    assert (await post(server, f"/api/followups/{case_id}", boss, done))[0] == 200
    assert (await server.get_json("/api/followups", boss))[1] == []
    closed = (await server.get_json("/api/followups?state=closed", boss))[1]
    assert [(h["action"], h["note"]) for h in closed[0]["history"]] == [
        ("contacted", "已电话联系，需补充材料"),
        ("resolved", "已补办完成"),
    ]
    assert (await post(server, f"/api/followups/{case_id}", boss, {"action": "appealed", "note": "x"}))[0] == 409
    status, record = await server.get_json(f"/api/cases/{case_id}", auditor)
    steps = [(e["event"], e["actor"]) for e in record["timeline"] if e["event"].startswith("followup")]
    assert steps == [("followup_contacted", "supervisor:uboss"), ("followup_closed", "supervisor:uboss")]
    assert record["followup_closed_at"] is not None
    status, sla = await server.get_json("/api/sla?from=2026-09-21&to=2026-09-22", auditor)
    assert (sla["total"]["complaints"], sla["total"]["followups_open"]) == (1, 0)


async def test_who_may_take_follow_up_steps(server: Server) -> None:
    case_id = await complaint(server)
    good = await complaint(server, level=5)
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_zj", "supervisor", "330000", [])
    await server.add_user("audit", "auditor", "delta", [])
    boss = await server.login("boss")
    step = {"action": "appealed", "note": "评价与事实不符，已申诉"}
    path = f"/api/followups/{case_id}"
    assert (await post(server, path, None, step))[0] == 401
    assert (await post(server, path, await server.login("audit"), step))[0] == 403
    assert (await post(server, path, await server.login("clerk_a"), step))[0] == 403
    assert (await post(server, path, await server.login("boss_zj"), step))[0] == 404  # another province's case
    assert (await server.get_json("/api/followups", await server.login("boss_zj")))[1] == []
    assert (await server.get_json("/api/followups", await server.login("clerk_a")))[0] == 403
    bad_bodies: list[Any] = [
        {"action": "deleted", "note": "x"},
        {"action": "contacted", "note": "  "},
        {"action": "contacted"},
        {"action": "appealed", "note": "0", "complexity": {}},  # found by the REST fuzz: was a 500
        {"action": ["contacted"], "note": "x"},
        ["contacted"],
    ]
    for bad in bad_bodies:
        status, body = await post(server, path, boss, bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    assert (await post(server, path, boss, {**step, "complexity": "huge"}))[0] == 400
    assert (await post(server, f"/api/followups/{good}", boss, step))[0] == 409  # rated 5: no follow-up
    assert (await post(server, path, boss, step))[0] == 200
    f = (await server.get_json("/api/followups", boss))[1][0]
    assert (f["state"], f["overdue"]) == ("appealed", False)
