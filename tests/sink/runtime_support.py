"""Helpers for the runtime tests: topics on tansu, records with checkable values, and an
independent reader of the sink's output (boto3 + pyarrow / csv / json / gzip / cramjam, never
tierstore's own reader)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import secrets
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cramjam
import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

VALUE_SIZE = 100
# The sink's documented memory bound (README, "Streaming, bounded memory"): one sink process's
# peak RSS, in MB, whatever the file and record sizes.
PEAK_RSS_BOUND_MB = 300
# Consumer settings for tests: tansu holds a join until half the session timeout.
FAST_GROUP = {
    "consumer.override.session.timeout.ms": "2000",
    "consumer.override.heartbeat.interval.ms": "400",
}
# What value_of() puts first: where the record was produced.
VALUE_PLACE = re.compile(r"p(?P<partition>\d+)-o(?P<offset>\d+)-")
NAME_PATTERN = re.compile(r"(?P<topic>.+)-(?P<partition>\d+)-(?P<start>\d+)(?P<ext>\..*)?$")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create_topic(bootstrap: str, name: str, partitions: int) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=30)
    return name


def value_of(partition: int, offset: int, size: int = VALUE_SIZE) -> str:
    """The value produced at (partition, offset): says where it belongs, padded to ``size``."""
    head = f"p{partition}-o{offset}-"
    return head + "x" * max(0, size - len(head))


def produce(
    bootstrap: str,
    topic: str,
    per_partition: Mapping[int, int],
    *,
    start: Mapping[int, int] | None = None,
    size: int = VALUE_SIZE,
    poison: Iterable[tuple[int, int]] = (),
) -> None:
    """Produce ``per_partition[p]`` records to each partition, offsets from ``start[p]`` (the
    partition's current end, which the caller knows). ``poison`` (partition, offset) pairs get
    bytes that are not UTF-8."""
    bad = set(poison)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    sent = 0
    for partition, count in per_partition.items():
        first = (start or {}).get(partition, 0)
        for offset in range(first, first + count):
            good = value_of(partition, offset, size).encode()
            value = b"\xff\xfe not text" if (partition, offset) in bad else good
            while True:
                try:
                    producer.produce(
                        topic,
                        value=value,
                        key=str(offset).encode(),
                        partition=partition,
                        headers=[("origin", b"test")],
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
            if sent % 20000 == 0:
                producer.poll(0)
    left = producer.flush(60)
    assert left == 0, f"{left} records not acknowledged by tansu"


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """The offsets ``group`` has committed on ``topic``'s ``partitions`` (negative: none yet)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def sink_json(
    stack: StackInfo,
    *,
    name: str,
    topic: str,
    bucket: str,
    prefix: str,
    user: str = "writer",
    **extra: str,
) -> dict[str, Any]:
    """A Kafka Connect S3 sink config for the session stack, signed as ``user``."""
    keys = stack.users[user]
    config: dict[str, Any] = {
        "name": name,
        "connector.class": "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector",
        "topics": topic,
        "bootstrap.servers": stack.kafka_bootstrap,
        "aws.s3.bucket.name": bucket,
        "aws.s3.prefix": prefix,
        "aws.s3.endpoint": stack.endpoint,
        "aws.s3.region": stack.region,
        "aws.access.key.id": keys.access_key_id,
        "aws.secret.access.key": keys.secret_access_key.reveal(),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "format.output.fields": "key,value,offset,timestamp",
        "format.output.fields.value.encoding": "none",
        **FAST_GROUP,
    }
    config.update(extra)
    return config


def sink_run_command(config: Path, *options: str) -> list[str]:
    """``tierstore sink run -c CONFIG OPTIONS…`` as a separate process, with this interpreter."""
    return [sys.executable, "-m", "tierstore.cli.main", "sink", "run", "-c", str(config), *options]


def write_config(directory: Path, config: Mapping[str, Any]) -> Path:
    path = directory / f"{config['name']}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


