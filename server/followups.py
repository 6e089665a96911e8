"""REST for 差评 follow-ups (issue 8): the list with due dates, and their steps. The rows and steps are
``recordings.store``'s; the working-day calendar is ``recordings.workdays``'s (``RVW_HOLIDAYS``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from queueing.commands import NoteCase
from recordings.store import CaseStoreError

from .api import ApiError, audited, json_response, require_user
from .privacy import mask
from .services import SERVICES, Services
from .supervision import china_iso, supervised

routes = web.RouteTableDef()

CONTACT_DAYS = 1
FIX_DAYS = {"simple": 5, "complex": 15}
STATES = ("open", "overdue", "closed")
ACTIONS = ("contacted", "resolved", "appealed")
MAX_NOTE = 2000


@routes.get("/api/followups")
async def list_followups(request: web.Request) -> web.Response:
    """Follow-ups of the caller's provinces: ``state=open`` (not closed), ``overdue`` (a due date passed
    and not appealed), ``closed``; newest first, at most 1000."""
    user = await require_user(request, "supervisor", "auditor")
    svc: Services = request.app[SERVICES]
    unknown = sorted(set(request.query) - {"state"})
    if unknown:
        raise ApiError(400, "bad_request", f"unknown parameter {unknown[0]!r}")
    state = request.query.get("state", "open")
    if state not in STATES:
        raise ApiError(400, "bad_request", f"state is one of {', '.join(STATES)}")
    await svc.hub.records_settled()
    await audited(request, user, "followup_list", f"state={state}", True)
    provinces = supervised(user)
    rows = await svc.store.followups(regions=tuple(sorted(provinces)) if provinces is not None else None)
    now = svc.clock.now()
    out = [shown for r in rows if (shown := _shown(svc, r, now))["state"] != "closed" or state == "closed"]
    if state == "closed":
        out = [f for f in out if f["state"] == "closed"]
    elif state == "overdue":
        out = [f for f in out if f["overdue"]]
    return json_response(out[:1000])


def _shown(svc: Services, row: dict[str, Any], now: float) -> dict[str, Any]:
    """A follow-up as the list gives it: due dates from the calendar, its state, whether it is overdue.
    Who rated is not in it (only in the case's own record). Identity and phone numbers in the comment and the
    steps' notes are masked (``server.privacy``); the stored ones are kept whole."""
    calendar = svc.calendar
    assert calendar is not None
    opened = row["opened_at"]
    contact_due = calendar.due(opened, CONTACT_DAYS)
    fix_due = calendar.due(opened, FIX_DAYS.get(row["complexity"], FIX_DAYS["simple"]))
    if row["resolved_at"] is not None:
        state = "closed"
    elif row["appealed_at"] is not None:
        state = "appealed"
    elif row["contacted_at"] is not None:
        state = "contacted"
    else:
        state = "open"
    overdue = state in ("open", "contacted") and (
        (row["contacted_at"] is None and now >= contact_due) or now >= fix_due
    )
    return {
        "case_id": row["case_id"],
        "rating": row["rating"],
        "comment": mask(row["comment"]) if row["comment"] is not None else None,
        "target_region": row["target_region"],
        "matter_code": row["matter_code"],
        "opened_at": china_iso(opened),
        "complexity": row["complexity"],
        "contact_due": china_iso(contact_due),
        "fix_due": china_iso(fix_due),
        "state": state,
        "overdue": overdue,
        "history": [_step(step) for step in row["history"]],
    }


def _step(step: Any) -> Any:
    """A step of the history as shown: its note masked; who took it and when as stored."""
    if isinstance(step, dict) and isinstance(step.get("note"), str):
        return {**step, "note": mask(step["note"])}
    return step


@routes.post("/api/followups/{case_id}")
async def followup_step(request: web.Request) -> web.Response:
    """A step of a follow-up, by a supervisor of the case's province: ``{"action", "note", "complexity"?}``."""
    user = await require_user(request, "supervisor")
    svc: Services = request.app[SERVICES]
    case_id = request.match_info["case_id"]
    try:
        body = await request.json()
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", 'send a JSON object {"action", "note", "complexity"?}') from None
    if not isinstance(body, dict) or set(body) - {"action", "note", "complexity"}:
        raise ApiError(400, "bad_request", 'send a JSON object {"action", "note", "complexity"?}')
    action, note, complexity = body.get("action"), body.get("note", ""), body.get("complexity")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ApiError(400, "bad_request", f"action is one of {', '.join(ACTIONS)}")
    if not isinstance(note, str) or not note.strip() or len(note) > MAX_NOTE or "\x00" in note:
        raise ApiError(400, "bad_request", f"note: say what was done, 1 to {MAX_NOTE} characters")
    if complexity is not None and (not isinstance(complexity, str) or complexity not in FIX_DAYS):
        raise ApiError(400, "bad_request", "complexity is simple (5 working days) or complex (15)")
    if len(case_id) > 40 or not (case_id.isascii() and case_id.isprintable()):
        raise ApiError(404, "not_found", "no such case in your provinces")
    await svc.hub.records_settled()
    try:
        done = await svc.store.followup_action(
            case_id,
            action=action,
            by=f"supervisor:{user.id}",
            at=svc.clock.now(),
            note=note.strip(),
            complexity=complexity,
            provinces=supervised(user),
        )
    except CaseStoreError as exc:
        await audited(request, user, "followup_action", f"{case_id} {action}", False)
        raise ApiError(404 if exc.code == "not_found" else 409, exc.code, exc.message) from None
    await audited(request, user, "followup_action", f"{case_id} {action}", True)
    if action == "resolved":
        svc.hub.submit_eventually(NoteCase("followup_closed", case_id), "a follow-up's close")
    return json_response(done)
