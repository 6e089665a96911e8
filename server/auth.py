"""Passwords, signed tokens and kiosk tokens.

Log-in tokens are signed (HMAC-SHA256 with RVW_SECRET_KEY) rather than stored,
so every node accepts them without a lookup; they expire after
RVW token TTL. Kiosk tokens are random and stored only as a SHA-256 hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_dummy_hash: str | None = None


def _dummy() -> str:
    """Compared against when the user does not exist, so both paths cost the same; made on first use."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-password")
    return _dummy_hash


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Argon2 costs tens of milliseconds of CPU: run it off the event loop."""
    return await asyncio.to_thread(_verify, password_hash, password)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, kind: str, claims: dict[str, Any], now: float, ttl_s: float) -> str:
    body = _b64(json.dumps({"k": kind, "e": int(now + ttl_s), **claims}, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def read_token(secret: str, token: object, kind: str, now: float) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token of ``kind``; None for anything else."""
    if not isinstance(token, str) or len(token) > 2048 or not token.isascii() or token.count(".") != 1:
        return None
    body, sig = token.split(".")
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        return None
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(claims, dict) or claims.get("k") != kind or not isinstance(claims.get("e"), int):
        return None
    if claims["e"] <= now:
        return None
    return claims


def new_kiosk_token() -> str:
    return "k_" + secrets.token_urlsafe(24)


def kiosk_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(8)


def new_session_id() -> str:
    return secrets.token_hex(16)
