"""Group commit of new files' attributes: every file a named user creates gets a row of its own
(its owner, group and 0644), written before the write is answered. On SQLite each write
transaction takes the database's one write lock, and concurrent writers queue for it by polling
(the busy handler sleeps and tries again): 16 clients writing small files spent most of each
request waiting there. :class:`CreationBatcher` writes every row asked for meanwhile in one
transaction instead: the first caller writes its row with any that arrive first, then hands
the rows that came meanwhile to a thread of their own (which writes until none are left) rather
than write them before it returns; the others wait for the transaction holding theirs. Each
caller returns once its row is committed. A caller on an event loop
(:meth:`CreationBatcher.record_async`) waits without a thread of its own: the first of a batch
starts the writer on a worker thread and does not wait for it, only for its own row.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from tierstore.namespace.metadata.records import PathAttributes


@dataclass(frozen=True)
class Creation:
    """The attributes of a file just created, checked."""

    path: str
    owner: str
    group: str
    mode: int


class CreationBatcher:
    """Calls ``write`` with the creations recorded at once (in order), from one caller at a time."""

    def __init__(self, write: Callable[[list[Creation]], list[PathAttributes]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._pending: list[tuple[Creation, Future[PathAttributes]]] = []
        self._writing = False

    def record(self, creation: Creation) -> PathAttributes:
        """``creation`` written (with others, maybe); its row as committed. Raises what writing
        its transaction raised."""
        done, leading = self._queue(creation)
        if leading:
            self._write_all(until=done)
        return done.result()

    async def record_async(self, creation: Creation) -> PathAttributes:
        """:meth:`record` on an event loop. The first caller of a batch starts the writer on the
        loop's worker threads without waiting for it (a writer goes on while rows keep coming:
        no request waits for batches after its own); every caller awaits its own row."""
        done, leading = self._queue(creation)
        if leading:
            writer = asyncio.get_running_loop().run_in_executor(None, self._write_all)
            # Its failures are each caller's (set on their futures); this only keeps a stray
            # BaseException from being reported as never retrieved.
            writer.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
        return await asyncio.wrap_future(done)

    def _queue(self, creation: Creation) -> tuple[Future[PathAttributes], bool]:
        """``creation`` added to the next transaction; its future, and whether the caller is to
        write (no writer is at work)."""
        done: Future[PathAttributes] = Future()
        with self._lock:
            self._pending.append((creation, done))
            leading = not self._writing
            self._writing = True
        return done, leading

    def _write_all(self, until: Future[PathAttributes] | None = None) -> None:
        """Write every pending creation, batch after batch, until none is left. A caller writing
        for its own row (``until``) stops once that row is done and hands what came meanwhile to
        a thread of its own: its request does not wait for the batches after it."""
        batch: list[tuple[Creation, Future[PathAttributes]]] = []
        try:
            while True:
                with self._lock:
                    if until is not None and until.done() and self._pending:
                        # Still "writing": whoever queues now joins the thread's next batch.
                        threading.Thread(target=self._write_all, name="creations", daemon=True).start()
                        return
                    batch, self._pending = self._pending, []
                    if not batch:
                        self._writing = False
                        return
                try:
                    written = self._write([creation for creation, _ in batch])
                except Exception as error:  # every caller of this transaction learns why
                    for _, done in batch:
                        done.set_exception(error)
                    continue
                for (_, done), attributes in zip(batch, written, strict=True):
                    done.set_result(attributes)
        except BaseException as error:  # interrupted: nobody may wait for a writer that is gone
            with self._lock:
                waiting, self._pending = self._pending, []
                self._writing = False
            for _, done in [*batch, *waiting]:
                if not done.done():
                    done.set_exception(error)
            raise
