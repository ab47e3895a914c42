"""The server's own limits: request heads and bodies, connections, concurrent uploads.

Each field of :class:`ServerLimits` is set by the key ``tierstore.server.limits.<field>``, with
``-`` for ``_`` (``body_min_rate``: ``tierstore.server.limits.body-min-rate``); see
:mod:`tierstore.server.config` for the ranges allowed.

- **Request heads**: a connection must send a whole request head within ``header_timeout``
  seconds of opening (or of its previous answer), or it is closed: a client that trickles its
  head a byte a second holds no socket for long. uvicorn only times out idle keep-alive
  connections (``idle_timeout``, a timer every received byte restarts), so
  :func:`protocol_class` adds this to whichever HTTP protocol uvicorn would pick (httptools
  when it is installed, else h11).
- **Connections**: at most ``connections`` are held open. Once that many are open, uvicorn
  answers a request 503 and closes its connection (``limit_concurrency``); a connection past
  the limit is closed as soon as it is accepted, before it can hold a descriptor for long.
  The default leaves room under the process's open-file limit.
- **JSON bodies**: ``json_body`` bytes at most; a larger ``Content-Length`` is refused with 413
  before a byte of the body is read, and a body without one is counted as it arrives.
- **Every body** is read against the clock (:mod:`tierstore.server.bodies`): each chunk must
  arrive within ``body_timeout`` seconds, and past the first ``body_timeout`` seconds of waiting
  the body must keep up ``body_min_rate`` bytes a second on average; else 408, the connection
  is closed and nothing is written.
- **Uploads** (``PUT /v1/data``): each user may run ``uploads_per_user`` at once (429 past that);
  uploads run on a thread pool of their own (``uploads`` threads), so slow or many uploads never
  starve the other routes; one that waits ``body_timeout`` seconds for a free thread is 503.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

if TYPE_CHECKING:
    # Type-checked as h11's protocol; at run time mixed into whichever class uvicorn picks
    # (httptools' has the same connection_made / on_response_complete / cycle / transport).
    from uvicorn.protocols.http.h11_impl import H11Protocol as _ProtocolBase
else:
    _ProtocolBase = object

DEFAULT_JSON_BODY = 1024 * 1024
DEFAULT_HEADER_TIMEOUT = 30
DEFAULT_IDLE_TIMEOUT = 5
DEFAULT_CONNECTIONS = 1000
DEFAULT_BODY_TIMEOUT = 30
DEFAULT_BODY_MIN_RATE = 1024
DEFAULT_UPLOADS_PER_USER = 8
DEFAULT_UPLOADS = 32
# Descriptors kept free for everything but client connections (store pools, SQLite, logs).
RESERVED_DESCRIPTORS = 128
MIN_CONNECTIONS = 16


def default_connections() -> int:
    """``DEFAULT_CONNECTIONS``, lowered to leave room under this process's open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_CONNECTIONS
    return max(MIN_CONNECTIONS, min(DEFAULT_CONNECTIONS, soft - RESERVED_DESCRIPTORS))


@dataclass(frozen=True)
class ServerLimits:
    json_body: int = DEFAULT_JSON_BODY
    header_timeout: int = DEFAULT_HEADER_TIMEOUT
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    connections: int = field(default_factory=default_connections)
    body_timeout: int = DEFAULT_BODY_TIMEOUT
    body_min_rate: int = DEFAULT_BODY_MIN_RATE
    uploads_per_user: int = DEFAULT_UPLOADS_PER_USER
    uploads: int = DEFAULT_UPLOADS


class _HeadDeadline(_ProtocolBase):
    """Closes a connection whose request head is late, or that is one past the connection cap.

    A timer is armed when the connection is made and after each answer; when it strikes while
    no request is under way (none yet, or the last one answered) the connection is closed. A
    request whose head arrived in time runs on its own clocks (the body limits), not this one.
    """

    head_timeout: float = DEFAULT_HEADER_TIMEOUT
    connection_cap: int = DEFAULT_CONNECTIONS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.connection_cap:
            transport.close()  # over the cap: drop it now rather than hold its descriptor
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_late)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self not in self.connections:
            return  # handed over (a WebSocket upgrade) or already gone
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()


def protocol_class(limits: ServerLimits, base: type[asyncio.Protocol] | None = None) -> type[Any]:
    """The HTTP protocol for uvicorn's ``http=``: ``base`` (default: the one uvicorn's "auto"
    picks) with ``limits.header_timeout`` on every request head and ``limits.connections`` as
    a hard cap on open connections."""
    chosen = base or AutoHTTPProtocol
    return type(
        f"Limited{chosen.__name__}",
        (_HeadDeadline, chosen),
        {"head_timeout": float(limits.header_timeout), "connection_cap": limits.connections},
    )
