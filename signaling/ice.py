"""ICE servers handed to each side: the configured STUN/TURN list plus short-lived TURN credentials.

TURN credentials follow the "TURN REST API" scheme that coturn implements with
``use-auth-secret``: username = "<expiry unix time>:<user>", credential =
base64(HMAC-SHA1(shared secret, username)). They expire, so a leaked page
cannot use the relay for long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any


def turn_credentials(secret: str, user: str, now: float, ttl_s: float) -> tuple[str, str]:
    username = f"{int(now + ttl_s)}:{user}"
    credential = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, credential


def ice_servers(
    static: list[dict[str, Any]],
    *,
    turn_secret: str | None,
    turn_urls: list[str],
    user: str,
    now: float,
    ttl_s: float,
) -> list[dict[str, Any]]:
    servers = [dict(s) for s in static]
    if turn_secret and turn_urls:
        username, credential = turn_credentials(turn_secret, user, now, ttl_s)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return servers
