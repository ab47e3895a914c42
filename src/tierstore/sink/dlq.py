"""The dead-letter topic: poison records, as they came, with headers saying where and why.

Headers follow Kafka Connect's ``errors.deadletterqueue.context.headers.enable`` names
(``__connect.errors.topic``, ``.partition``, ``.offset``, ``.stage``, ``.class.name``,
``.exception.class.name``, ``.exception.message``), after the record's own headers, so tools
written for Connect's dead-letter topics read ours. The record's key and value bytes are sent
unchanged. :meth:`DeadLetterQueue.flush` waits until the broker has every record sent so far and
raises if any was refused; the task calls it before each commit, so an offset is never committed
past a poison record that is not yet safely in the dead-letter topic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer

from tierstore.errors import TierstoreError
from tierstore.sink.converters import ConversionError

LOGGER = logging.getLogger("tierstore.sink")

# librdkafka settings that concern the connection, shared by the consumer and the producer.
_SHARED_PREFIXES = (
    "bootstrap.servers",
    "security.protocol",
    "ssl.",
    "sasl.",
    "client.id",
    "socket.",
    "broker.",
    "api.version",
    "metadata.",
    "reconnect.",
    "retry.backoff",
    "connections.max.idle.ms",
    "client.dns.lookup",
)
_FLUSH_SECONDS = 30.0
Headers = list[tuple[str, str | bytes | None]]


class DeadLetterError(TierstoreError):
    """A record could not be written to the dead-letter topic."""


def producer_settings(consumer_settings: Mapping[str, Any]) -> dict[str, Any]:
    """The connection settings of the consumer, for the dead-letter producer."""
    shared = {
        key: value
        for key, value in consumer_settings.items()
        if any(key == prefix or key.startswith(prefix) for prefix in _SHARED_PREFIXES)
    }
    shared.update({"acks": "all", "enable.idempotence": False, "linger.ms": 5})
    return shared


class DeadLetterQueue:
    def __init__(self, topic: str, consumer_settings: Mapping[str, Any], *, sink_name: str) -> None:
        self.topic = topic
        self._sink_name = sink_name
        self._producer = Producer(producer_settings(consumer_settings))
        self._pending = 0
        self._failures: list[str] = []
        self.sent = 0

    def send(self, message: Message, error: ConversionError, stage: str) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        headers: list[tuple[str, str | bytes | None]] = list(cast(Headers, message.headers() or []))
        headers += [
            ("__connect.errors.topic", topic),
            ("__connect.errors.partition", str(partition)),
            ("__connect.errors.offset", str(offset)),
            ("__connect.errors.connector.name", self._sink_name),
            ("__connect.errors.stage", stage),
            ("__connect.errors.class.name", error.converter or "converter"),
            ("__connect.errors.exception.class.name", type(error).__name__),
            ("__connect.errors.exception.message", error.reason),
        ]
        where = f"{topic}[{partition}]@{offset}"

        def delivered(failure: KafkaError | None, _message: Message) -> None:
            self._pending -= 1
            if failure is not None:
                self._failures.append(f"{where}: {failure.str()}")
            else:
                self.sent += 1

        self._pending += 1
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    value=message.value(),
                    key=message.key(),
                    headers=headers,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self) -> None:
        """Wait for every record sent so far; raise if the broker refused any."""
        if self._pending:
            left = self._producer.flush(_FLUSH_SECONDS)
            if left:
                raise DeadLetterError(
                    f"{left} record(s) not acknowledged by the dead-letter topic {self.topic} "
                    f"within {_FLUSH_SECONDS:.0f} s; is the broker reachable?"
                )
        if self._failures:
            first, count = self._failures[0], len(self._failures)
            self._failures.clear()
            raise DeadLetterError(
                f"the dead-letter topic {self.topic} refused {count} record(s), first {first}; "
                "check that the topic exists and the sink may write to it"
            )

    def close(self) -> None:
        self._producer.flush(_FLUSH_SECONDS)


class SkippedRecords:
    """``errors.tolerance=all`` without a dead-letter topic: poison records are logged and skipped."""

    def __init__(self, sink_name: str) -> None:
        self._sink_name = sink_name
        self.sent = 0

    def send(self, message: Message, error: ConversionError, stage: str) -> None:
        LOGGER.warning(
            "record skipped (errors.tolerance=all, no dead-letter topic) sink=%s topic=%s partition=%d "
            "offset=%d stage=%s error=%r",
            self._sink_name,
            message.topic(),
            message.partition(),
            message.offset(),
            stage,
            error.reason,
        )
        self.sent += 1

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None
