"""Poison records: to the dead-letter topic with ``errors.tolerance=all``, a clear stop otherwise.

The poison records are values that are not UTF-8, read with the String converter. tansu holds
both the data topic and the dead-letter topic and the committed offsets; SeaweedFS the files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import Consumer, TopicPartition
from tests.sink import runtime_support as rs

from tierstore.local import StackInfo
from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.worker import run_sink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 1000, 1: 1000, 2: 1000}


def _read_topic(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, dict[str, bytes]]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": rs.unique("dlq-reader"),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 2000,
            "heartbeat.interval.ms": 400,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    found: list[tuple[bytes | None, dict[str, bytes]]] = []
    rs.wait_for(lambda: found.extend(_decoded(consumer.consume(10, 0.5))) or len(found) >= count, 60, "DLQ")
    consumer.close()
    return found


def _decoded(messages: list[object]) -> list[tuple[bytes | None, dict[str, bytes]]]:
    out = []
    for message in messages:
        assert message.error() is None  # type: ignore[attr-defined]
        headers = {name: value or b"" for name, value in message.headers() or []}  # type: ignore[attr-defined]
        out.append((message.value(), headers))  # type: ignore[attr-defined]
    return out


# Files of the value alone take the task's text lane, which hands a run holding a poison
# record to the record path: both must send it aside the same way.
@pytest.mark.parametrize("fields", ["key,value,offset,timestamp", "value"], ids=["records", "text-lane"])
def test_poison_records_go_to_the_dead_letter_topic(
    stack: StackInfo, admin_s3: S3Client, bucket: str, fields: str
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("poison"), 3)
    dlq = rs.create_topic(stack.kafka_bootstrap, rs.unique("dlq"), 1)
    poison = [(0, 10), (2, 999)]
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION, poison=poison)
    config = sink_config_from_mapping(
        rs.sink_json(
            stack,
            name=rs.unique("poison-all"),
            topic=topic,
            bucket=bucket,
            prefix="out/",
            **{
                "format.output.type": "jsonl",
                "file.compression.type": "none",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "format.output.fields": fields,
            },
        )
    )

    summary = run_sink(config, until_idle=0.5)

    assert summary.dead_lettered == 2
    assert summary.records == 3000 - 2
    # The poison records are durable in the DLQ, so the commits went past them.
    assert summary.committed == {(topic, p): 1000 for p in PER_PARTITION}
    rs.check_exactly_once(
        admin_s3, bucket, "out/", topic=topic, expected=PER_PARTITION, output_format="jsonl", skipped=poison
    )
    dead = _read_topic(stack.kafka_bootstrap, dlq, 2)
    assert len(dead) == 2
    by_place = {
        (int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"])): (v, h) for v, h in dead
    }
    assert set(by_place) == set(poison)
    for value, headers in by_place.values():
        assert value == b"\xff\xfe not text"  # the raw bytes, unchanged
        assert headers["__connect.errors.topic"] == topic.encode()
        assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
        assert b"not UTF-8" in headers["__connect.errors.exception.message"]
        assert headers["origin"] == b"test"  # the record's own headers come along


def test_poison_record_stops_the_sink_with_a_clear_message(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("poison"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION, poison=[(1, 500)])
    name = rs.unique("poison-none")
    config = rs.write_config(
        tmp_path,
        rs.sink_json(
            stack,
            name=name,
            topic=topic,
            bucket=bucket,
            prefix="out/",
            **{"format.output.type": "jsonl", "file.compression.type": "none"},
        ),
    )

    result = subprocess.run(
        rs.sink_run_command(config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tierstore: error: sink ")
    assert f"record {topic}[1]@500" in last
    assert "StringConverter: not UTF-8 text" in last
    assert "errors.tolerance=all" in last
    assert "Traceback" not in result.stderr
    # What was read before the poison record is durable and committed; nothing at or after it.
    assert rs.committed_offsets(stack.kafka_bootstrap, name, topic, [1]) == {1: 500}
    written = rs.list_objects(admin_s3, bucket, "out/")
    rows = [
        row
        for key, data in written.items()
        if f"{topic}-1-" in key
        for row in rs.decode_rows(data, "jsonl", "none")
    ]
    assert [row["offset"] for row in rows] == list(range(500))
