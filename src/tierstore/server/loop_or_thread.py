"""Where a route's work runs: on the event loop when memory can answer, else on a worker thread.

See ``tierstore.blocking`` for how a call finds out, before it starts, that it would block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from tierstore.blocking import NeedsIO, memory_only

T = TypeVar("T")


async def in_memory_or_thread(call: Callable[[], T]) -> T:
    """``call()`` on the event loop when memory can answer it, else on a worker thread.

    A warm vend, stat or ls needs nothing but what the server holds in memory; answered on the
    loop it costs no thread hop and never queues behind blocking work. Whatever would block (a
    query, STS, a store call) raises ``NeedsIO`` before it starts (``tierstore.blocking``), and
    the whole call runs again on a thread, where nothing is refused. The calls given here have
    no side effect before their last blocking step, so the retry repeats none.
    """
    try:
        with memory_only():
            return call()
    except NeedsIO:
        return await run_in_threadpool(call)
