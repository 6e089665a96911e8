"""Personal data masking (issue 8; GB/T 35273 §7.2): identity and phone numbers are shown masked in the case list
and its export, the follow-ups and the logs, while the stored record stays whole and the live chat between the two
sides of a call is not masked. Unit tests of ``server.privacy`` and a real server with real clients."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server.accesslog import PathOnlyAccessLogger
from server.privacy import MaskingFilter, mask, mask_case, mask_json, mask_logs
from tests.conftest import Server
from tests.helpers import matched_case

ID = "310101199001011234"
ID_SHOWN = "310101********1234"
MOBILE = "13812345678"
MOBILE_SHOWN = "138****5678"
LANDLINE = "021-12345678"
LANDLINE_SHOWN = "021-****5678"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # Identity numbers: the first 6 and the last 4 characters stay.
        (ID, ID_SHOWN),
        ("31010119900101123X", "310101********123X"),
        ("身份证号：31010119900101123x。", "身份证号：310101********123x。"),
        ("旧证310101900101123", "旧证310101*****1123"),  # the old 15-digit number
        # Mobile numbers: the first 3 and the last 4 digits; a country prefix and the grouping stay as written.
        (MOBILE, MOBILE_SHOWN),
        ("手机13812345678，", "手机138****5678，"),
        ("138 1234 5678", "138 **** 5678"),
        ("138-1234-5678", "138-****-5678"),
        ("+86 138 1234 5678", "+86 138 **** 5678"),
        ("+8619912345678", "+86199****5678"),
        ("86-15012345678", "86-150****5678"),
        ("008613812345678", "0086138****5678"),
        ("tel:13812345678;", "tel:138****5678;"),
        ("１３８１２３４５６７８", "１３８****５６７８"),  # typed full width
        # Landlines: the area code and the last 4 digits.
        (LANDLINE, LANDLINE_SHOWN),
        ("0551-1234567", "0551-***4567"),
        ("(021)87654321", "(021)****4321"),
        ("010 87654321", "010 ****4321"),
        ("02187654321", "021****4321"),
        # Several in one text, each on its own.
        (
            f"身份证{ID}，手机{MOBILE}，座机{LANDLINE}。",
            f"身份证{ID_SHOWN}，手机{MOBILE_SHOWN}，座机{LANDLINE_SHOWN}。",
        ),
    ],
)
def test_numbers_are_masked(text: str, shown: str) -> None:
    assert mask(text) == shown
    assert mask(shown) == shown  # masking twice is masking once


@pytest.mark.parametrize(
    "text",
    [
        "",
        "我的社保卡丢了，怎么办？",
        "RVW20261128ABCDEF012345",  # a case number
        "RVW20261128A13812345678",  # a case number whose hex part holds eleven digits after a letter
        "RVW202609217513655EE35C",  # the date and the hex part run on for 15 digits (CI found this one)
        "办件号RVW202611281381234567EF，请核对",  # 18 digits from the date, inside Chinese text
        "RVW202611285A0211234567",  # a landline's shape after a letter in the hex part
        "A13812345678901234567F",  # an attachment id: 18 digits after its letter
        "M3101011990010112",  # a recording id
        "T1A2B3C4D",  # a ticket id
        "2026-11-28T09:00:00.123+08:00",  # an ISO time
        "2026-11-28 13:00",
        "1764312345678",  # milliseconds since the epoch (13 digits)
        "1764312345",  # seconds since the epoch
        "订单20261128138123456789",  # an eleven-digit tail of a longer run
        "3101011990010112345",  # 19 digits: not an identity number
        "31010119900101123",  # 17 digits
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "12345678901",  # eleven digits not starting 13-19
        "金额13812345678.50元",  # an amount
        "0.13812345678",  # a fraction
        "0111-12345678",  # no such area code
        "021-123456",  # too short for a landline
        "共 120 元，编号 310000",  # region codes and prices
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask(text) == text


def test_json_and_case_records_mask_free_text_and_keep_ids() -> None:
    value = {"a": [f"手机{MOBILE}", 5, None, {"b": ID}], "n": 13812345678}
    assert mask_json(value) == {"a": [f"手机{MOBILE_SHOWN}", 5, None, {"b": ID_SHOWN}], "n": 13812345678}
    digest = "ab13812345678cd" + "0" * 49  # a SHA-256 in hex may hold eleven digits in a row
    record = {
        "case_id": "RVW20261128A13812345678",
        "kiosk_id": "kiosk-13812345678",
        "notes": f"回电{MOBILE}",
        "rating": {"level": 2, "comment": f"证件{ID}"},
        "timeline": [
            {"at": "2026-11-28T09:00:00.000+08:00", "event": "chat", "actor": "citizen:c1", "detail": {"text": ID}},
            {"event": "attachment", "actor": "clerk:u1", "detail": {"sha256": digest, "attachment_id": MOBILE}},
            {"event": "transferred", "actor": "clerk:u1", "detail": {"note": LANDLINE, "to_region": "320500"}},
            {"event": "connected", "actor": "system", "detail": None},
        ],
    }
    shown = mask_case(record)
    assert shown == {
        "case_id": "RVW20261128A13812345678",
        "kiosk_id": "kiosk-13812345678",
        "notes": f"回电{MOBILE_SHOWN}",
        "rating": {"level": 2, "comment": f"证件{ID_SHOWN}"},
        "timeline": [
            {
                "at": "2026-11-28T09:00:00.000+08:00",
                "event": "chat",
                "actor": "citizen:c1",
                "detail": {"text": ID_SHOWN},
            },
            {"event": "attachment", "actor": "clerk:u1", "detail": {"sha256": digest, "attachment_id": MOBILE}},
            {"event": "transferred", "actor": "clerk:u1", "detail": {"note": LANDLINE_SHOWN, "to_region": "320500"}},
            {"event": "connected", "actor": "system", "detail": None},
        ],
    }
    assert record["notes"] == f"回电{MOBILE}" and record["timeline"][0]["detail"] == {"text": ID}  # not changed
    unrated = {"notes": None, "rating": None}
    assert mask_case(unrated) == unrated


def test_the_log_filter_masks_every_logger_through_the_handlers() -> None:
    out = io.StringIO()
    top = logging.getLogger("rvw_test_privacy")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    top.addHandler(handler)
    top.setLevel(logging.INFO)
    top.propagate = False
    try:
        mask_logs(top)
        mask_logs(top)
        assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1  # twice is once
        child = logging.getLogger("rvw_test_privacy.records")  # no filter of its own: the handler's masks
        child.info("note of %s: %s", "RVW20261128ABCDEF012345", f"身份证{ID}，手机{MOBILE}")
        child.info("100%% done, call %s", "+86 138 1234 5678")
        child.info("nothing to hide: %d cases", 3)
        try:
            raise ValueError(f"bad phone {MOBILE}")
        except ValueError:
            child.exception("failed for %s", LANDLINE)
    finally:
        top.removeHandler(handler)
    lines = out.getvalue()
    assert f"rvw_test_privacy.records note of RVW20261128ABCDEF012345: 身份证{ID_SHOWN}，手机{MOBILE_SHOWN}\n" in lines
    assert "100% done, call +86 138 **** 5678\n" in lines
    assert "nothing to hide: 3 cases\n" in lines
    assert f"failed for {LANDLINE_SHOWN}\n" in lines and f"ValueError: bad phone {MOBILE_SHOWN}" in lines
    assert ID not in lines and MOBILE not in lines and LANDLINE not in lines and "1234 5678" not in lines


def test_a_captured_log_record_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(MaskingFilter())
    logging.getLogger("server.records").warning("export of %s failed", f"notes {ID} {MOBILE}")
    assert [r.getMessage() for r in caplog.records] == [f"export of notes {ID_SHOWN} {MOBILE_SHOWN} failed"]
    assert ID not in caplog.text and MOBILE not in caplog.text


def test_the_access_log_masks_the_path() -> None:
    out = io.StringIO()
    logger = logging.getLogger("rvw_test_privacy_access")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        request = make_mocked_request("GET", f"/lookup/{MOBILE}/RVW20261128A13812345678?token={ID}")
        PathOnlyAccessLogger(logger, "").log(request, web.Response(status=404), 0.002)
    finally:
        logger.removeHandler(handler)
    line = out.getvalue()
    assert f'"GET /lookup/{MOBILE_SHOWN}/RVW20261128A13812345678" 404' in line
    assert ID not in line and MOBILE + "/" not in line


# End to end: a real server, a citizen and a clerk on Socket.IO, supervisors and auditors on REST.

CHAT = f"我的身份证是{ID}，手机+86 138 1234 5678"
CHAT_SHOWN = f"我的身份证是{ID_SHOWN}，手机+86 138 **** 5678"
COMMENT = f"打了{LANDLINE}没人接，请回电{MOBILE}"
COMMENT_SHOWN = f"打了{LANDLINE_SHOWN}没人接，请回电{MOBILE_SHOWN}"
STEP = f"已电话联系{MOBILE}"
STEP_SHOWN = f"已电话联系{MOBILE_SHOWN}"


def notes(case_id: str, shown: bool) -> str:
    # The case number, a date and an amount in the same text are not masked.
    return (
        f"核对身份证{ID_SHOWN if shown else ID}，回电{MOBILE_SHOWN if shown else MOBILE}；"
        f"办件编号{case_id}，2026-11-28 缴费 1380.50 元"
    )


async def numbers_everywhere(server: Server) -> tuple[str, str, str]:
    """A case with the numbers in a chat line, the clerk's notes, a 差评 comment and a follow-up step's note;
    the tokens of a supervisor and an auditor."""
    clerk, c, case_id = await matched_case(server)
    assert (await c.call("chat", {"case_id": case_id, "text": CHAT}))["ok"] is True
    # The live relay to the other side of the call is not masked: the clerk serving the matter may need it.
    assert (await clerk.wait_for("chat"))["text"] == CHAT
    ended = await clerk.call("end_case", {"case_id": case_id, "outcome": "unresolved", "notes": notes(case_id, False)})
    assert ended["ok"] is True, ended
    assert (await c.call("rate", {"case_id": case_id, "level": 2, "comment": COMMENT}))["ok"] is True
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("audit", "auditor", "delta", [])
    boss, auditor = await server.login("boss"), await server.login("audit")
    headers = {"Authorization": f"Bearer {boss}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.base_url}/api/followups/{case_id}", json={"action": "contacted", "note": STEP}, headers=headers
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
    return case_id, boss, auditor


async def get_text(server: Server, path: str, token: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status, await resp.text()


def no_raw_numbers(text: str) -> None:
    for raw in (ID, MOBILE, LANDLINE, "1234 5678"):
        assert raw not in text, raw


async def test_the_list_the_export_and_the_follow_ups_show_numbers_masked(server: Server) -> None:
    case_id, boss, auditor = await numbers_everywhere(server)

    status, listed = await server.get_json("/api/cases", auditor)
    assert status == 200, listed
    [case] = [c for c in listed["cases"] if c["case_id"] == case_id]
    assert case["notes"] == notes(case_id, True)
    assert case["rating"] == {"level": 2, "comment": COMMENT_SHOWN}
    no_raw_numbers((await get_text(server, "/api/cases", auditor))[1])

    status, exported = await get_text(server, "/api/cases?format=csv", auditor)
    assert status == 200
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"), newline="")))
    col = {name: i for i, name in enumerate(rows[0])}
    [row] = [r for r in rows[1:] if r[col["case_id"]] == case_id]
    assert (row[col["notes"]], row[col["rating_level"]], row[col["rating_comment"]]) == (
        notes(case_id, True),
        "2",
        COMMENT_SHOWN,
    )
    no_raw_numbers(exported)

    status, followups = await server.get_json("/api/followups", boss)
    assert status == 200, followups
    [followup] = followups
    assert (followup["case_id"], followup["comment"]) == (case_id, COMMENT_SHOWN)
    assert [(s["action"], s["note"], s["by"]) for s in followup["history"]] == [
        ("contacted", STEP_SHOWN, "supervisor:uboss")
    ]
    no_raw_numbers((await get_text(server, "/api/followups", boss))[1])

    # What is stored stays complete: masking is on the way out only.
    stored = await server.services.store.get(case_id)
    assert stored is not None
    assert stored["notes"] == notes(case_id, False) and stored["rating"]["comment"] == COMMENT
    lines: dict[str, Any] = {e["event"]: e for e in stored["timeline"]}
    assert lines["chat"]["detail"] == {"text": CHAT}
    assert lines["followup_contacted"]["detail"] == {"note": STEP}
    [raw] = await server.services.store.followups(regions=None)
    assert raw["comment"] == COMMENT and raw["history"][0]["note"] == STEP

    # The case record as `mask_case` shows it: the same texts masked, its ids and actors as stored.
    shown = mask_case(stored)
    assert shown["notes"] == notes(case_id, True) and shown["rating"]["comment"] == COMMENT_SHOWN
    masked = {"chat": {"text": CHAT_SHOWN}, "followup_contacted": {"note": STEP_SHOWN}}
    assert [(e["event"], e["actor"], e["detail"]) for e in shown["timeline"]] == [
        (e["event"], e["actor"], masked.get(e["event"], e["detail"])) for e in stored["timeline"]
    ]


async def test_the_case_record_shows_numbers_masked(server: Server) -> None:
    case_id, _, auditor = await numbers_everywhere(server)
    status, record = await server.get_json(f"/api/cases/{case_id}", auditor)
    assert status == 200, record
    assert record["notes"] == notes(case_id, True) and record["rating"]["comment"] == COMMENT_SHOWN
    lines = {e["event"]: e["detail"] for e in record["timeline"]}
    assert lines["chat"] == {"text": CHAT_SHOWN} and lines["followup_contacted"] == {"note": STEP_SHOWN}
    no_raw_numbers((await get_text(server, f"/api/cases/{case_id}", auditor))[1])
