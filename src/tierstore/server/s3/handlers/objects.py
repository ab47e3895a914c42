"""Objects: HeadObject, GetObject, PutObject, DeleteObject.

A key is a file of the bucket's directory tree; a key ending in ``/`` is a directory (an S3
folder marker): PUT of an empty body makes it (``mkdir -p``), HEAD and GET of it answer an empty
object when the directory exists, DELETE removes it when it is empty.

**Reads** cost one store request where the store allows it: the read is opened
(:meth:`FileSystem.open_object`, which checks the caller's read bit first) with its range, and
the conditions (:mod:`.conditions`) and part number (:mod:`.ranges`) are judged on what that
request said of the object, so the bytes sent are those of the version the conditions held for.
The body streams as the client takes it: a chunk is read from the store only once the previous
one was handed to the connection (the server's flow control holds ``send`` while the client's
socket is full), so a slow reader holds the store back, not the server's memory.

**Writes** are pulled from the connection by the thread writing them to the store (the JSON
API's upload threads and per-user upload cap), checked as they stream
(:mod:`tierstore.server.s3.payload`), and aborted on any failure: nothing is left half-written,
and a file that was there stays as it was. Every check that needs no body (the bucket, the
caller's bits, ``If-None-Match: *``) is made before the first byte is read, so a client that
sent ``Expect: 100-continue`` is refused without sending its body. ``If-Match`` (an ETag, or
``*``) writes only over an object that has it, judged before the write as ``If-None-Match: *``
is: a missing object fails it (412), as RFC 9110 says.

**Versions**: buckets are unversioned; ``versionId=null`` names the one version an object has
(as on an unversioned S3 bucket), any other is ``InvalidArgument``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from tierstore.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidPartNumberError,
    NotFoundError,
    RangeNotSatisfiableError,
    StoreError,
)
from tierstore.namespace.filesystem import FileStatus
from tierstore.server.loop_or_thread import in_memory_or_thread
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.failures import missing
from tierstore.server.s3.handlers.buckets import bucket_status
from tierstore.server.s3.handlers.conditions import Preconditions, etag_list, read_conditions
from tierstore.server.s3.handlers.headers import (
    EMPTY_ETAG,
    etag_for,
    object_headers,
    requested_attributes,
    response_overrides,
    synthetic_etag,
)
from tierstore.server.s3.handlers.ranges import (
    WantedRange,
    invalid_part,
    invalid_range,
    is_multipart,
    part_number,
    requested_range,
)
from tierstore.server.s3.payload import RequestBody
from tierstore.server.s3.xml import quoted_etag
from tierstore.storage.interface import ObjectAttributes, ObjectInfo, OpenedRead, PartSpan, WriteCondition

Count = Callable[[float], None]
# A PUT body of at most this many bytes is read whole on the event loop and written with one
# async request (see _write_small); larger ones stream to the store from a worker thread. Held at
# once by at most tierstore.server.limits.uploads-per-user PUTs of each user.
SMALL_PUT_BYTES = 1024 * 1024
# A part read asks the store where the part lies, then reads it at that ETag: an object replaced
# in between is asked again, this many times in all before the answer is ServiceUnavailable.
PART_READ_TRIES = 3


def etag_of(status: FileStatus) -> str:
    """The ETag of a file's status, quoted (see :func:`.headers.etag_for`)."""
    if status.etag:
        return status.etag if status.etag.startswith('"') else f'"{status.etag}"'
    return synthetic_etag(status.path, status.size, status.modified)


def check_version(call: S3Call, version: str | None = None) -> None:
    """Refuse a version other than ``null``, the only one an object of an unversioned bucket has."""
    asked = call.query.get("versionId") if version is None else version
    if asked is not None and asked != "null":
        raise S3Error(
            "InvalidArgument",
            f"Invalid version id specified: {asked[:80]!r} (tierstore's buckets are unversioned).",
            details=[("ArgumentName", "versionId"), ("ArgumentValue", asked[:80])],
        )


