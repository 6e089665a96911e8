"""REST: log-in, the matter catalog, case records, health."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import text

from recordings.models import User
from signaling.connection import SESSION_COOKIE
from signaling.wall import scope_name

from .auth import make_token, new_session_id, read_token
from .catalog import scope_of
from .openapi import DOCUMENT, OPENAPI_PATH
from .privacy import mask_case
from .services import SERVICES, Services

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Chinese left readable (UTF-8), not escaped."""
    return web.json_response(data, status=status, dumps=_dumps)


def json_error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Pages load scripts, styles and images from this origin only and may not be framed (click-jacking an
# accept or an end-case); media streams are blob: URLs; Socket.IO connects back to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "geolocation=(), payment=(), usb=()",
}


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Headers every answer carries; API answers are never cached (log-in tokens, case records).
    Answers raised as exceptions (redirects, 404s outside the API) get them too."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    _secure(request, resp)
    return resp


def _secure(request: web.Request, resp: web.StreamResponse | web.HTTPException) -> None:
    resp.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/api/"):
        resp.headers["Cache-Control"] = "no-store"
    elif request.path.startswith("/static/") and isinstance(resp, web.StreamResponse):
        # Kept by the browser but checked on every load (ETag, Last-Modified: a 304 costs a few bytes), so that a
        # kiosk never runs yesterday's script after an upgrade. Scripts and styles go compressed.
        resp.headers.setdefault("Cache-Control", "no-cache")
        if _compressible(request, resp):
            resp.enable_compression()
            resp.headers["Vary"] = "Accept-Encoding"
    elif _page(resp):
        # The pages themselves (Jinja2 templates): no secret is in them (log-ins are cookies, a kiosk's token is in
        # its storage), so compressing them gives nothing away.
        resp.enable_compression()
        resp.headers["Vary"] = "Accept-Encoding"


# A conditional or partial request may be answered 304 or 206 by the file response itself, which must not be
# compressed (a 304 has no body to compress); those go as they are.
_NOT_COMPRESSED_WITH = ("If-None-Match", "If-Modified-Since", "If-Range", "Range")


def _compressible(request: web.Request, resp: web.StreamResponse) -> bool:
    return (
        resp.status == 200
        and not resp.prepared
        and request.path.endswith((".js", ".css", ".mjs"))
        and not any(h in request.headers for h in _NOT_COMPRESSED_WITH)
    )


def _page(resp: web.StreamResponse | web.HTTPException) -> bool:
    return (
        isinstance(resp, web.Response)
        and not isinstance(resp, web.HTTPException)
        and resp.status == 200
        and not resp.prepared
        and resp.content_type == "text/html"
    )


async def hide_server(request: web.Request, resp: web.StreamResponse) -> None:
    """No versions in the Server header (aiohttp names itself and Python)."""
    resp.headers["Server"] = "rvw"


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        codes = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "bad_request",
            409: "conflict",
            413: "bad_request",
            429: "rate_limited",
        }
        return json_error(exc.status, codes.get(exc.status, "bad_request"), exc.reason)
    except Exception as exc:
        if request.path.startswith("/socket.io/") and isinstance(exc, ValueError | TypeError | IndexError | KeyError):
            # Engine.IO could not decode what a client sent on its WebSocket ("x", an empty frame): the
            # client's fault, and one line, not a stack trace per connection (a log flood otherwise).
            log.info("closed a Socket.IO connection that sent an undecodable frame (%s)", type(exc).__name__)
            return web.Response(status=400)
        log.exception("request %s %s failed", request.method, request.path)
        return json_error(500, "unavailable", "the server could not complete this request")


async def current_user(request: web.Request) -> User | None:
    return await session_user(request.app[SERVICES], request_token(request))


async def session_user(svc: Services, token: object) -> User | None:
    """The user of a valid token whose log-in session still stands (log-out, disabling the user or
    a new password ends it), for REST calls and socket connects alike."""
    claims = read_token(svc.settings.secret_key, token, "user", svc.clock.now())
    if claims is None or not isinstance(claims.get("s"), str):
        return None
    user = await svc.directory.session_user(claims["s"], svc.clock.now())
    return user if user is not None and user.id == claims.get("u") else None


