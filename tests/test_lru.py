"""The bounded LRU map the server's in-memory caches are built on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tierstore.lru import BoundedLRU


def test_the_least_recently_used_go_first_and_weights_count() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(4)
    for number, key in enumerate("abcd"):
        assert lru.put(key, number) == []
    assert lru.get("a") == 0  # now the most recently used: "b" is the oldest
    assert lru.put("e", 4) == [("b", 1)]
    assert lru.put("heavy", 5, weight=3) == [("c", 2), ("d", 3), ("a", 0)]
    assert (lru.held_keys(), lru.weight, lru.evictions) == (["e", "heavy"], 4, 4)
    # Replacing a value is no eviction; a value heavier than everything is not kept.
    assert lru.put("e", 40) == []
    assert lru.put("huge", 9, weight=5) == [("huge", 9)]
    assert (lru.held_keys(), lru.weight, lru.evictions) == (["heavy", "e"], 4, 5)
    assert lru.get("huge") is None and lru.pop("heavy") == 5 and lru.weight == 1


def test_setdefault_makes_one_value_for_threads_asking_at_once() -> None:
    lru: BoundedLRU[str, threading.Lock] = BoundedLRU(2)
    barrier = threading.Barrier(8)

    def ask(_: int) -> int:
        barrier.wait()
        return id(lru.setdefault("key", threading.Lock))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert len(set(pool.map(ask, range(8)))) == 1
    lru.setdefault("b", threading.Lock)
    lru.setdefault("c", threading.Lock)
    assert lru.held_keys() == ["b", "c"] and lru.evictions == 1