def missing_key(call: S3Call) -> S3Error:
    """NoSuchKey for the request's key, or NoSuchBucket when its bucket is missing too (blocks)."""
    bucket_status(call.fs, call.bucket, call.resource)
    return missing("NoSuchKey", call.key, call.resource)


def directory_status(call: S3Call) -> FileStatus:
    """The directory a key ending in ``/`` names, readable by the caller; NoSuchKey (or
    NoSuchBucket) when there is none."""
    fs = call.fs
    try:
        status = fs.stat(call.target.path)
    except NotFoundError:
        raise missing_key(call) from None
    if not status.is_dir:
        raise missing("NoSuchKey", call.key, call.resource)
    fs.check_read(status.path)
    return status


class _Asked:
    """What a GET or HEAD asks for besides the key, every header checked before the store is."""

    def __init__(self, call: S3Call) -> None:
        query = call.query
        if query:  # most reads have none: no version, override or part to look for
            check_version(call)
        self.overrides = response_overrides(query) if query else {}
        self.conditions: Preconditions = read_conditions(call.headers)
        self.range_header = call.header("range")
        self.part = part_number(query, self.range_header) if query else None
        self.wanted: WantedRange | None = None if self.part else requested_range(self.range_header)
        # Set by a part read of an object completed from parts: their number, which S3 answers.
        self.parts_count: int | None = None

    def part_headers(self, headers: dict[str, str]) -> None:
        if self.parts_count is not None:
            headers["x-amz-mp-parts-count"] = str(self.parts_count)


async def _directory(call: S3Call, asked: _Asked) -> Response:
    status = await run_in_threadpool(directory_status, call)
    asked.conditions.check(EMPTY_ETAG, status.modified)
    headers = object_headers(EMPTY_ETAG, status.modified, overrides=asked.overrides)
    headers["Content-Length"] = "0"
    return Response(status_code=200, headers=headers)


async def head_object(call: S3Call) -> Response:
    asked = _Asked(call)
    if call.key.endswith("/"):
        return await _directory(call, asked)

    if asked.part is not None:
        span = await _part(call, asked)
        info, etag = span.info, etag_for(call.target.path, span.info)
        served: tuple[int, int] | None = (span.start, span.end) if info.size else None
        headers = _headers(etag, info, asked)
        asked.part_headers(headers)
        return _head_answer(headers, info.size, served)
    try:
        info = await call.fs.object_info_async(call.target.path)
    except NotFoundError:
        raise missing_key(call) from None
    etag = etag_for(call.target.path, info)
    asked.conditions.check(etag, info.last_modified)
    size, headers = info.size, _headers(etag, info, asked)
    served = None
    if asked.wanted is not None:
        served = asked.wanted.resolve(size)
        if served is None:
            raise invalid_range(asked.range_header, size)
    return _head_answer(headers, size, served)


def _head_answer(headers: dict[str, str], size: int, served: tuple[int, int] | None) -> Response:
    """A HEAD's answer: 200 for the whole object, 206 with the Content-Range of ``served``."""
    if served is None:
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers)
    start, end = served
    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return Response(status_code=206, headers=headers)


def _headers(etag: str, info: ObjectInfo, asked: _Asked) -> dict[str, str]:
    return object_headers(
        etag,
        info.last_modified,
        content_type=info.content_type,
        metadata=info.metadata,
        kept=info.headers,
        overrides=asked.overrides,
    )


async def get_object(call: S3Call) -> Response:
    asked = _Asked(call)
    if call.key.endswith("/"):
        return await _directory(call, asked)
    opened, ahead = await _open_ahead(call, asked)
    info = opened.info
    headers = _headers(etag_for(call.target.path, info), info, asked)
    headers["Content-Length"] = str(opened.end - opened.start)
    partial = info.size > 0 and (asked.part is not None or asked.wanted is not None)
    if partial:
        headers["Content-Range"] = f"bytes {opened.start}-{opened.end - 1}/{info.size}"
    asked.part_headers(headers)
    counter = call.state.metrics.data_read.inc
    status = 206 if partial else 200
    if ahead.ended:  # every byte is in hand: a plain answer (a stream costs a task group a request)
        opened.close()
        body = b"".join(ahead.chunks)
        counter(len(body))
        return Response(body, status_code=status, headers=headers)
    return StreamingResponse(_streamed(opened, ahead, counter), status_code=status, headers=headers)


