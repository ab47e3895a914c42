"""``/v1/fs/*``: the namespace's file operations (stat, ls, mkdir, rm, mv, chmod, chown).

Each runs as the calling user, whose bits the namespace checks (``tierstore.namespace.access``);
stat and ls are answered on the event loop when the metadata cache holds the answer.
"""

from __future__ import annotations

import functools

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tierstore.namespace.listing import DEFAULT_LIMIT
from tierstore.server.api.listing import listing_response
from tierstore.server.authentication import authenticated
from tierstore.server.errors import ApiError
from tierstore.server.loop_or_thread import in_memory_or_thread
from tierstore.server.request_inputs import (
    body_field,
    checked_path,
    flag_query,
    int_query,
    json_body,
    query_path,
)
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of
from tierstore.server.users import User


@authenticated
async def fs_stat(request: Request, user: User) -> Response:
    """Stat a path.
    ---
    summary: One path's status
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
      - {name: sync, in: query, schema: {type: boolean}}
    responses:
      200: {description: 'path, type, size, modified, owner, group, mode, mount'}
      404: {description: no such path}
    """
    fs = state_of(request).filesystem_for(user)
    status = await in_memory_or_thread(
        functools.partial(fs.stat, query_path(request), sync=flag_query(request, "sync"))
    )
    return JsonResponse(status.as_dict())


@authenticated
async def fs_ls(request: Request, user: User) -> Response:
    """List a directory, one page at a time.
    ---
    summary: One page of a directory's entries (in key order; a directory's key ends in /)
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
      - {name: recursive, in: query, schema: {type: boolean}}
      - {name: sync, in: query, schema: {type: boolean}}
      - name: limit
        in: query
        description: at most this many entries on the page
        schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}
      - name: after
        in: query
        description: the previous page's next token; absent for the first page
        schema: {type: string}
    responses:
      200:
        description: one page; next is null on the last page
        content:
          application/json:
            schema:
              type: object
              required: [entries, next]
              properties:
                entries: {type: array, items: {type: object}}
                next: {type: string, nullable: true, description: pass as after to get the next page}
      400: {description: a limit out of range or an after token no listing of this path gave}
    """
    fs = state_of(request).filesystem_for(user)
    path = query_path(request)
    limit = int_query(request, "limit", DEFAULT_LIMIT)
    after = request.query_params.get("after") or None
    opener = functools.partial(
        fs.ls_page,
        path,
        limit=limit,
        after=after,
        recursive=flag_query(request, "recursive"),
        sync=flag_query(request, "sync"),
    )
    return await listing_response(opener, state_of(request).listing_bodies)


@authenticated
async def fs_mkdir(request: Request, user: User) -> Response:
    """Make a directory.
    ---
    summary: Make a directory
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path]
            properties: {path: {type: string}, parents: {type: boolean}}
    responses:
      201: {description: the new directory's status}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    fs = state_of(request).filesystem_for(user)
    status = await run_in_threadpool(
        functools.partial(fs.mkdir, path, parents=body_field(body, "parents", bool, False))
    )
    return JsonResponse(status.as_dict(), status_code=201)


@authenticated
async def fs_rm(request: Request, user: User) -> Response:
    """Remove a file or directory.
    ---
    summary: Remove a file, or a directory with recursive
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path]
            properties: {path: {type: string}, recursive: {type: boolean}}
    responses:
      200: {description: '{"removed": n}'}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    fs = state_of(request).filesystem_for(user)
    removed = await run_in_threadpool(
        functools.partial(fs.remove, path, recursive=body_field(body, "recursive", bool, False))
    )
    return JsonResponse({"removed": removed})


@authenticated
async def fs_mv(request: Request, user: User) -> Response:
    """Move or rename.
    ---
    summary: Move or rename (streaming across mounts)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [source, dest]
            properties: {source: {type: string}, dest: {type: string}}
    responses:
      200: {description: '{"moved": bytes}'}
    """
    body = await json_body(request)
    source = checked_path(body_field(body, "source", str), "source")
    dest = checked_path(body_field(body, "dest", str), "dest")
    fs = state_of(request).filesystem_for(user)
    moved = await run_in_threadpool(fs.move, source, dest)
    return JsonResponse({"moved": moved, "source": source, "dest": dest})


@authenticated
async def fs_chmod(request: Request, user: User) -> Response:
    """Change a mode.
    ---
    summary: Change the mode (tierstore metadata only)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path, mode]
            properties: {path: {type: string}, mode: {type: string}}
    responses:
      200: {description: the new status}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    mode = body_field(body, "mode", str, what=" (octal such as '0755' or symbolic such as 'go-w')")
    fs = state_of(request).filesystem_for(user)
    status = await run_in_threadpool(fs.chmod, path, mode)
    return JsonResponse(status.as_dict())


@authenticated
async def fs_chown(request: Request, user: User) -> Response:
    """Change an owner and/or group.
    ---
    summary: Change the owner (admin) and/or group (tierstore metadata only)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path]
            properties: {path: {type: string}, owner: {type: string}, group: {type: string}}
    responses:
      200: {description: the new status}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    owner = body_field(body, "owner", str, None)
    group = body_field(body, "group", str, None)
    if owner is None and group is None:
        raise ApiError(400, "chown: give 'owner', 'group' or both")
    fs = state_of(request).filesystem_for(user)
    if owner is not None:
        status = await run_in_threadpool(fs.chown, path, owner, group)
    else:
        status = await run_in_threadpool(fs.chgrp, path, group)
    return JsonResponse(status.as_dict())
