"""The OpenAPI 3.0 description of the REST API, served at ``GET /api/openapi.json``.

Written by hand, beside ``api.py``, so that it says what the handlers promise rather than what a generator
guesses. ``tests/test_openapi.py`` fails when a route under ``/api/`` is added without being described here (or the
other way round), and ``tests/test_fuzz_rest.py`` runs Schemathesis against a live server with this description:
every answer must carry a status code, a content type and a body described here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from signaling.connection import SESSION_COOKIE

OPENAPI_PATH = "/api/openapi.json"

# The stable error codes of REST answers (the same words as the Socket.IO acks, docs/protocol.md).
ERROR_CODES = ("bad_request", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited", "unavailable")

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _error(description: str, *codes: str) -> dict[str, Any]:
    """An error answer whose ``error.code`` is one of ``codes``."""
    return {
        "description": description,
        "content": {
            _JSON: {
                "schema": {
                    "allOf": [
                        _ref("Error"),
                        {"properties": {"error": {"properties": {"code": {"type": "string", "enum": list(codes)}}}}},
                    ]
                }
            }
        },
    }


def _ok(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}, **extra}


_UNAUTHORIZED = _error("No valid log-in: no token, a bad or expired one, or a session that has ended.", "unauthorized")
_FAILED = _error(
    "The server could not complete the request (for example, the database is down); retry later.", "unavailable"
)
# Whoever may call it, with either way of presenting the log-in.
_LOGGED_IN: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]

_REGION = {"type": "string", "pattern": "^[0-9]{6}$", "description": "A six-digit GB/T 2260 region code."}
_TIME = _nullable({"type": "string", "format": "date-time"})

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": list(ERROR_CODES),
                        "description": "Stable: act on this, not on the message.",
                    },
                    "message": {"type": "string", "description": "For people, in English; may change."},
                },
            }
        },
    },
    "Credentials": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "description": "Only the first 64 characters are read."},
            "password": {"type": "string", "description": "Only the first 256 characters are read."},
        },
    },
    "Role": {"type": "string", "enum": ["clerk", "supervisor", "auditor"]},
    "User": {
        "type": "object",
        "required": ["id", "username", "role", "display_name", "region", "skills"],
        "properties": {
            "id": {"type": "string"},
            "username": {"type": "string"},
            "role": _ref("Role"),
            "display_name": {"type": "string"},
            "region": {"type": "string", "description": "The clerk's province; may be empty for other roles."},
            "skills": {"type": "array", "items": {"type": "string"}},
        },
    },
    "LoginResult": {
        "type": "object",
        "required": ["token", "role", "user"],
        "properties": {
            "token": {"type": "string", "description": "Send it as `Authorization: Bearer <token>`."},
            "role": _ref("Role"),
            "user": _ref("User"),
        },
    },
    "Ok": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean", "enum": [True]}}},
    "Matter": {
        "type": "object",
        "required": ["code", "name", "skill", "provinces"],
        "properties": {
            "code": {"type": "string"},
            "name": {
                "type": "object",
                "required": ["zh", "en"],
                "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
            },
            "skill": {"type": "string", "description": "The clerk skill that serves this matter."},
            "provinces": {"type": "array", "minItems": 1, "items": _REGION},
        },
    },
    "TimelineEntry": {
        "type": "object",
        "required": ["at", "event", "actor", "detail"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "event": {"type": "string"},
            "actor": {"type": "string", "description": "`citizen:<id>`, `clerk:<user id>` or `system`."},
            "detail": _nullable({"type": "object"}),
        },
    },
    "CaseRecord": {
        "type": "object",
        "required": [
            "case_id",
            "ticket_id",
            "matter_code",
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
            "rating",
            "timeline",
        ],
        "properties": {
            "case_id": {"type": "string"},
            "ticket_id": {"type": "string"},
            "matter_code": {"type": "string"},
            "skill": {"type": "string"},
            "origin_region": _REGION,
            "target_region": _REGION,
            "channel": {"type": "string", "enum": ["kiosk", "web"]},
            "kiosk_id": _nullable({"type": "string"}),
            "priority": {"type": "string"},
            "language": {"type": "string"},
            "clerk_id": _nullable({"type": "string"}),
            "requested_at": {"type": "string", "format": "date-time"},
            "offered_at": _TIME,
            "answered_at": _TIME,
            "connected_at": _TIME,
            "ended_at": _TIME,
            "outcome": _nullable({"type": "string"}),
            "notes": _nullable({"type": "string"}),
            "rating": _nullable(
                {
                    "type": "object",
                    "required": ["level", "comment"],
                    "properties": {
                        "level": {"type": "integer", "minimum": 1, "maximum": 5},
                        "comment": _nullable({"type": "string"}),
                    },
                }
            ),
            "timeline": {"type": "array", "items": _ref("TimelineEntry")},
        },
    },
    "Dashboard": {
        "type": "object",
        "required": ["at", "sla_s", "queues", "clerks", "clerks_by_status", "open_cases", "alerts", "today"],
        "properties": {
            "at": {"type": "number", "description": "Seconds since the epoch."},
            "sla_s": {"type": "number"},
            "queues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["region", "skill", "waiting", "offered", "oldest_wait_s", "staffed"],
                    "properties": {
                        "region": _REGION,
                        "skill": {"type": "string"},
                        "waiting": {"type": "integer", "minimum": 0},
                        "offered": {"type": "integer", "minimum": 0},
                        "oldest_wait_s": {"type": "number"},
                        "staffed": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "clerks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["clerk_id", "display_name", "region", "status", "case_id"],
                    "properties": {
                        "clerk_id": {"type": "string"},
                        "display_name": {"type": "string"},
                        "region": {"type": "string"},
                        "status": {"type": "string"},
                        "case_id": _nullable({"type": "string"}),
                    },
                },
            },
            "clerks_by_status": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "open_cases": {"type": "integer", "minimum": 0},
            "alerts": {
                "type": "array",
                "description": "Citizens waiting at least three quarters of the SLA and not yet answered.",
                "items": {
                    "type": "object",
                    "required": ["ticket_id", "region", "skill", "matter_code", "waited_s", "state"],
                    "properties": {
                        "ticket_id": {"type": "string"},
                        "region": {"type": "string"},
                        "skill": {"type": "string"},
                        "matter_code": {"type": "string"},
                        "waited_s": {"type": "number"},
                        "state": {"type": "string"},
                    },
                },
            },
            "today": {
                "type": "object",
                "description": "Cases requested since midnight China time (docs/sla.md).",
                "required": [
                    "requests",
                    "answered",
                    "answered_within_sla",
                    "abandoned",
                    "short_abandoned",
                    "service_level",
                    "asa_s",
                    "resolution_rate",
                    "rated",
                    "positive_rate",
                    "sla_s",
                ],
                "properties": {
                    "requests": {"type": "integer", "minimum": 0},
                    "answered": {"type": "integer", "minimum": 0},
                    "answered_within_sla": {"type": "integer", "minimum": 0},
                    "abandoned": {"type": "integer", "minimum": 0},
                    "short_abandoned": {"type": "integer", "minimum": 0},
                    "service_level": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
                    "asa_s": _nullable({"type": "number", "minimum": 0}),
                    "resolution_rate": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
                    "rated": {"type": "integer", "minimum": 0},
                    "positive_rate": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
                    "sla_s": {"type": "number"},
                },
            },
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}},
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "description": "One entry per dependency (`database`, and `redis` when configured): `ok` or "
                "`error: <kind>`.",
                "additionalProperties": {"type": "string"},
            },
            "notes": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/auth/login": {
        "post": {
            "operationId": "login",
            "summary": "Log in: a token, and the session cookie",
            "description": "Starts a log-in session. The token also goes to the `rvw_session` cookie (HttpOnly, "
            "SameSite=Strict). Only `application/json` is read, so a form on another site cannot log anyone in. "
            "Failed attempts are limited in a sliding window (by default 5 minutes): 10 per address and "
            "username, 30 per address, and, past 100 for one username, none more from addresses that already "
            "failed for it. Past a limit, attempts are refused with 429 until the window has passed.",
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("Credentials")}}},
            "responses": {
                "200": _ok(
                    "Logged in.",
                    _ref("LoginResult"),
                    headers={
                        "Set-Cookie": {
                            "description": f"`{SESSION_COOKIE}=<token>; HttpOnly; SameSite=Strict; Path=/`, and "
                            "`Secure` when the request came over HTTPS.",
                            "schema": {"type": "string"},
                        }
                    },
                ),
                "400": _error(
                    "Not `application/json`, not JSON, not an object with both strings, or strings that are not text "
                    "(a lone UTF-16 surrogate escape, or a NUL in the username).",
                    "bad_request",
                ),
                "401": _error("Wrong username or password, or the user is disabled.", "unauthorized"),
                "413": _error("The body is larger than 64 KiB.", "bad_request"),
                "429": _error(
                    "Too many failed log-ins (for this address and username, this address, or this username); wait.",
                    "rate_limited",
                ),
                "500": _FAILED,
                "503": {
                    **_error("Too many log-ins wait for a password check already; retry shortly.", "unavailable"),
                    "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
                },
            },
        }
    },
    "/api/auth/logout": {
        "post": {
            "operationId": "logout",
            "summary": "End this log-in session",
            "description": "The session of the presented token (bearer or cookie) ends: the token stops working "
            "on REST and on sockets, and the consoles and walls of that session are closed. Always answers "
            "200 and clears the cookie, whether or not a live session was presented.",
            "security": [{}, *_LOGGED_IN],
            "responses": {"200": _ok("Logged out (or there was nothing to end).", _ref("Ok")), "500": _FAILED},
        }
    },
    "/api/me": {
        "get": {
            "operationId": "me",
            "summary": "Who is logged in",
            "security": _LOGGED_IN,
            "responses": {"200": _ok("The logged-in user.", _ref("User")), "401": _UNAUTHORIZED, "500": _FAILED},
        }
    },
    "/api/matters": {
        "get": {
            "operationId": "matters",
            "summary": "The matter catalog",
            "description": "Every matter citizens may ask for help with, and the provinces that serve it.",
            "responses": {
                "200": _ok("The catalog.", {"type": "array", "items": _ref("Matter")}),
                "500": _FAILED,
            },
        }
    },
    "/api/cases/{case_id}": {
        "get": {
            "operationId": "getCase",
            "summary": "One case record with its timeline",
            "description": "For the clerk who answered the case, supervisors and auditors. A clerk asking for "
            "another clerk's case is refused (403); an unknown case is 404.",
            "security": _LOGGED_IN,
            "parameters": [
                {
                    "name": "case_id",
                    "in": "path",
                    "required": True,
                    "description": "The case number (办件编号) a citizen is given, e.g. `RVW20260101A1B2C3D4E5F6`.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _ok("The case record.", _ref("CaseRecord")),
                "401": _UNAUTHORIZED,
                "403": _error("A clerk asking for a case another clerk answered.", "forbidden"),
                "404": _error("No such case.", "not_found"),
                "500": _FAILED,
            },
        }
    },
    "/api/dashboard": {
        "get": {
            "operationId": "dashboard",
            "summary": "The supervisor wall, once",
            "description": "The object the `/supervisor` namespace sends every second.",
            "security": _LOGGED_IN,
            "responses": {
                "200": _ok("The dashboard.", _ref("Dashboard")),
                "401": _UNAUTHORIZED,
                "403": _error("Logged in, but not a supervisor.", "forbidden"),
                "500": _FAILED,
            },
        }
    },
    OPENAPI_PATH: {
        "get": {
            "operationId": "openapi",
            "summary": "This description",
            "responses": {"200": _ok("The OpenAPI document.", {"type": "object"})},
        }
    },
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness",
            "description": "Answers while the process serves requests; checks nothing else.",
            "responses": {"200": _ok("Alive.", _ref("Health"))},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness",
            "description": "Whether the database (and Redis, when configured) answer; a load balancer should send "
            "traffic only while this is 200.",
            "responses": {
                "200": _ok("Ready.", _ref("Readiness")),
                "503": _ok("A dependency does not answer; `checks` names it.", _ref("Readiness")),
            },
        }
    },
}


def describe() -> dict[str, Any]:
    """The OpenAPI document as a fresh dict (a caller may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": {
                "title": "Remote virtual window REST API",
                "version": "1",
                "description": "Log-in, the matter catalog, case records, the supervisor dashboard and health checks. "
                "The live protocol (queue, offers, calls) is Socket.IO, described in docs/protocol.md. Errors are "
                '`{"error": {"code", "message"}}`; act on `code`, which is stable. Log in with `POST /api/auth/login`, '
                f"then send `Authorization: Bearer <token>` or the `{SESSION_COOKIE}` cookie.",
            },
            "paths": PATHS,
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "The `token` that `POST /api/auth/login` answers.",
                    },
                    "sessionCookie": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": SESSION_COOKIE,
                        "description": "Set by `POST /api/auth/login` (HttpOnly, SameSite=Strict); what the pages use.",
                    },
                },
            },
        }
    )


# Built once: every request for the description gets the same bytes.
DOCUMENT: bytes = json.dumps(describe(), ensure_ascii=False, indent=1).encode()
