"""A streaming object writer over an uploader that consumes an iterator of parts.

``write()`` cuts the stream into parts and hands them, through a queue of one, to an upload
running on a background thread (obstore's multipart put, or botocore's). Memory holds the part
being filled, one part queued and the parts the uploader has in flight (its concurrency): about
``part_size x (concurrency + 2)``, whatever the object size. An object smaller than one part is
sent with a single PUT. On any failure — in the caller's block, in the source, or in the store —
the upload is aborted, so no part is left behind.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from tierstore.errors import StoreError
from tierstore.storage.interface import ObjectWriter, PutResult
from tierstore.storage.s3.parts import PartCutter

PartsUploader = Callable[[Iterator[bytes]], PutResult]
SingleUploader = Callable[[bytes], PutResult]


class _AbortedError(Exception):
    """Raised into the uploader's iterator so that it aborts the multipart upload."""


_END = object()
_ABORT = object()
_POLL_SECONDS = 0.2


class StreamingWriter(ObjectWriter):
    def __init__(self, *, part_size: int, upload_parts: PartsUploader, upload_single: SingleUploader) -> None:
        self._upload_parts = upload_parts
        self._upload_single = upload_single
        self._cutter = PartCutter(part_size)
        self._parts: queue.Queue[object] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._result: PutResult | None = None
        self._finished = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("write to a closed object writer")
        self._raise_if_failed()
        for part in self._cutter.add(data):
            self._send(part)
        return len(data)

    def close(self) -> PutResult:
        if self._finished:
            if self._result is None:
                raise ValueError("the object writer was aborted")
            return self._result
        self._finished = True
        if self._thread is None:
            self._result = self._upload_single(self._cutter.take())
            return self._result
        try:
            if self._cutter.pending_size:
                self._send(self._cutter.take())
            self._send(_END)
        except BaseException:
            self._stop(_ABORT)
            raise
        self._thread.join()
        self._raise_if_failed()
        assert self._result is not None
        return self._result

    def abort(self) -> None:
        if self._finished and self._thread is None:
            return
        self._finished = True
        self._cutter.clear()
        if self._thread is not None:
            self._stop(_ABORT)
        self._result = None

    def _stop(self, marker: object) -> None:
        assert self._thread is not None
        while self._thread.is_alive():
            try:
                self._parts.put(marker, timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _send(self, item: object) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tierstore-upload", daemon=True)
            self._thread.start()
        while True:
            self._raise_if_failed()
            try:
                self._parts.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            self._finished = True
            failure = self._failure
            if isinstance(failure, StoreError):
                raise failure
            raise StoreError(f"upload failed: {failure}") from failure

    def _iterate_parts(self) -> Iterator[bytes]:
        while True:
            item = self._parts.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _AbortedError
            assert isinstance(item, bytes)
            yield item

    def _run(self) -> None:
        try:
            self._result = self._upload_parts(self._iterate_parts())
        except _AbortedError:
            pass
        except BaseException as error:  # the writer's caller re-raises it on its thread
            self._failure = error
            # Unblock a producer waiting on the queue: nothing reads it any more.
            while True:
                try:
                    self._parts.get_nowait()
                except queue.Empty:
                    break
