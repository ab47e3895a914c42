"""The JSON API's routes and its OpenAPI description, checked without a server or a store.

``/openapi.json`` is built from the route functions' docstrings (the YAML after ``---``), so
moving a route between modules must keep its docstring: every route in ``ROUTES`` has an
operation in the served description equal to its docstring's, and the routes are exactly the
paths and methods the API documents (a route added, dropped or renamed changes this list).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import yaml
from starlette.applications import Starlette
from starlette.routing import Route

from tierstore.server.app import ROUTES

EXPECTED = {
    ("/v1/credentials", "POST"),
    ("/v1/fs/stat", "GET"),
    ("/v1/fs/ls", "GET"),
    ("/v1/fs/mkdir", "POST"),
    ("/v1/fs/rm", "POST"),
    ("/v1/fs/mv", "POST"),
    ("/v1/fs/chmod", "POST"),
    ("/v1/fs/chown", "POST"),
    ("/v1/data", "GET"),
    ("/v1/data", "PUT"),
    ("/v1/data", "DELETE"),
    ("/v1/whoami", "GET"),
    ("/v1/mounts", "GET"),
    ("/v1/mounts", "POST"),
    ("/v1/mounts", "DELETE"),
    ("/v1/health", "GET"),
    ("/v1/ready", "GET"),
    ("/metrics", "GET"),
    ("/openapi.json", "GET"),
}


def served_description() -> dict[str, Any]:
    """``GET /openapi.json`` as the route answers it over these routes (it needs no server state)."""

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=Starlette(routes=ROUTES))
        async with httpx.AsyncClient(transport=transport, base_url="http://tierstore") as client:
            answer = await client.get("/openapi.json")
            answer.raise_for_status()
            document: dict[str, Any] = answer.json()
            return document

    return anyio.run(fetch)


def routed() -> list[tuple[str, str, Route]]:
    # Starlette adds HEAD to every GET route; the description leaves it out.
    return [
        (route.path, method, route)
        for route in ROUTES
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def test_the_routes_are_the_expected_paths_and_methods() -> None:
    pairs = [(path, method) for path, method, _ in routed()]
    assert len(pairs) == len(set(pairs)), "a path and method routed twice"
    assert set(pairs) == EXPECTED


def test_every_route_is_described_by_its_own_docstring() -> None:
    document = served_description()
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert described == EXPECTED
    for path, method, route in routed():
        docstring = route.endpoint.__doc__
        assert docstring and "---" in docstring, f"{method} {path}: {route.name} has no described docstring"
        # As Starlette's SchemaGenerator reads it; through JSON, as the description is served.
        written = json.loads(json.dumps(yaml.safe_load(docstring.split("---")[-1])))
        assert written.get("summary") and written.get("responses"), f"{method} {path}: summary, responses?"
        assert document["paths"][path][method.lower()] == written, f"{method} {path}"
