"""One open output file per topic-partition, streamed to the store as it fills.

A :class:`PartitionFile` is the path of a record into S3: encoder (one line, one CSV row,
one Parquet row) -> compressor -> ``Store.open_write(key)``, which streams a multipart upload
with memory bounded by part size x (in-flight parts + 3), whatever the file size. Encoded bytes
are gathered into chunks of :data:`BATCH_BYTES` before they reach the compressor: one call per
chunk instead of one per record keeps the per-record cost of a Python call chain down. Chunks are
compressed and written on a :class:`Backlog` thread, so that compression (which releases the
GIL) overlaps with consuming and encoding.

Rotation (:class:`Rotation`) is decided from the records alone, never from the wall clock:
a file is completed after ``max_records`` records or ``max_bytes`` encoded bytes (counted before
compression, so the codec's buffering cannot move a boundary), and a record whose timestamp is
``rotate_interval_ms`` or more past the file's first record starts a new file. Replaying a
partition from the same offset therefore cuts the same files. (The flush interval, which does
close files by wall clock, is handled by the task; see :mod:`tierstore.sink.task` for why that
is still exactly-once.)
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from tierstore.sink.compression import Compressor
from tierstore.sink.converters import ConversionError
from tierstore.sink.formats.base import RecordEncoder
from tierstore.sink.formats.record import SinkRecord
from tierstore.storage.interface import ObjectWriter, Store

# Encoded bytes gathered before one compressor/store call.
BATCH_BYTES = 256 * 1024
# Chunks waiting for the compression thread, all files together (4 MiB).
BACKLOG_CHUNKS = 16


@dataclass(frozen=True)
class Rotation:
    """When a file is complete (0 = no limit), applied by the task to each record:

    - ``max_records``: the file is completed once it holds this many records;
    - ``max_bytes``: once its encoded size (with what the encoder buffers) reaches this;
    - ``interval_ms``: a record whose timestamp is this far or more past the file's first
      record's starts a new file. Records without a timestamp, or earlier than the first
      record's (producers may set any), never start a file on time.
    """

    max_records: int = 0
    max_bytes: int = 0
    interval_ms: int = 0


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


class Backlog:
    """One background thread that compresses and uploads the chunks of every open file.

    Compression (zlib, cramjam) and the store's writer release the GIL for most of their work,
    so handing them to a thread lets the consumer loop encode the next records meanwhile. Jobs run
    in the order they were queued, so each file's chunks stay in order. The queue holds at most
    :data:`BACKLOG_CHUNKS` chunks of :data:`BATCH_BYTES`: memory stays bounded, and a slow store
    slows the consumer down instead of piling data up.
    """

    def __init__(self, depth: int = 0) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth or BACKLOG_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="tierstore-sink-compress", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` (it must not raise); blocks while the queue is full."""
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait until every job queued so far has run."""
        done = threading.Event()
        self._jobs.put(done.set)
        done.wait()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()


class PartitionFile:
    """The open file of one topic-partition, from its first record to complete or abort.

    With a :class:`Backlog`, chunks are compressed and written on its thread; the first failure
    there is raised on the caller's next call (append, complete), and the file is aborted.
    """

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
        backlog: Backlog | None = None,
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
        self._encode = encoder.encode
        self._compressor = compressor
        self._backlog = backlog
        self._failure: BaseException | None = None
        self._opened = time.monotonic()
        self._batch: list[bytes] = []
        # The batch is handed on once encoded_bytes reaches this: BATCH_BYTES past the last hand-on.
        self._drain_at = BATCH_BYTES
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
        data = self._encode(record)
        self.records += 1
        self.end_offset = record.offset
        if data:  # the same as _add, inline: this runs once per record
            self._batch.append(data)
            self.encoded_bytes += len(data)
            if self.encoded_bytes >= self._drain_at:
                self._drain()

    def append_many(
        self, records: Sequence[SinkRecord], max_bytes: int = 0
    ) -> tuple[int, ConversionError | None]:
        """Encode ``records`` (the partition's next ones, in order) into the file as one block.

        With ``max_bytes``, stops after the record that brings :attr:`size` to it, exactly where
        record-by-record :meth:`append` calls would have stopped. Returns how many records were
        appended and, when the record after them could not be encoded, its ``ConversionError``
        (the records before it are in the file). The bytes handed to the compressor, chunk by
        chunk, are the same as with :meth:`append`.
        """
        encode = self._encode
        datas: list[bytes] = []
        error: ConversionError | None = None
        if max_bytes:
            encoder = self._encoder
            size = self.encoded_bytes
            for record in records:
                try:
                    data = encode(record)
                except ConversionError as failed:
                    error = failed
                    break
                datas.append(data)
                size += len(data)
                if size + encoder.buffered_bytes >= max_bytes:
                    break
        else:
            add = datas.append
            try:
                for record in records:
                    add(encode(record))
            except ConversionError as failed:
                error = failed
        count = len(datas)
        if count:
            self.records += count
            self.end_offset = records[count - 1].offset
            self._extend(datas)
        return count, error

    def append_block(self, data: bytes, count: int, end_offset: int) -> None:
        """Add ``count`` records encoded together as ``data`` (the task's text lane), the last
        at ``end_offset``. The batch is handed on after the block rather than inside it, so the
        chunks the compressor sees differ from record-by-record appends; the records do not."""
        self.records += count
        self.end_offset = end_offset
        self._extend([data])

    def _extend(self, datas: list[bytes]) -> None:
        """:meth:`_add` for each of ``datas``, with the same hand-on points, in C-level steps."""
        if not all(datas):
            datas = [data for data in datas if data]
        # sizes[k]: encoded_bytes once datas[:k] are added.
        sizes = list(accumulate(map(len, datas), initial=self.encoded_bytes))
        last = len(datas)
        done = 0
        while True:
            # The first record whose bytes reach the hand-on point: the batch goes on after it.
            reach = bisect_left(sizes, self._drain_at, done + 1)
            if reach > last:
                break
            self._batch.extend(datas[done:reach])
            self.encoded_bytes = sizes[reach]
            self._drain()
            done = reach
        self._batch.extend(datas[done:])
        self.encoded_bytes = sizes[last]

    def _add(self, data: bytes) -> None:
        if not data:
            return
        self._batch.append(data)
        self.encoded_bytes += len(data)
        if self.encoded_bytes >= self._drain_at:
            self._drain()

    def _drain(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._batch:
            chunk = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
            self._batch, self._drain_at = [], self.encoded_bytes + BATCH_BYTES
            if self._backlog is None:
                self._compress(chunk)
            elif len(chunk) < 2 * BATCH_BYTES:
                self._backlog.submit(functools.partial(self._compress_in_background, chunk))
            else:
                # The backlog's bound counts jobs, so each must be about one chunk: a block of
                # the text lane (a whole batch of values) as one job let 16 blocks of 4 MiB wait.
                view = memoryview(chunk)
                for start in range(0, len(view), BATCH_BYTES):
                    piece = view[start : start + BATCH_BYTES]
                    self._backlog.submit(functools.partial(self._compress_in_background, piece))

    def _compress(self, chunk: bytes | memoryview) -> None:
        data = self._compressor.compress(chunk)
        if data:
            self._writer.write(data)
            self.stored_bytes += len(data)

    def _compress_in_background(self, chunk: bytes | memoryview) -> None:
        if self._failure is not None or self._closed:
            return  # failed or aborted: the rest of the file is dropped
        try:
            self._compress(chunk)
        except BaseException as error:  # raised on the caller's thread by _drain / complete
            self._failure = error

    def complete(self) -> CompletedFile:
        """Finish encoding and compression and complete the upload; on failure, abort it."""
        try:
            self._add(self._encoder.finish())
            self._drain()
            if self._backlog is not None:
                self._backlog.drain()
            if self._failure is not None:
                raise self._failure
            tail = self._compressor.finish()
            if tail:
                self._writer.write(tail)
                self.stored_bytes += len(tail)
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
        self._batch = []
        if self._backlog is not None:
            self._backlog.drain()  # its queued chunks see _closed and are skipped
        self._writer.abort()
