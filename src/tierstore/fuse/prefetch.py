"""Sequential read-ahead for one open file: ranged GETs that grow while the reader goes on in
order, fetched in parallel, within a byte budget shared by every open file.

The design follows mountpoint-s3's prefetcher in spirit: start with a small request, so that a
reader wanting a few bytes gets them soon and little is wasted; each time the reader consumes a
whole block in order, double the window of bytes fetched ahead, up to a maximum; split the window
into blocks fetched at once on a shared thread pool, so one file's read-ahead is several GETs in
flight. A read outside what is fetched or being fetched (a seek) drops everything and starts over
from the small window. Two differences for this mount: the kernel splits a reader's calls into
requests that libfuse's threads may deliver slightly out of order, so blocks are kept a little
behind the reader; and the budget is in bytes: a speculative block is fetched only when the pool
has room for it, while the block a read waits for is always fetched (it may overdraw the pool by
one read's blocks, so readers never deadlock on each other's read-ahead).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from tierstore.errors import StoreUnavailableError

LOGGER = logging.getLogger("tierstore.fuse")
MIB = 1024 * 1024

INITIAL_WINDOW = 1 * MIB
MIN_BLOCK = 1 * MIB
MAX_BLOCK = 8 * MIB
MAX_WINDOW = 64 * MIB
# Blocks this far behind the latest read stay, for requests the kernel sends out of order.
KEEP_BEHIND = 2 * MIB

Fetch = Callable[[int, int], bytes]


class BufferPool:
    """The bytes every open file's read-ahead may hold together (the buffer pool's bound)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()
        self.peak = 0

    @property
    def used(self) -> int:
        return self._used

    def try_take(self, size: int) -> bool:
        """Room for a speculative block, or False (the block is not fetched)."""
        with self._lock:
            if self._used + size > self.capacity:
                return False
            self._take(size)
            return True

    def force_take(self, size: int) -> None:
        """A block a read waits for: fetched even past the capacity."""
        with self._lock:
            self._take(size)

    def _take(self, size: int) -> None:
        self._used += size
        self.peak = max(self.peak, self._used)

    def give(self, size: int) -> None:
        with self._lock:
            self._used -= size


@dataclass
class _Block:
    start: int
    end: int
    future: Future[bytes]
    released: bool = field(default=False)


class SequentialReader:
    """Read-ahead for one open file of ``size`` bytes; ``fetch(start, end)`` is one ranged GET."""

    def __init__(
        self,
        fetch: Fetch,
        size: int,
        *,
        pool: BufferPool,
        executor: ThreadPoolExecutor,
        timeout: float,
        name: str = "",
    ) -> None:
        self._fetch = fetch
        self.size = size
        self._pool = pool
        self._executor = executor
        self._timeout = timeout
        self._name = name
        self._lock = threading.Lock()
        self._blocks: list[_Block] = []
        self._frontier = 0  # where the next block starts
        self.window = INITIAL_WINDOW
        self.resets = 0
        self.requests = 0

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        with self._lock:
            if not any(b.start <= offset < b.end for b in self._blocks):
                self._reset(offset)
            self._consume(offset)
            self._schedule(offset, end)
            pieces = [b for b in self._blocks if b.start < end and b.end > offset]
        parts = []
        for block in pieces:
            data = self._result(block)
            parts.append(data[max(offset, block.start) - block.start : min(end, block.end) - block.start])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _result(self, block: _Block) -> bytes:
        try:
            return block.future.result(timeout=self._timeout)
        except FutureTimeout:
            self._drop_failed(block)
            raise StoreUnavailableError(
                f"{self._name}: bytes {block.start}-{block.end - 1} did not come within {self._timeout:.0f} s"
            ) from None
        except BaseException:
            self._drop_failed(block)  # so that the next read asks again
            raise

    def _drop_failed(self, block: _Block) -> None:
        with self._lock:
            if block in self._blocks:
                self._reset(block.start)

    def _reset(self, offset: int) -> None:
        if self._blocks:
            self.resets += 1
        for block in self._blocks:
            self._release(block)
        self._blocks = []
        self._frontier = offset
        self.window = INITIAL_WINDOW

    def _consume(self, offset: int) -> None:
        """Drops the blocks the reader has gone past; each one read through grows the window."""
        kept = []
        for block in self._blocks:
            if block.end <= offset - KEEP_BEHIND:
                self._release(block)
                self.window = min(self.window * 2, MAX_WINDOW)
            else:
                kept.append(block)
        self._blocks = kept
        if not self._blocks:
            self._frontier = offset

    def _schedule(self, offset: int, end: int) -> None:
        block_size = min(max(self.window // 4, MIN_BLOCK), MAX_BLOCK)
        target = min(max(end, offset + self.window), self.size)
        while self._frontier < target:
            start = self._frontier
            stop = min(start + block_size, self.size)
            needed = start < end
            if needed:
                self._pool.force_take(stop - start)
            elif not self._pool.try_take(stop - start):
                break  # the pool is full: read-ahead waits until blocks are consumed
            self.requests += 1
            future = self._executor.submit(self._fetch, start, stop)
            self._blocks.append(_Block(start, stop, future))
            self._frontier = stop

    def _release(self, block: _Block) -> None:
        if block.released:
            return
        block.released = True
        block.future.cancel()
        size = block.end - block.start
        # A fetch still running holds its bytes until it ends: give them back then.
        block.future.add_done_callback(lambda _: self._pool.give(size))

    def close(self) -> None:
        with self._lock:
            for block in self._blocks:
                self._release(block)
            self._blocks = []
