"""The OpenAPI 3.1 description of the REST API, served at ``GET /api/openapi.json``.

Written by hand, beside ``api.py``, so that it says what the handlers promise rather than what a generator
guesses. ``tests/test_openapi.py`` fails when a route under ``/api/`` is added without being described here (or the
other way round), and ``tests/test_fuzz_rest.py`` runs Schemathesis against a live server with this description:
every answer must carry a status code, a content type and a body described here.

Its schemas are JSON Schema 2020-12, the dialect of OpenAPI 3.1: a value that may be null says so with a type union
(``_nullable``), not with 3.0's ``nullable``, and exclusive bounds are numbers, not flags. ``tests/test_openapi.py``
validates the document against the OpenAPI 3.1 schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from recordings.audit import ACTIONS as AUDIT_ACTIONS
from signaling.connection import SESSION_COOKIE

OPENAPI_PATH = "/api/openapi.json"

# The stable error codes of REST answers (the same words as the Socket.IO acks, docs/protocol.md).
ERROR_CODES = ("bad_request", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited", "unavailable")

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or null (JSON Schema 2020-12): ``"null"`` joins the schema's ``type`` (and its ``enum``, if any);
    a schema without a ``type`` (a ``$ref``, an ``allOf``...) becomes ``anyOf`` it and ``{"type": "null"}``."""
    kind = schema.get("type")
    if kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = list(kind) if isinstance(kind, list) else [kind]
    nullable = {**schema, "type": kinds if "null" in kinds else [*kinds, "null"]}
    if "enum" in schema and None not in schema["enum"]:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


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

_COUNT = {"type": "integer", "minimum": 0}
_RATE = _nullable({"type": "number", "minimum": 0, "maximum": 1})
_SECONDS = _nullable({"type": "number", "minimum": 0})
# The figures of GET /api/sla (and of the dashboard's `today`), in their order (docs/sla.md).
_SLA_FIGURES: dict[str, Any] = {
    "requests": _COUNT,
    "answered": _COUNT,
    "answered_within_sla": _COUNT,
    "abandoned": _COUNT,
    "short_abandoned": _COUNT,
    "service_level": _RATE,
    "asa_s": _SECONDS,
    "abandon_rate": _RATE,
    "aht_s": _SECONDS,
    "resolution_rate": _RATE,
    "rated": _COUNT,
    "positive_rate": _RATE,
    "expired": _COUNT,
    "offers": _COUNT,
    "agent_answer_rate": _RATE,
    "transfers": _COUNT,
    "complaints": _COUNT,
    "followups_open": _COUNT,
}
# Only in GET /api/sla (from the clerks' status history in the records), not on the live wall.
_OCCUPANCY = {
    "occupancy": _nullable(
        {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Time in a case or wrapping up / time on shift and not on a break; in the total and "
            "when grouped by `target_region` (the clerks' province) or `clerk_id` alone, otherwise null.",
        }
    )
}
_WALL_STATUS = {
    "type": "string",
    "enum": ["available", "offered", "busy", "wrap_up", "missed", "break", "offline"],
}
_WAITING_ENTRY = {
    "type": "object",
    "required": ["ticket_id", "case_id", "region", "skill", "matter_code", "origin_region", "channel", "waited_s"],
    "properties": {
        "ticket_id": {"type": "string"},
        "case_id": {"type": "string"},
        "region": {"type": "string"},
        "skill": {"type": "string"},
        "matter_code": {"type": "string"},
        "origin_region": {"type": "string"},
        "channel": {"type": "string"},
        "waited_s": {"type": "number"},
        "state": {"type": "string", "enum": ["waiting", "offered"]},
    },
}

