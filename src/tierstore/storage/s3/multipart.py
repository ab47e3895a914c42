"""Multipart uploads that tierstore drives part by part, so that a failure costs one part.

obstore's multipart put retries inside each part request but gives up the whole upload after
that, and never says which upload id it left behind when its abort failed. Here the upload is
created, completed and aborted through botocore (control calls), and each part goes as a PUT to a
URL botocore presigns, sent by urllib3 from the caller's buffer (no copy, no payload hashing in
Python). Measured against SeaweedFS on this machine, one stream of 8 MiB parts: 119 MiB/s this
way, 98 MiB/s through obstore's multipart put.

- A part that fails with a transient error is sent again, alone, with the store's retry policy.
- With ``checksum_mode: when_supported`` every part carries ``x-amz-checksum-crc32`` (signed in
  the URL), so the store verifies each part; ``when_required`` sends none.
- Memory: at most ``concurrency + 1`` parts of the writer's own (those in flight and the one
  being filled; :mod:`.parts` says why), counted in :attr:`MultipartWriter.buffer_high_water`.
  ``concurrency`` is the settings' plan: lowered to fit ``tierstore.upload.buffer.max``.
- A CreateMultipartUpload that botocore had to retry may have made an upload whose answer was
  lost: uploads of the same key begun since the first try (less 15 s of clock skew) are aborted
  when the write ends. A second writer of the same key in that moment loses its upload (its
  write fails; nothing half-written is seen), which is the lesser harm next to stored orphans.
- On any failure the upload is aborted; when the abort cannot reach the store either, the
  upload is written to the journal (:mod:`.upload_journal`) and aborted later by
  ``tierstore fs uploads --abort`` or the next server start.
"""

from __future__ import annotations

import base64
import logging
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import urllib3

from tierstore.errors import NotFoundError, StoreError
from tierstore.settings.model import UploadPlan
from tierstore.storage.interface import ObjectWriter, PutResult
from tierstore.storage.s3.http_pool import answer_error, unreachable
from tierstore.storage.s3.parts import Buffer, BufferGauge, GaugedWriter, HeldPart, PartCutter, forget_locals
from tierstore.storage.s3.retry import RetryPolicy
from tierstore.storage.s3.upload_journal import UnfinishedUpload, UploadJournal

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOGGER = logging.getLogger(__name__)
# How far the store's clock may be behind ours when telling which uploads a retried create made.
_CLOCK_SKEW = timedelta(seconds=15)

ControlCall = Callable[[str, str, Callable[[], Any]], Any]


@dataclass(frozen=True)
class UploadTarget:
    """Where parts go and what every control call needs."""

    control: S3Client
    control_call: ControlCall  # (operation, key, call) -> result, botocore errors mapped
    pool: urllib3.PoolManager
    policy: RetryPolicy
    bucket: str
    key: str  # relative to the store's prefix, for messages
    full_key: str
    create_fields: dict[str, Any]  # SSE and checksum fields for CreateMultipartUpload
    checksums: bool
    journal: Callable[[], UploadJournal]
    endpoint: str


@dataclass(frozen=True)
class _Part:
    number: int
    etag: str
    checksum: str | None


