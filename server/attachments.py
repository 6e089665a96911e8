"""REST for documents shown in a case (issue 8): upload by a side of the open case, download by those
who may read the case. The files and rows are ``recordings.attachments``'s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from recordings.attachments import MAX_BYTES, sniff
from recordings.store import CaseStoreError
from signaling import messages
from signaling.const import CITIZEN_NS, CLERK_NS
from signaling.gateway import citizen_room, clerk_room

from .api import ApiError, audited, client_address, current_user, json_response, request_token
from .auth import read_token
from .catalog import scope_of
from .services import SERVICES, Services

routes = web.RouteTableDef()

ALLOWED_TYPES = ("image/jpeg", "image/png", "application/pdf")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
CITIZEN_API = "citizen-api"  # the kind of token the `session` event gives a citizen for these routes


async def _party(request: web.Request) -> tuple[str, str, Any]:
    """Who calls: ("citizen", citizen id, None) with a citizen's API token, or (role, user id, user)."""
    svc: Services = request.app[SERVICES]
    claims = read_token(svc.settings.secret_key, request_token(request), CITIZEN_API, svc.clock.now())
    if claims is not None and isinstance(claims.get("c"), str):
        return "citizen", str(claims["c"]), None
    user = await current_user(request)
    if user is None:
        raise ApiError(401, "unauthorized", "log in first, or send the api_token the session event gave you")
    return user.role, user.id, user


def _case_id(request: web.Request) -> str:
    case_id = request.match_info["case_id"]
    if len(case_id) > 40 or not (case_id.isascii() and case_id.isprintable()):
        raise ApiError(404, "not_found", "no open case of yours with that id")
    return case_id


async def _read_body(request: web.Request) -> bytes:
    """The raw body, at most MAX_BYTES (413 beyond it, told before reading when the length is declared)."""
    if request.content_length is not None and request.content_length > MAX_BYTES:
        raise ApiError(413, "bad_request", f"a document is at most {MAX_BYTES // (1024 * 1024)} MiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BYTES:
            raise ApiError(413, "bad_request", f"a document is at most {MAX_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


@routes.post("/api/cases/{case_id}/attachments")
async def upload(request: web.Request) -> web.Response:
    """A side of the open case shows a document: the raw file is the body, its type the Content-Type."""
    svc: Services = request.app[SERVICES]
    role, subject, user = await _party(request)
    case_id = _case_id(request)
    if role not in ("citizen", "clerk"):
        raise ApiError(403, "forbidden", "only the case's citizen and clerk add documents to it")
    case = await svc.queue.get_case(case_id)
    if case is None or (case.citizen_id if role == "citizen" else case.clerk_id) != subject:
        raise ApiError(404, "not_found", "no open case of yours with that id")  # someone else's: as unknown
    declared = request.content_type
    if declared not in ALLOWED_TYPES:
        raise ApiError(415, "bad_request", f"send a document as one of {', '.join(ALLOWED_TYPES)}")
    data = await _read_body(request)
    if not data:
        raise ApiError(400, "bad_request", "the document is empty")
    found = sniff(data)
    if found != declared:
        raise ApiError(415, "bad_request", f"the bytes are not {declared}" + (f" but {found}" if found else ""))
    await svc.hub.records_settled()
    by = f"{role}:{subject}"
    try:
        assert svc.attachments is not None
        stored = await svc.attachments.add(case_id, data=data, content_type=declared, by=by, at=svc.clock.now())
    except CaseStoreError:
        raise ApiError(404, "not_found", "no open case of yours with that id") from None
    await _audit(request, role, subject, user, "attachment_upload", stored["attachment_id"], True)
    # The other side hears of it (through the Socket.IO message queue when it is on another node).
    room, namespace = (
        (clerk_room(case.clerk_id), CLERK_NS) if role == "citizen" else (citizen_room(case.citizen_id), CITIZEN_NS)
    )
    await svc.sio.emit("attachment", messages.attachment(stored, role), room=room, namespace=namespace)
    body = {k: stored[k] for k in ("attachment_id", "case_id", "content_type", "bytes", "sha256")}
    return json_response(body, status=201)


@routes.get("/api/attachments/{attachment_id}")
async def download(request: web.Request) -> web.StreamResponse:
    """The file, for the case's citizen and clerk, supervisors (of its province) and auditors; audited."""
    svc: Services = request.app[SERVICES]
    role, subject, user = await _party(request)
    attachment_id = request.match_info["attachment_id"]
    found = None
    assert svc.attachments is not None
    if len(attachment_id) <= 40 and attachment_id.isascii() and attachment_id.isalnum():
        found = await svc.attachments.get(attachment_id)
    if found is None:
        await _audit(request, role, subject, user, "attachment_view", attachment_id[:40], False)
        raise ApiError(404, "not_found", "no such document")
    provinces = scope_of(user.region) if role == "supervisor" and user is not None else None
    allowed = (
        (role == "citizen" and found["citizen_id"] == subject)
        or (role == "clerk" and found["clerk_id"] == subject)
        or (role == "supervisor" and (provinces is None or found["target_region"] in provinces))
        or role == "auditor"
    )
    await _audit(request, role, subject, user, "attachment_view", attachment_id, allowed)
    if not allowed:
        raise ApiError(403, "forbidden", "only the case's citizen and clerk, supervisors and auditors read it")
    resp = web.FileResponse(found["path"])
    resp.content_type = found["content_type"]
    ext = EXTENSIONS.get(found["content_type"], "bin")
    resp.headers["Content-Disposition"] = f'inline; filename="{attachment_id}.{ext}"'
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"  # a PDF runs no script here
    return resp


async def _audit(request: web.Request, role: str, subject: str, user: Any, action: str, target: str, ok: bool) -> None:
    if user is not None:
        await audited(request, user, action, target, ok)
        return
    svc: Services = request.app[SERVICES]
    if svc.audit is not None:
        await svc.audit.record(
            at=svc.clock.now(),
            user_id=f"{role}:{subject}",
            role=role,
            action=action,
            target=target,
            ip=client_address(request),
            ok=ok,
        )
