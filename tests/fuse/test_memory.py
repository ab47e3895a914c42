"""The read-ahead's byte budget says when it goes idle, so the mount can hand memory back."""

from __future__ import annotations

from tierstore.fuse.prefetch import MAX_BLOCK, BufferPool


def test_the_pool_calls_on_idle_once_it_empties_after_real_reading() -> None:
    calls: list[int] = []
    pool = BufferPool(4 * MAX_BLOCK, on_idle=lambda: calls.append(pool.used))
    # Small files (a few KiB each) never add up to a trim per close.
    for _ in range(10):
        pool.force_take(4096)
        pool.give(4096)
    assert calls == []
    for _ in range(4):
        assert pool.try_take(MAX_BLOCK)
    assert not pool.try_take(MAX_BLOCK)  # the budget holds
    for _ in range(3):
        pool.give(MAX_BLOCK)
    assert calls == []  # still holding a block
    pool.give(MAX_BLOCK)
    assert calls == [0]  # empty again after 32 MiB went through: called once, with nothing held
    pool.force_take(MAX_BLOCK)
    pool.give(MAX_BLOCK)
    assert calls == [0]  # counted afresh since the last call
