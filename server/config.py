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
from server.addresses import TrustedProxies, TrustedProxiesError


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


def _audit_days(env: Mapping[str, str]) -> float:
    days = _float(env, "RVW_RETENTION_AUDIT_DAYS", 365.0)
    if days < 180:
        raise ConfigError(f"RVW_RETENTION_AUDIT_DAYS must be at least 180 (等保 2.0 keeps six months), got {days:g}")
    return days


RECORDING_POLICIES = ("off", "optional", "required")


def _recording(env: Mapping[str, str]) -> str:
    policy = (env.get("RVW_RECORDING") or "optional").strip().lower()
    if policy not in RECORDING_POLICIES:
        raise ConfigError(f"RVW_RECORDING must be one of {', '.join(RECORDING_POLICIES)}, got {policy!r}")
    return policy


RECORDER_SCHEDULING = ("idle", "normal")


def _recorder_sched(env: Mapping[str, str]) -> str:
    policy = (env.get("RVW_RECORDER_SCHED") or "idle").strip().lower()
    if policy not in RECORDER_SCHEDULING:
        raise ConfigError(f"RVW_RECORDER_SCHED must be one of {', '.join(RECORDER_SCHEDULING)}, got {policy!r}")
    return policy


def _goal(env: Mapping[str, str]) -> float:
    goal = _float(env, "RVW_SLA_GOAL", 0.9)
    if not 0.0 < goal < 1.0:
        raise ConfigError(f"RVW_SLA_GOAL must be a share between 0 and 1 (exclusive), got {goal}")
    return goal


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
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


def _trusted_proxies(raw: str | None) -> TrustedProxies:
    try:
        return TrustedProxies.parse(raw)
    except TrustedProxiesError as exc:
        raise ConfigError(f"RVW_TRUSTED_PROXIES: {exc}") from None


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
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    # Anonymous traffic per network address (web citizens; kiosks are not counted per address).
    web_connections_per_address: int = 40
    open_requests_per_address: int = 20
    requests_per_citizen: int = 6  # requests one citizen may make ...
    requests_window_s: float = 600.0  # ... in this many seconds
    requests_per_address: int = 120  # web requests from one address in the same window
    resume_ttl_s: float = 7200.0
    metrics_token: str | None = None  # a bearer token /metrics asks for, when set
    # Log-in: failures per account and address, per address, per account; checks at once.
    login_failures_per_account: int = 10
    login_failures_per_address: int = 30
    login_failures_account_wide: int = 100
    login_window_s: float = 300.0
    login_concurrency: int = 0  # password checks at once (0: one fewer than the cores, at least 1)
    login_queue: int = 64  # log-ins waiting for a check before "busy"
    # Connections (server/runner.py): a request's head and body must arrive in time; connections per peer address.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections_per_address: int = 256
    drain_s: float = 8.0  # SIGTERM: the node drains and exits within this
    # Alerts before a breach (server/alerts.py): a pre-breach alert at this wait, a breach at sla_seconds.
    prebreach_s: float = 45.0
    alert_webhook_url: str | None = None
    alert_webhook_secret: str = ""
    alert_webhook_backoff_s: float = 1.0  # retries after 1, 2, 4, 8 x this
    # The service-level goal (share answered within sla_seconds) and its alert: a queue's last 15
    # minutes under the goal, once at least this many requests there count for the service level.
    sla_goal: float = 0.9
    sla_alert_min_requests: int = 5
    # Recording of the media (issue 8): off | optional (the citizen may refuse) | required (a refusal
    # is told to the clerk, who decides); recorder processes per node.
    recording: str = "optional"
    recorder_workers: int = 2
    # The recorders yield the CPU to signaling when both want it: Linux's SCHED_IDLE ("idle"), or the
    # normal policy ("normal"); and a niceness, which orders them among themselves and counts under "normal".
    recorder_sched: str = "idle"
    recorder_nice: int = 5
    # Retention per kind, in days (`rvw retention run`); the audit log at least 180.
    retention_media_days: float = 180.0
    retention_attachment_days: float = 365.0
    retention_audit_days: float = 365.0
    # Public holidays and make-up working days (YAML) for 差评 follow-up deadlines.
    holidays_path: str = str(Path(__file__).parent / "data" / "holidays.yaml")

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
            trusted_proxies=_trusted_proxies(env.get("RVW_TRUSTED_PROXIES")),
            metrics_token=env.get("RVW_METRICS_TOKEN") or None,
            web_connections_per_address=_int(env, "RVW_WEB_CONNECTIONS_PER_ADDRESS", 40),
            open_requests_per_address=_int(env, "RVW_OPEN_REQUESTS_PER_ADDRESS", 20),
            requests_per_citizen=_int(env, "RVW_REQUESTS_PER_CITIZEN", 6),
            requests_window_s=_float(env, "RVW_REQUESTS_WINDOW_SECONDS", 600.0),
            requests_per_address=_int(env, "RVW_REQUESTS_PER_ADDRESS", 120),
            login_failures_per_account=_int(env, "RVW_LOGIN_FAILURES_PER_ACCOUNT", 10),
            login_failures_per_address=_int(env, "RVW_LOGIN_FAILURES_PER_ADDRESS", 30),
            login_failures_account_wide=_int(env, "RVW_LOGIN_FAILURES_ACCOUNT_WIDE", 100),
            login_window_s=_float(env, "RVW_LOGIN_WINDOW_SECONDS", 300.0),
            login_concurrency=_int(env, "RVW_LOGIN_CONCURRENCY", 0, minimum=0),
            header_timeout_s=_float(env, "RVW_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_s=_float(env, "RVW_BODY_TIMEOUT_SECONDS", 30.0),
            max_connections_per_address=_int(env, "RVW_MAX_CONNECTIONS_PER_ADDRESS", 256),
            drain_s=_float(env, "RVW_DRAIN_SECONDS", 8.0),
            prebreach_s=_float(env, "RVW_PREBREACH_SECONDS", 45.0),
            alert_webhook_url=env.get("RVW_ALERT_WEBHOOK_URL") or None,
            alert_webhook_secret=env.get("RVW_ALERT_WEBHOOK_SECRET") or "",
            sla_goal=_goal(env),
            sla_alert_min_requests=_int(env, "RVW_SLA_ALERT_MIN_REQUESTS", 5),
            recording=_recording(env),
            recorder_workers=_int(env, "RVW_RECORDER_WORKERS", 2),
            recorder_sched=_recorder_sched(env),
            recorder_nice=_int(env, "RVW_RECORDER_NICE", 5, minimum=0),
            retention_media_days=_float(env, "RVW_RETENTION_MEDIA_DAYS", 180.0),
            retention_attachment_days=_float(env, "RVW_RETENTION_ATTACHMENT_DAYS", 365.0),
            retention_audit_days=_audit_days(env),
            holidays_path=env.get("RVW_HOLIDAYS") or str(Path(__file__).parent / "data" / "holidays.yaml"),
        )
