"""The sink's consumer loop: one worker of a consumer group, run until told to stop.

Several workers (processes, or :func:`run_sink` calls) with the same sink ``name`` form one
consumer group and share the partitions. The rebalance callbacks keep a partition in one
worker's hands at a time:

- **assigned**: uploads left in progress under the sink's location for these partitions are
  aborted (a crash left them; see :mod:`tierstore.sink.cleanup`), then each partition is read
  from its committed offset, or from the beginning when it has none. ``auto.offset.reset`` is
  never relied on (tansu reports wrong end offsets).
- **revoked**: the open files of those partitions are completed and their offsets committed
  before the callback returns, that is before the group hands them to another worker. A file
  that cannot be completed is aborted; its records are read again by the next owner.
- **lost** (the session timed out): the open files are aborted and nothing is committed; the
  partitions may already belong to someone else.

Commits are synchronous and made by the task once each file has completed (files complete on a
background thread while the next one fills; see :mod:`tierstore.sink.task` for why that is
exactly-once), on the flush interval (``offset.flush.interval.ms``: open
files are completed so that quiet partitions land too) and on stop. A stop (the ``stop`` event,
SIGTERM in the CLI, or caught up and idle with ``until_idle``) completes the open files and
commits; a failure aborts them and commits only what was already durable.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
)
from confluent_kafka import TopicPartition as KafkaPartition

from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import ConfigError, TierstoreError
from tierstore.settings.model import StoreSettings
from tierstore.sink.cleanup import abort_orphan_uploads, multipart_control
from tierstore.sink.dlq import DeadLetterQueue, SkippedRecords
from tierstore.sink.formats import encoder_for, text_lines_for
from tierstore.sink.formats.record import SinkRecord
from tierstore.sink.metrics import SinkMetrics
from tierstore.sink.task import DeadLetters, SinkStoppedError, SinkTask, TopicPartition
from tierstore.sink.writer import Backlog, CompletedFile, PartitionFile, Rotation
from tierstore.storage.factory import open_store
from tierstore.storage.interface import Store

if TYPE_CHECKING:
    from tierstore.sink.config import SinkConfig

LOGGER = logging.getLogger("tierstore.sink")

# Parts uploaded at once per open file: with the streaming writer's own buffers, an open file
# holds about part_size x (this + 3) bytes (8 MiB parts: 40 MiB), whatever its size.
SINK_UPLOAD_CONCURRENCY = 2
# librdkafka's prefetch queue (KiB) unless the config sets it: half its 64 MiB default, which
# keeps fetching ahead of the sink while bounding memory.
DEFAULT_QUEUED_KBYTES = 32768
# How long librdkafka waits before fetching a partition again once its prefetch queue is full
# (ms) unless the config sets it. Its 1 s default stalls the sink: the queue fills while a file
# completes, fetching stops for a second, and the loop then waits on an empty queue
# (bench/sink_bench.py, 1M records: 117k records/s with it, 150k to 175k without).
DEFAULT_FETCH_QUEUE_BACKOFF_MS = 10
# Messages per consume() call. Small batches are faster per record, measured end to end with
# bench/sink_bench.py (1M records: 500 per call ran the sink 1.1 to 1.8 times as fast as 10,000,
# on both lanes), and consume() itself cost about 1 µs a message instead of 2.5: likely because
# a small batch's message objects are still in the CPU cache when the task reads them, and
# consume() hands over what is queued instead of waiting to fill a large batch.
CONSUME_BATCH = 500
# Value bytes per consume() call, which sets how many messages the next call asks for (see
# _next_batch): the task makes a few copies of a batch while it encodes it, so 500 records of
# 256 KiB at once took the sink to 800 MB (measured); bounded, a batch of large records is a few MiB.
CONSUME_BATCH_BYTES = 4 * 1024 * 1024
# The first call asks for this many, before any record's size is known; each call after at most
# doubles the count, up to CONSUME_BATCH.
FIRST_CONSUME_BATCH = 16
# Messages whose sizes estimate a batch's (see _next_batch).
BATCH_SIZE_SAMPLE = 16
CONSUME_TIMEOUT = 0.2
_COMMIT_TIMEOUT_REASONS = (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION)


class SinkFailedError(TierstoreError):
    """The sink could not go on (a store or broker failure); what was durable is committed."""


@dataclass(frozen=True)
class WorkerState:
    """Where a running worker stands in its group, for whoever runs it (``on_state``).

    ``idle``: caught up and quiet for ``until_idle`` (only with it). ``assignments``: how many
    assignments it has had; it rises after each rebalance. ``rebalancing``: between a revoke and
    the next assignment, or not yet assigned at all.
    """

    idle: bool
    assignments: int
    rebalancing: bool


@dataclass(frozen=True)
class SinkSummary:
    """What one run did. ``committed`` holds the last committed offset of each partition."""

    name: str
    records: int
    files: int
    stored_bytes: int
    dead_lettered: int
    files_aborted: int
    left_over_uploads_aborted: int
    seconds: float
    stopped_because: str
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    completed_files: tuple[CompletedFile, ...] = ()
    partitions_written: frozenset[TopicPartition] = frozenset()
    # The process's peak resident memory (for a run with tasks: the tasks' peaks added up).
    peak_rss_mb: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "records": self.records,
            "files": self.files,
            "stored_bytes": self.stored_bytes,
            "dead_lettered": self.dead_lettered,
            "files_aborted": self.files_aborted,
            "left_over_uploads_aborted": self.left_over_uploads_aborted,
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "records_per_second": round(self.records_per_second, 1),
            "stopped_because": self.stopped_because,
            "committed": [
                {"topic": topic, "partition": partition, "offset": offset}
                for (topic, partition), offset in sorted(self.committed.items())
            ],
            "partitions_written": [
                f"{topic}[{partition}]" for topic, partition in sorted(self.partitions_written)
            ],
        }


def sink_store_settings(settings: StoreSettings) -> StoreSettings:
    """The store settings the sink writes with: at most :data:`SINK_UPLOAD_CONCURRENCY` parts
    in flight per file, so memory is bounded by part size x open files."""
    multipart = settings.multipart
    if multipart.concurrency <= SINK_UPLOAD_CONCURRENCY:
        return settings
    return replace(settings, multipart=replace(multipart, concurrency=SINK_UPLOAD_CONCURRENCY))


def consumer_settings(config: SinkConfig) -> dict[str, Any]:
    """librdkafka settings: the config's, with the ones exactly-once depends on forced."""
    settings: dict[str, Any] = dict(config.kafka)
    settings.setdefault("group.id", config.name)
    settings.setdefault("queued.max.messages.kbytes", DEFAULT_QUEUED_KBYTES)
    settings.setdefault("fetch.queue.backoff.ms", DEFAULT_FETCH_QUEUE_BACKOFF_MS)
    settings.setdefault("auto.offset.reset", "earliest")
    # Offsets are committed by the task only, when data is durable.
    settings["enable.auto.commit"] = False
    settings["enable.auto.offset.store"] = False
    settings["logger"] = logging.getLogger("tierstore.sink.kafka")
    return settings


