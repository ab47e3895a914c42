"""``POST /v1/credentials``: temporary store credentials for one path, read or write.

The vendor (``tierstore.server.vending``) decides the scope and caches the answer; a warm vend
is answered on the event loop.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response

from tierstore.server.authentication import authenticated
from tierstore.server.errors import ApiError
from tierstore.server.loop_or_thread import in_memory_or_thread
from tierstore.server.request_inputs import body_field, checked_path, json_body
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of
from tierstore.server.users import User


@authenticated
async def credentials(request: Request, user: User) -> Response:
    """Vend credentials.
    ---
    summary: Temporary credentials scoped to a path, plus how to reach the store
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path]
            properties:
              path: {type: string, description: 'a directory ends in "/"'}
              access: {type: string, enum: [read, write]}
    responses:
      200:
        description: 'path, mount, access, mode (direct|proxy), scoped, store, credentials,
          expires_at, refresh_at'
      403: {description: 'the user lacks the bit, or a write to a read-only mount'}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    access = body_field(body, "access", str, "read")
    if access not in ("read", "write"):
        raise ApiError(400, f"'access' is {access!r}; use read or write")
    answer = await in_memory_or_thread(functools.partial(state_of(request).vendor.vend, user, path, access))
    return JsonResponse(answer, headers={"Cache-Control": "no-store"})