def session_of(svc: Services, token: object) -> str | None:
    claims = read_token(svc.settings.secret_key, token, "user", svc.clock.now())
    return str(claims["s"]) if claims is not None and isinstance(claims.get("s"), str) else None


def request_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)


async def require_user(request: web.Request, *roles: str) -> User:
    user = await current_user(request)
    if user is None:
        raise ApiError(401, "unauthorized", "log in first")
    if roles and user.role not in roles:
        raise ApiError(403, "forbidden", "not allowed for your role")
    return user


async def audited(
    request: web.Request, user: User | None, action: str, target: str, ok: bool, *, name: str = ""
) -> None:
    """Put one action in the audit log (recordings/audit.py): who (or the name a failed log-in gave),
    what, on what, from which address, allowed or not."""
    svc = request.app[SERVICES]
    if svc.audit is None:
        return
    await svc.audit.record(
        at=svc.clock.now(),
        user_id=user.id if user is not None else f"name:{name}",
        role=user.role if user is not None else "",
        action=action,
        target=target,
        ip=client_address(request),
        ok=ok,
    )


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy its X-Forwarded-For entry."""
    proxies = request.app[SERVICES].settings.trusted_proxies
    return proxies.client(request.remote, request.headers.get("X-Forwarded-For"))


def is_https(request: web.Request) -> bool:
    """Whether the browser reached us over TLS: directly, or through a trusted proxy that says so."""
    if request.secure:
        return True
    proxies = request.app[SERVICES].settings.trusted_proxies
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https" and proxies.trusts_peer(request.remote)


def is_text(value: str) -> bool:
    """Whether UTF-8 can carry it: JSON's \\ud800-style escapes decode to lone surrogates, which it cannot
    (nor the database, nor the password hash)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    if request.content_type != "application/json":
        # Forms cannot send this type across sites without CORS: no log-in CSRF.
        return json_error(400, "bad_request", "send the log-in as application/json")
    try:
        body = await request.json()
    except (ValueError, RecursionError, UnicodeDecodeError):
        # ValueError: not JSON, or an integer of thousands of digits; RecursionError: nested too deep.
        return json_error(400, "bad_request", "send a JSON object {username, password}")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
    ):
        return json_error(400, "bad_request", "send a JSON object {username, password}")
    username, password = body["username"][:64], body["password"][:256]
    if not (is_text(username) and is_text(password)) or "\x00" in username:
        # No user is named so, and the database would fail on it rather than find nobody.
        return json_error(400, "bad_request", "the username and password must be text (no NUL in the username)")
    guard, address = svc.login_guard, client_address(request)
    # Counted before the password is checked: a burst cannot all pass before its first failure counts.
    if not await guard.admit(address, username):
        return json_error(429, "rate_limited", "too many failed log-ins; wait a few minutes")
    user = await svc.directory.user_by_name(username)
    known = user is not None and user.active
    ok = await guard.verify(user.password_hash if user else None, password, known=known)
    if ok is None:
        await guard.forgive(address, username)  # not checked: not a failure either
        resp = json_error(503, "unavailable", "the server is busy checking log-ins; try again in a few seconds")
        resp.headers["Retry-After"] = "5"
        return resp
    if not ok or user is None or not user.active:
        # Each checked failure is audited (those refused before a check, 429, are the guard's business).
        await audited(request, None, "login", username, False, name=username)
        return json_error(401, "unauthorized", "wrong username or password")
    await guard.forgive(address, username)
    await audited(request, user, "login", username, True)
    session_id = new_session_id()
    await svc.directory.open_session(
        session_id=session_id, user_id=user.id, at=svc.clock.now(), ttl_s=svc.settings.token_ttl_s
    )
    claims = {"u": user.id, "s": session_id}
    token = make_token(svc.settings.secret_key, "user", claims, svc.clock.now(), svc.settings.token_ttl_s)
    resp = json_response({"token": token, "role": user.role, "user": user_json(user)})
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),  # behind TLS the cookie never travels in the clear
        max_age=int(svc.settings.token_ttl_s),
        path="/",
    )
    return resp


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """End this log-in session: its token stops working on REST and sockets, and its open
    consoles and walls are closed (on this node at once, on the others within seconds)."""
    svc: Services = request.app[SERVICES]
    session_id = session_of(svc, request_token(request))
    if session_id is not None:
        user = await current_user(request)
        await svc.directory.revoke_session(session_id, svc.clock.now())
        await svc.hub.end_sessions({session_id})
        if user is not None:
            await audited(request, user, "logout", user.username, True)
    resp = json_response({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "region": user.region,
        "skills": list(user.skills or []),
    }


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(user_json(user))


@routes.get("/api/matters")
async def matters(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].catalog.to_json())


