"""Attribute and directory-entry caches, each entry kept ``--attr-timeout`` seconds.

The kernel caches too (entry and attribute timeouts set to the same value), but it forgets an
entry whenever it likes and asks again; this cache answers those asks without a round trip to
the server, and a directory listing fills it with every entry's attributes (so ``ls -l`` of a
directory of 1,000 files costs its listing pages, not 1,000 stats). A missing path is cached too
(a negative entry), as the kernel's negative dentries are. What this mount changes is dropped at
once: the path, everything below it when it is a directory, and its parent (whose size and
times the change may move). Bounded: at most ``capacity`` paths, least recently used out first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tierstore.lru import BoundedLRU

DEFAULT_CAPACITY = 100_000


@dataclass(frozen=True)
class _Entry:
    expires: float
    attrs: dict[str, Any] | None  # None: the path does not exist


class AttributeCache:
    """Thread-safe: mfusepy calls back from libfuse's worker threads."""

    def __init__(self, ttl: float, capacity: int = DEFAULT_CAPACITY) -> None:
        self.ttl = ttl
        self._entries: BoundedLRU[str, _Entry] = BoundedLRU(capacity if ttl > 0 else 0)
        self.hits = 0
        self.misses = 0

    def get(self, path: str) -> tuple[bool, dict[str, Any] | None]:
        """``(found, attrs)``: found false on a miss; attrs None for a path known not to exist."""
        entry = self._entries.get(path)
        if entry is None or entry.expires < time.monotonic():
            self.misses += 1
            return False, None
        self.hits += 1
        return True, entry.attrs

    def put(self, path: str, attrs: dict[str, Any] | None) -> None:
        if self.ttl > 0:
            self._entries.put(path, _Entry(time.monotonic() + self.ttl, attrs))

    def forget(self, path: str, *, below: bool = False) -> None:
        """Drops ``path`` and its parent; with ``below``, everything inside it too."""
        self._entries.pop(path)
        parent = path.rsplit("/", 1)[0] or "/"
        self._entries.pop(parent)
        if below:
            inside = f"{path.rstrip('/')}/"
            for key in self._entries.held_keys():
                if key.startswith(inside):
                    self._entries.pop(key)

    def clear(self) -> None:
        self._entries.clear()
