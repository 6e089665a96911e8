"""GET /api/sla against a scripted day: real server, real Socket.IO clients, the manual clock.

Every figure is worked out by hand below from the script (docs/sla.md, "Figures"), on SQLite and on
PostgreSQL; the supervisor wall's ``today`` must be the same figures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from queueing.clock import ManualClock
from queueing.tally import Tally, figures_of
from recordings.figures import case_facts
from server.services import SERVICES
from tests.conftest import PG_URL, Client, Server, reset_postgres, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, until

WEB_SH = {"channel": "web", "region": "310104"}
WEB_JS = {"channel": "web", "region": "320500"}
# 2026-09-22 09:00:00 China time (01:00 UTC); the manual clock starts at 22:13:20 China time the day before.
T0 = 1_790_038_800.0
SH_SKILLS = ["social_insurance", "housing_fund"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[Server]:
    options: dict[str, Any] = {}
    if request.param == "postgresql":
        await reset_postgres()
        options["database_url"] = PG_URL
    # Offers wait 90 s here, so that one answered at 60 s is an answer, not a time-out.
    runner, srv = await start_server(tmp_path, manual_clock, offer_timeout_s=90.0, **options)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def at(clock: ManualClock, hh: int, mm: int, ss: float = 0.0) -> None:
    """Move the clock to hh:mm:ss China time on the scripted day."""
    clock.advance(T0 + (hh - 9) * 3600 + mm * 60 + ss - clock.now())


async def accept(clerk: Client, case_id: str) -> None:
    offer = await clerk.wait_for("offer", lambda d: d["case_id"] == case_id)
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True


async def end(clerk: Client, case_id: str, outcome: str) -> None:
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": outcome, "notes": ""}))["ok"] is True


async def rate(c: Client, case_id: str, level: int, comment: str = "") -> None:
    assert (await c.call("rate", {"case_id": case_id, "level": level, "comment": comment}))["ok"] is True


async def scripted_day(server: Server, clock: ManualClock) -> dict[str, str]:
    """The day; the case number of each request by its letter."""
    ids: dict[str, str] = {}
    # The evening before (China time): a long abandon that today's figures must leave out.
    prev = await citizen(server, WEB_SH)
    ack = await ask(prev)
    clock.advance(20)
    assert (await prev.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
    ids["yesterday"] = ack["case_id"]

    at(clock, 8, 59)
    sh = await clerk_on_duty(server, "clerk_sh", "310000", SH_SKILLS)

    # A 09:00:00 kiosk, SB-ZY-001 @ Shanghai: answered at 20 s, ended resolved at 120 s; rated 5.
    at(clock, 9, 0)
    a = await citizen(server)
    ids["A"] = (await ask(a))["case_id"]
    clock.advance(20)
    await accept(sh, ids["A"])
    clock.advance(100)
    await end(sh, ids["A"], "resolved")
    await rate(a, ids["A"], 5)

    # B 09:05:00 web: the offer times out (90 s; the clerk is put on break and is not offered it again for
    # the 30 s cool-down), the clerk comes back at 95 s, is offered it again at 125 s and answers (over
    # the threshold); the citizen hangs up at 185 s, the clerk wraps up at 215 s as referred (handle
    # time 90 s, wrap-up included); rated 1 (差评).
    at(clock, 9, 5)
    b = await citizen(server, WEB_SH)
    ids["B"] = (await ask(b))["case_id"]
    await sh.wait_for("offer", lambda d: d["case_id"] == ids["B"])
    clock.advance(90.1)
    assert (await sh.wait_for("offer_withdrawn"))["reason"] == "expired"
    await sh.wait_for("status", lambda d: d["reason"] == "missed_offer")
    at(clock, 9, 6, 35)
    assert (await sh.call("set_status", {"status": "available"}))["ok"] is True
    at(clock, 9, 7, 5)
    await accept(sh, ids["B"])
    clock.advance(60)
    assert (await b.call("hang_up", {"case_id": ids["B"]}))["ok"] is True
    await sh.wait_for("case_ended", lambda d: d["case_id"] == ids["B"])
    clock.advance(30)
    await end(sh, ids["B"], "referred")
    await rate(b, ids["B"], 1, "等太久")

    # C 09:10:00 kiosk: clerk_sh declines at 3 s; clerk_sh2 comes on at 30 s and answers at once,
    # ends resolved at 230 s (handle 200 s); rated 4.
    at(clock, 9, 10)
    c = await citizen(server)
    ids["C"] = (await ask(c))["case_id"]
    offer = await sh.wait_for("offer", lambda d: d["case_id"] == ids["C"])
    clock.advance(3)
    assert (await sh.call("decline", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    at(clock, 9, 10, 30)
    sh2 = await clerk_on_duty(server, "clerk_sh2", "310000", SH_SKILLS)
    await accept(sh2, ids["C"])
    clock.advance(200)
    await end(sh2, ids["C"], "resolved")
    assert (await sh2.call("set_status", {"status": "offline"}))["ok"] is True
    await rate(c, ids["C"], 4)
    assert (await sh.call("set_status", {"status": "break"}))["ok"] is True

    # D 09:20:00 web, SB-PZ-002 @ Shanghai, nobody available: cancelled at 5 s (a short abandon).
    at(clock, 9, 20)
    d = await citizen(server, WEB_SH)
    ack = await ask(d, matter="SB-PZ-002")
    ids["D"] = ack["case_id"]
    clock.advance(5)
    assert (await d.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True

    # E 09:30:00 web, GJJ-TQ-001 @ Jiangsu, nobody there: gone at 40 s, abandoned after the grace.
    at(clock, 9, 30)
    e = await citizen(server, WEB_JS)
    ack = await ask(e, matter="GJJ-TQ-001", region="320000")
    ids["E"] = ack["case_id"]
    clock.advance(40)
    await e.close()
    await until(server, lambda r: r.tickets[ack["ticket_id"]].gone_since is not None, "E's drop noticed")
    clock.advance(31)
    await until(server, lambda r: ack["ticket_id"] not in r.tickets, "E abandoned")

    # F 10:00:00 web, GJJ-TQ-001 @ Jiangsu: cancelled at 25 s (a long abandon).
    at(clock, 10, 0)
    f = await citizen(server, WEB_JS)
    ack = await ask(f, matter="GJJ-TQ-001", region="320000")
    ids["F"] = ack["case_id"]
    clock.advance(25)
    assert (await f.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True

    # G 10:10:00 kiosk, SB-ZY-001 @ Jiangsu: clerk_js answers at exactly 60 s (within: at most the
    # threshold), transfers it at 90 s to Shanghai as SB-PZ-002; clerk_sh answers at 100 s and ends it
    # resolved at 160 s (handle 100 s from the first answer); rated 2 (差评).
    at(clock, 10, 9)
    assert (await sh.call("set_status", {"status": "available"}))["ok"] is True
    js = await clerk_on_duty(server, "clerk_js", "320000", SH_SKILLS)
    at(clock, 10, 10)
    g = await citizen(server)
    ids["G"] = (await ask(g, region="320000"))["case_id"]
    offer = await js.wait_for("offer", lambda d: d["case_id"] == ids["G"])
    clock.advance(60)
    assert (await js.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    clock.advance(30)
    moved = await js.call("transfer", {"case_id": ids["G"], "target_region": "310000", "matter_code": "SB-PZ-002"})
    assert moved["ok"] is True, moved
    assert (await js.call("set_status", {"status": "offline"}))["ok"] is True
    clock.advance(10)
    await accept(sh, ids["G"])
    clock.advance(60)
    await end(sh, ids["G"], "resolved")
    await rate(g, ids["G"], 2, "转来转去")

    # H 10:30:00 web, HJ-QY-001 @ Anhui, nobody there: expires after RVW_MAX_WAIT_SECONDS (600 s).
    at(clock, 10, 30)
    h = await citizen(server, WEB_SH)
    ack = await ask(h, matter="HJ-QY-001", region="340000")
    ids["H"] = ack["case_id"]
    clock.advance(601)
    await until(server, lambda r: ack["ticket_id"] not in r.tickets, "H expired")

    # I 10:50:00 web: answered at 10 s, ended unresolved at 40 s (handle 30 s); rated 3.
    at(clock, 10, 50)
    i = await citizen(server, WEB_SH)
    ids["I"] = (await ask(i))["case_id"]
    clock.advance(10)
    await accept(sh, ids["I"])
    clock.advance(30)
    await end(sh, ids["I"], "unresolved")
    await rate(i, ids["I"], 3)

    # J 11:00:00 kiosk: answered at 5 s, still in progress at the end of the day's script.
    at(clock, 11, 0)
    j = await citizen(server)
    ids["J"] = (await ask(j))["case_id"]
    clock.advance(5)
    await accept(sh, ids["J"])

    # K 11:30:00 web, GJJ-TQ-001 @ Jiangsu: still waiting.
    at(clock, 11, 30)
    k = await citizen(server, WEB_JS)
    ids["K"] = (await ask(k, matter="GJJ-TQ-001", region="320000"))["case_id"]
    at(clock, 11, 31)
    return ids


def figs(
    requests: int,
    answered: int = 0,
    within: int = 0,
    abandoned: int = 0,
    short: int = 0,
    waits: tuple[float, ...] = (),
    handles: tuple[float, ...] = (),
    resolved: int = 0,
    ratings: tuple[int, ...] = (),
    expired: int = 0,
    offers: int = 0,
    answers: int = 0,
    transfers: int = 0,
) -> dict[str, Any]:
    """The figures of docs/sla.md from the hand-counted parts."""
    counted = answered + abandoned - short
    assert len(waits) == answered
    return {
        "requests": requests,
        "answered": answered,
        "answered_within_sla": within,
        "abandoned": abandoned,
        "short_abandoned": short,
        "service_level": within / counted if counted else None,
        "asa_s": round(sum(waits) / len(waits), 3) if waits else None,
        "abandon_rate": (abandoned - short) / counted if counted else None,
        "aht_s": round(sum(handles) / len(handles), 3) if handles else None,
        "resolution_rate": resolved / len(handles) if handles else None,
        "rated": len(ratings),
        "positive_rate": sum(1 for r in ratings if r >= 4) / len(ratings) if ratings else None,
        "expired": expired,
        "offers": offers,
        "agent_answer_rate": answers / offers if offers else None,
        "transfers": transfers,
        "complaints": sum(1 for r in ratings if r <= 2),
        "followups_open": sum(1 for r in ratings if r <= 2),
    }


# Worked out from the script: A B C D E in the 09:00 hour, F G H I at 10:00, J K at 11:00.
# Offers: A 1, B 2 (the first timed out), C 2 (declined, then clerk_sh2), G 2 (clerk_js, then after the
# transfer clerk_sh), I 1, J 1; every offer answered but B's first and C's first.
TOTAL = figs(
    11,
    6,
    5,
    3,
    1,
    (20, 125, 30, 60, 10, 5),
    (100, 90, 200, 100, 30),
    3,
    (5, 1, 4, 2, 3),
    expired=1,
    offers=9,
    answers=7,
    transfers=1,
)
BY_REGION = [
    (
        {"target_region": "310000"},
        figs(
            7,
            6,
            5,
            1,
            1,
            (20, 125, 30, 60, 10, 5),
            (100, 90, 200, 100, 30),
            3,
            (5, 1, 4, 2, 3),
            offers=9,
            answers=7,
            transfers=1,
        ),
    ),
    ({"target_region": "320000"}, figs(3, abandoned=2)),
    ({"target_region": "340000"}, figs(1, expired=1)),
]
BY_MATTER = [
    ({"matter_code": "GJJ-TQ-001"}, figs(3, abandoned=2)),
    ({"matter_code": "HJ-QY-001"}, figs(1, expired=1)),
    ({"matter_code": "SB-PZ-002"}, figs(2, 1, 1, 1, 1, (60,), (100,), 1, (2,), offers=2, answers=2, transfers=1)),
    (
        {"matter_code": "SB-ZY-001"},
        figs(5, 5, 4, 0, 0, (20, 125, 30, 10, 5), (100, 90, 200, 30), 2, (5, 1, 4, 3), offers=7, answers=5),
    ),
]
BY_HOUR = [
    (
        "2026-09-22T09:00:00+08:00",
        figs(5, 3, 2, 2, 1, (20, 125, 30), (100, 90, 200), 2, (5, 1, 4), offers=5, answers=3),
    ),
    (
        "2026-09-22T10:00:00+08:00",
        figs(4, 2, 2, 1, 0, (60, 10), (100, 30), 1, (2, 3), expired=1, offers=3, answers=3, transfers=1),
    ),
    ("2026-09-22T11:00:00+08:00", figs(2, 1, 1, 0, 0, (5,), offers=1, answers=1)),
]


def by_definition(cases: list[dict[str, Any]], sla_s: float = 60.0, short_s: float = 10.0) -> dict[str, Any]:
    """docs/sla.md's figures worked out from case records as GET /api/cases lists them: written apart
    from the server's code (neither the SQL nor the live tally), to show the records are enough."""

    def t(value: str | None) -> float | None:
        return datetime.fromisoformat(value).timestamp() if value else None

    waits, handles, within, abandoned, short, resolved, expired = [], [], 0, 0, 0, 0, 0
    for c in cases:
        req, ans, end, wrapped = t(c["requested_at"]), t(c["answered_at"]), t(c["ended_at"]), t(c["wrapped_at"])
        assert req is not None
        if ans is not None:
            waits.append(ans - req)
            within += ans - req <= sla_s
            if end is not None and c["outcome"] in ("resolved", "referred", "unresolved"):
                handles.append((wrapped if wrapped is not None else end) - ans)
                resolved += c["outcome"] == "resolved"
        elif end is not None and c["outcome"] in ("cancelled", "abandoned"):
            abandoned += 1
            short += end - req < short_s
        elif c["outcome"] == "expired":
            expired += 1
    ratings = [c["rating"]["level"] for c in cases if c["rating"]]
    counted = len(waits) + abandoned - short
    offers = sum(c["offers"] for c in cases)
    return {
        "requests": len(cases),
        "answered": len(waits),
        "answered_within_sla": within,
        "abandoned": abandoned,
        "short_abandoned": short,
        "service_level": within / counted if counted else None,
        "asa_s": round(sum(waits) / len(waits), 3) if waits else None,
        "abandon_rate": (abandoned - short) / counted if counted else None,
        "aht_s": round(sum(handles) / len(handles), 3) if handles else None,
        "resolution_rate": resolved / len(handles) if handles else None,
        "rated": len(ratings),
        "positive_rate": sum(r >= 4 for r in ratings) / len(ratings) if ratings else None,
        "expired": expired,
        "offers": offers,
        "agent_answer_rate": sum(c["answers"] for c in cases) / offers if offers else None,
        "transfers": sum(c["transfers"] for c in cases),
        "complaints": sum(r <= 2 for r in ratings),
        "followups_open": sum(
            1 for c in cases if c["rating"] and c["rating"]["level"] <= 2 and not c["followup_closed_at"]
        ),
    }