MAX_MATTER_CODE = 64  # the case record's matter_code column


@routes.get("/api/matters/{code}")
async def matter(request: web.Request) -> web.Response:
    """One matter with its guidance (what the clerk console shows beside a case); public, as the list is."""
    code = request.match_info["code"]
    # A code is opaque (the operator's catalog chooses it), but no longer than the case record holds and printable:
    # anything else is no matter, answered before any look-up.
    catalog = request.app[SERVICES].catalog
    found = catalog.get(code) if len(code) <= MAX_MATTER_CODE and code.isprintable() else None
    if found is None:
        return json_error(404, "not_found", "no such matter")
    return json_response(found.detail_json())


@routes.get("/api/cases/{case_id}")
async def get_case(request: web.Request) -> web.Response:
    user = await require_user(request)
    svc = request.app[SERVICES]
    case_id = request.match_info["case_id"]
    if len(case_id) > 40 or not (case_id.isascii() and case_id.isprintable()):
        # Case numbers are short printable ASCII; PostgreSQL would fail on a NUL rather than find nothing.
        return json_error(404, "not_found", "no such case")
    await svc.hub.records_settled()
    if user.role not in ("supervisor", "auditor"):
        found, clerk_id = await svc.store.clerk_of(case_id)
        if not found:
            await audited(request, user, "case_view", case_id, False)
            return json_error(404, "not_found", "no such case")
        if user.role != "clerk" or clerk_id != user.id:
            await audited(request, user, "case_view", case_id, False)
            return json_error(403, "forbidden", "only the case's clerk, supervisors and auditors may read it")
    record = await svc.store.get(case_id)
    provinces = scope_of(user.region) if user.role == "supervisor" else None
    if record is None or (provinces is not None and record["target_region"] not in provinces):
        await audited(request, user, "case_view", case_id, False)
        return json_error(404, "not_found", "no such case")  # another province's case: as an unknown one
    await audited(request, user, "case_view", case_id, True)
    record["attachments"] = await svc.attachments.of_case(case_id) if svc.attachments is not None else []
    record["recording_consent"] = await svc.media.consent_of(case_id) if svc.media is not None else None
    record["recordings"] = await svc.media.of_case(case_id) if svc.media is not None else []
    return json_response(mask_case(record))


@routes.get("/api/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    user = await require_user(request, "supervisor")
    return json_response(await request.app[SERVICES].hub.wall.dashboard(scope_name(user.region)))


@routes.get(OPENAPI_PATH)
async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI description of this API (server/openapi.py), built once at import."""
    return web.Response(body=DOCUMENT, content_type="application/json", charset="utf-8")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    checks: dict[str, str] = {}
    notes: dict[str, str] = {}
    try:
        async with svc.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if svc.settings.redis_url:
        try:
            await svc.queue.ping()
            checks["redis"] = "ok"
            durable = getattr(svc.queue, "durable", None)
            if durable is not None:
                notes["redis_aof"] = "on" if durable else "off: a Redis restart would lose the queue"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if notes:
        body["notes"] = notes
    return json_response(body, status=200 if ready else 503)
