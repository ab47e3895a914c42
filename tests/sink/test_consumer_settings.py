"""The librdkafka settings the worker runs its consumer with: the config's own, the prefetch
defaults the sink's throughput depends on, and the ones exactly-once depends on, forced."""

from __future__ import annotations

from tests.sink.sink_samples import FULL

from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.worker import DEFAULT_FETCH_QUEUE_BACKOFF_MS, DEFAULT_QUEUED_KBYTES, consumer_settings


def test_prefetch_defaults_and_forced_commit_settings() -> None:
    settings = consumer_settings(sink_config_from_mapping(FULL))

    assert settings["group.id"] == FULL["name"]
    assert settings["fetch.queue.backoff.ms"] == DEFAULT_FETCH_QUEUE_BACKOFF_MS == 10
    assert settings["queued.max.messages.kbytes"] == DEFAULT_QUEUED_KBYTES
    assert settings["enable.auto.commit"] is False
    assert settings["enable.auto.offset.store"] is False


def test_the_config_overrides_the_prefetch_defaults_but_not_the_commit_settings() -> None:
    config = sink_config_from_mapping(
        {
            **FULL,
            "consumer.override.fetch.queue.backoff.ms": "500",
            "consumer.override.queued.max.messages.kbytes": "1024",
        }
    )

    settings = consumer_settings(config)

    assert settings["fetch.queue.backoff.ms"] == "500"
    assert settings["queued.max.messages.kbytes"] == "1024"
    assert settings["enable.auto.commit"] is False