def occupancy_by_definition(rows: list[dict[str, Any]], start: float, until: float) -> dict[str, float | None]:
    """Occupancy by the definition from GET /api/clerk-status rows: per clerk province and in all, time in a
    case or wrapping up over time available, offered, in a case or wrapping up, clipped to [start, until)."""
    by_clerk: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_clerk.setdefault(row["clerk_id"], []).append(row)
    busy: dict[str, float] = {}
    working: dict[str, float] = {}
    for spans in by_clerk.values():
        spans.sort(key=lambda r: (r["started_at"], r["id"]))
        for row, nxt in zip(spans, [*spans[1:], None], strict=True):
            began = datetime.fromisoformat(row["started_at"]).timestamp()
            ended = datetime.fromisoformat(nxt["started_at"]).timestamp() if nxt else until
            length = max(0.0, min(ended, until) - max(began, start))
            for key in (row["region"], "all"):
                if row["status"] in ("busy", "wrap_up"):
                    busy[key] = busy.get(key, 0.0) + length
                if row["status"] in ("available", "offered", "busy", "wrap_up"):
                    working[key] = working.get(key, 0.0) + length
    return {k: busy.get(k, 0.0) / w if w else None for k, w in working.items()}


def same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in want.items():
        assert got[name] == (pytest.approx(value) if isinstance(value, float) else value), name