class SinkWorker:
    """One consumer-group member running a :class:`SinkTask`; see the module docstring."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        store: Store | None = None,
        stop: threading.Event | None = None,
        until_idle: float | None = None,
        status_interval: float = 30.0,
        metrics: SinkMetrics | None = None,
        keep_completed: bool = True,
        on_assigned: Callable[[list[TopicPartition]], None] | None = None,
        on_state: Callable[[WorkerState], None] | None = None,
    ) -> None:
        self._config = config
        self._owns_store = store is None
        self._store = store if store is not None else _open_sink_store(config.store)
        self._stop = stop or threading.Event()
        self._until_idle = until_idle
        self._status_interval = status_interval
        self.metrics = metrics or SinkMetrics(config.name)
        self._on_assigned = on_assigned
        # Told each change of the worker's WorkerState; with until_idle the worker then reports
        # idle instead of stopping on it. The tasks of one run are stopped on this (sink/tasks.py).
        self._on_state = on_state
        self._reported: WorkerState | None = None
        self._assignments = 0
        self._settings = consumer_settings(config)
        self._cooperative = "cooperative" in str(self._settings.get("partition.assignment.strategy", ""))
        self._consumer: Consumer | None = None
        self._dead_letters: DeadLetterQueue | SkippedRecords | None = None
        if config.errors_tolerance == "all":
            self._dead_letters = (
                DeadLetterQueue(config.dlq_topic, self._settings, sink_name=config.name)
                if config.dlq_topic
                else SkippedRecords(config.name)
            )
        dead_letters: DeadLetters | None = self._dead_letters
        # One thread completes files (last part, CompleteMultipartUpload) while the loop goes on.
        self._completer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tierstore-sink-complete")
        self.task = SinkTask(
            name=config.name,
            key_converter=config.key_converter,
            value_converter=config.value_converter,
            rotation=Rotation(config.max_records or 0, config.max_bytes or 0, config.rotate_interval_ms or 0),
            open_file=self._open_file,
            committer=self,
            events=self.metrics,
            dead_letters=dead_letters,
            keep_completed=keep_completed,
            with_headers="headers" in config.output_fields,
            # A key nothing writes is not converted (so a key its converter cannot read does
            # not stop the sink when the key is not written anyway).
            with_keys="key" in config.output_fields or "key" in config.file_name_template.placeholders,
            text_lines=text_lines_for(config),
            completer=self._completer,
        )
        self._control = multipart_control(self._store) if config.cleanup_on_start else None
        if config.cleanup_on_start and self._control is None:
            LOGGER.warning(
                "no multipart listing on this store; left-over uploads are not cleaned up sink=%s store=%s",
                config.name,
                self._store.description,
            )
        self._backlog: Backlog | None = None
        self._left_over_aborted = 0
        self._callback_error: BaseException | None = None
        self._assigned_once = False
        # Between a revoke and the next assignment: the group is rebalancing.
        self._rebalancing = False
        self._assigned_at = 0.0
        self._committed: dict[TopicPartition, int] = {}

    # -- files ----------------------------------------------------------------------------

    def _open_file(self, first: SinkRecord) -> PartitionFile:
        config = self._config
        key = config.file_name_template.render(
            first.topic, first.partition, first.offset, first.timestamp_ms, first.key
        )
        return PartitionFile(
            store=self._store,
            key=key,
            topic=first.topic,
            partition=first.partition,
            first=first,
            encoder=encoder_for(config),
            compressor=config.file_compressor(),
            backlog=self._backlog,
        )

    # -- Committer (used by the task) -----------------------------------------------------

    def commit(self, offsets: dict[TopicPartition, int]) -> set[TopicPartition]:
        consumer = self._require_consumer()
        wanted = [KafkaPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()]
        try:
            result = consumer.commit(offsets=wanted, asynchronous=False)
        except KafkaException as error:
            LOGGER.warning("commit failed sink=%s error=%s offsets=%s", self._config.name, error, offsets)
            return set(offsets)
        failed = {(tp.topic, tp.partition) for tp in result or [] if tp.error is not None}
        for tp, offset in offsets.items():
            if tp not in failed:
                self._committed[tp] = offset
        return failed

    def seek(self, partition: TopicPartition, offset: int | None) -> None:
        consumer = self._require_consumer()
        target = KafkaPartition(partition[0], partition[1], OFFSET_BEGINNING if offset is None else offset)
        try:
            consumer.seek(target)
        except KafkaException as error:
            # Not fetched any more (revoked meanwhile): its next owner starts from the commit.
            LOGGER.info("seek skipped sink=%s partition=%s error=%s", self._config.name, partition, error)

    def _require_consumer(self) -> Consumer:
        assert self._consumer is not None, "the consumer is not running"
        return self._consumer

    # -- rebalance callbacks --------------------------------------------------------------

    def _guarded(self, action: Callable[[], None]) -> None:
        # An exception must not unwind through librdkafka: it is kept and raised by the loop.
        try:
            action()
        except BaseException as error:
            if self._callback_error is None:
                self._callback_error = error

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        def assign() -> None:
            tps = [(p.topic, p.partition) for p in partitions]
            if self._control is not None and tps:
                aborted = abort_orphan_uploads(
                    self._control, self._owner_of(tps), tps, sink_name=self._config.name
                )
                self._left_over_aborted += len(aborted)
                if aborted:
                    self.metrics.left_over_aborted(len(aborted))
            committed = consumer.committed(partitions, timeout=30) if partitions else []
            offsets: dict[TopicPartition, int | None] = {}
            for tp in committed:
                offsets[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
                if tp.offset < 0:
                    tp.offset = OFFSET_BEGINNING
            self.task.open(offsets)
            if self._cooperative:
                consumer.incremental_assign(committed)
            else:
                consumer.assign(committed)
            self._assigned_once = True
            self._rebalancing = False
            self._assigned_at = time.monotonic()
            self._assignments += 1
            LOGGER.info(
                "partitions assigned sink=%s partitions=%s",
                self._config.name,
                ",".join(f"{t}[{p}]@{'start' if o is None else o}" for (t, p), o in sorted(offsets.items())),
            )
            if self._on_assigned is not None:
                self._on_assigned(sorted(self.task.partitions))

        self._guarded(assign)

    def _owner_of(self, assigned: list[TopicPartition]) -> Callable[[str], TopicPartition | None]:
        template = self._config.file_name_template
        topics = {topic for topic, _ in assigned}

        def owner(key: str) -> TopicPartition | None:
            found = template.owner_of(key)
            if found is None:
                return None
            topic, partition = found
            if topic == "" and len(topics) == 1:  # a template without {{topic}}: one topic only
                return (next(iter(topics)), partition)
            return found

        return owner

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        self._give_up(partitions, durable=True)
        if self._cooperative:
            consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaPartition]) -> None:
        self._give_up(partitions, durable=False)

    def _give_up(self, partitions: list[KafkaPartition], *, durable: bool) -> None:
        """Revoked (``durable``: complete and commit their files) or lost (abort them)."""
        tps = [(p.topic, p.partition) for p in partitions]
        self._rebalancing = True
        LOGGER.log(
            logging.INFO if durable else logging.WARNING,
            "partitions %s sink=%s partitions=%s",
            "revoked; completing their files" if durable else "lost; aborting their files",
            self._config.name,
            ",".join(f"{t}[{p}]" for t, p in tps),
        )

        def close() -> None:
            self.task.close(tps, durable=durable)
            for tp in tps:
                self.metrics.forget(tp)

        self._guarded(close)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> SinkSummary:
        config = self._config
        started = time.monotonic()
        self._backlog = Backlog()
        consumer = self._consumer = Consumer(self._settings)
        subscription = config.subscription
        consumer.subscribe(
            subscription, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        LOGGER.info(
            "sink started sink=%s topics=%s store=%s format=%s compression=%s lane=%s",
            config.name,
            ",".join(subscription),
            self._store.description,
            config.output_format,
            config.compression,
            self.task.lane,
        )
        flush_every = config.flush_interval_ms / 1000 if config.flush_interval_ms > 0 else None
        now = time.monotonic()
        next_flush = now + flush_every if flush_every else None
        next_status = now + self._status_interval
        last_data = now
        status_records = 0
        status_time = now
        reason = "stopped"
        failure: BaseException | None = None
        batch = FIRST_CONSUME_BATCH
        try:
            while True:
                if self._stop.is_set():
                    reason = "stop requested"
                    break
                messages = consumer.consume(batch, CONSUME_TIMEOUT)
                self._raise_callback_error()
                if messages:
                    self.task.put(messages)
                    batch = _next_batch(messages)
                    last_data = time.monotonic()
                else:
                    self.task.settle_completed()
                now = time.monotonic()
                if next_flush is not None and now >= next_flush:
                    self.task.flush()
                    next_flush = now + (flush_every or 0)
                if now >= next_status:
                    self._status(now - status_time, self.metrics.records - status_records)
                    status_records, status_time = self.metrics.records, now
                    next_status = now + self._status_interval
                quiet = now - max(last_data, self._assigned_at)
                if self._on_state is not None:
                    self._report_state(quiet)
                elif self._until_idle is not None and self._idle(quiet):
                    reason = "caught up and idle"
                    break
        except BaseException as error:
            failure = error
        finally:
            self._finish(failure)
        self._status(time.monotonic() - status_time, self.metrics.records - status_records)
        counters = self.task.counters
        summary = SinkSummary(
            name=config.name,
            records=counters.records,
            files=counters.files,
            stored_bytes=self.metrics.stored_bytes,
            dead_lettered=counters.dead_lettered,
            files_aborted=counters.aborted,
            left_over_uploads_aborted=self._left_over_aborted,
            seconds=time.monotonic() - started,
            stopped_because=reason,
            peak_rss_mb=peak_rss_mb(),
            committed=dict(self._committed),
            completed_files=tuple(counters.completed),
            partitions_written=frozenset(counters.partitions_written),
        )
        LOGGER.info(
            "sink stopped sink=%s reason=%r records=%d files=%d dead_letter=%d seconds=%.1f",
            config.name,
            reason,
            summary.records,
            summary.files,
            summary.dead_lettered,
            summary.seconds,
        )
        return summary

    def _raise_callback_error(self) -> None:
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error

    def _finish(self, failure: BaseException | None) -> None:
        """Complete (clean stop, poison record) or abort (failure) the open files; commit; leave."""
        consumer = self._require_consumer()
        try:
            if failure is None or isinstance(failure, SinkStoppedError | KeyboardInterrupt):
                self.task.flush()
            else:
                self.task.abort_all()
                self.task.flush()  # commits what was durable before the failure
        except BaseException as error:
            self.task.abort_all()
            if failure is None:
                failure = error
        finally:
            try:
                if self._dead_letters is not None:
                    self._dead_letters.close()
            finally:
                consumer.close()
                self._completer.shutdown(wait=True)
                if self._backlog is not None:
                    self._backlog.close()
                if self._owns_store:
                    self._store.close()
        if failure is not None:
            if isinstance(failure, TierstoreError | KeyboardInterrupt):
                raise failure
            raise SinkFailedError(f"sink {self._config.name} failed: {failure}") from failure

    def _report_state(self, quiet: float) -> None:
        state = WorkerState(
            idle=self._until_idle is not None and self._idle(quiet),
            assignments=self._assignments,
            rebalancing=self._rebalancing or not self._assigned_once,
        )
        if state != self._reported:
            self._reported = state
            assert self._on_state is not None
            self._on_state(state)

    def _idle(self, quiet: float) -> bool:
        """Whether a worker run with ``until_idle`` may stop: no record for that long since the
        last record or assignment, every partition caught up, and not in a rebalance.

        Leaving in the middle of a rebalance is avoided because tansu keeps a member that left
        during a join as the group's leader, and the members that stay then never get an
        assignment (they rejoin forever). A group in a steady state is left cleanly.
        """
        assert self._until_idle is not None
        return (
            self._assigned_once and not self._rebalancing and quiet >= self._until_idle and self._caught_up()
        )

    def _caught_up(self) -> bool:
        consumer = self._require_consumer()
        for tp, state in self.task.partitions.items():
            _low, high = consumer.get_watermark_offsets(KafkaPartition(tp[0], tp[1]), cached=True)
            position = state.next_offset if state.next_offset is not None else state.committed
            if high < 0:
                return False  # no fetch answered yet
            if (position or 0) < high:
                return False
        return True

    def _status(self, seconds: float, records: int) -> None:
        lag = self._lag()
        metrics = self.metrics
        LOGGER.info(
            "sink status sink=%s records_per_s=%.0f records=%d files=%d bytes=%d lag=%s "
            "partitions=%d dead_letter=%d aborted=%d",
            self._config.name,
            records / seconds if seconds > 0 else 0.0,
            metrics.records,
            metrics.files,
            metrics.stored_bytes,
            "unknown" if lag is None else lag,
            len(self.task.partitions),
            metrics.dead_letter_count,
            metrics.aborted_count,
        )

    def _lag(self) -> int | None:
        """Records behind the high-water mark, from the marks fetch responses carry.

        ``get_watermark_offsets(cached=True)`` reads those; tansu's ListOffsets answers (the
        uncached call) are wrong.
        """
        if self._consumer is None:
            return None
        total = 0
        for tp, state in self.task.partitions.items():
            _low, high = self._consumer.get_watermark_offsets(KafkaPartition(tp[0], tp[1]), cached=True)
            if high < 0:
                continue
            position = state.next_offset if state.next_offset is not None else (state.committed or 0)
            lag = max(0, high - position)
            self.metrics.lag(tp, lag)
            total += lag
        return total


def _next_batch(messages: list[Message]) -> int:
    """How many messages the next consume() asks for: about :data:`CONSUME_BATCH_BYTES` of
    values at the size these had, at most twice as many as these and at most
    :data:`CONSUME_BATCH`. The size is estimated from about 16 of them, evenly spread, so that
    a batch of small records costs no pass over every message."""
    count = len(messages)
    sample = messages[:: max(1, count // BATCH_SIZE_SAMPLE)]
    sampled = sum(map(len, filter(None, map(Message.value, sample))))
    # CONSUME_BATCH_BYTES over the sample's mean value size.
    wanted = CONSUME_BATCH_BYTES * len(sample) // sampled if sampled else CONSUME_BATCH
    return max(1, min(CONSUME_BATCH, 2 * count, wanted))


def peak_rss_mb() -> float:
    """This process's own peak resident memory so far, in MB.

    On Linux it is ``VmHWM`` of this program's memory: ``ru_maxrss`` also keeps the peak of the
    process that started this one (the kernel folds the old memory's peak in at exec, and
    ``subprocess`` uses vfork), so a sink started by a 4 GB parent reported 4 GB of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def _open_sink_store(settings: StoreSettings) -> Store:
    sink_settings = sink_store_settings(settings)
    return open_store(sink_settings, credential_source_for(sink_settings))


