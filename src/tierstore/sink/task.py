"""The sink task: records in, durable files out, and the offsets that may be committed.

The lifecycle is Kafka Connect's ``SinkTask``: :meth:`SinkTask.open` when partitions are
assigned, :meth:`SinkTask.put` for each batch of records, :meth:`SinkTask.flush` to make what is
buffered durable, :meth:`SinkTask.pre_commit` for the offsets that are safe to commit, and
:meth:`SinkTask.close` when partitions are revoked or lost.

Why the output is exactly-once
------------------------------
1. An object's key is a function of (topic, partition, start offset, the first record's
   timestamp): the file that starts at offset S always has the same key.
2. A partition's committed offset is never past a record that is not durable: it is the end of
   the last *completed* file + 1 (CompleteMultipartUpload succeeded), or the start offset of the
   file that is open. Records sent to the dead-letter topic count as durable once the producer
   has flushed them, which happens before every commit.
3. The commit is made synchronously as soon as a file's completion is known, and always before
   the partition's next file completes (files complete in the background while the next one
   fills; see :meth:`SinkTask._complete`). So when the sink dies, at most one completed file of a
   partition is not yet covered by the committed offset, and it starts exactly at the committed
   offset C.
4. On restart (or on the new owner after a rebalance) the partition is read again from C. The
   first file written starts at C, so it has the same key as that uncommitted file and replaces
   it — whatever its end: if the earlier file was closed early by the flush interval (a wall
   clock, so not reproducible), the new file may end elsewhere, but it replaces the old object
   entirely and the next file starts right after it. No record is in two objects, none is lost.
5. Uploads that had not completed when the sink died are invisible (multipart uploads) and are
   aborted when the partition is next assigned (see :mod:`tierstore.sink.cleanup`).

A commit that fails (a rebalance under way, a broker error) breaks step 3, so the task *rewinds*
that partition: the open file is aborted and the partition is read again from its last committed
offset, which rewrites the completed file under the same key.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from itertools import groupby
from typing import NamedTuple, Protocol, cast

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message

from tierstore.errors import TierstoreError
from tierstore.sink.converters import ConversionError
from tierstore.sink.formats.record import SinkRecord
from tierstore.sink.writer import CompletedFile, PartitionFile, Rotation

LOGGER = logging.getLogger("tierstore.sink")

TopicPartition = tuple[str, int]

# Records converted before they are written as a block: enough to spread the per-block costs,
# few enough that the records in hand stay in the CPU cache (a whole consume() batch does not).
RUN_RECORDS = 256


class SinkStoppedError(TierstoreError):
    """The sink stopped on purpose: a poison record with ``errors.tolerance=none``, and the like."""


class Committer(Protocol):
    """What the task needs from the consumer: commit offsets, read a partition again."""

    def commit(self, offsets: dict[TopicPartition, int]) -> set[TopicPartition]:
        """Commit synchronously; return the partitions whose commit failed."""

    def seek(self, partition: TopicPartition, offset: int | None) -> None:
        """Read ``partition`` again from ``offset`` (``None``: from the beginning)."""


class DeadLetters(Protocol):
    def send(self, message: Message, error: ConversionError, stage: str) -> None: ...

    def flush(self) -> None: ...


class TaskEvents(Protocol):
    """What the task reports (metrics, status)."""

    def record_written(self, partition: TopicPartition, count: int) -> None: ...

    def file_completed(self, completed: CompletedFile) -> None: ...

    def file_aborted(self, partition: TopicPartition, key: str) -> None: ...

    def dead_lettered(self, partition: TopicPartition) -> None: ...

    def committed(self, partition: TopicPartition, offset: int) -> None: ...


FileOpener = Callable[[SinkRecord], PartitionFile]


class Completing(NamedTuple):
    """A file handed to the completer, and what its completion will give."""

    file: PartitionFile
    result: Future[CompletedFile]


@dataclass
class PartitionState:
    topic: str
    partition: int
    committed: int | None  # the offset committed in Kafka, None when there is none
    next_offset: int | None = None  # the offset after the last record handled
    open_file: PartitionFile | None = None
    # The file before the open one, completing in the background and not yet committed.
    completing: Completing | None = None
    skip_batch: bool = False  # rewound: drop the rest of the batch in hand
    written: int = 0  # records written from the batch in hand

    @property
    def safe_offset(self) -> int | None:
        """The highest offset that may be committed: nothing before it waits in a file that is
        completing or open."""
        if self.completing is not None:
            return self.completing.file.start_offset
        if self.open_file is not None:
            return self.open_file.start_offset
        return self.next_offset


@dataclass
class TaskCounters:
    records: int = 0
    dead_lettered: int = 0
    files: int = 0
    aborted: int = 0
    completed: list[CompletedFile] = field(default_factory=list)
    partitions_written: set[TopicPartition] = field(default_factory=set)


class SinkTask:
    """Turns consumed records into completed files and commits the offsets they cover."""

    def __init__(
        self,
        *,
        name: str,
        key_converter: Converter,
        value_converter: Converter,
        rotation: Rotation,
        open_file: FileOpener,
        committer: Committer,
        events: TaskEvents,
        dead_letters: DeadLetters | None,
        keep_completed: bool = True,
        with_headers: bool = True,
        with_keys: bool = True,
        text_lines: Callable[[list[str]], bytes] | None = None,
        completer: Executor | None = None,
    ) -> None:
        self._name = name
        self._with_headers = with_headers
        self._with_keys = with_keys
        self._key_converter = key_converter
        self._value_converter = value_converter
        self._rotation = rotation
        self._open_file = open_file
        self._committer = committer
        self._events = events
        self._dead_letters = dead_letters
        self._keep_completed = keep_completed
        self._states: dict[TopicPartition, PartitionState] = {}
        self.counters = TaskCounters()
        # Completes files in the background (see _complete); None: in the caller's thread.
        self._completer = completer
        # The text lane (see _put_texts): for files of values as text, cut by record count only.
        lane = not with_keys and not with_headers and not rotation.interval_ms and not rotation.max_bytes
        self._text_lines = text_lines if lane else None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def lane(self) -> str:
        """``text`` when batches of text values are written in blocks (see :meth:`_put_texts`),
        ``records`` when every record goes through the record path."""
        return "records" if self._text_lines is None else "text"

    @property
    def partitions(self) -> dict[TopicPartition, PartitionState]:
        return self._states

    def open(self, committed: dict[TopicPartition, int | None]) -> None:
        """Partitions newly assigned, with their committed offsets."""
        for tp, offset in committed.items():
            self._states[tp] = PartitionState(tp[0], tp[1], committed=offset)

    def put(self, messages: Sequence[Message]) -> None:
        """Handle one batch; files that fill up are completed and committed on the way."""
        states = self._states
        for each in states.values():
            each.skip_batch = False
            each.written = 0
        self.settle_completed()
        if self._text_lines is None or not self._put_texts(messages):
            self._put_records(messages)
        for tp, state in states.items():
            if state.written:
                self.counters.records += state.written
                self._events.record_written(tp, state.written)

    def _put_texts(self, messages: Sequence[Message]) -> bool:
        """The text lane: a batch of one topic's records whose values are all UTF-8 text, written
        as JSON lines a run (one partition's consecutive records) at a time, with no Python call
        per record: the fields are read with ``map`` and the lines made by ``str.join``.

        Returns ``False``, having done nothing, for a batch it does not take (a broker event in
        it, several topics), which then goes through :meth:`_put_records`. A run with a record
        that is not text (a null, bytes that are not UTF-8) goes through it too, so poison records
        are handled in one place.
        """
        count = len(messages)
        if not count:
            return True
        if list(map(Message.error, messages)).count(None) != count:
            return False
        topics = list(map(Message.topic, messages))
        topic = topics[0]
        if topic is None or topics.count(topic) != count:
            return False
        partitions = list(map(Message.partition, messages))
        offsets: list[int] = list(map(Message.offset, messages))  # type: ignore[arg-type]
        values = list(map(Message.value, messages))
        start = 0
        for partition, run in groupby(partitions):
            end = start + len(list(run))
            self._put_text_run(
                topic,
                cast(int, partition),
                messages=messages,
                offsets=offsets,
                values=values,
                start=start,
                end=end,
            )
            start = end
        return True

    def _put_text_run(
        self,
        topic: str,
        partition: int,
        *,
        messages: Sequence[Message],
        offsets: list[int],
        values: list[bytes | None],
        start: int,
        end: int,
    ) -> None:
        """Records ``start:end`` of the batch, one partition's, through the text lane."""
        state = self._states.get((topic, partition))
        if state is None or state.skip_batch:
            return  # not ours (any more), or rewound: the seek delivers it again
        expected = state.next_offset
        if expected is not None and offsets[start] < expected:
            start = bisect_left(offsets, expected, start, end)  # offsets rise within a run
        try:
            texts: list[str] = list(map(bytes.decode, values[start:end]))  # type: ignore[arg-type]
        except (UnicodeDecodeError, TypeError):  # not UTF-8, or a null: record by record
            self._put_records(messages[start:end])
            return
        lines = cast(Callable[[list[str]], bytes], self._text_lines)
        max_records = self._rotation.max_records
        done, total = 0, len(texts)
        while done < total:
            if state.skip_batch:
                return  # rewound by a failed commit: the seek delivers the rest again
            current = state.open_file
            if current is None:
                first = messages[start + done]
                kind, stamp = first.timestamp()
                stamp_ms = None if kind == TIMESTAMP_NOT_AVAILABLE else stamp
                record = SinkRecord(topic, partition, offsets[start + done], stamp_ms, None, texts[done])
                current = state.open_file = self._open_file(record)
            step = total - done
            if max_records:
                step = min(step, max_records - current.records)
            last = offsets[start + done + step - 1]
            current.append_block(lines(texts[done : done + step]), step, last)
            done += step
            state.next_offset = last + 1
            state.written += step
            if current.records == max_records:
                self._complete(state)

    def _put_records(self, messages: Sequence[Message]) -> None:
        """The record path: any batch, any format, record by record (converted, checked, and
        written in runs of :data:`RUN_RECORDS`).

        This is a per-record hot path: names are bound locally and the rotation checks reduced
        to comparisons, since every call costs here (see bench/sink_bench.py).
        """
        states = self._states
        key_convert = self._key_converter.fast() if self._with_keys else None
        value_convert = self._value_converter.fast()
        new_record = tuple.__new__  # SinkRecord(...) without its Python-level __new__
        with_headers = self._with_headers
        # The run in hand: consecutive records of one partition, converted, written as a block.
        run_state: PartitionState | None = None
        run: list[SinkRecord] = []
        run_messages: list[Message] = []
        expected: int | None = None  # the partition's next offset, counting the run in hand
        for message in messages:
            if message.error() is not None:
                if run:
                    self._write_run(cast(PartitionState, run_state), run, run_messages)
                    run, run_messages = [], []
                run_state = None
                self._broker_event(message)
                continue
            topic, partition = message.topic(), message.partition()
            state = states.get((topic, partition))  # type: ignore[arg-type]
            if state is not run_state:
                if run:
                    self._write_run(cast(PartitionState, run_state), run, run_messages)
                    run, run_messages = [], []
                run_state = state
                expected = None if state is None else state.next_offset
            if state is None or state.skip_batch:
                continue  # not ours (any more), or rewound: the seek delivers it again
            offset: int = message.offset()  # type: ignore[assignment]
            if expected is not None and offset < expected:
                continue
            try:
                stage = "KEY_CONVERTER"
                key = key_convert(message.key()) if key_convert is not None else None
                stage = "VALUE_CONVERTER"
                value = value_convert(message.value())
            except ConversionError as error:
                if run:  # the records before it go first, as they came
                    self._write_run(state, run, run_messages)
                    run, run_messages = [], []
                    if state.skip_batch:
                        continue
                self._poison(state, message, error.at(state.topic, state.partition, offset), stage)
                expected = state.next_offset
                continue
            kind, stamp = message.timestamp()
            run.append(
                new_record(
                    SinkRecord,
                    (
                        state.topic,
                        state.partition,
                        offset,
                        None if kind == TIMESTAMP_NOT_AVAILABLE else stamp,
                        key,
                        value,
                        tuple(message.headers() or ()) if with_headers else (),
                    ),
                )
            )
            run_messages.append(message)
            expected = offset + 1
            if len(run) >= RUN_RECORDS:
                self._write_run(state, run, run_messages)
                run, run_messages = [], []
        if run:
            self._write_run(cast(PartitionState, run_state), run, run_messages)

    def _write_run(self, state: PartitionState, records: list[SinkRecord], messages: list[Message]) -> None:
        """Write consecutive records of one partition, block by block between rotation points.

        The files are cut exactly where record-by-record appends would cut them: before a
        record ``interval_ms`` past the file's first, after ``max_records`` records, after the
        record that brings the encoded size to ``max_bytes``.
        """
        rotation = self._rotation
        interval = rotation.interval_ms
        max_records = rotation.max_records
        max_bytes = rotation.max_bytes
        done, total = 0, len(records)
        while done < total:
            if state.skip_batch:
                return  # rewound: the seek delivers the rest again
            current = state.open_file
            if current is None:
                current = state.open_file = self._open_file(records[done])
            end = total
            if max_records:
                end = min(end, done + max_records - current.records)
            first = current.first_timestamp_ms
            if interval and first is not None:
                limit = first + interval
                for index in range(done, end):
                    stamp = records[index][3]
                    if stamp is not None and stamp >= limit:
                        end = index
                        break
                if end == done:  # this record starts a new file
                    self._complete(state)
                    continue
            block = records if done == 0 and end == total else records[done:end]
            count, error = current.append_many(block, max_bytes)
            if count:
                done += count
                state.next_offset = records[done - 1].offset + 1
                state.written += count
            if error is not None:  # the encoder cannot write it (bytes that are not text)
                if current.records == 0:
                    self._abort(state)
                where = error.at(state.topic, state.partition, records[done].offset)
                self._poison(state, messages[done], where, "TASK_PUT")
                done += 1
                continue
            if current.records == max_records or (max_bytes and current.size >= max_bytes):
                self._complete(state)

    def flush(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Complete the open files (of ``partitions``, default all) and commit what is durable.

        Called on the flush interval, so that a quiet partition still lands, and on stop.
        """
        chosen = list(self._states) if partitions is None else list(partitions)
        for tp in chosen:
            state = self._states.get(tp)
            if state is None:
                continue
            if state.open_file is not None:
                self._complete(state)
            self._settle(state)
        self._commit(self.pre_commit(chosen))

    def settle_completed(self) -> None:
        """Commit the files whose background completion has finished (raises if one failed)."""
        for state in self._states.values():
            if state.completing is not None and state.completing.result.done():
                self._settle(state)

    def pre_commit(self, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets that are durable and beyond what is committed, per partition."""
        chosen = self._states if partitions is None else partitions
        offsets: dict[TopicPartition, int] = {}
        for tp in chosen:
            state = self._states.get(tp)
            if state is None:
                continue
            safe = state.safe_offset
            if safe is not None and (state.committed is None or safe > state.committed):
                offsets[tp] = safe
        return offsets

    def close(self, partitions: Iterable[TopicPartition], *, durable: bool) -> None:
        """Give partitions up: complete and commit (revoked) or abort (lost) their open files."""
        chosen = [tp for tp in partitions if tp in self._states]
        try:
            if durable:
                self.flush(chosen)
        finally:
            for tp in chosen:
                state = self._states.pop(tp)
                # Lost (or failed): a completion under way ends, but nothing more is committed.
                self._wait_for_completion(state)
                self._abort(state)

    def abort_all(self) -> None:
        """Abort every open file (after a failure): nothing half-written stays behind. A file
        completing in the background is waited for; if it completed it is committed, as durable."""
        for state in self._states.values():
            try:
                self._settle(state)
            except Exception as error:  # already failing: go on, its records are read again
                self._completion_failed(state, error)
            self._abort(state)

    # -- internals ------------------------------------------------------------------------

    def _broker_event(self, message: Message) -> None:
        """An event in the batch instead of a record: logged, or raised when fatal."""
        error = message.error()
        assert error is not None
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise KafkaException(error)
        LOGGER.warning("consumer error sink=%s error=%s", self._name, error.str())

    def _poison(self, state: PartitionState, message: Message, error: ConversionError, stage: str) -> None:
        if self._dead_letters is None:
            raise SinkStoppedError(
                f"sink {self._name} stopped at {error}: with errors.tolerance=none a record the "
                "converter cannot read stops the sink (the records before it are written and "
                "committed); fix the record or its converter, or set errors.tolerance=all with "
                "errors.deadletterqueue.topic.name to send such records aside"
            )
        self._dead_letters.send(message, error, stage)
        LOGGER.warning(
            "record sent to dead-letter topic sink=%s topic=%s partition=%d offset=%d error=%r",
            self._name,
            state.topic,
            state.partition,
            message.offset(),
            error.reason,
        )
        state.next_offset = cast(int, message.offset()) + 1
        self.counters.dead_lettered += 1
        self._events.dead_lettered((state.topic, state.partition))

    def _complete(self, state: PartitionState) -> None:
        """Complete the partition's open file and commit its end.

        With a completer the upload's last part and CompleteMultipartUpload run in the
        background while the next file fills, and the commit comes when it is done (checked
        before each batch, or waited for here at the partition's next file, at flush and on
        revoke). Exactly-once holds as in the module docstring: the commit still covers only
        completed files, in order, and a partition has at most one completed file not yet
        committed, since its previous file is settled before the next one completes.
        """
        self._settle(state)  # the previous file first; a failed commit rewinds the partition
        current = state.open_file
        if current is None:
            return  # rewound: the open file was aborted
        state.open_file = None
        if self._completer is None:
            self._completed(state, current.complete())
            return
        state.completing = Completing(current, self._completer.submit(current.complete))

    def _settle(self, state: PartitionState) -> None:
        """Wait for the partition's background completion, if any, and commit the file."""
        completing, state.completing = state.completing, None
        if completing is None:
            return
        try:
            completed = completing.result.result()
        except BaseException:
            # The file's upload was aborted: nothing from its first record on is durable.
            self._abort(state)
            state.next_offset = completing.file.start_offset
            raise
        self._completed(state, completed)

    def _wait_for_completion(self, state: PartitionState) -> None:
        """Let a background completion end without committing it (the partition is given up)."""
        completing, state.completing = state.completing, None
        if completing is not None:
            try:
                completing.result.result()
            except Exception as error:
                self._completion_failed(state, error)

    def _completion_failed(self, state: PartitionState, error: Exception) -> None:
        LOGGER.warning(
            "file completion failed sink=%s topic=%s partition=%d error=%s",
            self._name,
            state.topic,
            state.partition,
            error,
        )

    def _completed(self, state: PartitionState, completed: CompletedFile) -> None:
        self.counters.files += 1
        self.counters.partitions_written.add((state.topic, state.partition))
        if self._keep_completed:
            self.counters.completed.append(completed)
        self._events.file_completed(completed)
        LOGGER.info(
            "file completed sink=%s topic=%s partition=%d start=%d end=%d records=%d bytes=%d key=%s",
            self._name,
            completed.topic,
            completed.partition,
            completed.start_offset,
            completed.end_offset,
            completed.records,
            completed.stored_bytes,
            completed.key,
        )
        # Commit now, before the partition's next file completes: see the module docstring.
        self._commit({(state.topic, state.partition): completed.end_offset + 1})

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        if self._dead_letters is not None:
            self._dead_letters.flush()
        failed = self._committer.commit(offsets)
        for tp, offset in offsets.items():
            state = self._states.get(tp)
            if state is None:
                continue
            if tp in failed:
                self._rewind(state)
            else:
                state.committed = offset
                self._events.committed(tp, offset)

    def _rewind(self, state: PartitionState) -> None:
        LOGGER.warning(
            "commit failed; reading the partition again from its committed offset "
            "sink=%s topic=%s partition=%d committed=%s",
            self._name,
            state.topic,
            state.partition,
            state.committed,
        )
        self._abort(state)
        state.next_offset = None
        state.skip_batch = True
        self._committer.seek((state.topic, state.partition), state.committed)

    def _abort(self, state: PartitionState) -> None:
        current = state.open_file
        if current is None:
            return
        state.open_file = None
        # Its records are not durable: the safe offset must not move past them.
        state.next_offset = current.start_offset
        try:
            current.abort()
        finally:
            self.counters.aborted += 1
            self._events.file_aborted((state.topic, state.partition), current.key)
            LOGGER.info(
                "file aborted sink=%s topic=%s partition=%d start=%d key=%s",
                self._name,
                state.topic,
                state.partition,
                current.start_offset,
                current.key,
            )


class Converter(Protocol):
    def convert(self, raw: bytes | None) -> object: ...

    def fast(self) -> Callable[[bytes | None], object]: ...
