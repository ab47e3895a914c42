"""Telling servers that share a namespace which paths one of them changed.

Each server process keeps stats, listings and heads in its namespace cache for
``tierstore.metadata.cache.ttl`` and drops what it changes itself at once. The workers of
``tierstore serve --workers N`` and servers on one PostgreSQL namespace do not see each other's
writes, so without a notice a file one of them wrote stays out of another's cached listing for
up to the ttl (an ``aws s3 cp`` through one worker, then an ``aws s3 ls`` through another).

:class:`ChangeNotices` hands each path its cache drops for a change (``MetadataCache.publish``)
to a thread that numbers them in the metadata database, many in one transaction
(``SqlMetadataStore.record_content_changes``): the request that made the change waits for none
of it. Every other server's metadata poller sees the "content" counter move and drops those
paths from its cache (``CachedMetadataStore.on_content_changes``,
``MetadataCache.changed_elsewhere``): a change is seen everywhere within the poll interval
(0.25 s) and a transaction, not the ttl.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierstore.namespace.metadata.store import SqlMetadataStore

LOGGER = logging.getLogger("tierstore.namespace")

# At most this many paths numbered in one transaction.
BATCH = 1000
_STOP = object()


class ChangeNotices:
    """A thread numbering the paths given to :meth:`tell` in ``metadata``, in batches."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._metadata = metadata
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._settled = threading.Condition()
        self._pending = 0  # paths told and not yet numbered (or given up on)
        self._thread = threading.Thread(target=self._run, name="change-notices", daemon=True)
        self._thread.start()

    def tell(self, path: str) -> None:
        """Queue ``path`` for the other servers (never blocks)."""
        with self._settled:
            self._pending += 1
        self._queue.put(path)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every path told so far is in the database (or failed to get there)."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [str(first)]
            stop = False
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(str(more))
            self._record(batch)
            with self._settled:
                self._pending -= len(batch)
                if self._pending == 0:
                    self._settled.notify_all()
            if stop:
                return

    def _record(self, batch: list[str]) -> None:
        try:
            self._metadata.record_content_changes(sorted(set(batch)))
        except Exception as error:  # the servers then see these paths within the ttl, as before
            LOGGER.warning(
                "cannot tell the other servers of %d changed path(s) (%s): they see them within "
                "tierstore.metadata.cache.ttl",
                len(batch),
                error,
            )
