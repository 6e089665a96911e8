"""REST for supervisors and auditors: the service-level figures of any period (docs/sla.md)."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from recordings.audit import ACTIONS
from recordings.figures import BUCKETS, GROUP_COLUMNS, FigureQuery, figures
from signaling.hub import start_of_day

from .api import ApiError, audited, json_response, require_user
from .catalog import scope_of
from .services import SERVICES, Services

routes = web.RouteTableDef()

CHINA = timezone(timedelta(hours=8))
MAX_SPAN_S = 366 * 86400  # a year (and a day) at most per request: bounds the work of one call
LATEST = 32_503_680_000.0  # 3000-01-01 UTC: far enough, and every time near it still converts
_EPOCH = re.compile(r"[0-9]{1,11}(\.[0-9]{1,6})?")


def parse_time(name: str, value: str) -> float:
    """Epoch seconds from epoch seconds (``1790000000``, ``1790000000.5``) or ISO 8601; an ISO time
    without an offset is China time. Anything else is a ``ValueError`` naming the parameter."""
    if _EPOCH.fullmatch(value):
        return float(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be ISO 8601 or epoch seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA)
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):  # the first day of year 1 in a zone east of UTC
        raise ValueError(f"{name} is out of range") from None


def china_iso(ts: float) -> str:
    """ISO 8601 in China time (``+08:00``), as the answer gives every time."""
    return (
        datetime.fromtimestamp(ts, UTC)
        .astimezone(CHINA)
        .isoformat(timespec="seconds" if ts == int(ts) else "milliseconds")
    )


def parse_query(query: Any, now: float, *, sla_s: float, short_abandon_s: float) -> FigureQuery:
    """The request's ``from``, ``to``, ``group_by`` and ``bucket``; ``ValueError`` with a message on bad input."""
    unknown = sorted(set(query) - {"from", "to", "group_by", "bucket"})
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}")
    if any(len(query.getall(k)) > 1 for k in query):
        raise ValueError("give each parameter once")
    start = parse_time("from", query["from"]) if "from" in query else start_of_day(now)
    end = parse_time("to", query["to"]) if "to" in query else start + 86400
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end > LATEST:
        raise ValueError("from and to must be times between 1970 and 3000")
    if end <= start:
        raise ValueError("to must be after from")
    if end - start > MAX_SPAN_S:
        raise ValueError("ask for at most 366 days at once")
    group_by: tuple[str, ...] = ()
    if query.get("group_by"):
        group_by = tuple(query["group_by"].split(","))
        for g in group_by:
            if g not in GROUP_COLUMNS:
                raise ValueError(f"group_by takes {', '.join(GROUP_COLUMNS)}")
        if len(set(group_by)) != len(group_by):
            raise ValueError("group_by names a column twice")
    bucket_s = None
    if "bucket" in query:
        if query["bucket"] not in BUCKETS:
            raise ValueError(f"bucket is one of {', '.join(BUCKETS)}")
        bucket_s = BUCKETS[query["bucket"]]
    return FigureQuery(start, end, sla_s, short_abandon_s, group_by, bucket_s)


def supervised(user: Any) -> frozenset[str] | None:
    """The provinces whose records a user's figures and lists cover: a supervisor's province, or all
    (None) for a supervisor of the delta and for auditors, who audit every province."""
    return scope_of(user.region) if user.role == "supervisor" else None


@routes.get("/api/sla")
async def sla(request: web.Request) -> web.Response:
    """The figures of requests made in ``[from, to)``, in total, by group and by time bucket."""
    user = await require_user(request, "supervisor", "auditor")
    svc: Services = request.app[SERVICES]
    s = svc.settings
    try:
        q = parse_query(request.query, svc.clock.now(), sla_s=s.sla_seconds, short_abandon_s=s.short_abandon_s)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    q = dataclasses.replace(q, now=svc.clock.now())
    provinces = supervised(user)
    if provinces is not None:
        q = dataclasses.replace(q, regions=tuple(sorted(provinces)))
    await svc.hub.records_settled()  # read what this node has acknowledged
    await audited(request, user, "sla_view", request.query_string, True)
    found = await figures(svc.store.sessions, q)
    buckets = [{"start": china_iso(b.pop("bucket_start")), **b} for b in found["buckets"]]
    return json_response(
        {
            "from": china_iso(q.start),
            "to": china_iso(q.end),
            "sla_s": q.sla_s,
            "total": found["total"],
            "groups": found["groups"],
            "buckets": buckets,
        }
    )


