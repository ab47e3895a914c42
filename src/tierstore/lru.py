"""A bounded map that forgets its least recently used entries: the one bound every in-memory cache
of a server keeps, so that memory does not grow with the number of distinct paths or users.

    seen: BoundedLRU[str, Answer] = BoundedLRU(4096)
    seen.put("/a", answer)          # returns what had to go to make room, oldest first
    seen.get("/a")                  # the answer, now the most recently used; None when absent

Each entry weighs 1 unless ``put`` says otherwise (a cached listing weighs as many as it holds), and
the weights together stay at most ``capacity``. Every method holds a lock for a constant amount
of work (``put`` also for what it evicts), so the helper is safe from many threads and from an
event loop that must not block.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most ``capacity`` units of weight, least recently used out first. Values are never None
    (None is what ``get`` answers for an absent key)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity {capacity} is negative")
        self.capacity = capacity
        self.evictions = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        # Only the entries weighing more than 1: most weigh 1, and a dict slot each would cost
        # about as much as the entry's own bookkeeping.
        self._heavy: dict[K, int] = {}
        self._weight = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    @property
    def weight(self) -> int:
        return self._weight

    def get(self, key: K) -> V | None:
        """The value for ``key``, which becomes the most recently used; None when absent."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V, weight: int = 1) -> list[tuple[K, V]]:
        """Keep ``value`` for ``key`` (replacing any), as the most recently used.

        Returns the entries evicted to make room, least recently used first. A value heavier
        than the whole capacity is not kept: it comes back as the one evicted entry.
        """
        if weight < 1:
            raise ValueError(f"weight {weight} is below 1")
        with self._lock:
            self._discard(key)
            if weight > self.capacity:
                self.evictions += 1
                return [(key, value)]
            self._items[key] = value
            if weight > 1:
                self._heavy[key] = weight
            self._weight += weight
            evicted: list[tuple[K, V]] = []
            while self._weight > self.capacity:
                old_key, old_value = self._items.popitem(last=False)
                self._weight -= self._heavy.pop(old_key, 1)
                evicted.append((old_key, old_value))
            self.evictions += len(evicted)
            return evicted

    def setdefault(self, key: K, make: Callable[[], V]) -> V:
        """The value for ``key``, made by ``make()`` and kept (weight 1) if absent: one step, so
        two threads asking at once get the same value."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
            made = make()
            self._items[key] = made
            self._weight += 1
            while self._weight > self.capacity:
                old_key, _ = self._items.popitem(last=False)
                self._weight -= self._heavy.pop(old_key, 1)
                self.evictions += 1
            return made

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None when it was absent."""
        with self._lock:
            return self._discard(key)

    def pop_many(self, keys: Iterable[K]) -> int:
        """Forget every key of ``keys`` under one hold of the lock; how many were there."""
        popped = 0
        items, heavy = self._items, self._heavy
        with self._lock:
            for key in keys:  # _discard's work, inline: a write drops a dozen keys, most absent
                if items.pop(key, None) is not None:
                    self._weight -= heavy.pop(key, 1)
                    popped += 1
        return popped

    def oldest(self) -> tuple[K, V] | None:
        """The least recently used entry (left in place), or None when empty."""
        with self._lock:
            for key, value in self._items.items():
                return key, value
            return None

    def held_keys(self) -> list[K]:
        """The keys now held, least recently used first (a copy: O(n), not for hot paths)."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._heavy.clear()
            self._weight = 0

    def _discard(self, key: K) -> V | None:
        found = self._items.pop(key, None)
        if found is not None:
            self._weight -= self._heavy.pop(key, 1)
        return found
