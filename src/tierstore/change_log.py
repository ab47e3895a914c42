"""The latest changes by path, numbered, so that a cache fill that raced one is not kept.

A cache fills an entry in three steps: it asks the store (or the server), gets the answer, keeps
it. A write or removal that lands between the question and the keeping drops what the cache held
then, but not the answer on its way, which is kept as it was before the change and shown for the
cache's whole time (``rsync``'s temporary name listed after its rename, through a mount that was
listing the directory meanwhile). So a fill takes a ticket before it asks, and when it keeps its
answer it looks at the changes made since:

    ticket = log.ticket()
    answer = store.list(...)
    changes = log.since(ticket)
    if changes is not None and not any(touches(changed, path) for changed, _ in changes):
        cache.put(path, answer)

Only the last ``keep`` changes are held: a fill older than those is not kept at all (it took
longer than ``keep`` changes, which a fill of milliseconds does not). Thread-safe; a lock held for
constant work.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

# Changes held: at thousands of writes a second, a second or so of them; a fill lasts milliseconds.
DEFAULT_KEEP = 4096


class ChangeLog:
    """Numbered changes, each a path and whether it was a file written (rather than anything else:
    a removal, a move, a change of owner or mode)."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._latest = 0
        self._recent: deque[tuple[str, bool]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def ticket(self) -> int:
        """Take before asking: what :meth:`since` is later given."""
        return self._latest  # one int read: no lock needed

    def record(self, path: str, *, written: bool = False) -> None:
        """Record once the change is done (on the store and in the metadata), never before: a
        fill that asks after this sees its outcome."""
        with self._lock:
            self._latest += 1
            self._recent.append((path, written))

    def since(self, ticket: int) -> list[tuple[str, bool]] | None:
        """``(path, written)`` of each change recorded after ``ticket``, oldest first; None when
        more were made than are held (then anything may have changed)."""
        with self._lock:
            count = self._latest - ticket
            if count == 0:
                return []
            if count > len(self._recent) or count < 0:
                return None
            newest_first = list(itertools.islice(reversed(self._recent), count))
        newest_first.reverse()
        return newest_first

    def touched(self, ticket: int, path: str) -> bool:
        """Whether a change since ``ticket`` was at ``path``, above it or below it (or more
        changes were made than are held)."""
        changes = self.since(ticket)
        if changes is None:
            return True
        return any(on_one_line(changed, path) for changed, _ in changes)


def on_one_line(first: str, second: str) -> bool:
    """One of two absolute paths is the other or lies below it (``/a`` and ``/a/b``; not ``/a``
    and ``/ab``)."""
    if len(first) > len(second):
        first, second = second, first
    return first in ("/", second) or second.startswith(f"{first.rstrip('/')}/")
