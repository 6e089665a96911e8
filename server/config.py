"""Configuration from environment variables (documented in README.md)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueing.policy import RoutingFile, RoutingFileError
from queueing.policy import load as load_routing


class ConfigError(ValueError):
    pass


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _ice_servers(raw: str | None) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        servers = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"RVW_ICE_SERVERS is not JSON: {exc}") from None
    if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
        raise ConfigError('RVW_ICE_SERVERS must be a JSON list of RTCIceServer objects, each with "urls"')
    return servers


def _secret_key(env: Mapping[str, str], var_dir: Path) -> str:
    key = env.get("RVW_SECRET_KEY")
    if key:
        return key
    # One machine: keep a generated key under var/ so log-ins survive a restart.
    # Several nodes must share RVW_SECRET_KEY.
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _routing(path: str | None) -> RoutingFile | None:
    if not path:
        return None
    try:
        return load_routing(path)
    except RoutingFileError as exc:
        raise ConfigError(f"RVW_ROUTING: {exc}") from None


@dataclass
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    sla_seconds: float = 60.0
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    recordings_dir: str = "var/recordings"
    catalog_path: str | None = None
    offer_timeout_s: float = 15.0
    reconnect_grace_s: float = 30.0
    short_abandon_s: float = 10.0
    aht_s: float = 180.0
    turn_secret: str | None = None
    turn_urls: list[str] = field(default_factory=list)
    turn_ttl_s: float = 3600.0
    token_ttl_s: float = 12 * 3600.0
    event_rate: float = 100.0
    event_burst: float = 200.0
    redis_prefix: str = "rvw"
    dashboard_interval_s: float = 1.0
    max_wait_s: float = 600.0
    position_interval_s: float = 1.0
    routing: RoutingFile | None = None
    node_ttl_s: float = 10.0
    node_id: str = ""
    writer_lease_s: float = 3.0
    snapshot_interval_s: float = 5.0
    submit_timeout_s: float = 20.0
    session_check_s: float = 5.0

    def routing_for(self, username: str, skills: list[str]) -> tuple[list[str], dict[str, int]]:
        """A clerk's skills and levels: the routing file's, or the account's at level 1."""
        return (self.routing or RoutingFile()).for_clerk(username, skills)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = Path(env.get("RVW_VAR_DIR", "var"))
        if env.get("RVW_REDIS_URL") and not env.get("RVW_SECRET_KEY"):
            # With Redis, several nodes act as one: a key generated per node would make
            # each node refuse the others' log-ins and resume tokens.
            raise ConfigError("RVW_REDIS_URL is set: set RVW_SECRET_KEY too, to the same value on every node")
        return cls(
            database_url=env.get("RVW_DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'rvw.sqlite3'}",
            secret_key=_secret_key(env, var_dir),
            redis_url=env.get("RVW_REDIS_URL") or None,
            sla_seconds=_float(env, "RVW_SLA_SECONDS", 60.0),
            ice_servers=_ice_servers(env.get("RVW_ICE_SERVERS")),
            recordings_dir=env.get("RVW_RECORDINGS_DIR") or str(var_dir / "recordings"),
            catalog_path=env.get("RVW_CATALOG") or None,
            offer_timeout_s=_float(env, "RVW_OFFER_TIMEOUT_SECONDS", 15.0),
            reconnect_grace_s=_float(env, "RVW_RECONNECT_GRACE_SECONDS", 30.0),
            short_abandon_s=_float(env, "RVW_SHORT_ABANDON_SECONDS", 10.0),
            turn_secret=env.get("RVW_TURN_SECRET") or None,
            turn_urls=[u for u in (env.get("RVW_TURN_URLS") or "").split(",") if u.strip()],
            turn_ttl_s=_float(env, "RVW_TURN_TTL_SECONDS", 3600.0),
            event_rate=_float(env, "RVW_EVENT_RATE", 100.0),
            event_burst=_float(env, "RVW_EVENT_BURST", 200.0),
            redis_prefix=env.get("RVW_REDIS_PREFIX") or "rvw",
            max_wait_s=_float(env, "RVW_MAX_WAIT_SECONDS", 600.0),
            position_interval_s=_float(env, "RVW_POSITION_INTERVAL_SECONDS", 1.0),
            routing=_routing(env.get("RVW_ROUTING")),
            node_ttl_s=_float(env, "RVW_NODE_TTL_SECONDS", 10.0),
            node_id=env.get("RVW_NODE_ID") or "",
            writer_lease_s=_float(env, "RVW_WRITER_LEASE_SECONDS", 3.0),
            snapshot_interval_s=_float(env, "RVW_SNAPSHOT_SECONDS", 5.0),
            submit_timeout_s=_float(env, "RVW_SUBMIT_TIMEOUT_SECONDS", 20.0),
        )
