"""Prometheus metrics of one sink, in a registry of its own (several sinks may share a process).

Served on ``--metrics-port`` by ``prometheus_client``'s HTTP server when asked for. Every series
carries the sink's name; per-partition series also carry topic and partition.
"""

from __future__ import annotations

import contextlib
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tierstore.sink.writer import CompletedFile

TopicPartition = tuple[str, int]


class SinkMetrics:
    """Counters and gauges the task and the worker update; totals kept for the status line."""

    def __init__(self, sink_name: str) -> None:
        self.registry = CollectorRegistry()
        self._name = sink_name
        labels = ["sink", "topic", "partition"]
        self._records = Counter(
            "tierstore_sink_records", "Records written to files", labels, registry=self.registry
        )
        self._bytes = Counter(
            "tierstore_sink_bytes", "Bytes stored in completed files", labels, registry=self.registry
        )
        self._files = Counter("tierstore_sink_files", "Files completed", labels, registry=self.registry)
        self._aborted = Counter(
            "tierstore_sink_uploads_aborted",
            "Uploads aborted (open files given up, and left-over uploads of a crash)",
            labels,
            registry=self.registry,
        )
        self._left_over = Counter(
            "tierstore_sink_left_over_uploads_aborted",
            "Uploads a crashed sink left behind, aborted when their partition was assigned",
            ["sink"],
            registry=self.registry,
        )
        self._dead = Counter(
            "tierstore_sink_dead_letter_records",
            "Records sent to the dead-letter topic",
            labels,
            registry=self.registry,
        )
        self._committed = Gauge(
            "tierstore_sink_committed_offset", "Last committed offset", labels, registry=self.registry
        )
        self._lag = Gauge(
            "tierstore_sink_lag_records",
            "High-water mark minus the next offset to write",
            labels,
            registry=self.registry,
        )
        self._records_of: dict[TopicPartition, Counter] = {}
        self.records = 0
        self.files = 0
        self.stored_bytes = 0
        self.aborted_count = 0
        self.dead_letter_count = 0

    def _labels(self, tp: TopicPartition) -> tuple[str, str, str]:
        return (self._name, tp[0], str(tp[1]))

    def record_written(self, partition: TopicPartition, count: int) -> None:
        self.records += count
        counter = self._records_of.get(partition)
        if counter is None:  # labels() is a few microseconds: once per partition, not per batch
            counter = self._records_of[partition] = self._records.labels(*self._labels(partition))
        counter.inc(count)

    def file_completed(self, completed: CompletedFile) -> None:
        self.files += 1
        self.stored_bytes += completed.stored_bytes
        labels = self._labels((completed.topic, completed.partition))
        self._files.labels(*labels).inc()
        self._bytes.labels(*labels).inc(completed.stored_bytes)

    def file_aborted(self, partition: TopicPartition, key: str) -> None:
        self.aborted_count += 1
        self._aborted.labels(*self._labels(partition)).inc()

    def left_over_aborted(self, count: int) -> None:
        self.aborted_count += count
        self._left_over.labels(self._name).inc(count)

    def dead_lettered(self, partition: TopicPartition) -> None:
        self.dead_letter_count += 1
        self._dead.labels(*self._labels(partition)).inc()

    def committed(self, partition: TopicPartition, offset: int) -> None:
        self._committed.labels(*self._labels(partition)).set(offset)

    def lag(self, partition: TopicPartition, lag: int) -> None:
        self._lag.labels(*self._labels(partition)).set(lag)

    def forget(self, partition: TopicPartition) -> None:
        """A partition given up: its lag is no longer this worker's to report."""
        with contextlib.suppress(KeyError):
            self._lag.remove(*self._labels(partition))

    def serve(self, port: int, address: str = "127.0.0.1") -> WSGIServer:
        """Serve ``/metrics`` on ``address:port`` from a background thread; the server is
        returned so that an in-process run can shut it down."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server
