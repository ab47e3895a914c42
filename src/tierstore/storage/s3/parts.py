"""Cutting a stream of writes into parts of one size, for the streaming writers."""

from __future__ import annotations

from collections.abc import Iterator


class PartCutter:
    """Collects written bytes; yields each part as soon as it is full.

    Chunks waiting to make up a part are joined once per part, never copied byte by byte.
    """

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self._pending: list[bytes] = []
        self.pending_size = 0

    def add(self, data: bytes | bytearray | memoryview) -> Iterator[bytes]:
        view = memoryview(data).cast("B")
        while self.pending_size + len(view) >= self.part_size:
            take = self.part_size - self.pending_size
            self._pending.append(bytes(view[:take]))
            view = view[take:]
            yield self.take()
        if len(view):
            self._pending.append(bytes(view))
            self.pending_size += len(view)

    def take(self) -> bytes:
        """Whatever is pending (a last, short part), emptied."""
        data = b"".join(self._pending)
        self._pending, self.pending_size = [], 0
        return data

    def clear(self) -> None:
        self._pending, self.pending_size = [], 0