# A matter as the catalog lists it (GET /api/matters); GET /api/matters/{code} adds its guidance.
SCHEMAS_MATTER_PROPERTIES: dict[str, Any] = {
    "code": {"type": "string"},
    "name": {
        "type": "object",
        "required": ["zh", "en"],
        "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
    },
    "skill": {"type": "string", "description": "The clerk skill that serves this matter."},
    "provinces": {"type": "array", "minItems": 1, "items": _REGION},
}

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
        "properties": SCHEMAS_MATTER_PROPERTIES,
    },
    "Phrase": {
        "type": "object",
        "required": ["zh", "en"],
        "properties": {
            "zh": {"type": "string", "minLength": 1},
            "en": {"type": "string", "minLength": 1, "description": "The Chinese, where the catalog gives no English."},
        },
    },
    "MatterGuidance": {
        "type": "object",
        "required": ["materials", "steps", "time_limit"],
        "properties": {
            "materials": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "items": _ref("Phrase"),
                "description": "What the citizen needs, in the catalog's order.",
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "items": _ref("Phrase"),
                "description": "How the matter goes, in order.",
            },
            "time_limit": {
                "allOf": [_ref("Phrase")],
                "description": "The processing time promised, in words (e.g. `15 个工作日`).",
            },
        },
    },
    "MatterDetail": {
        "type": "object",
        "required": ["code", "name", "skill", "provinces", "guidance"],
        "properties": {
            **SCHEMAS_MATTER_PROPERTIES,
            "guidance": _nullable(_ref("MatterGuidance")),
        },
    },
    "ClerkDay": {
        "type": "object",
        "required": ["date", "cases", "ended", "resolved", "handle_s_avg", "ratings"],
        "properties": {
            "date": {"type": "string", "format": "date", "description": "Today in China time (UTC+8)."},
            "cases": {**_COUNT, "description": "Cases the clerk answered today (a case they transferred too)."},
            "ended": {
                **_COUNT,
                "description": "Of those, the ones the clerk still holds that ended in the call (resolved, "
                "referred, unresolved, or the citizen hung up).",
            },
            "resolved": {**_COUNT, "description": "Of the ended ones, those resolved."},
            "handle_s_avg": _nullable(
                {
                    "type": "number",
                    "minimum": 0,
                    "description": "The mean seconds from the clerk's answer to the end, of the ended ones; null "
                    "when none ended.",
                }
            ),
            "ratings": {
                "type": "object",
                "required": ["count", "average", "poor"],
                "properties": {
                    "count": {**_COUNT, "description": "Ended cases the citizen rated."},
                    "average": _nullable({"type": "number", "minimum": 1, "maximum": 5}),
                    "poor": {**_COUNT, "description": "Rated 1 or 2 (差评)."},
                },
            },
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
            "wrapped_at",
            "offers",
            "answers",
            "transfers",
            "followup_closed_at",
            "attachments",
            "recording_consent",
            "recordings",
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
            "wrapped_at": _nullable(
                {"type": "string", "format": "date-time", "description": "The last wrap-up after a hang-up."}
            ),
            "offers": {**_COUNT, "description": "Offers made to clerks for this request."},
            "answers": {**_COUNT, "description": "Offers accepted (two after a transfer answered again)."},
            "transfers": _COUNT,
            "followup_closed_at": _nullable(
                {"type": "string", "format": "date-time", "description": "When a supervisor closed its 差评 follow-up."}
            ),
            "attachments": {"type": "array", "items": _ref("AttachmentInfo")},
            "recording_consent": {
                "type": ["boolean", "null"],
                "description": "The citizen's answer to recording (null: not asked or not answered).",
            },
            "recordings": {"type": "array", "items": _ref("RecordingInfo")},
            "timeline": {"type": "array", "items": _ref("TimelineEntry")},
        },
    },
    "Followup": {
        "type": "object",
        "required": [
            "case_id",
            "rating",
            "comment",
            "target_region",
            "matter_code",
            "opened_at",
            "complexity",
            "contact_due",
            "fix_due",
            "state",
            "overdue",
            "history",
        ],
        "properties": {
            "case_id": {"type": "string"},
            "rating": {"type": "integer", "minimum": 1, "maximum": 2},
            "comment": _nullable({"type": "string"}),
            "target_region": _REGION,
            "matter_code": {"type": "string"},
            "opened_at": {"type": "string", "format": "date-time"},
            "complexity": {"type": "string", "enum": ["simple", "complex"]},
            "contact_due": {"type": "string", "format": "date-time"},
            "fix_due": {"type": "string", "format": "date-time"},
            "state": {"type": "string", "enum": ["open", "contacted", "appealed", "closed"]},
            "overdue": {"type": "boolean"},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "action", "by", "note"],
                    "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "action": {"type": "string"},
                        "by": {"type": "string"},
                        "note": {"type": "string"},
                        "complexity": {"type": "string"},
                    },
                },
            },
        },
    },
    "AttachmentInfo": {
        "type": "object",
        "required": ["attachment_id", "case_id", "content_type", "bytes", "sha256", "uploaded_by", "uploaded_at"],
        "properties": {
            "attachment_id": {"type": "string"},
            "case_id": {"type": "string"},
            "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "application/pdf"]},
            "bytes": _COUNT,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "uploaded_by": {"type": "string", "description": "`citizen:<id>` or `clerk:<id>`."},
            "uploaded_at": {"type": "string", "format": "date-time"},
        },
    },
    "RecordingInfo": {
        "type": "object",
        "description": "One recorded file: one track of one side, from one connection to the recorder.",
        "required": [
            "recording_id",
            "case_id",
            "side",
            "kind",
            "state",
            "started_at",
            "ended_at",
            "duration_s",
            "frames",
            "bytes",
            "sha256",
            "container",
            "codec",
        ],
        "properties": {
            "recording_id": {"type": "string"},
            "case_id": {"type": "string"},
            "side": {"type": "string", "enum": ["citizen", "clerk"]},
            "kind": {"type": "string", "enum": ["audio", "video", "screen"]},
            "state": {
                "type": "string",
                "enum": ["recording", "complete", "interrupted"],
                "description": "interrupted: its recorder process died; the file holds what reached the disk.",
            },
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_s": {"type": ["number", "null"]},
            "frames": {"type": ["integer", "null"]},
            "bytes": {"type": ["integer", "null"]},
            "sha256": {"type": ["string", "null"]},
            "container": {"type": "string", "enum": ["webm"]},
            "codec": {"type": "string", "enum": ["vp8", "opus"]},
        },
    },
    "CaseList": {
        "type": "object",
        "required": ["cases", "next_cursor"],
        "properties": {
            "cases": {"type": "array", "items": _ref("CaseSummary")},
            "next_cursor": _nullable(
                {"type": "string", "description": "Pass as `cursor` for the next page; null on the last page."}
            ),
        },
    },
    "Dashboard": {
        "type": "object",
        "description": "The wall of the caller's scope: their province, or the delta (docs/protocol.md).",
        "required": [
            "at",
            "scope",
            "provinces",
            "sla_s",
            "prebreach_s",
            "goal",
            "queues",
            "clerks",
            "clerks_by_status",
            "open_cases",
            "waiting",
            "waiting_total",
            "past_prebreach",
            "today",
            "chart",
        ],
        "properties": {
            "at": {"type": "number", "description": "Seconds since the epoch."},
            "scope": {"type": "string", "description": "`delta` or a province code."},
            "provinces": {"type": "array", "items": _REGION},
            "sla_s": {"type": "number"},
            "prebreach_s": {"type": "number"},
            "goal": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "queues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "region",
                        "skill",
                        "waiting",
                        "offered",
                        "oldest_wait_s",
                        "staffed",
                        "service_level_15m",
                        "requests_15m",
                        "arrivals_1h",
                        "needed",
                    ],
                    "properties": {
                        "region": _REGION,
                        "skill": {"type": "string"},
                        "waiting": _COUNT,
                        "offered": _COUNT,
                        "oldest_wait_s": {"type": "number", "minimum": 0},
                        "staffed": _COUNT,
                        "service_level_15m": _RATE,
                        "requests_15m": _COUNT,
                        "arrivals_1h": _COUNT,
                        "needed": _nullable({"type": "integer", "minimum": 0}),
                    },
                },
            },
            "clerks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["clerk_id", "display_name", "region", "status", "case_id", "since", "in_status_s"],
                    "properties": {
                        "clerk_id": {"type": "string"},
                        "display_name": {"type": "string"},
                        "region": {"type": "string"},
                        "status": _WALL_STATUS,
                        "case_id": _nullable({"type": "string"}),
                        "since": _nullable({"type": "number"}),
                        "in_status_s": _nullable({"type": "number"}),
                        "skills": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "clerks_by_status": {"type": "object", "additionalProperties": _COUNT},
            "waiting": {
                "type": "array",
                "description": "The longest 200 waits, longest first.",
                "items": _WAITING_ENTRY,
            },
            "waiting_total": _COUNT,
            "past_prebreach": {
                **_COUNT,
                "description": "Waiting citizens past `prebreach_s` (the longest of them lead `waiting`).",
            },
            "today": {
                "type": "object",
                "description": "The live figures of the cases requested since midnight China time: those of "
                "`GET /api/sla` for today (docs/sla.md), without occupancy.",
                "required": [*_SLA_FIGURES, "sla_s", "goal"],
                "properties": {**_SLA_FIGURES, "sla_s": {"type": "number"}, "goal": {"type": "number"}},
            },
            "chart": {
                "type": "object",
                "required": ["bucket_s", "buckets"],
                "properties": {
                    "bucket_s": {"type": "integer"},
                    "buckets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["start", "requests", "answered", "service_level"],
                            "properties": {
                                "start": {"type": "number"},
                                "requests": _COUNT,
                                "answered": _COUNT,
                                "service_level": _RATE,
                            },
                        },
                    },
                },
            },
        },
    },
    "SlaFigures": {
        "type": "object",
        "description": "The service-level figures of a set of requests (docs/sla.md); a rate is null when there is "
        "nothing to divide by.",
        "required": [*_SLA_FIGURES, *_OCCUPANCY],
        "properties": {**_SLA_FIGURES, **_OCCUPANCY},
    },
    "SlaReport": {
        "type": "object",
        "required": ["from", "to", "sla_s", "total", "groups", "buckets"],
        "properties": {
            "from": {"type": "string", "format": "date-time", "description": "China time (+08:00)."},
            "to": {"type": "string", "format": "date-time", "description": "China time (+08:00); not included."},
            "sla_s": {"type": "number"},
            "total": _ref("SlaFigures"),
            "groups": {
                "type": "array",
                "description": "One per combination of the `group_by` columns that has requests, sorted by key.",
                "items": {
                    "allOf": [
                        _ref("SlaFigures"),
                        {
                            "type": "object",
                            "required": ["key"],
                            "properties": {
                                "key": {
                                    "type": "object",
                                    "additionalProperties": _nullable({"type": "string"}),
                                    "description": "The group's value of each `group_by` column (`clerk_id` is "
                                    "null for requests no clerk answered).",
                                }
                            },
                        },
                    ]
                },
            },
            "buckets": {
                "type": "array",
                "description": "One per `bucket` that has requests (by `requested_at`), in time order.",
                "items": {
                    "allOf": [
                        _ref("SlaFigures"),
                        {
                            "type": "object",
                            "required": ["start"],
                            "properties": {"start": {"type": "string", "format": "date-time"}},
                        },
                    ]
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

# A case record as GET /api/cases lists it: the record without its timeline.
SCHEMAS["CaseSummary"] = {
    **SCHEMAS["CaseRecord"],
    "required": [
        f
        for f in SCHEMAS["CaseRecord"]["required"]
        if f not in ("timeline", "attachments", "recordings", "recording_consent")
    ],
    "properties": {
        k: v
        for k, v in SCHEMAS["CaseRecord"]["properties"].items()
        if k not in ("timeline", "recordings", "recording_consent")
    },
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_TIME_PARAM = {"type": "string", "maxLength": 64}

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
    "/api/matters/{code}": {
        "get": {
            "operationId": "matter",
            "summary": "One matter with its guidance",
            "description": "The matter as the catalog lists it, with the guidance the clerk console shows: the "
            "materials the citizen needs, the steps of the matter and its processing time in words; `guidance` is "
            "null for a matter the catalog gives none. Public, as the catalog is.",
            "parameters": [
                {
                    "name": "code",
                    "in": "path",
                    "required": True,
                    "description": "The matter's code, e.g. `YB-BA-001`.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _ok("The matter.", _ref("MatterDetail")),
                "404": _error("No such matter (or a code longer than 64 characters or not printable).", "not_found"),
                "500": _FAILED,
            },
        }
    },
    "/api/clerk/day": {
        "get": {
            "operationId": "clerkDay",
            "summary": "The logged-in clerk's own figures of today",
            "description": "For clerks, of their own cases of the current China day (UTC+8): the cases they "
            "answered today, and of those that they still hold and that ended in the call, how many ended and "
            "were resolved, the mean time from their answer to the end, and the citizens' ratings. A case the "
            "clerk answered and transferred counts in `cases` for them (and for the clerk who answered it next); "
            "its end and rating count for the clerk who ended it.",
            "security": _LOGGED_IN,
            "responses": {
                "200": _ok("Today's figures.", _ref("ClerkDay")),
                "400": _error("A query parameter: the route takes none.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Logged in, but not a clerk.", "forbidden"),
                "500": _FAILED,
            },
        }
    },
    "/api/cases": {
        "get": {
            "operationId": "listCases",
            "summary": "Case records, filtered, a page at a time (or all of them as CSV)",
            "description": "Ordered by (`requested_at`, `case_id`) and paged by that key: pass the answer's "
            "`next_cursor` as `cursor` for the next page (a cursor is opaque and signed; a changed one is 400). "
            "Supervisors and auditors see every case; a clerk sees only their own (`clerk_id` defaults to theirs, "
            "another clerk's is 403). With `format=csv` every matching case is streamed as CSV: UTF-8 with a BOM, "
            "a header row, times in China time (+08:00), the matter's Chinese name beside its code, and cells "
            "starting with `=`, `+`, `-`, `@`, tab or CR prefixed with `'` (no formulas in spreadsheets); "
            "`limit` and `cursor` are refused with it.",
            "security": _LOGGED_IN,
            "parameters": [
                _query(
                    "from",
                    "Requested at or after: ISO 8601 (without an offset: China time) or seconds since the epoch.",
                    _TIME_PARAM,
                ),
                _query("to", "Requested before (same forms as `from`).", _TIME_PARAM),
                _query("target_region", "The province that owns the matter.", _REGION),
                _query("matter_code", "The matter's code.", {"type": "string", "maxLength": 64}),
                _query("clerk_id", "The clerk's user id.", {"type": "string", "maxLength": 32}),
                _query(
                    "outcome",
                    "How the case ended.",
                    {
                        "type": "string",
                        "enum": [
                            "resolved",
                            "referred",
                            "unresolved",
                            "citizen_ended",
                            "cancelled",
                            "abandoned",
                            "expired",
                            "rejected",
                        ],
                    },
                ),
                _query(
                    "rating",
                    "The citizen's rating level, or `none` for cases not rated.",
                    {"type": "string", "enum": ["1", "2", "3", "4", "5", "none"]},
                ),
                _query(
                    "followup",
                    "Cases rated 1 or 2 (差评) whose follow-up is `open` or `closed`.",
                    {"type": "string", "enum": ["open", "closed"]},
                ),
                _query("limit", "Cases per page.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                _query("cursor", "The `next_cursor` of the previous page.", {"type": "string"}),
                _query("format", "`csv` for the CSV export.", {"type": "string", "enum": ["json", "csv"]}),
            ],
            "responses": {
                "200": {
                    "description": "A page of case records, or with `format=csv` every matching case as CSV.",
                    "content": {
                        _JSON: {"schema": _ref("CaseList")},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "400": _error(
                    "A parameter that is unknown, given twice or not of its form, `from` after `to`, a cursor this "
                    "server did not give out, or `limit`/`cursor` with `format=csv`.",
                    "bad_request",
                ),
                "401": _UNAUTHORIZED,
                "403": _error("A clerk asking for another clerk's cases.", "forbidden"),
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
    "/api/sla": {
        "get": {
            "operationId": "sla",
            "summary": "Service-level figures of a period, in total, by group and by time bucket",
            "description": "For supervisors and auditors. Counts the requests made in `[from, to)` by the "
            "definitions of docs/sla.md, computed by the database over the case records.",
            "security": _LOGGED_IN,
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "description": "ISO 8601 (without an offset: China time) or epoch seconds; default midnight "
                    "China time today.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "description": "ISO 8601 or epoch seconds, after `from`, at most 366 days later; default `from` "
                    "plus one day.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "group_by",
                    "in": "query",
                    "description": "Comma-separated, each at most once: `target_region`, `matter_code`, `skill`, "
                    "`clerk_id`, `channel`, `origin_region`.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "bucket",
                    "in": "query",
                    "description": "Time buckets by `requested_at`, on China-time boundaries.",
                    "schema": {"type": "string", "enum": ["15m", "1h", "1d"]},
                },
            ],
            "responses": {
                "200": _ok("The figures.", _ref("SlaReport")),
                "400": _error("A parameter that is unknown, repeated or not as described.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Logged in, but neither a supervisor nor an auditor.", "forbidden"),
                "500": _FAILED,
            },
        }
    },
    "/api/clerk-status": {
        "get": {
            "operationId": "clerkStatus",
            "summary": "The clerks' status history that occupancy is computed from",
            "description": "For supervisors (their provinces) and auditors. Each row is a clerk's status from "
            "`started_at` until the clerk's next row; rows begun in `[from, to)`, in the order written.",
            "security": _LOGGED_IN,
            "parameters": [
                _query(
                    "from",
                    "ISO 8601 (without an offset: China time) or epoch seconds; default today.",
                    {"type": "string"},
                ),
                _query("to", "ISO 8601 or epoch seconds; default `from` plus one day.", {"type": "string"}),
                _query("clerk_id", "One clerk's rows only.", {"type": "string", "maxLength": 32}),
                _query("after", "The `next_after` of the previous page.", {"type": "integer", "minimum": 0}),
                _query("limit", "Rows per page.", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}),
            ],
            "responses": {
                "200": _ok(
                    "A page of rows.",
                    {
                        "type": "object",
                        "required": ["statuses", "next_after"],
                        "properties": {
                            "statuses": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["id", "clerk_id", "region", "status", "started_at"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "clerk_id": {"type": "string"},
                                        "region": _REGION,
                                        "status": _WALL_STATUS,
                                        "started_at": {"type": "string", "format": "date-time"},
                                    },
                                },
                            },
                            "next_after": _nullable(
                                {"type": "integer", "description": "Pass as `after`; null at the end."}
                            ),
                        },
                    },
                ),
                "400": _error("A parameter that is unknown, repeated or not as described.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Logged in, but neither a supervisor nor an auditor.", "forbidden"),
                "500": _FAILED,
            },
        }
    },
    "/api/cases/{case_id}/attachments": {
        "post": {
            "operationId": "uploadAttachment",
            "summary": "Show a document in an open case",
            "description": "By the case's citizen (with the `api_token` of the `session` event) or its clerk, "
            "while the case is open. The body is the raw file, its type the Content-Type; the type is checked "
            "against the bytes. The other side hears `attachment`; the case's timeline gets an `attachment` line.",
            "security": [*_LOGGED_IN, {"citizenToken": []}],
            "parameters": [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/jpeg", "image/png", "application/pdf")
                },
            },
            "responses": {
                "201": _ok(
                    "Stored.",
                    {
                        "type": "object",
                        "required": ["attachment_id", "case_id", "content_type", "bytes", "sha256"],
                        "properties": {
                            "attachment_id": {"type": "string"},
                            "case_id": {"type": "string"},
                            "content_type": {"type": "string"},
                            "bytes": _COUNT,
                            "sha256": {"type": "string"},
                        },
                    },
                ),
                "400": _error("An empty document.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Neither the case's citizen nor a clerk.", "forbidden"),
                "404": _error("No open case of the caller's with that id.", "not_found"),
                "413": _error("Larger than 10 MiB.", "bad_request"),
                "415": _error("Not JPEG, PNG or PDF, or the bytes are not the type declared.", "bad_request"),
                "500": _FAILED,
            },
        }
    },
    "/api/attachments/{attachment_id}": {
        "get": {
            "operationId": "getAttachment",
            "summary": "A document of a case",
            "description": "For the case's citizen and clerk, supervisors of its province and auditors; every "
            "fetch is in the audit log.",
            "security": [*_LOGGED_IN, {"citizenToken": []}],
            "parameters": [{"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        t: {"schema": {"type": "string", "format": "binary"}}
                        for t in ("image/jpeg", "image/png", "application/pdf")
                    },
                },
                "401": _UNAUTHORIZED,
                "403": _error("Not allowed to read this case's documents.", "forbidden"),
                "404": _error("No such document.", "not_found"),
                "500": _FAILED,
            },
        }
    },
    "/api/cases/{case_id}/recordings": {
        "get": {
            "operationId": "listCaseRecordings",
            "summary": "The recorded files of a case",
            "description": "For supervisors of the case's province and auditors (clerks: 403); audited. One file per "
            "track and connection to the recorder, in the order they started.",
            "security": _LOGGED_IN,
            "parameters": [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "The files.",
                    "content": {"application/json": {"schema": {"type": "array", "items": _ref("RecordingInfo")}}},
                },
                "401": _UNAUTHORIZED,
                "403": _error("Only supervisors and auditors.", "forbidden"),
                "404": _error("No such case (or another province's).", "not_found"),
                "500": _FAILED,
            },
        }
    },
    "/api/recordings/{recording_id}": {
        "get": {
            "operationId": "getRecording",
            "summary": "One recorded file (WebM), with range requests",
            "description": "For supervisors of the case's province and auditors (clerks: 403); every fetch is in "
            "the audit log. Answers `Range` with 206 and `Content-Range`.",
            "security": _LOGGED_IN,
            "parameters": [{"name": "recording_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {"video/webm": {"schema": {"type": "string", "format": "binary"}}},
                },
                "206": {
                    "description": "The range asked for.",
                    "content": {"video/webm": {"schema": {"type": "string", "format": "binary"}}},
                },
                "401": _UNAUTHORIZED,
                "403": _error("Only supervisors and auditors.", "forbidden"),
                "404": _error("No such recording, or its file was removed.", "not_found"),
                "500": _FAILED,
            },
        }
    },
    "/api/followups": {
        "get": {
            "operationId": "listFollowups",
            "summary": "差评 follow-ups with their due dates",
            "description": "For supervisors (their provinces) and auditors. A rating of 1 or 2 opens a follow-up: "
            "contact the citizen within 1 working day, fix within 5 (simple) or 15 (complex) working days, counted "
            "from the day after it opened and due at the end (24:00 China time) of the last one; working days skip "
            "weekends and the holidays of `RVW_HOLIDAYS` and include its make-up working days. Who rated is not "
            "shown. Newest first, at most 1000.",
            "security": _LOGGED_IN,
            "parameters": [
                _query(
                    "state",
                    "`open` (not closed; the default), `overdue` (a due date passed, not appealed) or `closed`.",
                    {"type": "string", "enum": ["open", "overdue", "closed"]},
                )
            ],
            "responses": {
                "200": _ok("The follow-ups.", {"type": "array", "items": _ref("Followup")}),
                "400": _error("An unknown parameter or state.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Neither a supervisor nor an auditor.", "forbidden"),
                "500": _FAILED,
            },
        }
    },
    "/api/followups/{case_id}": {
        "post": {
            "operationId": "followupStep",
            "summary": "A step of a 差评 follow-up",
            "description": "By a supervisor of the case's province. `contacted`, `appealed` and `resolved` (the "
            "close) each once, none after the close; on the follow-up's history and the case's timeline.",
            "security": _LOGGED_IN,
            "parameters": [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["action", "note"],
                            "additionalProperties": False,
                            "properties": {
                                "action": {"type": "string", "enum": ["contacted", "resolved", "appealed"]},
                                "note": {"type": "string", "minLength": 1, "maxLength": 2000},
                                "complexity": {"type": "string", "enum": ["simple", "complex"]},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _ok(
                    "Recorded.",
                    {
                        "type": "object",
                        "required": ["case_id", "action"],
                        "properties": {"case_id": {"type": "string"}, "action": {"type": "string"}},
                    },
                ),
                "400": _error("A body that is not as described.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Not a supervisor.", "forbidden"),
                "404": _error("No such case in the supervisor's provinces.", "not_found"),
                "409": _error("Not a 差评, closed already, or that step was taken already.", "conflict"),
                "500": _FAILED,
            },
        }
    },
    "/api/audit": {
        "get": {
            "operationId": "audit",
            "summary": "The audit log of people's actions (append-only)",
            "description": "For auditors only. Log-ins and their failures, log-outs, viewing, listing and exporting "
            "case records, reading figures and the clerks' status history, reading this log, and supervisors' "
            "actions, each with who, role, what, on what, from which address and whether it was allowed; in "
            "`[from, to)`, in the order written. No route changes or deletes an entry.",
            "security": _LOGGED_IN,
            "parameters": [
                _query(
                    "from",
                    "ISO 8601 (without an offset: China time) or epoch seconds; default today.",
                    {"type": "string"},
                ),
                _query("to", "ISO 8601 or epoch seconds; default `from` plus one day.", {"type": "string"}),
                _query(
                    "user",
                    "A user id, or `name:<username>` for failed log-ins.",
                    {"type": "string", "maxLength": 64},
                ),
                _query("action", "One action.", {"type": "string", "enum": list(AUDIT_ACTIONS)}),
                _query("after", "The `next_after` of the previous page.", {"type": "integer", "minimum": 0}),
                _query(
                    "limit", "Entries per page.", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}
                ),
            ],
            "responses": {
                "200": _ok(
                    "A page of entries.",
                    {
                        "type": "object",
                        "required": ["entries", "next_after"],
                        "properties": {
                            "entries": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["id", "at", "user", "role", "action", "target", "ip", "ok"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "at": {"type": "string", "format": "date-time"},
                                        "user": {"type": "string"},
                                        "role": {"type": "string"},
                                        "action": {"type": "string", "enum": list(AUDIT_ACTIONS)},
                                        "target": {"type": "string"},
                                        "ip": {"type": "string"},
                                        "ok": {"type": "boolean"},
                                    },
                                },
                            },
                            "next_after": _nullable(
                                {"type": "integer", "description": "Pass as `after`; null at the end."}
                            ),
                        },
                    },
                ),
                "400": _error("A parameter that is unknown, repeated or not as described.", "bad_request"),
                "401": _UNAUTHORIZED,
                "403": _error("Logged in, but not an auditor.", "forbidden"),
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

# Staffing what-ifs (server/staffing.py; the bounds here are its constants).
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_STAFFING_FIGURES = {
    "clerks": {"type": "integer", "minimum": 1, "description": "The staffing these figures are for."},
    "stable": {
        "type": "boolean",
        "description": "false: the offered load is at or above `clerks`; nobody is "
        "answered in time and the queue grows without bound.",
    },
    "service_level": {**_SHARE, "description": "The share answered within `sla_s` (0 when not stable)."},
    "asa_s": _nullable({"type": "number", "minimum": 0, "description": "Mean time to answer (null when not stable)."}),
    "occupancy": {**_SHARE, "description": "The share of clerk time spent serving (1 when not stable)."},
}
SCHEMAS["Staffing"] = {
    "type": "object",
    "required": [
        "arrivals_per_hour",
        "aht_s",
        "sla_s",
        "goal",
        "offered_load",
        "clerks_needed",
        "clerks",
        "stable",
        "service_level",
        "asa_s",
        "occupancy",
        "p_wait",
    ],
    "properties": {
        "arrivals_per_hour": {"type": "number"},
        "aht_s": {"type": "number"},
        "sla_s": {"type": "number"},
        "goal": {"type": "number"},
        "offered_load": {"type": "number", "minimum": 0, "description": "A = λ · AHT, in Erlangs."},
        "clerks_needed": {"type": "integer", "minimum": 1, "description": "The fewest clerks that meet the goal."},
        **_STAFFING_FIGURES,
        "p_wait": {**_SHARE, "description": "Erlang C: the chance that a citizen waits at all."},
        "simulated": _nullable(
            {
                "type": "object",
                "description": "Only with `simulate=1`: the routing core run in virtual time with `clerks` clerks, "
                "Poisson arrivals and exponential handle times, nobody giving up. null when not stable.",
                "required": ["hours", "seed", "service_level", "asa_s", "occupancy", "arrivals", "answered"],
                "properties": {
                    "hours": {"type": "number"},
                    "seed": {"type": "integer", "minimum": 0},
                    "service_level": _nullable(_SHARE),
                    "asa_s": _nullable({"type": "number", "minimum": 0}),
                    "occupancy": _SHARE,
                    "arrivals": {"type": "integer", "minimum": 0},
                    "answered": {"type": "integer", "minimum": 0},
                },
            }
        ),
    },
}


def _positive(name: str, maximum: float, description: str, required: bool = False) -> dict[str, Any]:
    schema = {"type": "number", "exclusiveMinimum": 0, "maximum": maximum}
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


PATHS["/api/staffing"] = {
    "get": {
        "operationId": "staffing",
        "summary": "How many clerks a queue needs (Erlang C), optionally simulated",
        "description": "For supervisors and auditors. The fewest clerks whose service level within `sla_s` is at "
        "least `goal` (Erlang C, M/M/N without abandonment), with that staffing's figures; with `clerks`, the "
        "figures for that many instead (an unstable staffing answers `stable: false`, not an error). With "
        "`simulate=1` the real routing core is also run in virtual time for `hours` with the same staffing: at "
        "most 10000 simulated arrivals (`arrivals_per_hour × hours`), 500 clerks, 500000 arrivals × clerks and "
        "an expected queue of 50, else 400; one simulation at a time per server process, else 503.",
        "security": _LOGGED_IN,
        "parameters": [
            _positive("arrivals_per_hour", 100000, "Citizens asking per hour (λ).", True),
            _positive("aht_s", 86400, "Average handle time in seconds.", True),
            _positive("sla_s", 86400, "The threshold of the service level; default the server's RVW_SLA_SECONDS."),
            {
                "name": "goal",
                "in": "query",
                "description": "The service level to reach, a share; default 0.9.",
                "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            },
            {
                "name": "clerks",
                "in": "query",
                "description": "Figures for this many clerks instead of the fewest that meet the goal.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
            {
                "name": "simulate",
                "in": "query",
                "description": "1: also run the simulator.",
                "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
            },
            _positive("hours", 24, "Simulated hours of arrivals; default 8."),
            {
                "name": "seed",
                "in": "query",
                "description": "The simulation's seed (the same seed, the same citizens); default 0.",
                "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647},
            },
        ],
        "responses": {
            "200": _ok("Erlang C's figures, and the simulation's with `simulate=1`.", _ref("Staffing")),
            "400": _error(
                "A parameter missing, not a number, or out of its range; a load beyond 10000 clerks; a simulation "
                "too large. The message names the parameter.",
                "bad_request",
            ),
            "401": _UNAUTHORIZED,
            "403": _error("Logged in, but a clerk.", "forbidden"),
            "500": _FAILED,
            "503": _error("Another staffing simulation is running in this process; retry shortly.", "unavailable"),
        },
    }
}


def describe() -> dict[str, Any]:
    """The OpenAPI document as a fresh dict (a caller may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
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
                    "citizenToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A citizen's `api_token` from the `/citizen` namespace's `session` event: "
                        "the documents of their own open case.",
                    },
                },
            },
        }
    )


# Built once: every request for the description gets the same bytes.
DOCUMENT: bytes = json.dumps(describe(), ensure_ascii=False, indent=1).encode()