@dataclass(frozen=True)
class _Ahead:
    """What the trip that opened a read also read: its first chunks, and whether that was all."""

    chunks: list[bytes]
    ended: bool


async def _open_ahead(call: S3Call, asked: _Asked) -> tuple[OpenedRead, _Ahead]:
    """The read opened (:func:`_open`) and its first chunk read; when that chunk holds every
    byte asked for (a read gives exactly its length), the read is done and a small object is
    answered whole, with no trip to the store's stream to hear that it ended (each trip is a
    hand-over to obstore's threads and back). On S3 all of it is obstore's async client on the
    event loop, with no worker thread. A failure of that first chunk is still an S3 error
    answer, as nothing was sent yet."""
    opened = await _open(call, asked)
    chunks = opened.chunks
    try:
        first = await chunks.next_async()
        if first is None:
            return opened, _Ahead([], ended=True)
        return opened, _Ahead([first], ended=len(first) >= opened.length)
    except BaseException:
        opened.close()
        raise


async def _open(call: S3Call, asked: _Asked) -> OpenedRead:
    """The read opened and every condition judged on what it says of the object."""
    if asked.part is not None:
        return await _open_part(call, asked)
    fs, path, wanted = call.fs, call.target.path, asked.wanted
    try:
        if wanted is not None and wanted.suffix == 0:  # "the last 0 bytes": never satisfiable
            size = (await fs.object_info_async(path)).size
            raise RangeNotSatisfiableError(f"{path}: a range of no bytes", size=size)
        if wanted is None:
            opened = await fs.open_object_async(path)
        else:
            opened = await fs.open_object_async(
                path, start=wanted.start, end=wanted.end, suffix=wanted.suffix
            )
    except NotFoundError:
        raise missing_key(call) from None
    except RangeNotSatisfiableError as unsatisfiable:
        if asked.conditions.given:  # a failed condition is answered before the range (412, 304)
            info = await fs.object_info_async(path)
            asked.conditions.check(etag_for(path, info), info.last_modified)
        raise invalid_range(asked.range_header, unsatisfiable.size) from None
    try:
        etag = etag_for(path, opened.info)
        asked.conditions.check(etag, opened.info.last_modified)
        if wanted is not None and opened.info.size == 0:  # a store may answer it whole
            raise invalid_range(asked.range_header, 0)
    except BaseException:
        opened.close()
        raise
    return opened


async def _part(call: S3Call, asked: _Asked) -> PartSpan:
    """Where the part asked for lies, as the store says (``FileSystem.object_part_async``,
    which checks the caller's read bit first), every condition judged on the object it names."""
    assert asked.part is not None
    try:
        span = await call.fs.object_part_async(call.target.path, asked.part)
    except NotFoundError:
        raise missing_key(call) from None
    except InvalidPartNumberError as error:
        raise invalid_part(asked.part, call.key, str(error)) from None
    etag = etag_for(call.target.path, span.info)
    asked.conditions.check(etag, span.info.last_modified)
    asked.parts_count = span.count if is_multipart(etag) else None
    return span


async def _open_part(call: S3Call, asked: _Asked) -> OpenedRead:
    """The bytes of the part asked for, read at the ETag its span was given for: an object
    replaced in between (ConflictError) is asked again, so the bytes are always those of the
    part named, of the version the conditions held for."""
    for _ in range(PART_READ_TRIES):
        span = await _part(call, asked)
        etag = etag_for(call.target.path, span.info)
        try:
            return await call.fs.open_object_async(
                call.target.path, start=span.start, end=span.end, if_match=etag
            )
        except NotFoundError:
            raise missing_key(call) from None
        except ConflictError:
            continue
    raise S3Error(
        "ServiceUnavailable",
        f"{call.key} was replaced while its part {asked.part} was read, {PART_READ_TRIES} times: try again.",
    )


