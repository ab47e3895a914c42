"""Knowing, without trying, whether an answer needs blocking work.

The server answers warm requests (a cached vend, a stat or an ls from memory) on its event loop,
which must never wait on a database, STS or a store: one such wait stalls every connection.
Code that is about to block calls :func:`require_io` first; inside :func:`memory_only` that
raises :class:`NeedsIO`, and the server runs the same request again on a worker thread, where
the same call is a no-op. Outside the block nothing changes, so every other caller (the CLI,
the sink, tests) is unaffected.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_memory_only: contextvars.ContextVar[bool] = contextvars.ContextVar("tierstore_memory_only", default=False)


class NeedsIO(Exception):  # noqa: N818 -- a signal to retry on a thread, not an error
    """Raised inside :func:`memory_only` where answering would need blocking work (named)."""


class memory_only:  # noqa: N801 -- used as a function: ``with memory_only():``
    """Within this block, :func:`require_io` raises :class:`NeedsIO` instead of returning.

    A class rather than a generator-based context manager: the server enters it several times
    a request, and a generator's frame and three calls cost more than the check it guards."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _memory_only.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _memory_only.reset(self._token)


def require_io(what: str) -> None:
    """Call before blocking on ``what``: inside :func:`memory_only` it raises :class:`NeedsIO`."""
    if _memory_only.get():
        raise NeedsIO(what)


async def on_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` on a worker thread of the running event loop (anyio's, which the
    server's routes share), for the blocking work an async call cannot avoid."""
    import anyio.to_thread  # only servers call this: short-lived commands never import anyio

    return await anyio.to_thread.run_sync(function, *args)
