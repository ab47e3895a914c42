"""A streaming object writer over an uploader that consumes an iterator of parts.

``write()`` cuts the stream into parts and hands them, through a queue, to an upload running on
a background thread (botocore's, for the store that logs the wire). A full part is joined only
once it holds one of ``concurrency`` tickets, and its ticket comes back when its upload ends, so
the parts queued or in flight are at most ``concurrency`` and the write holds at most
``concurrency + 1`` parts of its own (the one being filled besides; :mod:`.parts` says why),
whatever the object size. An object smaller than one part is sent with a single PUT. On any
failure — in the caller's block, in the source, or in the store — the upload is aborted, so no
part is left behind.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from tierstore.errors import StoreError
from tierstore.settings.model import UploadPlan
from tierstore.storage.interface import ObjectWriter, PutResult
from tierstore.storage.s3.parts import Buffer, BufferGauge, GaugedWriter, HeldPart, PartCutter

PartsUploader = Callable[[Iterator[HeldPart[bytes]]], PutResult]
SingleUploader = Callable[[Buffer], PutResult]


class _AbortedError(Exception):
    """Raised into the uploader's iterator so that it aborts the multipart upload."""


_END = object()
_ABORT = object()
_POLL_SECONDS = 0.2


class StreamingWriter(GaugedWriter, ObjectWriter):
    """Hands each part to ``upload_parts``, which must :meth:`HeldPart.release` it when sent."""

    def __init__(
        self, *, plan: UploadPlan, upload_parts: PartsUploader, upload_single: SingleUploader
    ) -> None:
        self._upload_parts = upload_parts
        self._upload_single = upload_single
        self._gauge = BufferGauge()
        self._cutter = PartCutter(plan.part_size, self._gauge)
        self._concurrency = plan.concurrency
        self._tickets = threading.BoundedSemaphore(plan.concurrency)
        # Unbounded: the tickets bound the parts in it.
        self._parts: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._result: PutResult | None = None
        self._finished = False

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("write to a closed object writer")
        self._raise_if_failed()
        for _complete in self._cutter.add(data):
            self._send_part()
        return len(data)

    def close(self) -> PutResult:
        if self._finished:
            if self._result is None:
                raise ValueError("the object writer was aborted")
            return self._result
        self._finished = True
        if self._thread is None:
            held = HeldPart(self._cutter.take(), self._gauge)
            try:
                self._result = self._upload_single(held.take())
            finally:
                held.release()
            return self._result
        try:
            if self._cutter.pending_size:
                self._send_part()
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

    def _send_part(self) -> None:
        """Join the pending part once it holds a ticket, and queue it."""
        while not self._tickets.acquire(timeout=_POLL_SECONDS):
            self._raise_if_failed()
        try:
            held = HeldPart(self._cutter.take(), self._gauge, then=self._tickets.release)
        except BaseException:
            self._tickets.release()
            raise
        try:
            self._send(held)
        except BaseException:
            held.release()
            raise

    def _stop(self, marker: object) -> None:
        assert self._thread is not None
        self._parts.put(marker)
        self._thread.join()
        self._release_queued()

    def _send(self, item: object) -> None:
        self._raise_if_failed()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tierstore-upload", daemon=True)
            self._thread.start()
        self._parts.put(item)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            self._finished = True
            failure = self._failure
            if isinstance(failure, StoreError):
                raise failure
            raise StoreError(f"upload failed: {failure}") from failure

    def _iterate_parts(self) -> Iterator[HeldPart[bytes]]:
        while True:
            item = self._parts.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _AbortedError
            assert isinstance(item, HeldPart)
            yield item

    def _release_queued(self) -> None:
        """Parts nobody will upload any more: off the count, and their tickets back."""
        while True:
            try:
                item = self._parts.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, HeldPart):
                item.release()

    def _run(self) -> None:
        try:
            self._result = self._upload_parts(self._iterate_parts())
        except _AbortedError:
            pass
        except BaseException as error:  # the writer's caller re-raises it on its thread
            self._failure = error
            self._release_queued()
