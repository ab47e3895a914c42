"""How tierstore's errors become HTTP answers: one JSON shape, one status per kind of error.

    {"error": {"code": "forbidden", "message": "write /mnt/s3/a: permission denied ..."}}

Messages are the errors' own, which never hold secrets; an unexpected exception is logged with
its traceback and answered with a generic 500 that says nothing about its insides.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from tierstore.errors import (
    AccessDeniedError,
    ConfigError,
    ConflictError,
    CredentialsError,
    InvalidCredentialsError,
    NotFoundError,
    PathTooLongError,
    StoreUnavailableError,
    ThrottledError,
    TierstoreError,
)
from tierstore.namespace.metadata import MetadataUnavailableError
from tierstore.namespace.metadata.secrets_at_rest import SecretsKeyError
from tierstore.server.responses import JsonResponse

LOGGER = logging.getLogger("tierstore.server")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "bad_request",
    408: "timeout",
    409: "conflict",
    411: "bad_request",
    413: "too_large",
    414: "too_long",
    416: "bad_request",
    429: "too_many",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, raised from a route."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    code = STATUS_CODES.get(status, "internal" if status >= 500 else "bad_request")
    return JsonResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_for(error: TierstoreError) -> int:
    """The HTTP status for one of tierstore's errors."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, AccessDeniedError):
        return 403
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, PathTooLongError):
        return 414
    if isinstance(
        error,
        StoreUnavailableError
        | ThrottledError
        | MetadataUnavailableError
        | SecretsKeyError
        | CredentialsError
        | InvalidCredentialsError,
    ):
        # The server, not the client, cannot reach or authenticate to something it needs.
        return 503
    if isinstance(error, ConfigError):
        return 400
    return 400


async def on_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message, error.headers)


async def on_tierstore_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, TierstoreError)
    status = status_for(error)
    if status >= 500:
        LOGGER.warning("%s %s: %s", request.method, request.url.path, error)
    return error_response(status, str(error))


async def on_unexpected(request: Request, error: Exception) -> Response:
    LOGGER.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_response(500, f"internal error ({type(error).__name__}); see the server's log")


async def on_no_route(request: Request, error: Exception) -> Response:
    return error_response(404, f"no route {request.method} {request.url.path}; see /openapi.json")


async def on_method_not_allowed(request: Request, error: Exception) -> Response:
    return error_response(405, f"{request.method} is not allowed on {request.url.path}; see /openapi.json")
