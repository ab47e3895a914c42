"""The HTTP API: routes, bearer authentication, error mapping and metrics around them.

Every route but health, readiness, metrics and the OpenAPI description names a user through
``Authorization: Bearer <token>``; the namespace checks that user's bits on every operation
(an admin is its superuser). Namespace and store calls block, so they run in the thread pool;
downloads and uploads stream chunk by chunk in both directions, never holding a whole body.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.schemas import SchemaGenerator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierstore import __version__
from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import StoreError, TierstoreError
from tierstore.lru import BoundedLRU
from tierstore.namespace import paths
from tierstore.namespace.filesystem import CHUNK, FileSystem
from tierstore.namespace.listing import DEFAULT_LIMIT
from tierstore.namespace.mounts import MountTable
from tierstore.server.bodies import UploadPool, paced_body, read_json_body
from tierstore.server.config import ApiServerOptions
from tierstore.server.errors import ApiError, error_response, on_api_error, on_tierstore_error, on_unexpected
from tierstore.server.listing import listing_response
from tierstore.server.metrics import CONTENT_TYPE, ServerMetrics
from tierstore.server.responses import EncodedBodies, JsonResponse
from tierstore.server.users import User, UserDirectory
from tierstore.server.vending import CredentialVendor

LOGGER = logging.getLogger("tierstore.server")

Handler = Callable[[Request, User], Awaitable[Response]]
T = TypeVar("T")
READY_TIMEOUT_SECONDS = 2
# Methods counted under their own name in the metrics; any other is "other", so made-up methods
# cannot grow /metrics without bound.
# Per-user views of the shared FileSystem kept (a few hundred bytes each).
MAX_VIEWS = 4096
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


@dataclass
class ServerState:
    """Everything the routes share: the mount table, users, vendor and metrics."""

    table: MountTable
    users: UserDirectory
    options: ApiServerOptions
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    vendor: CredentialVendor = field(init=False)
    # Each user's view of the one shared FileSystem (cheap to make again, so the least recently
    # used go past MAX_VIEWS: users removed or regrouped do not stay forever).
    _filesystems: BoundedLRU[tuple[str, frozenset[str], bool], FileSystem] = field(
        default_factory=lambda: BoundedLRU(MAX_VIEWS)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _shared: FileSystem | None = None
    # The namespace cache's counters from caches dropped by forget_caches, by name.
    _counted_before: dict[str, int] = field(default_factory=dict)
    _uploads: dict[str, int] = field(default_factory=dict)
    upload_pool: UploadPool = field(init=False)
    # Encoded ls answers, reused while the file system's cache hands out the same listing.
    listing_bodies: EncodedBodies = field(default_factory=EncodedBodies)

    def __post_init__(self) -> None:
        self.vendor = CredentialVendor(self.table, self.options, self.metrics)
        self.metrics.count_namespace_cache(self.cache_counter)
        # Uploads stream on threads of their own: slow ones never take the other routes' threads.
        limits = self.options.limits
        self.upload_pool = UploadPool(limits.uploads, wait=limits.body_timeout)

    @contextlib.contextmanager
    def upload_slot(self, user: User) -> Iterator[None]:
        """One of the user's ``uploads_per_user`` concurrent uploads, or 429."""
        cap = self.options.limits.uploads_per_user
        with self._lock:
            running = self._uploads.get(user.name, 0)
            if running >= cap:
                raise ApiError(
                    429,
                    f"user {user.name} already has {running} uploads running, the most allowed "
                    "(tierstore.server.limits.uploads-per-user); wait for one to finish",
                )
            self._uploads[user.name] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._uploads[user.name] - 1
                if left:
                    self._uploads[user.name] = left
                else:
                    del self._uploads[user.name]  # not one entry per user who ever uploaded

    def filesystem_for(self, user: User) -> FileSystem:
        """The namespace as ``user`` sees it: one FileSystem per user, all over one metadata cache.

        The cache holds what the store says (stats and listings), never a permission decision,
        which each FileSystem makes for its own caller before looking in it; so one cache serves
        every user, and a change made by one user is seen at once by all.
        """
        key = (user.name, user.groups, user.admin)
        with self._lock:
            found = self._filesystems.get(key)
            if found is None:
                if self._shared is None:
                    found = self._shared = FileSystem(self.table, caller=user.caller())
                else:
                    found = self._shared.as_caller(user.caller())
                self._filesystems.put(key, found)
            return found

    def forget_caches(self) -> None:
        """After a mount change cached listings may be wrong: start from a fresh cache."""
        with self._lock:
            if self._shared is not None:
                for name, value in self._shared.cache_stats().as_dict().items():
                    self._counted_before[name] = self._counted_before.get(name, 0) + value
            self._filesystems.clear()
            self._shared = None

    def cache_counter(self, name: str) -> float:
        """A counter of the namespace's metadata cache (CacheStats' field ``name``) since start;
        ``entries`` is what the cache holds now."""
        with self._lock:
            current = self._shared.cache_stats().as_dict()[name] if self._shared is not None else 0
            before = 0 if name == "entries" else self._counted_before.get(name, 0)
            return float(before + current)

    def close(self) -> None:
        self.table.close()


