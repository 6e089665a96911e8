"""Configuration from the environment, and the ICE servers each side is handed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
import socketio
from sqlalchemy import text

from server.catalog import Catalog, CatalogError
from server.config import ConfigError, Settings
from signaling.ice import ice_servers, turn_credentials
from tests.conftest import KIOSK_TOKEN, Client, start_server, stop_server


def test_settings_from_env(tmp_path: Path) -> None:
    env = {
        "RVW_VAR_DIR": str(tmp_path / "var"),
        "RVW_SLA_SECONDS": "45",
        "RVW_ICE_SERVERS": '[{"urls": "stun:127.0.0.1:3478"}]',
        "RVW_TURN_URLS": "turn:127.0.0.1:3478,turns:127.0.0.1:5349",
        "RVW_TURN_SECRET": "s3cret",
    }
    s = Settings.from_env(env)
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'rvw.sqlite3'}"
    assert s.sla_seconds == 45 and s.redis_url is None
    assert s.ice_servers == [{"urls": "stun:127.0.0.1:3478"}]
    assert s.turn_urls == ["turn:127.0.0.1:3478", "turns:127.0.0.1:5349"]
    with_redis = Settings.from_env({**env, "RVW_REDIS_URL": "redis://127.0.0.1:6379/0", "RVW_SECRET_KEY": "k"})
    assert (with_redis.redis_url, with_redis.secret_key) == ("redis://127.0.0.1:6379/0", "k")
    # The generated secret key is kept for the next start.
    assert Settings.from_env(env).secret_key == s.secret_key
    for bad in (
        {"RVW_SLA_SECONDS": "soon"},
        {"RVW_SLA_SECONDS": "-1"},
        {"RVW_ICE_SERVERS": "{"},
        {"RVW_ICE_SERVERS": '[{"url": "stun:x"}]'},
        {"RVW_REDIS_URL": "redis://127.0.0.1:6379/0"},  # several nodes need one shared secret key
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({**env, **bad})


def test_turn_credentials_follow_the_rest_api_scheme() -> None:
    username, credential = turn_credentials("s3cret", "citizen-c1", now=1000.0, ttl_s=3600)
    assert username == "4600:citizen-c1"
    expected = base64.b64encode(hmac.new(b"s3cret", b"4600:citizen-c1", hashlib.sha1).digest()).decode()
    assert credential == expected
    servers = ice_servers([{"urls": "stun:a"}], turn_secret="s3cret", turn_urls=["turn:b"], user="u", now=0, ttl_s=10)
    assert servers[0] == {"urls": "stun:a"}
    assert servers[1]["urls"] == ["turn:b"] and servers[1]["username"] == "10:u"
    assert ice_servers([], turn_secret=None, turn_urls=["turn:b"], user="u", now=0, ttl_s=10) == []


async def test_session_hands_out_short_lived_turn(tmp_path: Path) -> None:
    runner, srv = await start_server(
        tmp_path,
        None,
        ice_servers=[{"urls": "stun:127.0.0.1:3478"}],
        turn_secret="s3cret",
        turn_urls=["turn:127.0.0.1:3478"],
        turn_ttl_s=600,
    )
    try:
        kiosk = Client(srv, "/citizen")
        await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
        session = await kiosk.wait_for("session")
        stun, turn = session["ice_servers"]
        assert stun == {"urls": "stun:127.0.0.1:3478"}
        expiry, user = turn["username"].split(":", 1)
        assert 0 < int(expiry) - srv.clock.now() <= 600
        assert user == f"citizen-{session['citizen_id']}"
    finally:
        await stop_server(runner, srv)


def test_catalog_checks(tmp_path: Path) -> None:
    catalog = Catalog.load()
    assert len(catalog.matters) >= 15
    assert catalog.get("YB-BA-001") is not None
    good = tmp_path / "m.json"
    good.write_text('[{"code": "X1", "name": {"zh": "测试"}, "skill": "s", "provinces": ["310000"]}]')
    assert Catalog.load(good).get("X1").name_en == "测试"  # type: ignore[union-attr]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"code": "X1", "name": {"zh": "测试"}, "skill": "s", "provinces": ["110000"]}]')
    with pytest.raises(CatalogError):
        Catalog.load(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text("- code: X\n")
    with pytest.raises(CatalogError):
        Catalog.load(missing)


async def test_readyz_reports_a_missing_redis(tmp_path: Path) -> None:
    # Nothing listens on port 1: the queue's Redis is unreachable, the database is fine.
    runner, srv = await start_server(tmp_path, None, redis_url="redis://127.0.0.1:1/0", redis_prefix="rvw-missing")
    try:
        status, body = await srv.get_json("/readyz")
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("error")
        assert (await srv.get_json("/healthz"))[0] == 200
        # A kiosk that needs the queue is refused with "unavailable", and nothing is stored.
        kiosk = Client(srv, "/citizen")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
        assert kiosk.connect_error["code"] == "unavailable"
        async with srv.services.engine.connect() as db:
            assert (await db.execute(text("SELECT count(*) FROM cases"))).scalar() == 0
    finally:
        await stop_server(runner, srv)
