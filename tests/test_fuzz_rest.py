"""Schemathesis against a live server, with the OpenAPI description the server serves (server/openapi.py).

Every operation is fuzzed without a log-in, as a supervisor and as a clerk (bearer tokens), on the embedded SQLite
and on PostgreSQL (which refuses some text SQLite stores, such as NUL). Every answer must be no 5xx, carry a
documented status code and content type, and have a body its schema allows. The budget is fixed (a few examples
per operation, derandomized, plus Schemathesis's deterministic boundary cases), so the file takes seconds and sends
the same requests every run. Afterwards the same server must still serve: /healthz, /readyz and a real log-in.

Schemathesis sends with ``requests``, which blocks, so the server runs on an event loop of its own, in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp import web
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from queueing.clock import ManualClock
from server.openapi import OPENAPI_PATH, describe
from tests.conftest import PASSWORD, PG_URL, Server, reset_postgres, start_server, stop_server

T = TypeVar("T")

# Names the fuzzed log-ins are unlikely to try, so that the fuzz does not lock these accounts out.
USERS = {"supervisor": "fz-supervisor-1", "clerk": "fz-clerk-1"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Schemathesis: a fixed seed (its coverage phase and the examples it derives), positive and negative data (the
# default), no cache files.
CONFIG = {"seed": 20261128, "cache": {"enabled": False}}
# Hypothesis: the fuzzing budget per operation, auth mode and database.
FUZZ = hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
# Documents: bytes that start like the type (and mostly do not), for the upload route's three types.
for _type, _magic in (
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("application/pdf", b"%PDF-"),
):
    schemathesis.openapi.media_type(
        _type,
        hypothesis.strategies.one_of(
            hypothesis.strategies.binary(max_size=64).map(lambda b, m=_magic: m + b),
            hypothesis.strategies.binary(max_size=64),
        ),
    )

# More than twice the log-in limits' window (5 minutes): the fuzz's failed log-ins from 127.0.0.1 stop counting.
PAST_THE_LIMITS_S = 900.0


class ServerThread:
    """A real server (conftest's ``start_server``, on a manual clock) on an event loop of its own, in a thread."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.clock = ManualClock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self.runner: web.AppRunner | None = None
        self._server: Server | None = None
        self.tokens: dict[str, str] = {}

    @property
    def server(self) -> Server:
        assert self._server is not None, "not started"
        return self._server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        options = {}
        if self.database_url is not None:
            self.run(reset_postgres())
            options["database_url"] = self.database_url
        self.runner, self._server = self.run(start_server(self.tmp_path, self.clock, **options))
        self.run(self.server.add_user(USERS["supervisor"], "supervisor", "310000", []))
        self.run(self.server.add_user(USERS["clerk"], "clerk", "310000", ["social_insurance"]))

    def let_limits_pass(self) -> None:
        """Move the server's clock on past the log-in limits' window (tokens last 12 h)."""

        async def advance() -> None:
            self.clock.advance(PAST_THE_LIMITS_S)

        self.run(advance())

    def token(self, role: str) -> str:
        """A live log-in of ``role``'s user: the last one, unless a fuzzed log-out has ended it."""
        token = self.tokens.get(role)
        if token is not None:
            me = requests.get(f"{self.base_url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            if me.status_code == 200:
                return token
        self.let_limits_pass()
        token = self.tokens[role] = self.run(self.server.login(USERS[role]))
        return token

    def close(self) -> None:
        try:
            if self.runner is not None and self._server is not None:
                self.run(stop_server(self.runner, self._server))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(
    scope="module",
    params=[pytest.param(None, id="sqlite"), pytest.param(PG_URL, id="postgres", marks=pytest.mark.postgres)],
)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One server per database for the whole module: the fuzz of one operation must not break the next."""
    st = ServerThread(tmp_path_factory.mktemp("fuzz"), request.param)
    try:
        st.start()
        yield st
    finally:
        st.close()


@pytest.fixture(params=["anonymous", "supervisor", "clerk"])
def auth_headers(request: pytest.FixtureRequest, live: ServerThread) -> dict[str, str]:
    """No log-in, or a live log-in of the role. Each test starts clear of the log-in limits left by the one
    before, so that its requests reach the handler rather than only the limits' 429 (documented too)."""
    live.let_limits_pass()
    if request.param == "anonymous":
        return {}
    if getattr(request.node, "operation_label", None) == "POST /api/auth/login":
        pytest.skip("log-in reads no token: fuzzed once, without one (each try costs a password hash)")
    return {"Authorization": f"Bearer {live.token(request.param)}"}


# The document the server serves (the last test here checks that they are the same), loaded at collection so that
# each operation is a test of its own. (Schemathesis's fixture-based loader, `schemathesis.pytest.from_fixture`,
# fails on pytest 9.2: it reads `Node._nodeid`, which pytest no longer has.)
schema = schemathesis.openapi.from_dict(describe(), config=schemathesis.Config.from_dict(CONFIG))


@schema.parametrize()
@FUZZ
def test_every_answer_is_documented(case: schemathesis.Case, live: ServerThread, auth_headers: dict[str, str]) -> None:
    case.call_and_validate(base_url=live.base_url, headers=auth_headers, checks=CHECKS, timeout=10)


def _login(live: ServerThread, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.post(f"{live.base_url}/api/auth/login", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "body",
    [
        # Found by the fuzz on PostgreSQL: text columns cannot hold NUL, so the look-up failed (500).
        pytest.param(b'{"username": "a\\u0000b", "password": "x"}', id="nul-username"),
        # JSON can escape half a UTF-16 pair; UTF-8 cannot carry it (500 from the database or the hash).
        pytest.param(b'{"username": "\\ud800", "password": "x"}', id="lone-surrogate-username"),
        pytest.param(b'{"username": "fz-clerk-1", "password": "\\udfff"}', id="lone-surrogate-password"),
    ],
)
def test_a_log_in_that_is_not_text_is_a_bad_request(live: ServerThread, body: bytes) -> None:
    live.let_limits_pass()
    resp = _login(live, body)
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "bad_request"), resp.text


def test_a_nul_in_a_password_is_only_a_wrong_password(live: ServerThread) -> None:
    """Passwords are hashed, never stored: a NUL in one is fine, and here simply wrong."""
    live.let_limits_pass()
    resp = _login(live, b'{"username": "fz-clerk-1", "password": "a\\u0000b"}')
    assert (resp.status_code, resp.json()["error"]["code"]) == (401, "unauthorized"), resp.text


@pytest.mark.parametrize("case_id", ["a%00b", "RVW%0A", "%C3%A9"])
def test_a_case_number_that_is_not_printable_ascii_is_no_case(live: ServerThread, case_id: str) -> None:
    # a%00b was a 500 on PostgreSQL (NUL in a text parameter).
    headers = {"Authorization": f"Bearer {live.token('supervisor')}"}
    resp = requests.get(f"{live.base_url}/api/cases/{case_id}", headers=headers, timeout=10)
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found"), resp.text


def test_the_server_still_serves_after_the_fuzz(live: ServerThread) -> None:
    """Runs after the fuzz on the same server: the health checks answer and a real log-in works."""
    base = live.base_url
    assert requests.get(base + OPENAPI_PATH, timeout=10).json() == describe()  # what was fuzzed is what is served
    health = requests.get(f"{base}/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    live.let_limits_pass()
    for username in USERS.values():
        login = requests.post(f"{base}/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
        assert login.status_code == 200, login.text
        me = requests.get(f"{base}/api/me", headers={"Authorization": f"Bearer {login.json()['token']}"}, timeout=10)
        assert (me.status_code, me.json()["username"]) == (200, username)
