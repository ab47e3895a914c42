"""Many files at once: a bounded pool of threads, every failure kept, one report at the end.

Tree operations (``cp -r``, ``mv``, ``rm -r``, ``du``) hand each file (or batch of keys, or
directory) to a :class:`Batch`, which runs up to ``concurrency`` of them at once on threads:
obstore, urllib3 and the file system release the GIL while they wait, so the waits overlap.
A failure names the file and why, and stops nothing else; :meth:`Batch.finish` returns the
:class:`Report`, or raises :class:`TreeFailedError` carrying it when any file failed, so a
caller that must not go on after a partial copy (``mv`` removing its source) cannot miss it.

Only tierstore's own errors and the operating system's count as a file's failure; anything else
is a bug, which stops the batch and is raised as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from tierstore.blocking import require_io
from tierstore.errors import StoreError, TierstoreError

T = TypeVar("T")
Progress = Callable[[int], None]
# Failures named in a summary's text; the report keeps them all.
SHOWN_FAILURES = 10
# Work queued beyond what runs, per worker: enough to keep every worker busy while the lister
# fetches its next page, few enough that a listing of millions is not all held as tasks.
QUEUED_PER_WORKER = 4


@runtime_checkable
class TreeProgress(Protocol):
    """What a tree operation tells as it goes. Called from worker threads: must be thread-safe."""

    def plan(self, files: int, size: int) -> None:
        """The totals, once known (after the listing)."""

    def advance(self, size: int) -> None:
        """``size`` more bytes moved."""

    def finished(self, files: int) -> None:
        """``files`` more files done or failed."""


@dataclass(frozen=True)
class _BytesOnly:
    """A plain callback of bytes moved, as single-file operations take, seen as a TreeProgress."""

    callback: Progress | None

    def plan(self, files: int, size: int) -> None:
        pass

    def advance(self, size: int) -> None:
        if self.callback is not None:
            self.callback(size)

    def finished(self, files: int) -> None:
        pass


def tree_progress(progress: Progress | TreeProgress | None) -> TreeProgress:
    if isinstance(progress, TreeProgress):
        return progress
    return _BytesOnly(progress)


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Report:
    """What a tree operation did: files and bytes done, and each file that failed."""

    operation: str  # "cp -r /a /b": what the summary starts with
    files: int = 0
    size: int = 0
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> str:
        done = f"{self.files} file{'s' if self.files != 1 else ''} done ({self.size} bytes)"
        if not self.failures:
            return f"{self.operation}: {done}"
        shown = "; ".join(f"{failure.path}: {failure.reason}" for failure in self.failures[:SHOWN_FAILURES])
        more = len(self.failures) - SHOWN_FAILURES
        rest = f"; and {more} more" if more > 0 else ""
        return f"{self.operation}: {done}, {len(self.failures)} failed: {shown}{rest}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes": self.size,
            "failed": [failure.as_dict() for failure in self.failures],
        }


class TreeFailedError(StoreError):
    """Some files of a tree operation failed; the others were done. ``report`` says which."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.summary(), key=report.failures[0].path if report.failures else None)
        self.report = report


class _Gate:
    """How much work is queued or running: the producer waits at ``high`` until it is back down
    to ``low``. A semaphore woke the producer on every finished file, and each wake-up is a hand
    of the GIL to another thread: that alone took a third of the CPU of a copy of small files."""

    def __init__(self, *, high: int, low: int) -> None:
        self._high = high
        self._low = low
        self._count = 0
        self._changed = threading.Condition()

    def enter(self) -> None:
        with self._changed:
            while self._count >= self._high:
                self._changed.wait()
            self._count += 1

    def leave(self) -> None:
        with self._changed:
            self._count -= 1
            if self._count == self._low:
                self._changed.notify()


class Batch:
    """Runs work items ``concurrency`` at a time and counts what they did.

    ``submit`` blocks while the queue is full, so a caller feeding it from a listing holds only
    a few pages' worth of work at once.
    """

    def __init__(self, operation: str, concurrency: int, progress: TreeProgress) -> None:
        # Before any thread starts: on the server's event loop this must go to a thread instead.
        require_io(operation)
        self.progress = progress
        self._report = Report(operation)
        self._lock = threading.Lock()
        self._queued = _Gate(high=concurrency * (1 + QUEUED_PER_WORKER), low=concurrency)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="tierstore-tree")
        self._broken: BaseException | None = None

    def submit(self, path: str, work: Callable[[], int]) -> None:
        """Run ``work`` (one file at ``path``; it returns the bytes it moved) on a worker."""

        def one() -> None:
            try:
                size = work()
            except (TierstoreError, OSError) as error:
                self.fail(path, error)
            else:
                self.done(1, size)

        self.run(one)

    def run(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on a worker; it reports through :meth:`done` and :meth:`fail` itself."""
        if self._broken is not None:
            raise self._broken
        self._queued.enter()
        try:
            future = self._pool.submit(work)
        except BaseException:
            self._queued.leave()
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[Any]) -> None:
        self._queued.leave()
        error = None if future.cancelled() else future.exception()
        if error is not None and self._broken is None:
            self._broken = error

    def done(self, files: int, size: int) -> None:
        with self._lock:
            self._report.files += files
            self._report.size += size
        self.progress.finished(files)

    def fail(self, path: str, error: BaseException | str) -> None:
        with self._lock:
            self._report.failures.append(Failure(path, str(error)))
        self.progress.finished(1)

    @property
    def failed(self) -> bool:
        with self._lock:
            return bool(self._report.failures)

    def wait(self) -> Report:
        """Wait for everything submitted; raise what broke a worker (a bug), if anything did."""
        self._pool.shutdown(wait=True)
        if self._broken is not None:
            raise self._broken
        with self._lock:
            self._report.failures.sort(key=lambda failure: failure.path)
            return self._report

    def finish(self) -> Report:
        """:meth:`wait`, then raise :class:`TreeFailedError` if any file failed."""
        report = self.wait()
        if report.failures:
            raise TreeFailedError(report)
        return report

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leaving early (an error while listing, ^C): what has not started never will; what
        # runs ends its file (a half-written object is aborted by its writer, never left).
        self._pool.shutdown(wait=True, cancel_futures=True)