async def _streamed(opened: OpenedRead, ahead: _Ahead, count: Count) -> AsyncIterator[bytes]:
    """The chunks read ahead, then the rest, each taken from the store (``next_async``: obstore's
    async client on S3, a worker thread elsewhere) once the previous one was sent; the read is
    closed however the answer ends (a client gone away included)."""
    chunks = opened.chunks
    try:
        for early in ahead.chunks:
            if early:
                count(len(early))
                yield early
        if ahead.ended:
            return
        while True:
            chunk = await chunks.next_async()
            if chunk is None:
                return
            if chunk:
                count(len(chunk))
                yield chunk
    finally:
        opened.close()


def _exclusive(call: S3Call) -> bool:
    """Whether the PUT asks to create only (``If-None-Match: *``)."""
    condition = call.header("if-none-match")
    if condition is None:
        return False
    if condition.strip() != "*":
        raise S3Error(
            "NotImplemented",
            f"If-None-Match {condition[:80]!r} on PutObject: only '*' (create the object only if it "
            "does not exist) is implemented.",
        )
    return True


def _write_condition(exclusive: bool, replace_only: Preconditions | None) -> WriteCondition | None:
    """What the store is to judge with the write: create only, or replace only the one ETag
    If-Match names (a list or ``*`` is judged before the write alone)."""
    if exclusive:
        return WriteCondition(absent=True)
    wanted = replace_only.if_match if replace_only is not None else None
    if wanted is not None and len(wanted) == 1 and wanted[0] != "*":
        return WriteCondition(etag=wanted[0])
    return None


def _precondition_failed(call: S3Call, why: str, header: str) -> S3Error:
    """S3's 412 for a PUT's condition ``header``, which did not hold because ``why``."""
    return S3Error(
        "PreconditionFailed",
        f"At least one of the pre-conditions you specified did not hold: {call.key} {why} ({header}).",
        details=[("Condition", header.partition(":")[0])],
    )


def _not_replaced(call: S3Call) -> S3Error:
    return _precondition_failed(call, "changed before it was written", "If-Match")


def _replace_only(call: S3Call) -> Preconditions | None:
    """A PUT's ``If-Match``: write only over an object with one of these ETags (``*``: any)."""
    return Preconditions(if_match=etag_list(call.header("if-match"))) if call.header("if-match") else None


def _check_replaced(
    call: S3Call, condition: Preconditions, etag: str | None, modified: datetime | None
) -> None:
    """``If-Match`` judged on what the key holds now (``etag`` None: nothing), before the write,
    as ``If-None-Match: *`` is; nothing there fails it, as RFC 9110 says."""
    if etag is None:
        raise _precondition_failed(call, "does not exist", "If-Match")
    condition.check(etag, modified)


def _current(call: S3Call) -> tuple[str | None, datetime | None]:
    """The ETag and time of the file at the request's key, (None, None) when there is none."""
    try:
        info = call.fs.object_info(call.target.path)
    except NotFoundError:
        return None, None
    return etag_for(call.target.path, info), info.last_modified


def _exists_already(call: S3Call) -> S3Error:
    return _precondition_failed(call, "exists", "If-None-Match: *")


