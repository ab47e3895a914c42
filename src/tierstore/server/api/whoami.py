"""``GET /v1/whoami``: the user a bearer token names, with its groups and whether it is an admin."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tierstore.server.authentication import authenticated
from tierstore.server.responses import JsonResponse
from tierstore.server.users import User


@authenticated
async def whoami(request: Request, user: User) -> Response:
    """The user the token names.
    ---
    summary: Who the bearer token names
    responses:
      200: {description: '{"user", "groups", "admin"}'}
      401: {description: no or bad token}
    """
    return JsonResponse(user.as_dict())
