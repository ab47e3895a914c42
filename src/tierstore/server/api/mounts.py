"""``/v1/mounts``: the mount table, listed to every user, changed by admins only.

A change to the table drops the namespace cache (and, on unmount, the mount's vended
credentials), since what was cached under the old table may no longer be right.
"""

from __future__ import annotations

import functools

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tierstore.server.authentication import authenticated
from tierstore.server.errors import ApiError
from tierstore.server.request_inputs import body_field, checked_path, json_body, query_path
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of
from tierstore.server.users import User


def _admin(user: User, what: str) -> None:
    if not user.admin:
        raise ApiError(403, f"{what}: only an admin user may do this (user {user.name} is not one)")


@authenticated
async def mounts_list(request: Request, user: User) -> Response:
    """List the mount table.
    ---
    summary: The mount table (admins see every field, secret options masked; others the mount
      points with their readonly and shared flags)
    responses:
      200: {description: '{"mounts": [...]}'}
    """
    records = await run_in_threadpool(state_of(request).table.records)
    if user.admin:
        return JsonResponse({"mounts": [record.as_dict() for record in records]})
    # Bucket URIs, local directories, endpoints, role ARNs and key ids are the operators' business.
    public = [{"path": r.path, "readonly": r.readonly, "shared": r.shared} for r in records]
    return JsonResponse({"mounts": public})


@authenticated
async def mounts_add(request: Request, user: User) -> Response:
    """Mount a store location.
    ---
    summary: Mount a location (admin only)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path, uri]
            properties:
              path: {type: string}
              uri: {type: string}
              options: {type: object, additionalProperties: {type: string}}
              readonly: {type: boolean}
              shared: {type: boolean}
              owner: {type: string, description: 'a tierstore user (default: the admin who mounts)'}
    responses:
      201: {description: the new mount}
      403: {description: not an admin}
    """
    _admin(user, "mount")
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    uri = body_field(body, "uri", str)
    options = body_field(body, "options", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise ApiError(400, "'options' must map strings to strings")
    readonly = body_field(body, "readonly", bool, False)
    shared = body_field(body, "shared", bool, False)
    owner = body_field(body, "owner", str, user.name)
    state = state_of(request)
    if owner != user.name and not await run_in_threadpool(state.users.exists, owner):
        raise ApiError(400, f"'owner' {owner!r} is not a tierstore user; add it first (tierstore users add)")
    record = await run_in_threadpool(
        functools.partial(state.table.add, path, uri, options, readonly=readonly, shared=shared, owner=owner)
    )
    state.forget_caches()
    return JsonResponse(record.as_dict(), status_code=201)


@authenticated
async def mounts_remove(request: Request, user: User) -> Response:
    """Unmount.
    ---
    summary: Remove a mount (admin only)
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
    responses:
      200: {description: the removed mount}
      403: {description: not an admin}
    """
    _admin(user, "unmount")
    path = query_path(request)
    state = state_of(request)
    record = await run_in_threadpool(state.table.remove, path)
    state.vendor.forget_mount(record.path)
    state.forget_caches()
    return JsonResponse(record.as_dict())
