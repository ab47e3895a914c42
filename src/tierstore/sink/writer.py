"""One open output file per topic-partition, streamed to the store as it fills.

A :class:`PartitionFile` is the path of a record into S3: encoder (one line, one CSV row,
one Parquet row) -> compressor -> ``Store.open_write(key)``, which streams a multipart upload
with memory bounded by part size x (in-flight parts + 3), whatever the file size. Encoded bytes
are gathered into batches of :data:`BATCH_BYTES` before they reach the compressor: one call per
batch instead of one per record keeps the per-record cost of a Python call chain down.

Rotation (:class:`Rotation`) is decided from the records alone, never from the wall clock:
a file is completed after ``max_records`` records or ``max_bytes`` encoded bytes (counted before
compression, so the codec's buffering cannot move a boundary), and a record whose timestamp is
``rotate_interval_ms`` or more past the file's first record starts a new file. Replaying a
partition from the same offset therefore cuts the same files. (The flush interval, which does
close files by wall clock, is handled by the task; see :mod:`tierstore.sink.task` for why that
is still exactly-once.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tierstore.sink.compression import Compressor
from tierstore.sink.formats.base import RecordEncoder
from tierstore.sink.formats.record import SinkRecord
from tierstore.storage.interface import ObjectWriter, Store

# Encoded bytes gathered before one compressor/store call.
BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class Rotation:
    """When a file is complete: record count, encoded size, record-time span (0 = no limit)."""

    max_records: int = 0
    max_bytes: int = 0
    interval_ms: int = 0

    def starts_new_file(self, first_timestamp_ms: int | None, record: SinkRecord) -> bool:
        """Whether ``record`` belongs in a new file because of the record-time interval.

        Records without a timestamp never start a file on time; a timestamp earlier than the
        first record's (producers may set any) does not either.
        """
        if self.interval_ms <= 0 or first_timestamp_ms is None or record.timestamp_ms is None:
            return False
        return record.timestamp_ms - first_timestamp_ms >= self.interval_ms

    def is_full(self, records: int, encoded_bytes: int) -> bool:
        return (self.max_records > 0 and records >= self.max_records) or (
            self.max_bytes > 0 and encoded_bytes >= self.max_bytes
        )


@dataclass(frozen=True)
class CompletedFile:
    """A file whose upload completed: it is durable and covers ``[start_offset, end_offset]``."""

    topic: str
    partition: int
    key: str
    start_offset: int
    end_offset: int
    records: int
    encoded_bytes: int
    stored_bytes: int
    seconds_open: float


class PartitionFile:
    """The open file of one topic-partition, from its first record to complete or abort."""

    def __init__(
        self,
        *,
        store: Store,
        key: str,
        topic: str,
        partition: int,
        first: SinkRecord,
        encoder: RecordEncoder,
        compressor: Compressor,
    ) -> None:
        self.key = key
        self.topic = topic
        self.partition = partition
        self.start_offset = first.offset
        self.end_offset = first.offset - 1
        self.first_timestamp_ms = first.timestamp_ms
        self.records = 0
        self.encoded_bytes = 0
        self.stored_bytes = 0
        self._encoder = encoder
        self._compressor = compressor
        self._opened = time.monotonic()
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._writer: ObjectWriter = store.open_write(key)
        self._closed = False
        try:
            self._add(encoder.header())
        except BaseException:
            self.abort()
            raise

    @property
    def size(self) -> int:
        """Encoded bytes so far, with what the encoder still buffers (Parquet row groups)."""
        return self.encoded_bytes + self._encoder.buffered_bytes

    def append(self, record: SinkRecord) -> None:
        """Encode ``record`` into the file (it must be the partition's next record)."""
        self._add(self._encoder.encode(record))
        self.records += 1
        self.end_offset = record.offset

    def _add(self, data: bytes) -> None:
        if not data:
            return
        self._batch.append(data)
        self._batch_bytes += len(data)
        self.encoded_bytes += len(data)
        if self._batch_bytes >= BATCH_BYTES:
            self._drain()

    def _drain(self) -> None:
        if self._batch:
            chunk = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
            self._batch, self._batch_bytes = [], 0
            self._store_bytes(self._compressor.compress(chunk))

    def _store_bytes(self, data: bytes) -> None:
        if data:
            self._writer.write(data)
            self.stored_bytes += len(data)

    def complete(self) -> CompletedFile:
        """Finish encoding and compression and complete the upload; on failure, abort it."""
        try:
            self._add(self._encoder.finish())
            self._drain()
            self._store_bytes(self._compressor.finish())
            self._closed = True
            self._writer.close()
        except BaseException:
            self.abort()
            raise
        return CompletedFile(
            topic=self.topic,
            partition=self.partition,
            key=self.key,
            start_offset=self.start_offset,
            end_offset=self.end_offset,
            records=self.records,
            encoded_bytes=self.encoded_bytes,
            stored_bytes=self.stored_bytes,
            seconds_open=time.monotonic() - self._opened,
        )

    def abort(self) -> None:
        """Drop the file: the multipart upload is aborted, nothing becomes visible."""
        self._closed = True
        self._batch, self._batch_bytes = [], 0
        self._writer.abort()


FileFactory = Callable[[str, int, SinkRecord], PartitionFile]
