"""Limits and the stable error codes of the wire protocol (docs/protocol.md)."""

from __future__ import annotations

BAD_REQUEST = "bad_request"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"

ERROR_CODES = (BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMITED, UNAVAILABLE)

# One event's JSON may be at most this long. An SDP with three media sections
# and many candidates stays under 16 KB; 64 KB leaves room without inviting abuse.
MAX_EVENT_BYTES = 64 * 1024
# Engine.IO packets above this close the connection at the transport; between
# MAX_EVENT_BYTES and this, the event is answered with bad_request.
MAX_PACKET_BYTES = 1024 * 1024
MAX_SDP_CHARS = 60_000
MAX_NOTES_CHARS = 2000
MAX_COMMENT_CHARS = 500

# Per connection token bucket: sustained events per second and burst.
DEFAULT_EVENT_RATE = 100.0
DEFAULT_EVENT_BURST = 200.0

CITIZEN_NS = "/citizen"
CLERK_NS = "/clerk"
SUPERVISOR_NS = "/supervisor"

MEDIA_STATES = ("new", "checking", "connecting", "connected", "disconnected", "failed", "closed")


class ProtocolError(Exception):
    """An error the client caused; becomes ``{"ok": false, "error": {...}}``."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message

    def payload(self) -> dict[str, object]:
        return {"ok": False, "error": {"code": self.code, "message": self.message}}
