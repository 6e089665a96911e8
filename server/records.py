"""REST over the case records: ``GET /api/cases``, a filtered list with keyset paging, as JSON or a CSV export.

Paging is by the key (requested_at, case_id): a page is one range scan after the previous page's last key, so a
deep page costs what the first does and a case recorded meanwhile is neither skipped nor repeated. The cursor
carries that key, signed with the server's secret key: it is opaque to clients, and one changed by hand is refused
(400) rather than read as some other position.

Identity and phone numbers in the free text (the notes, the rating's comment) are shown masked, in the list and
in the export (``server.privacy``); the stored record keeps them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import hashlib
import hmac
import io
import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from recordings.models import Case, User
from recordings.store import CaseQuery, case_json

from .api import ApiError, audited, json_response, require_user
from .privacy import mask, mask_case
from .services import SERVICES, Services
from .supervision import supervised

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# China Standard Time: times without an offset are read in it, and the CSV export writes it.
CHINA = timezone(timedelta(hours=8))

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Rows per database query while a CSV export streams: memory stays bounded whatever the export's size.
EXPORT_PAGE = 500

OUTCOMES = (
    "resolved",
    "referred",
    "unresolved",
    "citizen_ended",
    "cancelled",
    "abandoned",
    "expired",
    "rejected",
)
PARAMETERS = frozenset(
    {
        "from",
        "to",
        "target_region",
        "matter_code",
        "clerk_id",
        "outcome",
        "rating",
        "followup",
        "limit",
        "cursor",
        "format",
    }
)

CSV_COLUMNS = (
    "case_id",
    "ticket_id",
    "matter_code",
    "matter_name",
    "skill",
    "origin_region",
    "target_region",
    "channel",
    "kiosk_id",
    "priority",
    "language",
    "clerk_id",
    "requested_at",
    "offered_at",
    "answered_at",
    "connected_at",
    "ended_at",
    "outcome",
    "notes",
    "rating_level",
    "rating_comment",
    "wrapped_at",
    "offers",
    "answers",
    "transfers",
    "followup_closed_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP): such a cell
# gets a leading apostrophe, which the spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_EPOCH = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,9})?$")
_REGION = re.compile(r"^[0-9]{6}$")
_CURSOR_KEY = b"rvw case list cursor"


def bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def parse_time(name: str, raw: str) -> datetime:
    """ISO 8601 (an offset, or none for China time) or seconds since the epoch, as an aware UTC time."""
    try:
        if _EPOCH.match(raw):
            return datetime.fromtimestamp(float(raw), UTC)
        if len(raw) > 64:
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=CHINA)
        return value.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise bad(
            f"`{name}` must be an ISO 8601 time (e.g. 2026-11-28T09:00:00+08:00; without an offset it is China "
            "time) or seconds since the epoch"
        ) from None


def _ascii_id(name: str, raw: str, longest: int) -> str:
    if not raw or len(raw) > longest or not (raw.isascii() and raw.isprintable()):
        raise bad(f"`{name}` must be 1 to {longest} printable ASCII characters")
    return raw


def parse_query(params: Any) -> tuple[CaseQuery, int, str | None, bool]:
    """The filters, the page size, the cursor and whether CSV was asked for; ApiError 400 on anything wrong."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise bad(f"unknown parameter `{unknown[0]}`; known: {', '.join(sorted(PARAMETERS))}")
    for name in set(params):
        if len(params.getall(name)) > 1:
            raise bad(f"`{name}` is given more than once")
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise bad("`format` must be `json` or `csv`")
    fields: dict[str, Any] = {}
    if "from" in params:
        fields["requested_from"] = parse_time("from", params["from"])
    if "to" in params:
        fields["requested_to"] = parse_time("to", params["to"])
    if "requested_from" in fields and "requested_to" in fields and fields["requested_from"] > fields["requested_to"]:
        raise bad("`from` must not be after `to`")
    if "target_region" in params:
        if not _REGION.match(params["target_region"]):
            raise bad("`target_region` must be a six-digit region code, e.g. 310000")
        fields["target_region"] = params["target_region"]
    if "matter_code" in params:
        fields["matter_code"] = _ascii_id("matter_code", params["matter_code"], 64)
    if "clerk_id" in params:
        fields["clerk_id"] = _ascii_id("clerk_id", params["clerk_id"], 32)
    if "outcome" in params:
        if params["outcome"] not in OUTCOMES:
            raise bad(f"`outcome` must be one of {', '.join(OUTCOMES)}")
        fields["outcome"] = params["outcome"]
    if "rating" in params:
        rating = params["rating"]
        if rating == "none":
            fields["unrated"] = True
        elif rating in ("1", "2", "3", "4", "5"):
            fields["rating"] = int(rating)
        else:
            raise bad("`rating` must be 1 to 5, or `none` for cases without a rating")
    if "followup" in params:
        if params["followup"] not in ("open", "closed"):
            raise bad("`followup` must be `open` or `closed` (cases rated 1 or 2, 差评)")
        fields["followup"] = params["followup"]
    limit = DEFAULT_LIMIT
    if "limit" in params:
        raw = params["limit"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_LIMIT):
            raise bad(f"`limit` must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw)
    csv_wanted = fmt == "csv"
    if csv_wanted and ("limit" in params or "cursor" in params):
        raise bad("`format=csv` exports every matching case: leave out `limit` and `cursor`")
    return CaseQuery(**fields), limit, params.get("cursor"), csv_wanted


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(hashlib.sha256(_CURSOR_KEY + secret.encode()).digest(), payload, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_cursor(secret: str, case: Case) -> str:
    """The key of the last case of a page, signed: ``base64url(json).base64url(mac)``."""
    payload = json.dumps([case.requested_at.isoformat(), case.case_id], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_cursor(secret: str, cursor: str) -> tuple[datetime, str]:
    invalid = bad("`cursor` is not one this server gave out; start again without it")
    if len(cursor) > 200 or not cursor.isascii() or cursor.count(".") != 1:
        raise invalid
    body, mac = cursor.split(".")
    try:
        payload, signature = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        raise invalid
    at, case_id = json.loads(payload)  # signed by us: the shape we wrote
    return datetime.fromisoformat(at), case_id


async def _allowed_query(request: web.Request) -> tuple[User, Services, CaseQuery, int, str | None, bool]:
    user = await require_user(request, "clerk", "supervisor", "auditor")
    query, limit, cursor, csv_wanted = parse_query(request.query)
    if user.role == "clerk":
        # A clerk lists their own cases only: no clerk_id means theirs, another clerk's is refused (403),
        # so a console never mistakes "not allowed" for "no cases".
        if query.clerk_id not in (None, user.id):
            raise ApiError(403, "forbidden", "a clerk may list only their own cases")
        query = dataclasses.replace(query, clerk_id=user.id)
    provinces = supervised(user)
    if provinces is not None:
        # A province's supervisor lists their province's cases; asking for another's finds none.
        query = dataclasses.replace(query, regions=tuple(sorted(provinces)))
    return user, request.app[SERVICES], query, limit, cursor, csv_wanted


@routes.get("/api/cases")
async def list_cases(request: web.Request) -> web.StreamResponse:
    user, svc, query, limit, cursor, csv_wanted = await _allowed_query(request)
    secret = svc.settings.secret_key
    after = read_cursor(secret, cursor) if cursor is not None else None
    await svc.hub.records_settled()
    # Who listed or exported what: the filters as asked (the query string, cursor left out).
    asked = "&".join(f"{k}={v}" for k, v in request.query.items() if k != "cursor")
    await audited(request, user, "case_export" if csv_wanted else "case_list", asked, True)
    if csv_wanted:
        return await _export(request, svc, query)
    rows = await svc.store.list_page(query, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(
        {
            "cases": [mask_case(case_json(c)) for c in rows],
            "next_cursor": make_cursor(secret, rows[-1]) if more else None,
        }
    )


def _china(value: datetime | None) -> str:
    return value.astimezone(CHINA).isoformat(timespec="milliseconds") if value is not None else ""


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _masked(text: str | None) -> str | None:
    return mask(text) if text is not None else None


def _csv_rows(svc: Services, cases: Iterable[Case]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for c in cases:
        matter = svc.catalog.get(c.matter_code)
        row: tuple[object, ...] = (
            c.case_id,
            c.ticket_id,
            c.matter_code,
            matter.name_zh if matter is not None else "",
            c.skill,
            c.origin_region,
            c.target_region,
            c.channel,
            c.kiosk_id,
            c.priority,
            c.language,
            c.clerk_id,
            _china(c.requested_at),
            _china(c.offered_at),
            _china(c.answered_at),
            _china(c.connected_at),
            _china(c.ended_at),
            c.outcome,
            _masked(c.notes),
            c.rating_level,
            _masked(c.rating_comment),
            _china(c.wrapped_at),
            c.offers,
            c.answers,
            c.transfers,
            _china(c.followup_closed_at),
        )
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


async def _export(request: web.Request, svc: Services, query: CaseQuery) -> web.StreamResponse:
    """Every matching case as CSV, streamed page by page (keyset queries of EXPORT_PAGE rows)."""
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="cases.csv"',
        }
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        # The BOM tells spreadsheet programs the file is UTF-8, so Chinese reads correctly.
        await resp.write(("\ufeff" + ",".join(CSV_COLUMNS) + "\r\n").encode())
        after: tuple[datetime, str] | None = None
        while True:
            rows = await svc.store.list_page(query, after, EXPORT_PAGE)
            if rows:
                await resp.write(_csv_rows(svc, rows).encode())
            if len(rows) < EXPORT_PAGE:
                break
            after = (rows[-1].requested_at, rows[-1].case_id)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away: nothing more to send
    except Exception:
        # The head has gone out: an error answer cannot follow. Cut the connection so the client sees a
        # truncated export rather than a complete-looking one.
        log.exception("the case export failed part way")
        if request.transport is not None:
            request.transport.close()
    return resp
