"""File data through the server's data proxy (``/v1/data``), for when the store is out of reach.

Used when the server says so (vend mode ``proxy``: a local-directory mount, or vending turned
off) and when the store cannot be reached from this client. Reads are ranged GETs; a write is one
streaming PUT fed from a bounded queue, so memory stays at a few chunks whatever the size.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from tierstore.client.transport import Transport
from tierstore.storage.interface import ObjectWriter, PutResult

DATA = "/v1/data"
_QUEUE_CHUNKS = 4


def read(transport: Transport, path: str, start: int | None = None, end: int | None = None) -> bytes:
    if start is None and end is None:
        return transport.get_bytes(DATA, {"path": path})
    first = start or 0
    if end is not None and end <= first:
        return b""
    header = f"bytes={first}-" if end is None else f"bytes={first}-{end - 1}"
    return transport.get_bytes(DATA, {"path": path}, headers={"Range": header})


def iter_read(transport: Transport, path: str) -> Iterator[bytes]:
    with transport.stream_get(DATA, {"path": path}) as chunks:
        yield from chunks


def write(transport: Transport, path: str, data: bytes | bytearray | memoryview) -> Any:
    return transport.put_stream(DATA, {"path": path}, bytes(data))


class _AbortedError(Exception):
    """Raised inside the request body to cut the upload short."""


class ProxyWriter(ObjectWriter):
    """A streaming PUT to ``/v1/data``: ``write`` hands chunks to the thread sending the body."""

    _END = object()
    _ABORT = object()

    def __init__(self, transport: Transport, path: str) -> None:
        self.path = path
        self.result: Any = None
        self._chunks: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(
            target=self._send, args=(transport,), name=f"tierstore-put {path}", daemon=True
        )
        self._thread.start()

    def _body(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get()
            if item is self._END:
                return
            if item is self._ABORT:
                raise _AbortedError(self.path)
            assert isinstance(item, bytes)
            yield item

    def _send(self, transport: Transport) -> None:
        try:
            self.result = transport.put_stream(DATA, {"path": self.path}, self._body())
        except BaseException as error:  # handed to the writing thread
            self._error = error

    def _put(self, item: object) -> None:
        while self._thread.is_alive():
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        self._raise()

    def _raise(self) -> None:
        if self._error is not None and not isinstance(self._error, _AbortedError):
            raise self._error

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError(f"write to {self.path} after close")
        if data:
            self._put(bytes(data))
        return len(data)

    def close(self) -> PutResult:
        if not self._closed:
            self._closed = True
            self._put(self._END)
            self._thread.join()
            self._raise()
        return PutResult(key=self.path)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._chunks.put(self._ABORT, timeout=5)
        self._thread.join(timeout=30)
