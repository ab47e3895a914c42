"""The part buffers of a streaming write: cutting the stream into parts, and counting them.

Why a write never holds more than ``concurrency + 1`` parts (the parts in flight and the one
being filled): the pieces of a full part and their joined copy exist together only for the
moment of the join, and the writers join a part only after reserving its upload slot, so at that
moment at most ``concurrency - 1`` parts are in flight. A part's bytes are let go, and taken off
the count, before its slot is given back (see :class:`HeldPart`).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

Buffer = bytes | bytearray | memoryview
B = TypeVar("B", bound=Buffer)


class BufferGauge:
    """The bytes of part buffers one write holds now, and the most it held at once.

    The writers add a buffer's size when they make it and take it off once they hold no
    reference to it any more, so ``high_water`` is what the write really held.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.live = 0
        self.high_water = 0

    def add(self, size: int) -> None:
        with self._lock:
            self.live += size
            self.high_water = max(self.high_water, self.live)

    def remove(self, size: int) -> None:
        with self._lock:
            self.live -= size


class GaugedWriter:
    """What a writer holding part buffers tells about them, from its ``_gauge``."""

    _gauge: BufferGauge

    @property
    def buffer_bytes(self) -> int:
        """Bytes of part buffers this write holds now (a caller's own buffer not included)."""
        return self._gauge.live

    @property
    def buffer_high_water(self) -> int:
        """The most bytes of part buffers this write has held at once."""
        return self._gauge.high_water


class PartCutter:
    """Collects written bytes as pieces and says when they make up a part.

    ``add`` yields once for each complete part and the caller takes it with :meth:`take`,
    so that the caller can reserve the part's upload slot before the pieces are joined.
    """

    def __init__(self, part_size: int, gauge: BufferGauge) -> None:
        self.part_size = part_size
        self._gauge = gauge
        self._pending: list[bytes] = []
        self.pending_size = 0

    def add(self, data: Buffer) -> Iterator[None]:
        view = memoryview(data).cast("B")
        while self.pending_size + len(view) >= self.part_size:
            take = self.part_size - self.pending_size
            self._keep(bytes(view[:take]))
            view = view[take:]
            yield
        if len(view):
            self._keep(bytes(view))

    def _keep(self, piece: bytes) -> None:
        # A copy: the caller may reuse its buffer as soon as write() returns.
        self._gauge.add(len(piece))
        self._pending.append(piece)
        self.pending_size += len(piece)

    def take(self) -> bytes:
        """Whatever is pending (a whole part, or a last short one) as one ``bytes``."""
        pieces, size = self._pending, self.pending_size
        self._pending, self.pending_size = [], 0
        if len(pieces) == 1:
            return pieces.pop()  # the one piece is the part: nothing to join
        data = b"".join(pieces)
        self._gauge.add(len(data))
        pieces.clear()
        self._gauge.remove(size)
        return data

    def clear(self) -> None:
        self._gauge.remove(self.pending_size)
        self._pending, self.pending_size = [], 0


class HeldPart(Generic[B]):
    """One part on its way to the store, handed to an upload thread.

    The thread takes the bytes (:meth:`take`) into the frame that sends them and calls
    :meth:`release` once that frame is gone; until then the executor's work item and the
    writer's queue hold only this shell. ``gauge`` is the writer's, for parts the writer made (a
    caller's own buffer, ``put`` of bytes in memory, is not counted); ``then`` runs after the
    release (the streaming writer gives the part's ticket back there).
    """

    __slots__ = ("_data", "_gauge", "_released", "_then", "size")

    def __init__(self, data: B, gauge: BufferGauge | None, then: Callable[[], object] | None = None) -> None:
        self._data: B | None = data
        self._gauge = gauge
        self._then = then
        self._released = False
        self.size = len(data)

    def take(self) -> B:
        data, self._data = self._data, None
        if data is None:
            raise RuntimeError("a held part was taken twice")
        return data

    def release(self) -> None:
        """Let the bytes go (if not taken) and take them off the count; once."""
        self._data = None
        if self._released:
            return
        self._released = True
        if self._gauge is not None:
            self._gauge.remove(self.size)
        if self._then is not None:
            self._then()


def forget_locals(error: BaseException) -> None:
    """Clear the variables of the frames an error's traceback keeps (its context's too).

    A failed part's traceback would otherwise keep that part's bytes alive, in the failure the
    writer hands back, long after the part was taken off the count.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__
