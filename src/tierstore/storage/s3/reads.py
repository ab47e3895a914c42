"""Reads with their metadata in one obstore request: ``head`` and ``open_read`` of the S3 store.

obstore's ``get`` answers with the object's size, ETag and date (``meta``) and its content type
and user metadata (``attributes``), and ``head=True`` asks the same with a HEAD. Measured here
against SeaweedFS, per call: that HEAD 160 us of CPU (as ``obstore.head``, which gives no
attributes), a presigned HEAD through urllib3 510-570 us, botocore's ``head_object`` 1,430-1,560.
A 4 KiB GET streamed: obstore 280 us CPU, a presigned urllib3 GET 490-570 us; 128 MiB: obstore
0.55-0.6 CPU s/GiB at 620-750 MiB/s, urllib3 0.3 CPU s/GiB at 730-1,100 MiB/s. So obstore serves
both: it halves the cost of the small requests a gateway answers most, and a large body costs
it ~0.25 CPU s/GiB more (break-even near 1 MiB).

obstore cannot give what it cannot parse: an answer whose metadata holds non-ASCII bytes (another
client wrote them) fails in obstore as a whole, as ``obstore.head`` did already. Such an answer
raises :class:`HeadersRefused`, and the store reads that object through botocore instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import obstore
import obstore.exceptions as obstore_errors

from tierstore.blocking import on_thread
from tierstore.errors import ConflictError, RangeNotSatisfiableError, StoreError
from tierstore.storage.chunks import NoChunks
from tierstore.storage.interface import ChunkStream, ObjectInfo, OpenedRead
from tierstore.storage.ranges import ByteRange
from tierstore.storage.s3 import attributes as s3_attributes
from tierstore.storage.s3.retry import Attempts, RetryPolicy

if TYPE_CHECKING:
    from obstore import GetResult
    from obstore.store import S3Store as ObstoreS3Store

T = TypeVar("T")


class HeadersRefused(Exception):  # noqa: N818 - a signal to fall back, not a failure
    """obstore could not read the answer's headers (non-ASCII metadata): read it another way."""


class NotSatisfiable(Exception):  # noqa: N818 - a signal, the store turns it into its error
    """The store answered 416: the range starts at or past the object's end."""


class Once(Protocol):
    def __call__(self, operation: str, key: str | None, action: Callable[[], T]) -> T: ...


class OnceAsync(Protocol):
    async def __call__(self, operation: str, key: str | None, action: Callable[[], Awaitable[T]]) -> T: ...


def open_checked(
    opened: Callable[[], OpenedRead],
    head: Callable[[], ObjectInfo],
    wanted: ByteRange,
    where: tuple[str, str],
) -> OpenedRead:
    """``opened()``, with a 416 answer told apart by the object's size (a HEAD, on that path only).

    An empty object has no first byte, so S3 answers 416 to any range of it: that is an empty
    read here, as it is on a local directory. A non-empty one raises RangeNotSatisfiableError
    with its size. One whose size now makes the range good grew meanwhile: it is asked again.
    """
    bucket, full_key = where
    for _ in range(2):
        try:
            return opened()
        except NotSatisfiable:
            info = head()
        served = wanted.resolve(info.size)
        if served is None:
            raise RangeNotSatisfiableError(
                f"GET s3://{bucket}/{full_key} failed: the range {wanted.header()} starts at or past "
                f"the end of its {info.size} bytes",
                size=info.size,
                bucket=bucket,
                key=full_key,
            )
        if info.size == 0:
            return OpenedRead(info=info, start=0, end=0, chunks=NoChunks())
    raise StoreError(
        f"GET s3://{bucket}/{full_key} failed: the store refused the range {wanted.header()} twice while "
        "the object's size allows it; it is changing, read it again",
        bucket=bucket,
        key=full_key,
    )


