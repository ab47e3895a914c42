"""How the mount's process uses glibc's malloc for read-ahead blocks (1 to 16 MiB each).

By default glibc gives every block above its mmap threshold a mapping of its own, returned on
free: each block read was then a fresh mapping that the kernel zeroed and faulted in page by
page (``clear_page_erms`` and the faults were a sixth of the mount's CPU in ``perf`` while
``dd`` read 1 GiB), and glibc also raises that threshold as large blocks are freed, so blocks
soon came from per-thread heaps where freed memory stayed resident.

So the threshold is fixed above the largest block: blocks come from the heaps, whose pages are
used again by the next block without being zeroed or faulted in (measured side by side, two
mounts reading the same 1 GiB object in turn: a fifth less CPU, 5 to 15% more MiB/s); the heaps
are bounded at two, so the many fetch and libfuse threads share them; and when the read-ahead
holds nothing any more, :func:`release_free_memory` hands the heaps' free pages back to the
system (``malloc_trim``), so the mount does not sit at its peak RSS after the reads end.
Elsewhere than glibc these calls do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging

from tierstore.fuse.prefetch import MAX_BLOCK

LOGGER = logging.getLogger("tierstore.fuse")

# glibc's mallopt parameters.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Above the largest read-ahead block (and the write parts, 8 MiB by default), and at most
# 32 MiB: glibc refuses a threshold above half its largest heap, 64 MiB by default on 64-bit.
MMAP_THRESHOLD = min(2 * MAX_BLOCK, 32 * 1024 * 1024)
HEAPS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        return ctypes.CDLL(None)
    return None


def bound_malloc() -> None:
    """Blocks from two heaps, not a fresh mapping each (see the module's text)."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is None:
            return
        threshold_set = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        heaps_set = libc.mallopt(_M_ARENA_MAX, HEAPS)
        if not (threshold_set and heaps_set):
            LOGGER.info(
                "glibc refused part of the read-ahead's malloc settings (threshold %s, heaps %s)",
                bool(threshold_set),
                bool(heaps_set),
            )


def release_free_memory() -> None:
    """Returns the heaps' free pages to the system (the read-ahead went idle)."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.malloc_trim(0)
