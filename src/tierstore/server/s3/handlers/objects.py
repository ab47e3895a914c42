"""Objects: HeadObject, GetObject, PutObject, DeleteObject.

A key is a file of the bucket's directory tree; a key ending in ``/`` is a directory (an S3
folder marker): PUT of an empty body makes it (``mkdir -p``), HEAD and GET of it answer an empty
object when the directory exists, DELETE removes it when it is empty. Bodies stream both ways:
a GET is read from the store as it is sent, a PUT is pulled from the connection by the thread
writing it to the store (the JSON API's upload threads and per-user upload cap), checked as it
streams (:mod:`tierstore.server.s3.payload`), and aborted on any failure: nothing is left
half-written.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from email.utils import format_datetime

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from tierstore.errors import NotFoundError, StoreError
from tierstore.namespace.filesystem import CHUNK, FileStatus
from tierstore.server.byte_ranges import parse_range
from tierstore.server.errors import ApiError
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.failures import missing
from tierstore.server.s3.handlers.buckets import bucket_status

# S3's content type for an object stored without one.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'


def etag_of(status: FileStatus) -> str:
    """The object's ETag: the store's, else one made from its size and time (a local file
    written before tierstore recorded ETags), quoted as S3 sends them."""
    if status.etag:
        return status.etag if status.etag.startswith('"') else f'"{status.etag}"'
    stamp = status.modified.timestamp() if status.modified else 0
    digest = hashlib.sha256(f"{status.path}\0{status.size}\0{stamp}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def object_headers(status: FileStatus) -> dict[str, str]:
    headers = {"ETag": etag_of(status), "Accept-Ranges": "bytes"}
    if status.modified is not None:
        headers["Last-Modified"] = format_datetime(status.modified, usegmt=True)
    return headers


def object_status(call: S3Call) -> FileStatus:
    """The key's file (or, for a key ending in ``/``, its directory), readable by the caller;
    NoSuchKey, or NoSuchBucket when the bucket is missing too."""
    fs = call.fs
    try:
        status = fs.stat(call.target.path)
    except NotFoundError:
        bucket_status(fs, call.bucket, call.resource)
        raise missing("NoSuchKey", call.key, call.resource) from None
    if status.is_dir != call.key.endswith("/"):
        raise missing("NoSuchKey", call.key, call.resource)
    fs.check_read(status.path)
    return status


async def head_object(call: S3Call) -> Response:
    status = await run_in_threadpool(object_status, call)
    headers = object_headers(status)
    headers["Content-Type"] = DEFAULT_CONTENT_TYPE
    wanted = _range(call, status)
    if wanted is None:
        headers["Content-Length"] = str(status.size)
        return Response(status_code=200, headers=headers)
    start, end = wanted
    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{status.size}"
    return Response(status_code=206, headers=headers)


def _range(call: S3Call, status: FileStatus) -> tuple[int, int] | None:
    try:
        return parse_range(call.header("range"), status.size)
    except ApiError:
        raise S3Error(
            "InvalidRange",
            details=[("RangeRequested", call.header("range") or ""), ("ActualObjectSize", str(status.size))],
            headers={"Content-Range": f"bytes */{status.size}"},
        ) from None


async def get_object(call: S3Call) -> Response:
    status = await run_in_threadpool(object_status, call)
    headers = object_headers(status)
    counter = call.state.metrics.data_bytes.labels(direction="read").inc
    if status.is_dir:
        headers["Content-Length"] = "0"
        return Response(status_code=200, headers=headers, media_type=DEFAULT_CONTENT_TYPE)
    wanted = _range(call, status)
    if wanted is None:
        headers["Content-Length"] = str(status.size)
        chunks = await run_in_threadpool(call.fs.read, status.path)
        return StreamingResponse(_counted(chunks, counter), headers=headers, media_type=DEFAULT_CONTENT_TYPE)
    start, end = wanted
    record, key = call.state.table.resolve(status.path)
    store = call.state.table.store_for(record)

    def ranged() -> Iterator[bytes]:
        position = start
        while position < end:
            chunk = store.get(key, start=position, end=min(position + CHUNK, end))
            if not chunk:
                raise StoreError(f"{status.path}: the file became shorter while being read", key=key)
            position += len(chunk)
            yield chunk

    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{status.size}"
    return StreamingResponse(
        _counted(ranged(), counter), status_code=206, headers=headers, media_type=DEFAULT_CONTENT_TYPE
    )


Count = Callable[[float], None]


def _counted(chunks: Iterator[bytes], count: Count) -> Iterator[bytes]:
    for chunk in chunks:
        count(len(chunk))
        yield chunk


async def put_object(call: S3Call) -> Response:
    body = call.body()
    if body.length is None and not call.auth.payload.chunked:
        raise S3Error("MissingContentLength", resource=call.resource)
    if call.key.endswith("/"):
        return await _put_directory(call, body.chunks)
    await run_in_threadpool(bucket_status, call.fs, call.bucket, call.resource)
    counted = call.state.metrics.data_bytes.labels(direction="write").inc
    chunks = _pulled(body.chunks, counted)
    with call.state.upload_slot(call.user):
        status = await call.state.upload_pool.run(functools.partial(call.fs.write, call.target.path, chunks))
    return Response(status_code=200, headers={"ETag": etag_of(status)})


def _pulled(chunks: AsyncIterator[bytes], count: Count) -> Iterator[bytes]:
    """The body's chunks for a worker thread, pulled from the event loop one at a time (the
    thread writes each to the store before asking for the next: back-pressure)."""

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    while True:
        chunk = anyio.from_thread.run(next_chunk)
        if chunk is None:
            return
        if chunk:
            count(len(chunk))
            yield chunk


async def _put_directory(call: S3Call, chunks: AsyncIterator[bytes]) -> Response:
    async for chunk in chunks:
        if chunk:
            raise S3Error(
                "InvalidArgument",
                f"Key {call.key!r} ends in '/': it names a directory, which holds no data; "
                "drop the trailing '/' to write a file",
                details=[("ArgumentName", "key")],
            )

    def make() -> None:
        bucket_status(call.fs, call.bucket, call.resource)
        call.fs.mkdir(call.target.path, parents=True)

    await run_in_threadpool(make)
    return Response(status_code=200, headers={"ETag": EMPTY_ETAG})


async def delete_object(call: S3Call) -> Response:
    def remove() -> None:
        fs = call.fs
        try:
            status = fs.stat(call.target.path, sync=True)
        except NotFoundError:
            bucket_status(fs, call.bucket, call.resource)
            return  # S3 answers a delete of a missing key as done
        if status.is_dir:
            if not call.key.endswith("/"):
                return  # a directory is no object of this name
            if list(fs.ls_page(status.path, limit=1, sync=True)):
                return  # a folder with keys below it stays, as S3 keeps them after its marker goes
        try:
            fs.remove(status.path)
        except NotFoundError:
            return

    await run_in_threadpool(remove)
    return Response(status_code=204)


HANDLERS = {
    "HeadObject": head_object,
    "GetObject": get_object,
    "PutObject": put_object,
    "DeleteObject": delete_object,
}