def run_sink(
    config: SinkConfig,
    *,
    stop: threading.Event | None = None,
    until_idle: float | None = None,
    store: Store | None = None,
    status_interval: float = 30.0,
    metrics_port: int | None = None,
    metrics_address: str = "127.0.0.1",
    keep_completed: bool = True,
    on_assigned: Callable[[list[TopicPartition]], None] | None = None,
    on_state: Callable[[WorkerState], None] | None = None,
) -> SinkSummary:
    """Run the sink in this process until ``stop`` is set or, with ``until_idle`` seconds, until
    every assigned partition is caught up and no record came for that long.

    Raises :class:`tierstore.sink.task.SinkStoppedError` on a poison record with
    ``errors.tolerance=none`` and :class:`SinkFailedError` when the store or broker fails; in both
    cases the open files are dealt with and what was durable is committed first.
    """
    metrics = SinkMetrics(config.name)
    server = None
    if metrics_port is not None:
        try:
            server = metrics.serve(metrics_port, metrics_address)
        except OSError as error:
            raise ConfigError(
                f"--metrics-port {metrics_port}: cannot serve metrics on {metrics_address}:{metrics_port} "
                f"({error.strerror}); choose a free port"
            ) from None
    try:
        worker = SinkWorker(
            config,
            store=store,
            stop=stop,
            until_idle=until_idle,
            status_interval=status_interval,
            metrics=metrics,
            keep_completed=keep_completed,
            on_assigned=on_assigned,
            on_state=on_state,
        )
        return worker.run()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