# -- plumbing --------------------------------------------------------------------------------


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tierstore
    return state


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The route answers only a request whose bearer token names a user (401 otherwise)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="tierstore"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "no bearer token: send Authorization: Bearer <token>", challenge)
        users = _state(request).users
        known, user = users.recent(token.strip())
        if not known:
            user = await run_in_threadpool(users.authenticate, token.strip())
        if user is None:
            raise ApiError(401, "the bearer token is not valid (unknown or removed user)", challenge)
        request.scope["tierstore.user"] = user.name
        return await handler(request, user)

    return endpoint


async def in_memory_or_thread(call: Callable[[], T]) -> T:
    """``call()`` on the event loop when memory can answer it, else on a worker thread.

    A warm vend, stat or ls needs nothing but what the server holds in memory; answered on the
    loop it costs no thread hop and never queues behind blocking work. Whatever would block (a
    query, STS, a store call) raises ``NeedsIO`` before it starts (``tierstore.blocking``), and
    the whole call runs again on a thread, where nothing is refused. The calls given here have
    no side effect before their last blocking step, so the retry repeats none.
    """
    try:
        with memory_only():
            return call()
    except NeedsIO:
        return await run_in_threadpool(call)


def _query_path(request: Request, name: str = "path") -> str:
    _refuse_undecodable_query(request)
    value = request.query_params.get(name)
    if not value:
        raise ApiError(400, f"the query parameter {name!r} is missing: add ?{name}=/absolute/path")
    return _checked_path(value, name)


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


def _checked_path(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} must be an absolute namespace path such as /mnt/s3/a")
    try:
        paths.normalize(value)
    except paths.PathError as error:
        raise ApiError(414 if error.too_long else 400, f"{name}: {error}") from None
    return value


def _int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"the query parameter {name}={value!r} must be a whole number") from None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"the query parameter {name}={value!r} must be true or false")
    return value in ("true", "1")


async def _json(request: Request) -> dict[str, Any]:
    # At most tierstore.server.limits.json-body bytes (413, from Content-Length before a byte is
    # read), arriving in time (408): see tierstore.server.bodies.
    received = await read_json_body(request, _state(request).options.limits)
    try:
        value = json.loads(received or b"{}")
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


def _field(body: dict[str, Any], name: str, kind: type, default: Any = ..., *, what: str = "") -> Any:
    if name not in body:
        if default is ...:
            raise ApiError(400, f"the body has no {name!r}{what}")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"{name!r} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _admin(user: User, what: str) -> None:
    if not user.admin:
        raise ApiError(403, f"{what}: only an admin user may do this (user {user.name} is not one)")


# -- public routes ---------------------------------------------------------------------------


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
    state = _state(request)
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
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    """This description.
    ---
    summary: The OpenAPI 3 description of this API
    security: []
    responses:
      200: {description: OpenAPI document}
    """
    return JsonResponse(SCHEMAS.get_schema(routes=request.app.routes))


# -- users and mounts ------------------------------------------------------------------------


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


