"""Sequential read-ahead for one open file: ranged GETs that grow while the reader goes on in
order, fetched in parallel, within a byte budget shared by every open file.

The design follows mountpoint-s3's prefetcher in spirit: start with a small request, so that a
reader wanting a few bytes gets them soon and little is wasted; each time the reader consumes a
whole block in order, double the window of bytes fetched ahead, up to a maximum; split the window
into blocks fetched at once on a shared thread pool, so one file's read-ahead is several GETs in
flight. A read far outside what is fetched (a seek) starts over from the small window.

What differs for this mount is that the reader is the kernel: its own read-ahead sends several
requests of one file at once (up to 1 MiB each once the mount raised the kernel's read-ahead),
which libfuse's threads deliver in any order. So:

- a request a little ahead of what is fetched extends the stream instead of restarting it, and
  one a little behind it (a late one) is fetched on its own without disturbing the stream;
- blocks are kept a little behind the furthest read, for the late ones;
- a block dropped while another thread still waits for it is never an error for that thread: a
  cancelled fetch is done again for that request alone;
- a read gives back pieces of the fetched blocks (:class:`Piece`), not a copy: the caller copies
  them once, straight into libfuse's buffer.

The budget is in bytes: a speculative block is fetched only when the pool has room for it, while
the block a read waits for is always fetched (it may overdraw the pool by one read's blocks, so
readers never deadlock on each other's read-ahead).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from tierstore.errors import StoreUnavailableError

LOGGER = logging.getLogger("tierstore.fuse")
MIB = 1024 * 1024

INITIAL_WINDOW = 1 * MIB
MIN_BLOCK = 1 * MIB
MAX_BLOCK = 16 * MIB
MAX_WINDOW = 64 * MIB
# Blocks this far behind the furthest read stay, for the kernel's requests that come late.
KEEP_BEHIND = 8 * MIB
# A request this far ahead of the fetched bytes is still the same reader (the kernel's own
# read-ahead runs ahead of the process reading): the stream grows to it rather than restarting.
AHEAD_SLACK = 16 * MIB

Fetch = Callable[[int, int], memoryview]
T = TypeVar("T")


class FetchPool:
    """The threads every open file's GETs run on: ``ThreadPoolExecutor.submit`` on daemon threads.

    A fetch from a store that went away keeps retrying for the store's whole retry policy (half a
    minute and more) after the reader got its EIO at ``--io-timeout``; the executor's threads
    would hold the process's exit until then, so an unmount would hang on a dead store. Daemon
    threads end with the process.
    """

    def __init__(self, threads: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{number}", daemon=True)
            for number in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((future, functools.partial(function, *args)))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, call = item
            # Nothing of a done fetch may stay bound here while the thread waits for the next
            # one: each idle thread would keep its last block (up to 16 MiB) alive.
            del item
            if future.set_running_or_notify_cancel():  # False: cancelled before it started
                try:
                    future.set_result(call())
                except BaseException as error:
                    future.set_exception(error)
                    del error
            del future, call

    def shutdown(self) -> None:
        """Lets each thread end once its current fetch does (without waiting for them)."""
        for _ in self._threads:
            self._queue.put(None)


class Piece(NamedTuple):
    """``data[start:end]``, handed out without copying it."""

    data: memoryview
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def tobytes(self) -> bytes:
        return self.data[self.start : self.end].tobytes()


class BufferPool:
    """The bytes every open file's read-ahead may hold together (the buffer pool's bound).

    ``on_idle`` is called (outside the lock) each time the pool holds nothing again after at
    least ``IDLE_AFTER`` bytes went through it: the mount hands freed memory back then.
    """

    IDLE_AFTER = 2 * MAX_BLOCK

    def __init__(self, capacity: int, *, on_idle: Callable[[], None] | None = None) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()
        self.peak = 0
        self._on_idle = on_idle
        self._taken_since_idle = 0

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
        self._taken_since_idle += size
        self.peak = max(self.peak, self._used)

    def give(self, size: int) -> None:
        with self._lock:
            self._used -= size
            idle = self._used == 0 and self._taken_since_idle >= self.IDLE_AFTER
            if idle:
                self._taken_since_idle = 0
        if idle and self._on_idle is not None:
            self._on_idle()


@dataclass
class _Block:
    start: int
    end: int
    future: Future[memoryview]
    released: bool = field(default=False)


class SequentialReader:
    """Read-ahead for one open file of ``size`` bytes; ``fetch(start, end)`` is one ranged GET."""

    def __init__(
        self,
        fetch: Fetch,
        size: int,
        *,
        pool: BufferPool,
        executor: FetchPool,
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
        self._blocks: list[_Block] = []  # contiguous, in order, ending at the frontier
        self._frontier = 0  # where the next block starts
        self._furthest = 0  # the end of the furthest read so far
        self.window = INITIAL_WINDOW
        self.resets = 0
        self.requests = 0
        self.lone_fetches = 0
        # The last failure and when: see _check_failing.
        self._failure: BaseException | None = None
        self._failed_at = 0.0

    def read(self, offset: int, length: int) -> bytes:
        """The bytes ``[offset, offset + length)`` (fewer at the end of the file), as one copy."""
        pieces = self.pieces(offset, length)
        if len(pieces) == 1:
            return pieces[0].tobytes()
        return b"".join(piece.tobytes() for piece in pieces)

    def pieces(self, offset: int, length: int) -> list[Piece]:
        """The bytes ``[offset, offset + length)`` as pieces of the fetched blocks, in order."""
        end = min(offset + length, self.size)
        if offset >= end:
            return []
        with self._lock:
            self._check_failing()
            lone = self._place(offset, end)
            if lone:
                covering: list[_Block] = []
            else:
                self._schedule(offset, end)
                covering = [b for b in self._blocks if b.start < end and b.end > offset]
        if lone:
            # Late and behind what the stream keeps: fetched for itself, the stream goes on.
            return [Piece(self._lone_fetch(offset, end), 0, end - offset)]
        found = []
        for block in covering:
            low, high = max(offset, block.start), min(end, block.end)
            data = self._result(block, low, high)
            if data is None:  # the block was dropped meanwhile: this request's bytes alone
                found.append(Piece(self._lone_fetch(low, high), 0, high - low))
            else:
                found.append(Piece(data, low - block.start, high - block.start))
        return found

    def _place(self, offset: int, end: int) -> bool:
        """Fits the request into the stream (under the lock): True for a late request that is
        fetched on its own; otherwise the stream covers, grows to, or restarts at ``offset``."""
        if self._blocks:
            first = self._blocks[0].start
            if first <= offset <= self._frontier + AHEAD_SLACK:
                self._furthest = max(self._furthest, end)
                self._consume()
                return False
            if first - KEEP_BEHIND <= offset < first and end <= first + MAX_BLOCK:
                return True
        self._reset(offset)
        self._furthest = end
        return False

    def _check_failing(self) -> None:
        """Fails at once for ``timeout`` seconds after a fetch of this file failed.

        The kernel asks again for pages its read-ahead got EIO for, one request at a time: each
        would wait ``--io-timeout`` anew on a store that is gone, and the reader would get its
        EIO only after several timeouts. A store that came back is asked again after that.
        """
        if self._failure is not None:
            ago = time.monotonic() - self._failed_at
            if ago < self._timeout:
                raise StoreUnavailableError(f"{self._name}: a read failed {ago:.1f} s ago: {self._failure}")

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            self._failure, self._failed_at = error, time.monotonic()

    def _lone_fetch(self, start: int, end: int) -> memoryview:
        self.lone_fetches += 1
        future = self._executor.submit(self._fetch, start, end)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            future.cancel()
            late = self._late(start, end)
            self._failed(late)
            raise late from None
        except BaseException as error:
            self._failed(error)
            raise

    def _late(self, start: int, end: int) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"{self._name}: bytes {start}-{end - 1} did not come within {self._timeout:g} s"
        )

    def _result(self, block: _Block, low: int, high: int) -> memoryview | None:
        try:
            return block.future.result(timeout=self._timeout)
        except CancelledError:
            return None
        except FutureTimeout:
            late = self._late(low, high)
            self._drop_failed(block, late)
            raise late from None
        except BaseException as error:
            self._drop_failed(block, error)  # so that a read after _check_failing's time asks again
            raise

    def _drop_failed(self, block: _Block, error: BaseException) -> None:
        with self._lock:
            self._failure, self._failed_at = error, time.monotonic()
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

    def _consume(self) -> None:
        """Drops the blocks the reader has gone well past; each one read through grows the window."""
        keep_from = self._furthest - KEEP_BEHIND
        dropped = 0
        for block in self._blocks:
            if block.end > keep_from:
                break
            self._release(block)
            self.window = min(self.window * 2, MAX_WINDOW)
            dropped += 1
        if dropped:
            del self._blocks[:dropped]

    def _schedule(self, offset: int, end: int) -> None:
        block_size = min(max(self.window // 4, MIN_BLOCK), MAX_BLOCK)
        target = min(max(end, self._furthest + self.window), self.size)
        if not self._blocks:
            self._frontier = offset
        while self._frontier < target:
            start = self._frontier
            stop = min(start + block_size, self.size)
            if start < end:
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
