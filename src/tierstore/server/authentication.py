"""Who a request comes from: its bearer token, looked up among the users, or 401.

A route that names a user is wrapped in ``authenticated``, which hands it the ``User`` the
``Authorization: Bearer <token>`` header names; what that user may do is decided by the
namespace (``tierstore.namespace.access``) on each operation, not here.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tierstore.server.errors import ApiError
from tierstore.server.state import state_of
from tierstore.server.users import User

Handler = Callable[[Request, User], Awaitable[Response]]


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The route answers only a request whose bearer token names a user (401 otherwise)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="tierstore"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "no bearer token: send Authorization: Bearer <token>", challenge)
        users = state_of(request).users
        known, user = users.recent(token.strip())
        if not known:
            user = await run_in_threadpool(users.authenticate, token.strip())
        if user is None:
            raise ApiError(401, "the bearer token is not valid (unknown or removed user)", challenge)
        request.scope["tierstore.user"] = user.name
        return await handler(request, user)

    return endpoint
