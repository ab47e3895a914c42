"""The HTTP app's assembly: its routes, the middleware around them and how errors are answered.

Every route but health, readiness, metrics and the OpenAPI description names a user through
``Authorization: Bearer <token>``; the namespace checks that user's bits on every operation
(an admin is its superuser). Namespace and store calls block, so they run in the thread pool;
downloads and uploads stream chunk by chunk in both directions, never holding a whole body.

The routes live in ``tierstore.server.api``, one module per resource family; what they share
(``ServerState``, authentication, request inputs, error answers) in modules of their own.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from tierstore.errors import TierstoreError
from tierstore.server.api import credentials, data, fs, health, mounts, whoami
from tierstore.server.errors import (
    ApiError,
    on_api_error,
    on_method_not_allowed,
    on_no_route,
    on_tierstore_error,
    on_unexpected,
)
from tierstore.server.protocols import ByPort
from tierstore.server.request_metrics import MetricsMiddleware
from tierstore.server.state import ServerState

# ServerState is imported from here by the server's builder and the tests' harness.
__all__ = ["ROUTES", "ServerState", "create_app", "serving_app"]

# Starlette tries routes in order: the hot ones (every client's vends, stats, listings and
# data) come first, so a request is not matched against the rest before its own.
ROUTES = [
    Route("/v1/credentials", credentials.credentials, methods=["POST"]),
    Route("/v1/fs/stat", fs.fs_stat, methods=["GET"]),
    Route("/v1/fs/ls", fs.fs_ls, methods=["GET"]),
    Route("/v1/data", data.data_get, methods=["GET"]),
    Route("/v1/data", data.data_put, methods=["PUT"]),
    Route("/v1/data", data.data_delete, methods=["DELETE"]),
    Route("/v1/whoami", whoami.whoami, methods=["GET"]),
    Route("/v1/fs/mkdir", fs.fs_mkdir, methods=["POST"]),
    Route("/v1/fs/rm", fs.fs_rm, methods=["POST"]),
    Route("/v1/fs/mv", fs.fs_mv, methods=["POST"]),
    Route("/v1/fs/chmod", fs.fs_chmod, methods=["POST"]),
    Route("/v1/fs/chown", fs.fs_chown, methods=["POST"]),
    Route("/v1/mounts", mounts.mounts_list, methods=["GET"]),
    Route("/v1/mounts", mounts.mounts_add, methods=["POST"]),
    Route("/v1/mounts", mounts.mounts_remove, methods=["DELETE"]),
    Route("/v1/health", health.health, methods=["GET"]),
    Route("/v1/ready", health.ready, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
    Route("/openapi.json", health.openapi, methods=["GET"], include_in_schema=True),
]


def create_app(state: ServerState) -> Starlette:
    """The ASGI app over ``state``; the caller owns ``state`` and closes it after the app stops."""

    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            ApiError: on_api_error,
            TierstoreError: on_tierstore_error,
            404: on_no_route,
            405: on_method_not_allowed,
            Exception: on_unexpected,
        },
    )
    app.state.tierstore = state
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def serving_app(state: ServerState, s3_port: int | None) -> ASGIApp:
    """The JSON API, and the S3 gateway for requests arriving on ``s3_port`` (None: no gateway)."""
    api = create_app(state)
    if s3_port is None:
        return api
    # Imported here: a server without the gateway never loads it (lxml, SigV4).
    from tierstore.server.s3.gateway import S3Gateway
    from tierstore.server.s3.handlers import ALL

    return ByPort(api, S3Gateway(state, state.s3_keys, ALL), frozenset({s3_port}))
