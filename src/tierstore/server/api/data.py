"""``/v1/data``: the data proxy; downloads (whole or one range), uploads and deletes by path.

Bodies stream chunk by chunk in both directions, never held whole: a download is read from the
store as it is sent, an upload is pulled from the connection by the thread writing it to the
store (on the uploads' own thread pool, within the user's concurrent-upload cap).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tierstore.errors import StoreError
from tierstore.namespace.filesystem import CHUNK
from tierstore.server.authentication import authenticated
from tierstore.server.bodies import paced_body
from tierstore.server.byte_ranges import parse_range
from tierstore.server.errors import ApiError
from tierstore.server.request_inputs import query_path
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of
from tierstore.server.users import User


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
    state = state_of(request)
    path = query_path(request)
    fs = state.filesystem_for(user)
    status = await run_in_threadpool(functools.partial(fs.stat, path, sync=True))
    if status.is_dir:
        raise ApiError(400, f"{status.path}: is a directory; list it with /v1/fs/ls")
    # stat needs only search on the ancestors: check read before any byte (or size) is sent.
    await run_in_threadpool(fs.check_read, status.path)
    wanted = parse_range(request.headers.get("range"), status.size)
    headers = {"Accept-Ranges": "bytes"}
    counter = state.metrics.data_read
    if request.method == "HEAD":  # the size, and that the file is there and readable; no body
        headers["Content-Length"] = str(status.size if wanted is None else wanted[1] - wanted[0])
        return Response(status_code=200 if wanted is None else 206, headers=headers)
    if wanted is None:
        headers["Content-Length"] = str(status.size)
        # Opened (and checked again) before the headers go out, on a thread: it may ask the store.
        body = _counted(await run_in_threadpool(fs.read, status.path), counter.inc)
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
    path = query_path(request)
    state = state_of(request)
    fs = state.filesystem_for(user)
    # Each chunk in time, at a minimum rate, else 408 and the write is aborted (tierstore.server.bodies).
    body = paced_body(request, state.options.limits)
    counted = state.metrics.data_written.inc

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
    fs = state_of(request).filesystem_for(user)
    removed = await run_in_threadpool(fs.remove, query_path(request))
    return JsonResponse({"removed": removed})
