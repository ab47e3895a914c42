"""Attribute and directory-entry caches, each entry kept ``--attr-timeout`` seconds.

The kernel caches too (entry and attribute timeouts set to the same value), but it forgets an
entry whenever it likes and asks again; this cache answers those asks without a round trip to
the server, and a directory listing fills it with every entry's attributes (so ``ls -l`` of a
directory of 1,000 files costs its listing pages, not 1,000 stats). A missing path is cached too
(a negative entry), as the kernel's negative dentries are. What this mount changes is dropped at
once: the path, everything below it when it is a directory, and its parent (whose size and
times the change may move). Bounded: at most ``capacity`` paths, least recently used out first.

What the server answered is not kept when this mount changed the path, one above it or one below
it while the question was on its way (a ``since`` ticket of the mount's ``ChangeLog``, where
every change is recorded before the caches forget it): else ``rsync``'s temporary name, listed
just before its rename, would be shown after it for the cache's whole time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from tierstore.change_log import ChangeLog
from tierstore.lru import BoundedLRU

DEFAULT_CAPACITY = 100_000


@dataclass(frozen=True)
class _Entry:
    expires: float
    attrs: dict[str, Any] | None  # None: the path does not exist


class AttributeCache:
    """Thread-safe: mfusepy calls back from libfuse's worker threads."""

    def __init__(self, ttl: float, changes: ChangeLog, capacity: int = DEFAULT_CAPACITY) -> None:
        self.ttl = ttl
        self._entries: BoundedLRU[str, _Entry] = BoundedLRU(capacity if ttl > 0 else 0)
        self._changes = changes
        # Held to check and keep, and to forget: a put either sees a change or is forgotten by it.
        self._lock = threading.Lock()
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

    def put(self, path: str, attrs: dict[str, Any] | None, *, since: int | None = None) -> None:
        """Keep ``attrs``; with ``since`` (a ticket taken before the server was asked), not when
        this mount changed anything at, above or below ``path`` since then."""
        if self.ttl <= 0:
            return
        with self._lock:
            if since is None or not self._changes.touched(since, path):
                self._entries.put(path, _Entry(time.monotonic() + self.ttl, attrs))

    def forget(self, path: str, *, below: bool = False) -> None:
        """Drops ``path`` and its parent; with ``below``, everything inside it too."""
        with self._lock:
            self._entries.pop(path)
            parent = path.rsplit("/", 1)[0] or "/"
            self._entries.pop(parent)
            if below:
                _drop_inside(self._entries, path)

    def clear(self) -> None:
        self._entries.clear()


# A listing longer than this is not kept whole (it would weigh too much, and refreshing it on
# a miss would cost more pages than the stats it saves).
MAX_LISTED_NAMES = 5_000
DEFAULT_NAMES_CAPACITY = 200_000
# How long after its names expired a directory is still listed again on a miss rather than
# stat'ed: a reader going through its files; past that the listing is no longer a good guess.
RELIST_WITHIN_SECONDS = 60.0


@dataclass
class _Names:
    expires: float
    names: set[str]


class DirectoryNames:
    """Every name in the directories this mount listed whole or made itself, for ``ttl`` seconds.

    Two things follow. A lookup of any other name there is ENOENT without a round trip: ``cp -r``,
    ``tar x`` and ``rsync`` look each new name up before creating it, and in a directory made a
    moment ago each of those lookups was a server stat answered "not found" (the costliest kind,
    as the server then looks for a directory of that name too). And a stat missing in a directory
    that was listed whole is answered by listing it again (see ``TierstoreOperations``), so that
    reading many files after an ``ls`` costs a page per directory, not a stat per file.

    This mount's own changes keep the sets true (``added``, ``removed``, ``forget``); another
    client's new file in such a directory shows after ``ttl`` at the latest, like a negative
    entry. Thread-safe; bounded by ``capacity`` names in all, least recently used out first.
    """

    def __init__(self, ttl: float, changes: ChangeLog, capacity: int = DEFAULT_NAMES_CAPACITY) -> None:
        self.ttl = ttl
        self._dirs: BoundedLRU[str, _Names] = BoundedLRU(capacity if ttl > 0 else 0)
        self._changes = changes
        self._lock = threading.Lock()

    def fill(self, directory: str, names: set[str], *, since: int | None = None) -> None:
        """Keep ``names``; with ``since`` (a ticket taken before the listing was asked for), not
        when this mount changed anything in the directory since then."""
        if self.ttl <= 0 or len(names) > MAX_LISTED_NAMES:
            return
        with self._lock:
            if since is None or not self._changes.touched(since, directory):
                self._dirs.put(directory, _Names(time.monotonic() + self.ttl, names), weight=len(names) + 1)

    def names(self, directory: str, *, stale: bool = False) -> set[str] | None:
        """The names, or None when not known or expired (with ``stale``: expired less than
        ``RELIST_WITHIN_SECONDS`` ago); the set is the cache's own: do not change it."""
        found = self._dirs.get(directory)
        if found is None:
            return None
        late = time.monotonic() - found.expires
        if late > (RELIST_WITHIN_SECONDS if stale else 0):
            return None
        return found.names

    def missing(self, path: str) -> bool:
        """True when ``path``'s directory is known whole and holds no such name."""
        directory, _, name = path.rpartition("/")
        known = self.names(directory or "/")
        return known is not None and name not in known

    def added(self, path: str) -> None:
        directory, _, name = path.rpartition("/")
        with self._lock:
            found = self._dirs.get(directory or "/")
            if found is not None:
                found.names.add(name)
                if len(found.names) > MAX_LISTED_NAMES:
                    self._dirs.pop(directory or "/")

    def removed(self, path: str) -> None:
        directory, _, name = path.rpartition("/")
        with self._lock:
            found = self._dirs.get(directory or "/")
            if found is not None:
                found.names.discard(name)

    def forget(self, path: str, *, below: bool = False) -> None:
        """Drops what is known of directory ``path`` (and, with ``below``, of those inside it)."""
        with self._lock:
            self._dirs.pop(path)
            if below:
                _drop_inside(self._dirs, path)

    def clear(self) -> None:
        self._dirs.clear()


def _drop_inside(entries: BoundedLRU[str, Any], directory: str) -> None:
    """Drops every path below ``directory`` (not the directory itself)."""
    inside = f"{directory.rstrip('/')}/"
    for key in entries.held_keys():
        if key.startswith(inside):
            entries.pop(key)