async def put_object(call: S3Call) -> Response:
    check_version(call)
    attributes = requested_attributes(call.headers)
    exclusive = _exclusive(call)
    replace_only = _replace_only(call)
    body = call.body()
    if body.length is None and not call.auth.payload.chunked:
        raise S3Error("MissingContentLength", resource=call.resource)
    if call.key.endswith("/"):
        return await _put_directory(call, body.chunks, exclusive, replace_only)
    # The bucket's directory is nearly always in the namespace's cache: no stat of it then (the
    # write checks search on / as a stat would), nor a thread hop when it is not.
    if not call.fs.holds_directory("/" + call.bucket):
        await in_memory_or_thread(functools.partial(bucket_status, call.fs, call.bucket, call.resource))
    if replace_only is not None:  # If-Match asks the store for the current ETag: on a thread
        current = await run_in_threadpool(_current, call)
        _check_replaced(call, replace_only, *current)
    counted = call.state.metrics.data_written.inc
    small = body.length is not None and body.length <= SMALL_PUT_BYTES
    try:
        if small:
            # The store judges the condition with the write: of two writers, one wins.
            condition = _write_condition(exclusive, replace_only)
            etag = await _write_small(call, body, counted, attributes, exclusive, condition=condition)
        else:  # checked just before the write (a multipart upload's parts cannot carry it)
            etag = await _write_streamed(call, body, counted, attributes, exclusive)
    except ConflictError:
        if exclusive:
            raise _exists_already(call) from None
        if replace_only is not None:
            raise _not_replaced(call) from None
        raise
    except StoreError as error:
        raise await explain_conflict(call, error) from None
    if not etag:  # a store that answers writes without one: the file's status gives it
        status = await run_in_threadpool(functools.partial(call.fs.stat, call.target.path, sync=True))
        return Response(status_code=200, headers={"ETag": etag_of(status)})
    return Response(status_code=200, headers={"ETag": quoted_etag(etag)})


async def _write_streamed(
    call: S3Call, body: RequestBody, count: Count, attributes: ObjectAttributes, exclusive: bool
) -> str | None:
    """The body streamed into the store from an upload thread, which pulls it chunk by chunk."""
    write = functools.partial(
        call.fs.write_object,
        call.target.path,
        _pulled(body, count),
        attributes=attributes,
        exclusive=exclusive,
    )
    with call.state.upload_slot(call.user):
        return await call.state.upload_pool.run(write)


async def _write_small(
    call: S3Call,
    body: RequestBody,
    count: Count,
    attributes: ObjectAttributes,
    exclusive: bool,
    *,
    condition: WriteCondition | None = None,
) -> str | None:
    """A body of at most SMALL_PUT_BYTES on the event loop alone: the namespace's checks (from
    memory when it can), then the body read whole and checked, then one PUT with the store's
    async client. Two thread hops and a pull per chunk cost more than the rest of a 4 KiB PUT.
    As on the streaming path, a refused write reads none of its body."""
    with call.state.upload_slot(call.user):
        prepared = await call.fs.prepare_write_async(call.target.path, exclusive=exclusive)
        data = await call.whole_body(body)
        count(len(data))
        return await call.fs.write_prepared_async(prepared, data, attributes=attributes, condition=condition)


def _pulled(body: RequestBody, count: Count) -> Iterator[bytes]:
    """The body's chunks for a worker thread, pulled from the event loop one at a time (the
    thread writes each to the store before asking for the next: back-pressure).

    Once the bytes its length declares are in, the same trip to the loop also takes the body's
    end (its checks run there), which is then at hand: a small body costs the thread one trip,
    not two."""
    chunks = body.chunks
    received = 0

    async def next_chunks() -> tuple[list[bytes], bool]:
        nonlocal received
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return [], True
        received += len(chunk)
        if body.length is None or received < body.length:
            return [chunk], False
        try:
            more = await chunks.__anext__()
        except StopAsyncIteration:
            return [chunk], True
        received += len(more)
        return [chunk, more], False  # longer than declared: its checks will say so

    ended = False
    while not ended:
        pulled, ended = anyio.from_thread.run(next_chunks)
        for chunk in pulled:
            if chunk:
                count(len(chunk))
                yield chunk


