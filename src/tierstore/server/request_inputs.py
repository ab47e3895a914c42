"""What a request asks for, checked: query parameters, JSON body fields, namespace paths in either.

Anything missing or malformed is ``ApiError`` 400 naming the parameter (414 for a path too
long), before a route does any work with it.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from starlette.requests import Request

from tierstore.namespace import paths
from tierstore.server.bodies import read_json_body
from tierstore.server.errors import ApiError
from tierstore.server.state import state_of


def query_path(request: Request, name: str = "path") -> str:
    _refuse_undecodable_query(request)
    value = request.query_params.get(name)
    if not value:
        raise ApiError(400, f"the query parameter {name!r} is missing: add ?{name}=/absolute/path")
    return checked_path(value, name)


def _refuse_undecodable_query(request: Request) -> None:
    """Starlette reads a query that is not UTF-8 with U+FFFD in place of the bad bytes: a
    different path than the one sent. Refuse it instead, naming the parameter."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    try:
        urllib.parse.parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, f"the query string is not valid UTF-8 (byte {error.start} of a value): send paths as UTF-8"
        ) from None


def checked_path(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} must be an absolute namespace path such as /mnt/s3/a")
    try:
        paths.normalize(value)
    except paths.PathError as error:
        raise ApiError(414 if error.too_long else 400, f"{name}: {error}") from None
    return value


def int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"the query parameter {name}={value!r} must be a whole number") from None


def flag_query(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"the query parameter {name}={value!r} must be true or false")
    return value in ("true", "1")


async def json_body(request: Request) -> dict[str, Any]:
    # At most tierstore.server.limits.json-body bytes (413, from Content-Length before a byte is
    # read), arriving in time (408): see tierstore.server.bodies.
    received = await read_json_body(request, state_of(request).options.limits)
    try:
        value = json.loads(received or b"{}")
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


def body_field(body: dict[str, Any], name: str, kind: type, default: Any = ..., *, what: str = "") -> Any:
    if name not in body:
        if default is ...:
            raise ApiError(400, f"the body has no {name!r}{what}")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"{name!r} must be a {kind.__name__}, not {type(value).__name__}")
    return value
