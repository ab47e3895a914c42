"""The namespace's metadata cache: stats, kinds and listings per path, bounded in size and time.

Each entry lives ``ttl`` seconds and carries the metadata's generations of mounts and attributes
when it was made (its stamp): an entry made before a chmod, chown or mount change, here or by
another server sharing the database (seen within ``tierstore.metadata.sync.interval``), is a
miss, so a stat or listing never shows an owner or mode that is no longer true.

Bounded, so memory does not grow with the number of distinct paths a server has seen:

- at most ``max_entries`` statuses: a stat or a kind counts one, a listing one per name it holds
  (its ``weight``: a listing of 1,000 names costs about what 1,000 stats do); past that the
  least recently used entries go;
- expired and out-of-date entries are dropped when they are looked up, and every fill also drops
  a few from the least recently used end, so an entry nobody used for ``ttl`` seconds does not
  stay; no thread is needed;
- a write forgets the path, everything cached below it and its ancestors' listings through an
  index from each directory to its cached children: the work is the path's depth plus what is
  below it, never the size of the cache. The index's directories count against the bound too
  (at most ``max_entries`` of them), so a cache of deep, unrelated paths stays bounded as well.

A fill that a write or removal raced (the store asked before it, the answer kept after its
invalidation) is not kept: fills take a ``ticket()`` before they ask and hand it to ``put``, which
looks at the changes made since (:mod:`tierstore.change_log`). A directory's names are the
exception: a file this server wrote meanwhile is added to them, as ``file_written`` would have.

Every method holds one lock for that much work and makes no I/O: the server calls it from many
threads and from its event loop (``tierstore.blocking.memory_only``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from tierstore.change_log import ChangeLog
from tierstore.lru import BoundedLRU
from tierstore.namespace import paths
from tierstore.namespace.paths import ancestors as ancestors_of

# Striped locks for filling: concurrent misses of one path wait for one store call instead of
# each making it (a listing of 1,000 keys under 16 clients was 16 listings).
FILL_STRIPES = 64
# How many stale entries each fill drops from the least recently used end, at most: more than
# one per fill, so the expired drain faster than new entries come, and few enough that a fill
# never holds the lock for long.
SWEEP_BATCH = 8

# The kinds of entry that hold a directory's listing (plain, and with each file's ETag for the
# S3 gateway): a change anywhere below a directory drops every one of them.
LISTING = "list"
LISTING_WITH_ETAGS = "list+etags"
LISTING_KINDS = (LISTING, LISTING_WITH_ETAGS)
# A directory's names and what each is (file or dir), whole: a dict, kept true by this server's
# own file writes (file_written) and dropped by any other change below the directory.
NAMES = "names"
# A file's whole head as its store last answered it to a HEAD or a GET (size, ETag, time, content
# type, user metadata): what the S3 gateway's HEAD answers from.
HEAD = "head"

Key = tuple[str, str]  # (kind, path)
Entry = tuple[float, object, object]  # (expires at, stamp, value)


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache since it was made (``entries``, ``size`` and ``directories``: now)."""

    entries: int  # (kind, path) pairs held
    size: int  # what the bound counts: stats and kinds one each, listings one per name
    max_entries: int
    directories: int  # directories in the invalidation index
    hits: int
    misses: int
    evictions: int  # dropped to stay within the bound
    expirations: int  # dropped because their ttl had passed
    stale: int  # dropped because the mounts or attributes changed since they were made
    visited: int  # index nodes and listings looked at by invalidations (changed())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class MetadataCache:
    """Stats, kinds and listings per path for ``ttl`` seconds, at most ``max_entries`` of them."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._enabled = ttl > 0 and max_entries > 0
        self._lru: BoundedLRU[Key, Entry] = BoundedLRU(max_entries)
        # Directory path -> the paths just below it that hold an entry or have one below them.
        # A path is in its parent's set exactly while it holds an entry or a set of its own.
        self._children: dict[str, set[str]] = {}
        self._kinds: set[str] = set()
        # The stamp of the latest fill, shared by the entries made under it instead of a tuple each.
        self._stamp: object = None
        self._lock = threading.Lock()
        self._filling = [threading.Lock() for _ in range(FILL_STRIPES)]
        self._changes = ChangeLog()
        self.hits = 0
        self.misses = 0
        self._evictions = 0
        self.expirations = 0
        self.stale = 0
        self.visited = 0
        # Told each path this cache drops for a change made here (changed, file_written), so that
        # servers sharing the namespace drop it too (see tierstore.namespace.change_notices).
        self.publish: Callable[[str], None] | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled

    def get(self, kind: str, path: str, stamp: object) -> object | None:
        if not self._enabled:
            return None
        key = (kind, path)
        with self._lock:
            found = self._lru.get(key)
            if found is None:
                self.misses += 1
                return None
            expires, made, value = found
            if made != stamp or expires < time.monotonic():
                self._drop(key, expired=made == stamp)
                self.misses += 1
                return None
            self.hits += 1
            return value

    def ticket(self) -> int:
        """Take before a fill asks the store; give it to :meth:`put` as ``since``."""
        return self._changes.ticket()

    def put(
        self,
        kind: str,
        path: str,
        value: object,
        stamp: object,
        *,
        weight: int = 1,
        since: int | None = None,
    ) -> None:
        """Keep ``value``, which counts ``weight`` against the bound (a listing: its length).
        With ``since`` (a :meth:`ticket` taken before the store was asked), not when a change
        made since then would have dropped it."""
        if not self._enabled:
            return
        now = time.monotonic()
        with self._lock:
            if since is not None:
                if not self._still_true(kind, path, value, since):
                    return
                if kind == NAMES and isinstance(value, dict):
                    weight = max(weight, len(value))  # names added by writes made since
            if stamp == self._stamp:
                stamp = self._stamp
            else:
                self._stamp = stamp
            self._kinds.add(kind)
            self._link(path)
            for (_, gone), _ in self._lru.put((kind, path), (now + self.ttl, stamp, value), weight):
                self._evictions += 1
                self._prune_up(gone)
            self._sweep(now, stamp)
            while len(self._children) > self.max_entries and self._evict_oldest():
                pass

    def drop(self, kind: str, path: str) -> None:
        """Forget one entry (a path's head when its stat is asked afresh)."""
        if not self._enabled:
            return
        with self._lock:
            if self._lru.pop((kind, path)) is not None:
                self._prune_up(path)

    def filling(self, kind: str, path: str) -> threading.Lock:
        """The lock to hold while filling ``(kind, path)``: check the cache again once it is held."""
        return self._filling[hash((kind, path)) % FILL_STRIPES]

    def changed(self, path: str) -> None:
        """``path`` was written or removed: forget it, what is below it, and its ancestors'
        listings and names."""
        if not self._enabled:
            return
        with self._lock:
            self._changes.record(path)
            self._forget(path, (*LISTING_KINDS, NAMES), ancestors_of(path))
        if self.publish is not None:
            self.publish(path)

    def changed_elsewhere(self, paths: list[str] | None) -> None:
        """Another server sharing the namespace changed ``paths``: each dropped as
        :meth:`changed` drops it, and told to nobody; None (the paths cannot be told): every
        entry dropped. Fills begun before are refused, as for a change made here."""
        if not self._enabled:
            return
        with self._lock:
            if paths is None:
                self._changes.record("/")
                self._lru.clear()
                self._children.clear()
                return
            for path in paths:
                self._changes.record(path)
                self._forget(path, (*LISTING_KINDS, NAMES), ancestors_of(path))

    def file_written(self, path: str, names_stamp: object) -> None:
        """A file was written at ``path``: as :meth:`changed`, except that the names kept of its
        ancestors (made under ``names_stamp``, the stamp now) are brought up to date rather than
        dropped: the file in its directory, and each directory on the way, which the write may
        have made, in the one above it. A name that is a file stays one (a key both file and
        directory is a file, as ``Store.kind`` says)."""
        if not self._enabled:
            return
        ancestors = ancestors_of(path)
        with self._lock:
            self._changes.record(path, written=True)
            self._forget(path, LISTING_KINDS, ancestors)
            if NAMES not in self._kinds:
                ancestors = []  # no directory's names were ever kept: none to bring up to date
            child, kind = paths.name_of(path), "file"
            for ancestor in ancestors:
                key = (NAMES, ancestor)
                found = self._lru.get(key)
                if found is not None:
                    _, made, names = found
                    if made != names_stamp or not isinstance(names, dict):  # out of date
                        self._lru.pop(key)
                    elif names.get(child) not in ("file", kind):
                        names[child] = kind
                        for (_, gone), _ in self._lru.put(key, found, len(names)):
                            self._evictions += 1
                            self._prune_up(gone)
                child, kind = paths.name_of(ancestor), "dir"
        if self.publish is not None:
            self.publish(path)

    def _forget(self, path: str, ancestors_kinds: tuple[str, ...], ancestors: list[str]) -> None:
        """Under the lock: every entry of ``path`` and below it, and the entries of
        ``ancestors_kinds`` of ``ancestors`` (``path``'s, from its parent up to ``/``)."""
        kinds = tuple(self._kinds)
        # Gathered first and dropped under one hold of the LRU's lock: a write's drops are a
        # dozen keys, most of them absent.
        gone = [(kind, path) for kind in kinds]
        visited = 0
        stack = [path]
        while stack:
            below = self._children.pop(stack.pop(), None)
            if below is None:
                continue
            for child in below:
                visited += 1
                gone.extend((kind, child) for kind in kinds)
                stack.append(child)
        held = [kind for kind in ancestors_kinds if kind in self._kinds]  # a kind never kept: none
        for ancestor in ancestors:
            visited += 1
            for kind in held:
                gone.append((kind, ancestor))
        self._lru.pop_many(gone)
        self.visited += visited
        self._prune_up(path)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                entries=len(self._lru),
                size=self._lru.weight,
                max_entries=self.max_entries,
                directories=len(self._children),
                hits=self.hits,
                misses=self.misses,
                evictions=self._evictions,
                expirations=self.expirations,
                stale=self.stale,
                visited=self.visited,
            )

    # -- with the lock held --------------------------------------------------------------------

    def _still_true(self, kind: str, path: str, value: object, since: int) -> bool:
        """Whether the changes made since ``since`` leave a fill of ``(kind, path)`` true: none
        at the path or above it, and for a listing or names none below it either (what
        :meth:`changed` drops). A file written below is added to names instead."""
        changes = self._changes.since(since)
        if changes is None:
            return False  # more changes than are held: anything may have moved
        holds_names = kind in LISTING_KINDS or kind == NAMES
        for changed, written in changes:
            if paths.is_within(path, changed):
                return False
            if holds_names and paths.is_within(changed, path):
                if kind != NAMES or not written or not isinstance(value, dict):
                    return False
                _add_written(value, paths.relative(changed, path))
        return True

    def _drop(self, key: Key, *, expired: bool) -> None:
        self._lru.pop(key)
        if expired:
            self.expirations += 1
        else:
            self.stale += 1
        self._prune_up(key[1])

    def _sweep(self, now: float, stamp: object) -> None:
        """Drop up to SWEEP_BATCH expired or out-of-date entries from the least recently used end.

        An entry unused for ``ttl`` seconds has expired (it was made before it was last used), so
        these are found there; one used more recently goes when it is next looked up.
        """
        for _ in range(SWEEP_BATCH):
            oldest = self._lru.oldest()
            if oldest is None:
                return
            key, (expires, made, _) = oldest
            if made == stamp and expires >= now:
                return
            self._drop(key, expired=made == stamp)

    def _evict_oldest(self) -> bool:
        oldest = self._lru.oldest()
        if oldest is None:
            return False
        self._lru.pop(oldest[0])
        self._evictions += 1
        self._prune_up(oldest[0][1])
        return True

    def _holds(self, path: str) -> bool:
        return any((kind, path) in self._lru for kind in self._kinds)

    def _link(self, path: str) -> None:
        """Put ``path`` in the index: in its parent's set, and each new set in its parent's."""
        child = path
        while child != "/":
            parent = paths.parent(child)
            below = self._children.get(parent)
            if below is not None:
                below.add(child)
                return  # a directory with a set is already linked above
            self._children[parent] = {child}
            child = parent

    def _prune_up(self, path: str) -> None:
        """Take ``path``, then each ancestor, out of the index while it holds nothing."""
        while path != "/" and path not in self._children and not self._holds(path):
            parent = paths.parent(path)
            below = self._children.get(parent)
            if below is not None:
                below.discard(path)
                if not below:
                    del self._children[parent]
            path = parent


def _add_written(names: dict[str, object], below: str) -> None:
    """A file written at ``below`` (relative to the names' directory) among the names: the file
    itself, or the directory on its way; a name that is a file stays one."""
    first, _, rest = below.partition("/")
    kind = "dir" if rest else "file"
    if names.get(first) not in ("file", kind):
        names[first] = kind