@dataclass(frozen=True)
class ObstoreReads:
    store: ObstoreS3Store
    once: Once  # one attempt, obstore's failures mapped to tierstore's errors
    policy: RetryPolicy
    bucket: str
    base_prefix: str

    def head(self, key: str) -> ObjectInfo:
        """HEAD with the content type and metadata; :class:`HeadersRefused` as said above."""
        result = self.policy.run(lambda: self.once("HEAD", key, lambda: self._get(key, {"head": True})))
        return _described(key, result)

    def open(self, key: str, wanted: ByteRange, *, if_match: str | None, chunk_size: int) -> OpenedRead:
        """One GET; raises :class:`NotSatisfiable` on 416 and :class:`HeadersRefused`."""
        options, refused = self._options(key, wanted, if_match)
        attempts = self.policy.attempts()
        result = self._first(key, options, refused, attempts)
        return self._opened(key, result, options, attempts, chunk_size)

    async def open_async(
        self, key: str, wanted: ByteRange, *, if_match: str | None, chunk_size: int, once: OnceAsync
    ) -> OpenedRead:
        """:meth:`open` with obstore's async client; its chunks read without a thread too
        (``next_async``), and a failure before the first byte opens it again on a thread."""
        options, refused = self._options(key, wanted, if_match)
        attempts = self.policy.attempts()

        while True:
            try:
                result = await once("GET", key, lambda: self._get_async(key, options, refused=refused))
                break
            except StoreError as error:
                wait = attempts.next_wait(error)
            await asyncio.sleep(wait)
        return self._opened(
            key, result, options, attempts, chunk_size, once_async=functools.partial(once, "GET", key)
        )

    def _options(self, key: str, wanted: ByteRange, if_match: str | None) -> tuple[dict[str, Any], str]:
        """obstore's GET options for ``wanted`` and ``if_match``, and what a refused If-Match says."""
        options: dict[str, Any] = {}
        if wanted.suffix is not None:
            options["range"] = {"suffix": wanted.suffix}
        elif not wanted.whole:
            first = wanted.start or 0
            options["range"] = {"offset": first} if wanted.end is None else (first, wanted.end)
        if if_match is None:
            return options, ""  # no If-Match: nothing for the store to refuse (made per read)
        options["if_match"] = if_match
        where = f"s3://{self.bucket}/{self.base_prefix}{key}"
        return options, f"GET {where} failed: its ETag is not {if_match} (If-Match)"

    def _opened(
        self,
        key: str,
        result: GetResult,
        options: dict[str, Any],
        attempts: Attempts,
        chunk_size: int,
        *,
        once_async: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]] | None = None,
    ) -> OpenedRead:
        first, last = result.range
        info = _described(key, result)
        # A later attempt (before the first byte) must read the same version: If-Match on it.
        again = {**options, "if_match": info.etag} if info.etag else options
        chunks = _ObstoreChunks(
            result,
            chunk_size,
            reopen=lambda: self._first(key, again, self._changed(key), attempts),
            once=functools.partial(self.once, "GET", key),
            once_async=once_async,
            attempts=attempts,
        )
        return OpenedRead(info=info, start=first, end=last, chunks=chunks)

    def _changed(self, key: str) -> str:
        """What a reopened read says when the object changed before its first byte."""
        where = f"s3://{self.bucket}/{self.base_prefix}{key}"
        return f"GET {where} failed: the object changed before its first byte was read; read it again"

    def _first(self, key: str, options: dict[str, Any], refused: str, attempts: Attempts) -> GetResult:
        while True:
            try:
                return self.once("GET", key, lambda: self._get(key, options, refused=refused))
            except StoreError as error:
                attempts.failed(error)

    def _get(self, key: str, options: dict[str, Any], *, refused: str = "") -> GetResult:
        try:
            return obstore.get(self.store, key, options=options)  # type: ignore[arg-type]
        except obstore_errors.BaseError as error:
            raise self._signal(error, key, refused) from None

    async def head_async(self, key: str, once: OnceAsync) -> ObjectInfo:
        """:meth:`head` on an event loop, with obstore's async client (no thread)."""

        result = await self.policy.run_async(
            lambda: once("HEAD", key, lambda: self._get_async(key, {"head": True}))
        )
        return _described(key, result)

    async def _get_async(self, key: str, options: dict[str, Any], *, refused: str = "") -> GetResult:
        """:meth:`_get` with obstore's async client."""
        try:
            return await obstore.get_async(self.store, key, options=options)  # type: ignore[arg-type]
        except obstore_errors.BaseError as error:
            raise self._signal(error, key, refused) from None

    def _signal(self, error: obstore_errors.BaseError, key: str, refused: str) -> Exception:
        """What an obstore failure of a GET or HEAD means: a refused If-Match, headers obstore
        cannot read, a 416, or the failure itself (mapped by the store's ``once``)."""
        if isinstance(error, obstore_errors.PreconditionError):
            return ConflictError(refused, bucket=self.bucket, key=self.base_prefix + key)
        text = str(error)
        if "InvalidMetadata" in text:
            return HeadersRefused(text)
        if "status code: 416" in text:
            return NotSatisfiable(text)
        return error