STATUS_PAGE = 1000
STATUS_PAGE_MAX = 10_000


@routes.get("/api/clerk-status")
async def clerk_status(request: web.Request) -> web.Response:
    """The clerks' status history (what occupancy is computed from), begun in ``[from, to)``, paged by row id."""
    user = await require_user(request, "supervisor", "auditor")
    svc: Services = request.app[SERVICES]
    query = request.query
    try:
        start, end, after, limit = _paged_window(query, svc.clock.now(), {"clerk_id"}, STATUS_PAGE, STATUS_PAGE_MAX)
        clerk_id = query.get("clerk_id")
        if clerk_id is not None and not (0 < len(clerk_id) <= 32 and clerk_id.isascii() and clerk_id.isprintable()):
            raise ValueError("clerk_id must be a user id")
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    await svc.hub.records_settled()
    await audited(request, user, "clerk_status_view", request.query_string, True)
    provinces = supervised(user)
    rows = await svc.store.clerk_statuses(
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(end, UTC),
        regions=tuple(sorted(provinces)) if provinces is not None else None,
        clerk_id=clerk_id,
        after_id=after,
        limit=limit,
    )
    return json_response({"statuses": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None})


def _paged_window(query: Any, now: float, extra: set[str], page: int, page_max: int) -> tuple[float, float, int, int]:
    """``from``, ``to`` (default today, China time; at most 366 days), ``after`` and ``limit`` of a paged
    listing, besides the ``extra`` parameters it takes; ``ValueError`` naming what is wrong."""
    unknown = sorted(set(query) - {"from", "to", "after", "limit"} - extra)
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}")
    if any(len(query.getall(k)) > 1 for k in query):
        raise ValueError("give each parameter once")
    start = parse_time("from", query["from"]) if "from" in query else start_of_day(now)
    end = parse_time("to", query["to"]) if "to" in query else start + 86400
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end > LATEST or end <= start:
        raise ValueError("from and to must be times between 1970 and 3000, to after from")
    if end - start > MAX_SPAN_S:
        raise ValueError("ask for at most 366 days at once")
    after = _whole("after", query.get("after", "0"), 0, 2**62)
    limit = _whole("limit", query.get("limit", str(page)), 1, page_max)
    return start, end, after, limit


def _whole(name: str, raw: str, lowest: int, highest: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and lowest <= int(raw) <= highest):
        raise ValueError(f"{name} must be a whole number from {lowest} to {highest}")
    return int(raw)


AUDIT_PAGE = 1000
AUDIT_PAGE_MAX = 10_000


@routes.get("/api/audit")
async def audit_log(request: web.Request) -> web.Response:
    """The audit log (recordings/audit.py), for auditors only: entries in ``[from, to)``, paged by id."""
    user = await require_user(request, "auditor")
    svc: Services = request.app[SERVICES]
    query = request.query
    try:
        start, end, after, limit = _paged_window(query, svc.clock.now(), {"user", "action"}, AUDIT_PAGE, AUDIT_PAGE_MAX)
        who = query.get("user")
        if who is not None and not (0 < len(who) <= 64 and who.isprintable() and "\x00" not in who):
            raise ValueError("user must be a user id (or name:<username> for failed log-ins)")
        action = query.get("action")
        if action is not None and action not in ACTIONS:
            raise ValueError(f"action is one of {', '.join(ACTIONS)}")
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    assert svc.audit is not None
    await audited(request, user, "audit_view", request.query_string, True)
    rows = await svc.audit.page(
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(end, UTC),
        user_id=who,
        action=action,
        after_id=after,
        limit=limit,
    )
    return json_response({"entries": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None})