async def test_a_scripted_day_gives_the_hand_counted_figures(any_db: Server, manual_clock: ManualClock) -> None:
    server = any_db
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("boss_sh", "supervisor", "310000", [])
    await server.add_user("audit", "auditor", "310000", [])
    ids = await scripted_day(server, manual_clock)
    boss, audit = await server.login("boss"), await server.login("audit")

    # The records say what the script did (the figures below rest on these).
    g = (await server.get_json(f"/api/cases/{ids['G']}", boss))[1]
    assert (g["target_region"], g["matter_code"], g["clerk_id"]) == ("310000", "SB-PZ-002", "uclerk_sh")
    b = (await server.get_json(f"/api/cases/{ids['B']}", boss))[1]
    assert b["outcome"] == "referred" and "wrapped_up" in [e["event"] for e in b["timeline"]]
    assert (await server.get_json(f"/api/cases/{ids['H']}", boss))[1]["outcome"] == "expired"
    assert (await server.get_json(f"/api/cases/{ids['E']}", boss))[1]["outcome"] == "abandoned"

    status, today = await server.get_json("/api/sla?group_by=target_region&bucket=1h", audit)
    assert status == 200, today
    assert (today["from"], today["to"], today["sla_s"]) == (
        "2026-09-22T00:00:00+08:00",
        "2026-09-23T00:00:00+08:00",
        60.0,
    )
    same(today["total"], TOTAL)
    assert set(today["total"]) == set(TOTAL) | {"occupancy"}
    # Occupancy from the clerks' status history up to now (11:31), worked out from the script:
    # clerk_sh in a case or wrapping up 100 (A) + 60 + 30 (B) + 60 (G) + 30 (I) + 1855 (J, 11:00:05 on)
    # = 2135 s, of 5805.1 s available, offered or working (08:59:00-09:06:30.1, its missed-offer break
    # to 09:06:35 left out, then to 09:13:50, then 10:09:00-11:31:00); clerk_sh2 200 of 200 s (C);
    # clerk_js 30 s in G of 150 s (on at 10:09, offered G 10:10:00-10:11:00, then transferred it).
    assert today["total"]["occupancy"] == pytest.approx((2135 + 200 + 30) / (5805.1 + 200 + 150))
    assert [grp["key"] for grp in today["groups"]] == [key for key, _ in BY_REGION]
    for grp, (_, want) in zip(today["groups"], BY_REGION, strict=True):
        same(grp, want)
    occupancy = [grp["occupancy"] for grp in today["groups"]]
    assert occupancy == [pytest.approx(2335 / 6005.1), pytest.approx(30 / 150), None]  # Anhui: no clerk
    assert [bk["start"] for bk in today["buckets"]] == [start for start, _ in BY_HOUR]
    for bk, (_, want) in zip(today["buckets"], BY_HOUR, strict=True):
        same(bk, want)

    # Every figure is reproducible from the case records by the definitions (docs/sla.md).
    status, listed = await server.get_json("/api/cases?from=2026-09-22&to=2026-09-23&limit=1000", audit)
    assert status == 200 and listed["next_cursor"] is None
    same(by_definition(listed["cases"]), {k: v for k, v in today["total"].items() if k != "occupancy"})
    for grp in today["groups"]:
        region = grp["key"]["target_region"]
        mine = [c for c in listed["cases"] if c["target_region"] == region]
        same(by_definition(mine), {k: v for k, v in grp.items() if k not in ("key", "occupancy")})
    # Occupancy too, from the clerks' status history (a day before the period included: a status in effect).
    day = T0 - 9 * 3600
    status, history = await server.get_json(f"/api/clerk-status?from={day - 86400:.0f}&to={day + 86400:.0f}", audit)
    assert status == 200 and history["next_after"] is None
    occupancy = occupancy_by_definition(history["statuses"], day, manual_clock.now())
    assert occupancy["all"] == pytest.approx(today["total"]["occupancy"])
    for grp in today["groups"]:
        assert occupancy.get(grp["key"]["target_region"]) == (
            pytest.approx(grp["occupancy"]) if grp["occupancy"] is not None else None
        )

    # By matter, over an explicit period given three ways (ISO with an offset, without one, epoch seconds).
    for period in (
        "from=2026-09-22T00:00:00%2B08:00&to=2026-09-23T00:00:00%2B08:00",
        "from=2026-09-22T00:00:00&to=2026-09-22T12:00:00",
        f"from={T0 - 9 * 3600:.0f}&to={T0 + 3 * 3600:.0f}",
    ):
        status, by_matter = await server.get_json(f"/api/sla?{period}&group_by=matter_code", boss)
        assert status == 200, by_matter
        same(by_matter["total"], TOTAL)
        assert [grp["key"] for grp in by_matter["groups"]] == [key for key, _ in BY_MATTER]
        for grp, (_, want) in zip(by_matter["groups"], BY_MATTER, strict=True):
            same(grp, want)

    # Two keys at once; 15-minute and day buckets; yesterday's evening is in its own day.
    status, two = await server.get_json("/api/sla?group_by=target_region,channel&bucket=15m", boss)
    assert status == 200
    assert {"target_region": "310000", "channel": "kiosk"} in [grp["key"] for grp in two["groups"]]
    assert sum(grp["requests"] for grp in two["groups"]) == 11
    assert [bk["start"][11:16] for bk in two["buckets"]] == [
        "09:00",
        "09:15",
        "09:30",
        "10:00",
        "10:30",
        "10:45",
        "11:00",
        "11:30",
    ]
    status, days = await server.get_json("/api/sla?from=2026-09-21&to=2026-09-23&bucket=1d", boss)
    assert status == 200
    assert [(bk["start"], bk["requests"]) for bk in days["buckets"]] == [
        ("2026-09-21T00:00:00+08:00", 1),
        ("2026-09-22T00:00:00+08:00", 11),
    ]
    assert days["total"]["requests"] == 12 and days["total"]["abandoned"] == 4
    assert days["buckets"][0]["short_abandoned"] == 0 and days["buckets"][0]["service_level"] == 0.0

    # The wall's today: the same figures, by REST and as the /supervisor namespace pushes it.
    status, dash = await server.get_json("/api/dashboard", boss)
    assert status == 200
    # The wall has no occupancy (the status history is read from the records only).
    assert {k: v for k, v in dash["today"].items() if k not in ("sla_s", "goal")} == {
        k: v for k, v in today["total"].items() if k != "occupancy"
    }
    wall = Client(server, "/supervisor")
    await wall.connect({"token": boss})
    pushed = await wall.wait_for("dashboard", lambda d: d["at"] == manual_clock.now())
    assert {k: v for k, v in pushed["today"].items() if k not in ("sla_s", "goal")} == {
        k: v for k, v in today["total"].items() if k != "occupancy"
    }
    # The wall's 15-minute chart is the same as the SQL's 15-minute buckets.
    assert pushed["chart"]["buckets"] == [
        {"start": parse_iso(bk["start"]), **{k: bk[k] for k in ("requests", "answered", "service_level")}}
        for bk in two["buckets"]
    ]

    # A province's supervisor sees their province: the wall and /api/sla agree with the SQL's group.
    shanghai = BY_REGION[0][1]
    boss_sh = await server.login("boss_sh")
    status, dash_sh = await server.get_json("/api/dashboard", boss_sh)
    assert status == 200 and dash_sh["scope"] == "310000"
    same(dash_sh["today"], shanghai)
    assert {c["region"] for c in dash_sh["clerks"]} == {"310000"}
    assert {q["region"] for q in dash_sh["queues"]} == {"310000"}
    status, sla_sh = await server.get_json("/api/sla?group_by=target_region", boss_sh)
    assert status == 200
    same(sla_sh["total"], shanghai)
    assert [grp["key"] for grp in sla_sh["groups"]] == [{"target_region": "310000"}]

    # The live figures (folded from the queue's results as they happened) and the SQL agree on
    # every bucket and queue; and a node starting now, which loads the records instead, has the same.
    wall_part = server.app[SERVICES].hub.wall
    live = wall_part.tally
    for bk in two["buckets"]:
        start = parse_iso(bk["start"])
        got = figures_of(live.sums(start, start + 900))
        assert got == {k: bk[k] for k in got}, bk["start"]
    for key, want in BY_REGION:
        same(figures_of(live.sums(T0 - 9 * 3600, T0 + 15 * 3600, regions={key["target_region"]})), want)
    fresh = Tally(live.sla_s, live.short_abandon_s)
    fresh.load(await case_facts(server.app[SERVICES].store.sessions, T0 - 9 * 3600, T0 + 15 * 3600))
    assert {k: figures_of(v) for k, v in fresh.cells.items()} == {k: figures_of(v) for k, v in live.cells.items()}

    # A supervisor closes G's 差评 follow-up: one open follow-up is left, live and in the records.
    assert (await wall.call("close_followup", {"case_id": ids["G"], "note": "已回访"}))["ok"] is True
    pushed = await wall.wait_for("dashboard", lambda d: d["today"]["followups_open"] == 1)
    assert pushed["today"]["complaints"] == 2
    status, after = await server.get_json("/api/sla", audit)
    assert (after["total"]["complaints"], after["total"]["followups_open"]) == (2, 1)


