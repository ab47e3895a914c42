"""The listings cache of ``tierstore://``: fsspec's, with a bound on how many listings it keeps.

fsspec keeps one filesystem per server and token for the life of the process, and its
``DirCache`` never drops a listing: an expired one is only skipped until it is asked for again,
and its ``max_paths`` bound does not hold (fsspec 2026.9: ten listings set with ``max_paths=4``
are all kept). A process listing many directories (a long job, a notebook) would keep every
listing it ever made. This one keeps the most recently set ``most`` listings.
"""

from __future__ import annotations

import threading
from typing import Any

from fsspec.dircache import DirCache  # type: ignore[import-untyped]


class BoundedListings(DirCache):  # type: ignore[misc]
    def __init__(self, most: int, *, expiry_seconds: float | None, use_listings_cache: bool = True) -> None:
        super().__init__(use_listings_cache=use_listings_cache, listings_expiry_time=expiry_seconds)
        self.most = most
        self._lock = threading.Lock()

    def __setitem__(self, key: str, value: list[dict[str, Any]]) -> None:
        with self._lock:
            # Set again: it becomes the newest (dicts keep their insertion order).
            self._cache.pop(key, None)
            super().__setitem__(key, value)
            while len(self._cache) > self.most:
                oldest = next(iter(self._cache))
                del self._cache[oldest]
                self._times.pop(oldest, None)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._cache[key]
            self._times.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._times.clear()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (self.most, self.listings_expiry_time, self.use_listings_cache))


def _rebuilt(most: int, expiry_seconds: float | None, use_listings_cache: bool) -> BoundedListings:
    return BoundedListings(most, expiry_seconds=expiry_seconds, use_listings_cache=use_listings_cache)