@authenticated
async def mounts_list(request: Request, user: User) -> Response:
    """List the mount table.
    ---
    summary: The mount table (admins see every field, secret options masked; others the mount
      points with their readonly and shared flags)
    responses:
      200: {description: '{"mounts": [...]}'}
    """
    records = await run_in_threadpool(_state(request).table.records)
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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    uri = _field(body, "uri", str)
    options = _field(body, "options", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise ApiError(400, "'options' must map strings to strings")
    readonly = _field(body, "readonly", bool, False)
    shared = _field(body, "shared", bool, False)
    owner = _field(body, "owner", str, user.name)
    state = _state(request)
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
    path = _query_path(request)
    state = _state(request)
    record = await run_in_threadpool(state.table.remove, path)
    state.vendor.forget_mount(record.path)
    state.forget_caches()
    return JsonResponse(record.as_dict())


# -- file system -----------------------------------------------------------------------------


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
    fs = _state(request).filesystem_for(user)
    status = await in_memory_or_thread(
        functools.partial(fs.stat, _query_path(request), sync=_flag(request, "sync"))
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
    fs = _state(request).filesystem_for(user)
    path = _query_path(request)
    limit = _int_query(request, "limit", DEFAULT_LIMIT)
    after = request.query_params.get("after") or None
    opener = functools.partial(
        fs.ls_page,
        path,
        limit=limit,
        after=after,
        recursive=_flag(request, "recursive"),
        sync=_flag(request, "sync"),
    )
    return await listing_response(opener, _state(request).listing_bodies)


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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    fs = _state(request).filesystem_for(user)
    status = await run_in_threadpool(
        functools.partial(fs.mkdir, path, parents=_field(body, "parents", bool, False))
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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    fs = _state(request).filesystem_for(user)
    removed = await run_in_threadpool(
        functools.partial(fs.remove, path, recursive=_field(body, "recursive", bool, False))
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
    body = await _json(request)
    source = _checked_path(_field(body, "source", str), "source")
    dest = _checked_path(_field(body, "dest", str), "dest")
    fs = _state(request).filesystem_for(user)
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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    mode = _field(body, "mode", str, what=" (octal such as '0755' or symbolic such as 'go-w')")
    fs = _state(request).filesystem_for(user)
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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    owner = _field(body, "owner", str, None)
    group = _field(body, "group", str, None)
    if owner is None and group is None:
        raise ApiError(400, "chown: give 'owner', 'group' or both")
    fs = _state(request).filesystem_for(user)
    if owner is not None:
        status = await run_in_threadpool(fs.chown, path, owner, group)
    else:
        status = await run_in_threadpool(fs.chgrp, path, group)
    return JsonResponse(status.as_dict())


# -- data proxy ------------------------------------------------------------------------------


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a single ``bytes=`` range, None to send everything.

    ApiError 416 when the range cannot be satisfied; several ranges are answered whole.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    unsatisfiable = ApiError(416, f"range {header!r} is outside the file ({size} bytes)")
    unsatisfiable.headers["Content-Range"] = f"bytes */{size}"
    try:
        if not dash:
            return None
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise unsatisfiable
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise unsatisfiable
    return start, min(end, size)


def _counted(chunks: Iterator[bytes], count: Callable[[float], None]) -> Iterator[bytes]:
    for chunk in chunks:
        count(len(chunk))
        yield chunk


@authenticated
async def data_get(request: Request, user: User) -> Response:
    """Download a file.
    ---
    summary: Download (streaming; honours a single Range)
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
      - {name: Range, in: header, schema: {type: string}}
    responses:
      200: {description: the file's bytes}
      206: {description: the requested range}
      416: {description: the range is outside the file}
    """
    state = _state(request)
    path = _query_path(request)
    fs = state.filesystem_for(user)
    status = await run_in_threadpool(functools.partial(fs.stat, path, sync=True))
    if status.is_dir:
        raise ApiError(400, f"{status.path}: is a directory; list it with /v1/fs/ls")
    # stat needs only search on the ancestors: check read before any byte (or size) is sent.
    await run_in_threadpool(fs.check_read, status.path)
    wanted = parse_range(request.headers.get("range"), status.size)
    headers = {"Accept-Ranges": "bytes"}
    counter = state.metrics.data_bytes.labels(direction="read")
    if request.method == "HEAD":  # the size, and that the file is there and readable; no body
        headers["Content-Length"] = str(status.size if wanted is None else wanted[1] - wanted[0])
        return Response(status_code=200 if wanted is None else 206, headers=headers)
    if wanted is None:
        headers["Content-Length"] = str(status.size)
        body = _counted(fs.read(status.path), counter.inc)
        return StreamingResponse(body, media_type="application/octet-stream", headers=headers)
    start, end = wanted
    record, key = state.table.resolve(status.path)
    store = state.table.store_for(record)

    def ranged() -> Iterator[bytes]:
        position = start
        while position < end:
            chunk = store.get(key, start=position, end=min(position + CHUNK, end))
            if not chunk:
                raise StoreError(f"{status.path}: the file became shorter while being read", key=path)
            position += len(chunk)
            yield chunk

    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{status.size}"
    return StreamingResponse(
        _counted(ranged(), counter.inc),
        status_code=206,
        media_type="application/octet-stream",
        headers=headers,
    )


@authenticated
async def data_put(request: Request, user: User) -> Response:
    """Upload a file.
    ---
    summary: Upload (streaming request body, multipart to the store)
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
    requestBody:
      content:
        application/octet-stream:
          schema: {type: string, format: binary}
    responses:
      201: {description: the new file's status}
    """
    path = _query_path(request)
    state = _state(request)
    fs = state.filesystem_for(user)
    # Each chunk in time, at a minimum rate, else 408 and the write is aborted (tierstore.server.bodies).
    body = paced_body(request, state.options.limits)
    counted = state.metrics.data_bytes.labels(direction="write").inc

    async def next_chunk() -> bytes | None:
        try:
            return await body.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        # Runs in a worker thread: pull the body from the event loop one chunk at a time.
        while True:
            chunk = anyio.from_thread.run(next_chunk)
            if chunk is None:
                return
            if chunk:
                counted(len(chunk))
                yield chunk

    with state.upload_slot(user):
        status = await state.upload_pool.run(functools.partial(fs.write, path, chunks()))
    return JsonResponse(status.as_dict(), status_code=201)


@authenticated
async def data_delete(request: Request, user: User) -> Response:
    """Delete a file.
    ---
    summary: Delete a file
    parameters:
      - {name: path, in: query, required: true, schema: {type: string}}
    responses:
      200: {description: '{"removed": 1}'}
    """
    fs = _state(request).filesystem_for(user)
    removed = await run_in_threadpool(fs.remove, _query_path(request))
    return JsonResponse({"removed": removed})


# -- credentials -----------------------------------------------------------------------------


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
    body = await _json(request)
    path = _checked_path(_field(body, "path", str), "path")
    access = _field(body, "access", str, "read")
    if access not in ("read", "write"):
        raise ApiError(400, f"'access' is {access!r}; use read or write")
    answer = await in_memory_or_thread(functools.partial(_state(request).vendor.vend, user, path, access))
    return JsonResponse(answer, headers={"Cache-Control": "no-store"})


# -- the app ---------------------------------------------------------------------------------

SCHEMAS = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {"title": "tierstore", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
)

# Starlette tries routes in order: the hot ones (every client's vends, stats, listings and
# data) come first, so a request is not matched against the rest before its own.
ROUTES = [
    Route("/v1/credentials", credentials, methods=["POST"]),
    Route("/v1/fs/stat", fs_stat, methods=["GET"]),
    Route("/v1/fs/ls", fs_ls, methods=["GET"]),
    Route("/v1/data", data_get, methods=["GET"]),
    Route("/v1/data", data_put, methods=["PUT"]),
    Route("/v1/data", data_delete, methods=["DELETE"]),
    Route("/v1/whoami", whoami, methods=["GET"]),
    Route("/v1/fs/mkdir", fs_mkdir, methods=["POST"]),
    Route("/v1/fs/rm", fs_rm, methods=["POST"]),
    Route("/v1/fs/mv", fs_mv, methods=["POST"]),
    Route("/v1/fs/chmod", fs_chmod, methods=["POST"]),
    Route("/v1/fs/chown", fs_chown, methods=["POST"]),
    Route("/v1/mounts", mounts_list, methods=["GET"]),
    Route("/v1/mounts", mounts_add, methods=["POST"]),
    Route("/v1/mounts", mounts_remove, methods=["DELETE"]),
    Route("/v1/health", health, methods=["GET"]),
    Route("/v1/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=True),
]


class MetricsMiddleware:
    """Counts every answer by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        timed = False
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"

        async def send_and_watch(message: Message) -> None:
            nonlocal status, timed
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = _route_of(scope)
                self.metrics.timed(route, method).observe(time.perf_counter() - started)
                timed = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = _route_of(scope)
            if not timed:
                self.metrics.timed(route, method).observe(time.perf_counter() - started)
            self.metrics.answered(route, method, status).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def create_app(state: ServerState) -> Starlette:
    """The ASGI app over ``state``; the caller owns ``state`` and closes it after the app stops."""

    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            ApiError: on_api_error,
            TierstoreError: on_tierstore_error,
            404: _not_found,
            405: _not_allowed,
            Exception: on_unexpected,
        },
    )
    app.state.tierstore = state
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


async def _not_found(request: Request, error: Exception) -> Response:
    return error_response(404, f"no route {request.method} {request.url.path}; see /openapi.json")


async def _not_allowed(request: Request, error: Exception) -> Response:
    return error_response(405, f"{request.method} is not allowed on {request.url.path}; see /openapi.json")
