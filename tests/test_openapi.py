"""The OpenAPI description (server/openapi.py) matches the routes the app registers, and is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from server.app import create_app
from server.config import Settings
from server.openapi import DOCUMENT, ERROR_CODES, OPENAPI_PATH, _nullable, describe
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


# JSON Schema 2020-12 keywords whose value is a schema, a list of schemas, or a map of names to schemas.
SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "contentSchema")
SUBSCHEMA_MORE = ("unevaluatedItems", "unevaluatedProperties")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def _schema_tree(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return  # a boolean schema
    yield where, schema
    for keyword in SUBSCHEMA + SUBSCHEMA_MORE:
        if keyword in schema:
            yield from _schema_tree(schema[keyword], f"{where}/{keyword}")
    for keyword in SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(keyword, [])):
            yield from _schema_tree(sub, f"{where}/{keyword}/{i}")
    for keyword in SUBSCHEMA_MAPS:
        for name, sub in schema.get(keyword, {}).items():
            yield from _schema_tree(sub, f"{where}/{keyword}/{name}")


def schema_objects(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every Schema Object of the document and every schema inside one: the component schemas,
    and the `schema` of each parameter, header and media type under `paths`."""
    for name, schema in doc["components"]["schemas"].items():
        yield from _schema_tree(schema, f"#/components/schemas/{name}")

    def under(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from under(item, f"{where}/{i}")
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "schema":
                    yield from _schema_tree(value, f"{where}/schema")
                else:
                    yield from under(value, f"{where}/{key}")

    yield from under(doc["paths"], "#/paths")


def test_the_description_is_valid_openapi_3_1_and_every_error_uses_the_stable_codes() -> None:
    doc = describe()
    assert doc["openapi"] == "3.1.0"
    # openapi-spec-validator checks the document against the OpenAPI 3.1 schema, and its schemas as JSON Schema
    # 2020-12 (where `exclusiveMinimum: true`, say, is an error); Schemathesis checks it as it loads it.
    validate(doc, cls=OpenAPIV31SpecValidator)
    schemathesis.openapi.from_dict(doc).validate()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], f"{method} {path} documents no answer"
            for status, response in operation["responses"].items():
                assert response["content"], f"{method} {path} {status} has no content"
                if int(status) >= 400 and path.startswith("/api/"):
                    schema = response["content"]["application/json"]["schema"]  # errors are always JSON
                    error, narrowed = schema["allOf"]
                    assert error == {"$ref": "#/components/schemas/Error"}, (method, path, status)
                    assert set(narrowed["properties"]["error"]["properties"]["code"]["enum"]) <= set(ERROR_CODES)


def test_the_description_uses_no_construct_of_openapi_3_0() -> None:
    """JSON Schema ignores keywords it does not know, so a 3.0 leftover such as `nullable: true` passes the 3.1
    validator while meaning nothing (a null would then be refused): look for them in every schema by name."""
    leftovers: list[tuple[str, str]] = []
    for where, schema in schema_objects(describe()):
        leftovers += [(where, keyword) for keyword in ("nullable", "x-nullable", "example") if keyword in schema]
        bounds = ("exclusiveMinimum", "exclusiveMaximum")
        leftovers += [(where, keyword) for keyword in bounds if isinstance(schema.get(keyword), bool)]
    assert leftovers == [], "3.0 constructs: write `_nullable(...)` (a type union), `examples: [...]`, numeric bounds"


def test_the_validator_refuses_what_only_openapi_3_0_allows() -> None:
    """The validity test above would catch a 3.0-only bound: the validator really is the 3.1 one."""
    doc = describe()
    doc["paths"]["/api/staffing"]["get"]["parameters"][0]["schema"] = {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    with pytest.raises(OpenAPIValidationError):
        validate(doc, cls=OpenAPIV31SpecValidator)


def test_a_nullable_value_admits_null_and_the_values_of_its_schema() -> None:
    assert _nullable({"type": "string", "format": "date-time"}) == {"type": ["string", "null"], "format": "date-time"}
    assert _nullable({"type": "string", "enum": ["a"]}) == {"type": ["string", "null"], "enum": ["a", None]}
    assert _nullable({"$ref": "#/components/schemas/User"}) == {
        "anyOf": [{"$ref": "#/components/schemas/User"}, {"type": "null"}]
    }
    assert _nullable(_nullable({"type": "number"})) == {"type": ["number", "null"]}


async def test_the_description_is_served(server: Server) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}{OPENAPI_PATH}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-store"
        assert await resp.read() == DOCUMENT
        assert await resp.json() == describe()
