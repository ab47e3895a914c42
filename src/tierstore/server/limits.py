"""The server's own limits: request heads and bodies, connections, concurrent uploads.

- **Request heads**: a connection must send a whole request head within ``header_timeout``
  seconds of opening (or of its previous answer), or it is closed: a client that trickles its
  head a byte a second holds no socket for long. uvicorn only times out idle keep-alive
  connections (``idle_timeout``), so :func:`protocol_class` adds this to its h11 protocol.
- **Connections**: past ``connections`` open connections and requests, uvicorn answers 503 at
  once instead of holding more sockets (``limit_concurrency``).
- **JSON bodies**: ``json_body`` bytes at most; a larger ``Content-Length`` is refused with 413
  before a byte of the body is read, and a body without one is counted as it arrives.
- **Upload bodies** (``PUT /v1/data``): each chunk must arrive within ``body_timeout`` seconds
  or the upload is aborted (nothing is written) and answered 408; each user may run
  ``uploads_per_user`` at once (429 past that); and uploads run on a thread pool of their own
  (``uploads`` threads), so slow or many uploads never starve the other routes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_JSON_BODY = 1024 * 1024
DEFAULT_HEADER_TIMEOUT = 30
DEFAULT_IDLE_TIMEOUT = 5
DEFAULT_CONNECTIONS = 1000
DEFAULT_BODY_TIMEOUT = 30
DEFAULT_UPLOADS_PER_USER = 8
DEFAULT_UPLOADS = 32


@dataclass(frozen=True)
class ServerLimits:
    json_body: int = DEFAULT_JSON_BODY
    header_timeout: int = DEFAULT_HEADER_TIMEOUT
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    connections: int = DEFAULT_CONNECTIONS
    body_timeout: int = DEFAULT_BODY_TIMEOUT
    uploads_per_user: int = DEFAULT_UPLOADS_PER_USER
    uploads: int = DEFAULT_UPLOADS


class _HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request head is late."""

    head_timeout: float = DEFAULT_HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()  # a whole head arrived: the request runs on its own clock

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_late)

    def _disarm_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()


def protocol_class(limits: ServerLimits) -> type[Any]:
    """The HTTP protocol for uvicorn, with ``limits.header_timeout`` on every request head."""
    return type(
        "HeadTimeoutH11Protocol", (_HeadTimeoutProtocol,), {"head_timeout": float(limits.header_timeout)}
    )