# -- reading the output back ----------------------------------------------------------------


def list_objects(s3: S3Client, bucket: str, prefix: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def open_uploads(s3: S3Client, bucket: str) -> list[str]:
    return [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def decompress(data: bytes, compression: str) -> bytes:
    """Undo the outer compression with code that is not tierstore's."""
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "snappy":
        return bytes(cramjam.snappy.decompress(data))
    if compression == "zstd":
        return bytes(cramjam.zstd.decompress(data))
    return data


def decode_rows(data: bytes, output_format: str, compression: str) -> list[dict[str, Any]]:
    """The records of one file as dicts with ``offset`` and ``value`` (and what else is there)."""
    if output_format == "parquet":
        return pq.read_table(io.BytesIO(data)).to_pylist()
    text = decompress(data, compression).decode("utf-8")
    if output_format == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line]
    if output_format == "json":
        rows: list[dict[str, Any]] = json.loads(text)
        return rows
    reader = csv.reader(io.StringIO(text))
    return [
        {"key": row[0], "value": row[1], "offset": int(row[2]), "timestamp": row[3]} for row in reader if row
    ]


@dataclass
class OutputCheck:
    files: int
    records: int
    per_partition: dict[int, list[int]] = field(repr=False)


def check_exactly_once(
    s3: S3Client,
    bucket: str,
    prefix: str,
    *,
    topic: str,
    expected: Mapping[int, int],
    output_format: str = "jsonl",
    compression: str = "none",
    skipped: Iterable[tuple[int, int]] = (),
    value_size: int = VALUE_SIZE,
) -> OutputCheck:
    """Every (partition, offset) below ``expected[p]`` (less ``skipped``) exactly once, in
    offset order within each file and across the files of a partition, values intact."""
    objects = list_objects(s3, bucket, prefix)
    by_partition: dict[int, list[tuple[int, list[int]]]] = {}
    for key, data in objects.items():
        name = key[len(prefix) :]
        match = NAME_PATTERN.fullmatch(name)
        assert match is not None, f"unexpected object {key}"
        assert match.group("topic") == topic, key
        partition, start = int(match.group("partition")), int(match.group("start"))
        rows = decode_rows(data, output_format, compression)
        assert rows, f"{key} holds no record"
        offsets = [_offset_of(row, key) for row in rows]
        assert offsets[0] == start, f"{key} starts at offset {offsets[0]}"
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), f"{key} out of order"
        for row, offset in zip(rows, offsets, strict=True):
            if row["value"] != value_of(partition, offset, value_size):
                raise AssertionError(f"{key}: wrong value at offset {offset}: {str(row['value'])[:60]}")
        by_partition.setdefault(partition, []).append((start, offsets))
    gaps = set(skipped)
    per_partition: dict[int, list[int]] = {}
    for partition, count in expected.items():
        files = sorted(by_partition.get(partition, []))
        offsets = [offset for _, file_offsets in files for offset in file_offsets]
        wanted = [offset for offset in range(count) if (partition, offset) not in gaps]
        assert offsets == wanted, (
            f"partition {partition}: {len(offsets)} records written, {len(wanted)} expected; "
            f"duplicates {len(offsets) - len(set(offsets))}, missing {len(set(wanted) - set(offsets))}"
        )
        per_partition[partition] = offsets
    assert set(by_partition) <= set(expected), f"files for unexpected partitions {set(by_partition)}"
    records = sum(map(len, per_partition.values()))
    return OutputCheck(files=len(objects), records=records, per_partition=per_partition)


def _offset_of(row: Mapping[str, Any], key: str) -> int:
    """A row's offset: its offset field, or (for files of values alone) the one its value names."""
    if "offset" in row:
        return int(row["offset"])
    match = VALUE_PLACE.match(str(row["value"]))
    assert match is not None, f"{key}: a value that says nothing of its place: {str(row['value'])[:60]}"
    return int(match.group("offset"))


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
