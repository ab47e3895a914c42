"""Chunk streams over what a backend opened: nothing, or a reader of a known length."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from tierstore.errors import StoreError
from tierstore.storage.interface import ChunkStream

E = TypeVar("E", bound=Exception)


class NoChunks(ChunkStream):
    """The body of an empty read: no request stays open for it."""

    def __next__(self) -> bytes:
        raise StopIteration

    def close(self) -> None:
        pass


class Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class ReaderChunks(ChunkStream, Generic[E]):
    """Exactly ``length`` bytes of ``reader`` in chunks of at most ``chunk_size``.

    A reader that ends before them raises ``short()``: a caller told ``[start, end)`` must not
    get fewer bytes without knowing. Failures of the types in ``errors`` become ``failed(error)``.
    The reader is closed at the end, on any failure and by :meth:`close`.
    """

    def __init__(
        self,
        reader: Reader,
        length: int,
        chunk_size: int,
        *,
        short: Callable[[], StoreError],
        failed: Callable[[E], StoreError],
        errors: tuple[type[E], ...],
    ) -> None:
        self._reader: Reader | None = reader
        self._left = length
        self._chunk_size = max(1, chunk_size)
        self._short = short
        self._failed = failed
        self._errors = errors

    def __next__(self) -> bytes:
        reader = self._reader
        if reader is None or self._left == 0:
            self.close()
            raise StopIteration
        try:
            chunk = reader.read(min(self._chunk_size, self._left))
        except self._errors as error:
            self.close()
            raise self._failed(error) from None
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise self._short()
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