async def _put_directory(
    call: S3Call, chunks: AsyncIterator[bytes], exclusive: bool, replace_only: Preconditions | None
) -> Response:
    def check() -> None:
        bucket_status(call.fs, call.bucket, call.resource)
        if not exclusive and replace_only is None:
            return
        try:
            status = call.fs.stat(call.target.path, sync=True)
        except NotFoundError:
            status = None
        if exclusive and status is not None:
            raise _exists_already(call)
        if replace_only is not None:
            there = status is not None and status.is_dir
            _check_replaced(call, replace_only, EMPTY_ETAG if there else None, None)

    await run_in_threadpool(check)
    async for chunk in chunks:
        if chunk:
            raise S3Error(
                "InvalidArgument",
                f"Key {call.key!r} ends in '/': it names a directory, which holds no data; "
                "drop the trailing '/' to write a file",
                details=[("ArgumentName", "key")],
            )
    try:
        await run_in_threadpool(functools.partial(call.fs.mkdir, call.target.path, parents=True))
    except StoreError as error:
        raise await explain_conflict(call, error) from None
    return Response(status_code=200, headers={"ETag": EMPTY_ETAG})


def shape_conflict(call: S3Call, key: str | None = None) -> S3Error | None:
    """Why a write of ``key`` (default: the request's) failed, when the reason is the namespace's
    shape: a file where a directory on the way must be, or a directory at the key itself. The
    namespace is a directory tree: a name is a file or a directory, so ``d`` cannot be written
    while ``d/e`` exists, and on a local mount ``a/b`` cannot be written while ``a`` is a file (an
    S3 mount keeps both). S3 has no error for it: InvalidRequest naming the key and the name in
    the way (blocks; None when neither is the case)."""
    key = call.key if key is None else key
    fs, bucket = call.fs, call.bucket
    names = key.rstrip("/").split("/")
    for depth in range(1, len(names) + 1):
        above = "/".join(names[:depth])
        try:
            status = fs.stat(f"/{bucket}/{above}")
        except (NotFoundError, AccessDeniedError):
            return None
        last = depth == len(names)
        if not last and not status.is_dir:
            return S3Error(
                "InvalidRequest",
                f"Key {key!r} cannot be written: {above!r} is an object in this bucket, and this bucket's "
                "mount keeps keys as a directory tree (a local directory), where nothing can be below "
                "an object's name.",
                details=[("Key", key)],
            )
        if last and not status.is_dir and key.endswith("/"):
            return S3Error(
                "InvalidRequest",
                f"Key {key!r} cannot be made: {above!r} is an object in this bucket, and the namespace "
                "keeps a name as a file or a directory, not both.",
                details=[("Key", key)],
            )
        if last and status.is_dir and not key.endswith("/"):
            return S3Error(
                "InvalidRequest",
                f"Key {key!r} cannot be written: {above + '/'!r} holds other keys in this bucket, and "
                "tierstore's namespace is a directory tree, where a name is a file or a directory, "
                "not both.",
                details=[("Key", key)],
            )
    return None


async def explain_conflict(call: S3Call, error: StoreError, key: str | None = None) -> S3Error | StoreError:
    """``error`` (a store's refusal of a write) as :func:`shape_conflict` explains it, when it does."""
    if type(error) not in (StoreError, ConflictError):
        return error
    return await run_in_threadpool(shape_conflict, call, key) or error


def delete_key(call: S3Call) -> None:
    """DeleteObject's work (blocks): the file, or for a key ending in ``/`` the empty directory;
    a key naming nothing of its kind is done already, as S3 answers (in a bucket that exists)."""
    if not call.fs.delete_object(call.target.path, directory=call.key.endswith("/")):
        bucket_status(call.fs, call.bucket, call.resource)


async def delete_object(call: S3Call) -> Response:
    check_version(call)
    await run_in_threadpool(delete_key, call)
    return Response(status_code=204)


HANDLERS = {
    "HeadObject": head_object,
    "GetObject": get_object,
    "PutObject": put_object,
    "DeleteObject": delete_object,
}
