"""Cross-cutting concerns as thin layers around any store (OpenDAL's layer idea).

Retries are not a layer here: obstore and botocore each retry inside their transport with
backoff, where a retry can reuse the connection and knows which errors are transient.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from tierstore.blocking import require_io
from tierstore.errors import StoreError
from tierstore.storage.interface import (
    HttpMethod,
    Kind,
    ListPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectWriter,
    OpenedRead,
    PartSpan,
    PutResult,
    Store,
    WriteCondition,
)
from tierstore.storage.uploads import LayeredUploads, MultipartUploads

T = TypeVar("T")
# An async store call not yet awaited (the inner store's coroutine).
Pending = Coroutine[Any, Any, T]


class StoreLayer(Store):
    """Forwards every call to the inner store through ``_around``, which layers override."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def kinds_are_requests(self) -> bool:
        return self.inner.kinds_are_requests

    def _around(self, operation: str, key: str, call: Callable[[], T]) -> T:
        return call()

    def _enter(self, operation: str, key: str, call: Callable[[], T]) -> T:
        # Every store call may block: inside tierstore.blocking.memory_only (the server's event
        # loop) it is refused here, and the request goes to a thread instead.
        require_io(f"{operation} on {self.description}")
        return self._around(operation, key, call)

    def head(self, key: str) -> ObjectInfo:
        return self._enter("head", key, lambda: self.inner.head(key))

    # The async calls hand back what ``_around_async`` gives, not a coroutine of their own: a
    # layer with nothing to do around a call passes the inner store's coroutine through, so a
    # request on the event loop awaits no frame per layer (each costs a frame and a resumption).
    def head_async(self, key: str) -> Pending[ObjectInfo]:
        return self._around_async("head", key, lambda: self.inner.head_async(key))

    def _around_async(self, operation: str, key: str, call: Callable[[], Pending[T]]) -> Pending[T]:
        return call()

    def part_span(self, key: str, number: int) -> PartSpan:
        return self._enter("part_span", key, lambda: self.inner.part_span(key, number))

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        return self._enter("get", key, lambda: self.inner.get(key, start=start, end=end))

    def get_view(self, key: str, *, start: int | None = None, end: int | None = None) -> memoryview:
        return self._enter("get", key, lambda: self.inner.get_view(key, start=start, end=end))

    def iter_read(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        return self._enter("iter_read", key, lambda: self.inner.iter_read(key, chunk_size=chunk_size))

    def open_read(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> OpenedRead:
        # The layer sees the opening (the request and its answer); the chunks go straight through.
        return self._enter(
            "open_read",
            key,
            lambda: self.inner.open_read(
                key, start=start, end=end, suffix=suffix, if_match=if_match, chunk_size=chunk_size
            ),
        )

    def open_read_async(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> Pending[OpenedRead]:
        return self._around_async(
            "open_read",
            key,
            lambda: self.inner.open_read_async(
                key, start=start, end=end, suffix=suffix, if_match=if_match, chunk_size=chunk_size
            ),
        )

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        return self._enter(
            "put", key, lambda: self.inner.put(key, data, attributes=attributes, condition=condition)
        )

    def put_async(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> Pending[PutResult]:
        return self._around_async(
            "put", key, lambda: self.inner.put_async(key, data, attributes=attributes, condition=condition)
        )

    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        return self._enter("open_write", key, lambda: self.inner.open_write(key, attributes=attributes))

    def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
        etags: bool = False,
    ) -> Iterator[ListPage]:
        return self._enter(
            "list",
            prefix,
            lambda: self.inner.list_pages(
                prefix,
                delimiter=delimiter,
                start_after=start_after,
                page_size=page_size,
                resume=resume,
                etags=etags,
            ),
        )

    def kind(self, key: str) -> tuple[Kind, ObjectInfo | None] | None:
        return self._enter("kind", key, lambda: self.inner.kind(key))

    def delete(self, key: str) -> None:
        self._enter("delete", key, lambda: self.inner.delete(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        self._enter("delete_many", "", lambda: self.inner.delete_many(keys))

    def copy(self, source_key: str, dest_key: str, *, attributes: ObjectAttributes | None = None) -> None:
        self._enter("copy", dest_key, lambda: self.inner.copy(source_key, dest_key, attributes=attributes))

    def put_directory_marker(self, prefix: str) -> None:
        self._enter("put_directory_marker", prefix, lambda: self.inner.put_directory_marker(prefix))

    def presign(self, method: HttpMethod, key: str, *, expires_seconds: int = 3600) -> str:
        return self._enter(
            "presign", key, lambda: self.inner.presign(method, key, expires_seconds=expires_seconds)
        )

    def multipart_uploads(self) -> MultipartUploads:
        # Getting them makes no request; each of their calls goes through _enter, as the store's do.
        return LayeredUploads(self.inner.multipart_uploads(), self._enter)

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class LoggingLayer(StoreLayer):
    """One DEBUG line per operation with its duration; failures at INFO with their message."""

    def __init__(self, inner: Store, logger: logging.Logger | None = None) -> None:
        super().__init__(inner)
        self._logger = logger or logging.getLogger("tierstore.storage")

    def _around(self, operation: str, key: str, call: Callable[[], T]) -> T:
        if not self._logger.isEnabledFor(logging.INFO):
            return call()
        started = time.perf_counter()
        try:
            result = call()
        except StoreError as error:
            self._failed(operation, key, error)
            raise
        self._done(operation, key, started)
        return result

    def _around_async(self, operation: str, key: str, call: Callable[[], Pending[T]]) -> Pending[T]:
        if not self._logger.isEnabledFor(logging.INFO):
            return call()  # nothing to log: the inner store's coroutine, as it is
        return self._logged_async(operation, key, call)

    async def _logged_async(self, operation: str, key: str, call: Callable[[], Pending[T]]) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except StoreError as error:
            self._failed(operation, key, error)
            raise
        self._done(operation, key, started)
        return result

    def _failed(self, operation: str, key: str, error: StoreError) -> None:
        self._logger.info("%s %s/%s failed: %s", operation, self.description, key, error)

    def _done(self, operation: str, key: str, started: float) -> None:
        self._logger.debug(
            "%s %s/%s %.1f ms", operation, self.description, key, (time.perf_counter() - started) * 1000
        )
