"""The routes that need no token: liveness, readiness, Prometheus metrics and the OpenAPI description.

The description is built from the routes' docstrings (the YAML after ``---``) at each request.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.schemas import SchemaGenerator

from tierstore import __version__
from tierstore.errors import TierstoreError
from tierstore.server.errors import error_response
from tierstore.server.metrics import CONTENT_TYPE
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of

READY_TIMEOUT_SECONDS = 2

SCHEMAS = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {"title": "tierstore", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
)


async def health(request: Request) -> Response:
    """The process is up.
    ---
    summary: Liveness
    security: []
    responses:
      200: {description: '{"status": "ok"}'}
    """
    return JsonResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    """The metadata store answers.
    ---
    summary: Readiness (the metadata store answers)
    security: []
    responses:
      200: {description: '{"status": "ready"}'}
      503: {description: 'the metadata store cannot be reached, or every request or upload thread is busy'}
    """
    state = state_of(request)
    for name, limiter in (
        ("request", anyio.to_thread.current_default_thread_limiter()),
        ("upload (tierstore.server.limits.uploads)", state.upload_pool.slots),
    ):
        if limiter.available_tokens == 0:
            return error_response(
                503, f"not ready: every {name} thread is busy ({int(limiter.total_tokens)} of them)"
            )
    try:
        with anyio.fail_after(READY_TIMEOUT_SECONDS):
            # Abandoned on the timeout: a metadata store that hangs must not hang the probe.
            await anyio.to_thread.run_sync(state.table.metadata.mounts, abandon_on_cancel=True)
    except TimeoutError:
        return error_response(
            503, f"not ready: the metadata store did not answer in {READY_TIMEOUT_SECONDS} s"
        )
    except TierstoreError as error:
        return error_response(503, f"not ready: {error}")
    return JsonResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics.
    ---
    summary: Prometheus metrics (text format)
    security: []
    responses:
      200: {description: 'requests, latencies, vends, STS calls and failures, cache hits'}
    """
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    """This description.
    ---
    summary: The OpenAPI 3 description of this API
    security: []
    responses:
      200: {description: OpenAPI document}
    """
    return JsonResponse(SCHEMAS.get_schema(routes=request.app.routes))
