"""The OpenAPI description (server/openapi.py) matches the routes the app registers, and is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import schemathesis
from aiohttp import web

from server.app import create_app
from server.config import Settings
from server.openapi import DOCUMENT, ERROR_CODES, OPENAPI_PATH, describe
from tests.conftest import Server

# Besides /api/, the two health checks are part of the described surface (load balancers call them).
OUTSIDE_API = ("/healthz", "/readyz")


def registered_operations(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route the app serves under /api/, plus the health checks.
    HEAD is left out: aiohttp adds it beside every GET, and it answers as the GET does, without a body."""
    found = set()
    for resource in app.router.resources():
        path = resource.canonical
        if not (path.startswith("/api/") or path in OUTSIDE_API):
            continue
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, path))
    return found


def described_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


def test_every_route_is_described_and_every_description_is_a_route(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}", secret_key="k"))
    registered = registered_operations(app)
    described = described_operations(describe())
    assert ("POST", "/api/auth/login") in registered  # the walk does see the API
    assert registered - described == set(), "routes without a description in server/openapi.py"
    assert described - registered == set(), "described in server/openapi.py but not served"


def test_the_description_is_valid_openapi_and_every_error_uses_the_stable_codes() -> None:
    doc = describe()
    schemathesis.openapi.from_dict(doc).validate()  # raises on a description that breaks the OpenAPI 3.0 schema
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], f"{method} {path} documents no answer"
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                if int(status) >= 400 and path.startswith("/api/"):
                    error, narrowed = schema["allOf"]
                    assert error == {"$ref": "#/components/schemas/Error"}, (method, path, status)
                    assert set(narrowed["properties"]["error"]["properties"]["code"]["enum"]) <= set(ERROR_CODES)


async def test_the_description_is_served(server: Server) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}{OPENAPI_PATH}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-store"
        assert await resp.read() == DOCUMENT
        assert await resp.json() == describe()