class _ObstoreChunks(ChunkStream):
    """The body of an obstore GET. A transient failure before the first byte opens it again
    (the same range, the same version); after it, the failure is raised. Closing drops the
    result and its stream, and with them the connection: the rest is never read."""

    def __init__(
        self,
        result: GetResult,
        chunk_size: int,
        *,
        reopen: Callable[[], GetResult],
        once: Callable[[Callable[[], Any]], Any],
        once_async: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]] | None = None,
        attempts: Attempts,
    ) -> None:
        self._once_async = once_async
        self._result: GetResult | None = result
        self._stream: Any = None
        self._chunk_size = max(1, chunk_size)
        self._reopen = reopen
        self._once = once
        self._attempts = attempts
        self._given = 0

    def __next__(self) -> bytes:
        while True:
            result = self._result
            if result is None:
                raise StopIteration
            try:
                if self._stream is None:
                    self._stream = result.stream(min_chunk_size=self._chunk_size)
                chunk = self._once(functools.partial(next, self._stream))
            except StopIteration:
                self.close()
                raise
            except StoreError as error:
                if self._given:
                    self.close()
                    raise
                self._again(error)
                continue
            except BaseException:
                self.close()
                raise
            self._given += len(chunk)
            return bytes(chunk)

    async def next_async(self) -> bytes | None:
        """:meth:`__next__` for an event loop: obstore's stream read without a thread when the
        read was opened by ``open_async`` (opened again after a failure on a thread)."""
        once = self._once_async
        if once is None:
            return await super().next_async()
        while True:
            result = self._result
            if result is None:
                return None
            try:
                if self._stream is None:
                    self._stream = result.stream(min_chunk_size=self._chunk_size)
                chunk = await once(self._stream.__anext__)
            except StopAsyncIteration:
                self.close()
                return None
            except StoreError as error:
                if self._given:
                    self.close()
                    raise
                await on_thread(self._again, error)
                continue
            except BaseException:
                self.close()
                raise
            self._given += len(chunk)
            return bytes(chunk)

    def _again(self, error: StoreError) -> None:
        self._stream = None
        self._result = None  # the failed answer's connection goes now, not after the wait
        try:
            self._attempts.failed(error)  # waits, or raises when it is not worth another try
            self._result = self._reopen()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._stream = None
        self._result = None


def _described(key: str, result: GetResult) -> ObjectInfo:
    meta: Any = result.meta
    attributes = result.attributes  # made anew from obstore's answer at each access: once
    content_type, metadata = s3_attributes.from_obstore(attributes)
    modified = meta.get("last_modified")
    return ObjectInfo(
        key=key,
        size=int(meta["size"]),
        etag=meta.get("e_tag"),
        last_modified=modified if isinstance(modified, datetime) else None,
        content_type=content_type,
        metadata=metadata,
        headers=s3_attributes.headers_from_obstore(attributes),
    )