class MultipartWriter(GaugedWriter, ObjectWriter):
    """A streaming write: parts of ``part_size`` go out while the caller writes the next ones."""

    def __init__(
        self,
        target: UploadTarget,
        *,
        plan: UploadPlan,
        upload_single: Callable[[Buffer], PutResult],
    ) -> None:
        self._target = target
        self._upload_single = upload_single
        self._gauge = BufferGauge()
        self._parts = PartCutter(plan.part_size, self._gauge)
        self._upload_id: str | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._concurrency = plan.concurrency
        self._slots = threading.BoundedSemaphore(plan.concurrency)
        self._futures: list[Future[_Part]] = []
        self._finished = False
        self._result: PutResult | None = None
        # Set when CreateMultipartUpload needed a retry: an earlier try may have made an upload
        # whose id never reached us. Uploads of this key begun since then are aborted at the end.
        self._strays_since: datetime | None = None

    # -- the caller's side ------------------------------------------------------------------

    @property
    def part_size(self) -> int:
        return self._parts.part_size

    @property
    def concurrency(self) -> int:
        """Parts uploaded at once: the settings' plan, lowered to fit a buffer cap."""
        return self._concurrency

    def write(self, data: Buffer) -> int:
        if self._finished:
            raise ValueError("write to a closed object writer")
        for _complete in self._parts.add(data):
            self._reserve_slot()
            self._submit(self._parts.take(), own=True)
        return len(data)

    def send_part(self, data: Buffer) -> None:
        """Queue one whole part of the caller's (kept unchanged until :meth:`close`)."""
        self._reserve_slot()
        self._submit(data, own=False)

    def _reserve_slot(self) -> None:
        """Wait until fewer than ``concurrency`` parts are in flight, and claim the next place."""
        self._raise_if_failed()
        if self._upload_id is None:
            self._upload_id = self._create()
            self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="tierstore-part")
        self._slots.acquire()

    def _submit(self, data: Buffer, *, own: bool) -> None:
        assert self._executor is not None
        held: HeldPart[Buffer] = HeldPart(data, self._gauge if own else None)
        del data  # from here on only the held part refers to the bytes
        number = len(self._futures) + 1
        try:
            future = self._executor.submit(self._send_with_retries, number, held)
        except BaseException:
            held.release()
            self._slots.release()
            raise
        future.add_done_callback(lambda done: self._part_done(done, held))
        self._futures.append(future)

    def _part_done(self, future: Future[_Part], held: HeldPart[Buffer]) -> None:
        if future.cancelled():
            held.release()
        self._slots.release()

    def close(self) -> PutResult:
        if self._finished:
            if self._result is None:
                raise ValueError("the object writer was aborted")
            return self._result
        if self._upload_id is None:
            self._finished = True
            held: HeldPart[Buffer] = HeldPart(self._parts.take(), self._gauge)
            try:
                self._result = self._upload_single(held.take())
            finally:
                held.release()
            return self._result
        try:
            if self._parts.pending_size:
                self._reserve_slot()
                self._submit(self._parts.take(), own=True)
            parts = [future.result() for future in self._futures]
            self._result = self._complete(parts)
        except BaseException:
            self.abort()
            raise
        finally:
            self._finished = True
            self._shutdown()
        return self._result

    def abort(self) -> None:
        self._finished = True
        self._result = None
        self._parts.clear()
        for future in self._futures:
            future.cancel()
        self._shutdown()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._abort(upload_id)
            self._abort_strays(upload_id)

    # -- the store's side --------------------------------------------------------------------

    def _raise_if_failed(self) -> None:
        for future in self._futures:
            if future.done() and not future.cancelled() and (error := future.exception()) is not None:
                raise error

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _create(self) -> str:
        target = self._target
        asked_at = datetime.now(UTC)
        response = target.control_call(
            "CREATE multipart upload",
            target.key,
            lambda: target.control.create_multipart_upload(
                Bucket=target.bucket, Key=target.full_key, **target.create_fields
            ),
        )
        upload_id: str = response["UploadId"]
        if response.get("ResponseMetadata", {}).get("RetryAttempts"):
            self._strays_since = asked_at - _CLOCK_SKEW
        return upload_id

    def _abort_strays(self, ours: str) -> None:
        """Abort the uploads of this key that lost tries of CreateMultipartUpload made."""
        since, self._strays_since = self._strays_since, None
        if since is None:
            return
        target = self._target
        try:
            listed = target.control_call(
                "LIST multipart uploads",
                target.key,
                lambda: target.control.list_multipart_uploads(Bucket=target.bucket, Prefix=target.full_key),
            )
        except StoreError as error:
            LOGGER.warning("could not look for uploads a retried create left (%s)", error)
            return
        for upload in listed.get("Uploads", []):
            initiated = upload.get("Initiated")
            if upload["Key"] != target.full_key or upload["UploadId"] == ours:
                continue
            if isinstance(initiated, datetime) and initiated >= since:
                LOGGER.info("aborting upload %s that a retried create left", upload["UploadId"])
                self._abort(upload["UploadId"])

    def _send_with_retries(self, number: int, held: HeldPart[Buffer]) -> _Part:
        try:
            return self._send_tried(number, held)
        except BaseException as error:
            forget_locals(error)
            raise
        finally:
            # The frame that held the bytes is gone: the part is off the count before its
            # slot is given back (the future's callback), so a new part never overlaps it.
            held.release()

    def _send_tried(self, number: int, held: HeldPart[Buffer]) -> _Part:
        data = held.take()
        checksum = _crc32(data) if self._target.checksums else None
        attempts = self._target.policy.attempts()
        while True:
            try:
                return self._send(number, data, checksum)
            except StoreError as error:
                attempts.failed(error)

    def _send(self, number: int, data: Buffer, checksum: str | None) -> _Part:
        target = self._target
        assert self._upload_id is not None
        params: dict[str, Any] = {
            "Bucket": target.bucket,
            "Key": target.full_key,
            "UploadId": self._upload_id,
            "PartNumber": number,
        }
        headers = {"Content-Length": str(len(data))}
        if checksum is not None:
            params["ChecksumCRC32"] = checksum
            headers["x-amz-checksum-crc32"] = checksum
        operation = f"PUT part {number} of"
        url = target.control_call(
            operation,
            target.key,
            lambda: target.control.generate_presigned_url("upload_part", Params=params, ExpiresIn=3600),
        )
        try:
            # urllib3 sends any buffer as it is (socket.sendall); its hints name only bytes.
            response = target.pool.request("PUT", url, body=cast("bytes", data), headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise unreachable(error, operation, target.bucket, target.full_key) from None
        if response.status != 200:
            raise answer_error(response, operation, target.bucket, target.full_key)
        etag = response.headers.get("ETag")
        if not etag:
            raise StoreError(
                f"{operation} s3://{target.bucket}/{target.full_key}: the store answered without an ETag",
                bucket=target.bucket,
                key=target.key,
            )
        return _Part(number, etag, checksum)

    def _complete(self, parts: list[_Part]) -> PutResult:
        target = self._target
        assert self._upload_id is not None
        listed: list[Any] = []
        for part in parts:
            entry: dict[str, Any] = {"PartNumber": part.number, "ETag": part.etag}
            if part.checksum is not None:
                entry["ChecksumCRC32"] = part.checksum
            listed.append(entry)
        upload_id = self._upload_id
        self._abort_strays(upload_id)
        try:
            response = target.control_call(
                "COMPLETE multipart upload",
                target.key,
                lambda: target.control.complete_multipart_upload(
                    Bucket=target.bucket,
                    Key=target.full_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": listed},
                ),
            )
        except NotFoundError:
            # A retried Complete whose first try went through (its answer lost) finds no upload.
            response = self._completed_already(len(parts))
        self._upload_id = None
        return PutResult(key=target.key, etag=response.get("ETag"))

    def _completed_already(self, part_count: int) -> dict[str, Any]:
        target = self._target
        head = target.control_call(
            "HEAD", target.key, lambda: target.control.head_object(Bucket=target.bucket, Key=target.full_key)
        )
        etag = str(head.get("ETag") or "")
        if not etag.strip('"').endswith(f"-{part_count}"):
            raise StoreError(
                f"COMPLETE multipart upload s3://{target.bucket}/{target.full_key} failed: the upload "
                "is gone and the object there is not the one it would have made; write it again",
                bucket=target.bucket,
                key=target.key,
            )
        return {"ETag": etag}

    def _abort(self, upload_id: str) -> None:
        target = self._target
        try:
            target.control_call(
                "ABORT multipart upload",
                target.key,
                lambda: target.control.abort_multipart_upload(
                    Bucket=target.bucket, Key=target.full_key, UploadId=upload_id
                ),
            )
        except NotFoundError:
            return
        except StoreError as error:
            record = UnfinishedUpload.now(target.endpoint, target.bucket, target.full_key, upload_id)
            try:
                target.journal().record(record)
            except OSError as journal_error:
                LOGGER.error(
                    "upload %s of s3://%s/%s could not be aborted (%s) nor recorded (%s): "
                    "abort it with tierstore fs uploads --abort",
                    upload_id,
                    target.bucket,
                    target.full_key,
                    error,
                    journal_error,
                )
                return
            LOGGER.warning(
                "upload %s of s3://%s/%s could not be aborted (%s); recorded in %s for the next "
                "tierstore fs uploads --abort or server start",
                upload_id,
                target.bucket,
                target.full_key,
                error,
                target.journal().path,
            )


def upload_buffer(writer: MultipartWriter, data: Buffer) -> PutResult:
    """Send a buffer already in memory as parts that are views of it (nothing copied)."""
    view = memoryview(data).cast("B")
    try:
        size = writer.part_size
        for offset in range(0, len(view), size):
            writer.send_part(view[offset : offset + size])
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def _crc32(data: Buffer) -> str:
    # zlib releases the GIL on large buffers; measured here at 2.5 GiB/s.
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")