async def test_an_empty_period_has_no_rates(server: Server) -> None:
    await server.add_user("audit", "auditor", "310000", [])
    status, body = await server.get_json("/api/sla?group_by=clerk_id&bucket=15m", await server.login("audit"))
    assert status == 200
    assert body["groups"] == [] and body["buckets"] == []
    assert body["total"]["requests"] == 0 and body["total"]["service_level"] is None
    assert body["total"]["asa_s"] is None and body["total"]["positive_rate"] is None


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01",
        "from=1790000000&to=1790000000",
        "from=1790086400&to=1790000000",
        "from=2025-01-01&to=2026-06-01",
        "group_by=citizen_id",
        "group_by=target_region,target_region",
        "group_by=target_region,",
        "bucket=5m",
        "bucket=",
        "from=nan",
        "from=-5",
        "from=9999-12-31T23:59:59",
        "to=99999999999",
        "from=0001-01-01T00:00:00%2B14:00",
        "from=1790000000%0A",
        "colour=red",
        "bucket=1h&bucket=1d",
        "from=\u0661\u0667\u0669\u0660",
    ],
)
async def test_bad_input_is_a_bad_request(server: Server, query: str) -> None:
    await server.add_user("boss", "supervisor", "310000", [])
    status, body = await server.get_json(f"/api/sla?{query}", await server.login("boss"))
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"


async def test_who_may_read_the_figures(server: Server) -> None:
    await server.add_user("clerk_a", "clerk", "310000", ["social_insurance"])
    await server.add_user("boss", "supervisor", "310000", [])
    await server.add_user("audit", "auditor", "310000", [])
    assert (await server.get_json("/api/sla"))[0] == 401
    assert (await server.get_json("/api/sla", "not-a-token"))[0] == 401
    status, body = await server.get_json("/api/sla", await server.login("clerk_a"))
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert (await server.get_json("/api/sla", await server.login("boss")))[0] == 200
    assert (await server.get_json("/api/sla", await server.login("audit")))[0] == 200
