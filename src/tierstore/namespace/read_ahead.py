"""Read-ahead for paged listings: a directory's next store page is fetched while the current page
is being sent, as mountpoint-s3 prefetches a file's next part while the current one is read.

A client walking a large directory asks for page N+1 only once page N has reached it; without
read-ahead the store's time for each page (SeaweedFS: about 20 ms a page of 1,000) comes on top
of the server's and the client's, one after the other. With it the two overlap. Only what the
store said is kept (never a permission decision: the page is checked and built for its caller
when it is asked for), at most ``KEEP`` pages, each for at most ``MAX_AGE_SECONDS``: a client that
comes back later gets a fresh page from the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from tierstore.blocking import require_io
from tierstore.lru import BoundedLRU

if TYPE_CHECKING:
    from tierstore.namespace.listing import StoreItem

# Pages fetched ahead and not yet asked for (a page of 1,000 entries is about 250 KB).
KEEP = 64
MAX_AGE_SECONDS = 5.0
WORKERS = 4

# (directory path, the store's resume token, page size, with ETags)
PageKey = tuple[str, str, int, bool]


class ReadAhead:
    def __init__(self) -> None:
        self._pending: BoundedLRU[PageKey, tuple[float, Future[list[StoreItem]]]] = BoundedLRU(KEEP)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.used = 0

    def start(self, key: PageKey, fetch: Callable[[], list[StoreItem]]) -> None:
        """Fetch the page ``key`` names in the background, unless it is already on its way."""
        if key in self._pending:
            return
        self._pending.put(key, (time.monotonic(), self._workers().submit(fetch)))

    def warm(self, fill: Callable[[], object]) -> None:
        """Run ``fill`` (which keeps what it reads in the namespace's cache) in the background;
        a failure is left for whoever asks for the same thing next, who then meets it."""
        self._workers().submit(fill)

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="tierstore-read-ahead")
            return self._pool

    def take(self, key: PageKey) -> list[StoreItem] | None:
        """The page fetched ahead for ``key`` (waiting for it if it is still on its way), or None:
        none was fetched, it is too old, or fetching it failed (the caller then fetches it
        itself, and gets the failure with its message)."""
        found = self._pending.get(key)
        if found is None:
            return None
        started, future = found
        if time.monotonic() - started > MAX_AGE_SECONDS:
            self._pending.pop(key)
            return None
        if not future.done():
            require_io("waiting for a listing page fetched ahead")
        self._pending.pop(key)
        try:
            items = future.result()
        except Exception:
            return None
        self.used += 1
        return items
