"""Exactly-once output for every format and compression, against tansu and SeaweedFS.

100,000 records over 3 partitions are produced once for the module; one sink per format and
compression (its own consumer group and prefix) runs in-process until caught up and idle. The
objects are then read back with boto3 and decoded with pyarrow / csv / json / gzip / cramjam:
every (partition, offset) must be there exactly once, in offset order, with its value intact.
What enforces it: tansu serves the records and the committed offsets; SeaweedFS stores the
objects; the check reads them independently of tierstore.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
from tests.sink import runtime_support as rs

from tierstore.local import StackInfo
from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.worker import run_sink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 33_334, 1: 33_333, 2: 33_333}  # 100,000 records
ALL_FIELDS = "key,value,offset,timestamp"
COMBINATIONS = [
    (output_format, compression, ALL_FIELDS)
    for output_format in ("jsonl", "json", "csv", "parquet")
    for compression in ("none", "gzip", "snappy", "zstd")
] + [
    # JSON lines of the value alone, from the String converter: the task's text lane.
    ("jsonl", "none", "value"),
    ("jsonl", "gzip", "value"),
]


@pytest.fixture(scope="module")
def topic_100k(stack: StackInfo) -> str:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("eo100k"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION)
    return topic


@pytest.mark.parametrize(
    "combination",
    COMBINATIONS,
    ids=["-".join(c[:2]) + ("" if c[2] == ALL_FIELDS else "-value-only") for c in COMBINATIONS],
)
def test_every_record_once_in_order(
    stack: StackInfo,
    admin_s3: S3Client,
    bucket: str,
    topic_100k: str,
    *,
    combination: tuple[str, str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    output_format, compression, fields = combination
    prefix = f"{output_format}-{compression}/"
    config = sink_config_from_mapping(
        rs.sink_json(
            stack,
            name=rs.unique(f"eo-{output_format}-{compression}"),
            topic=topic_100k,
            bucket=bucket,
            prefix=prefix,
            **{
                "format.output.type": output_format,
                "file.compression.type": compression,
                "format.output.fields": fields,
                # Three files per partition: 15,000 + 15,000 + the rest.
                "file.max.records": "15000",
            },
        )
    )

    with caplog.at_level(logging.INFO, logger="tierstore.sink"):
        summary = run_sink(config, until_idle=0.5)
    lane = "text" if fields == "value" else "records"
    assert any(f"lane={lane}" in r.message for r in caplog.records if "sink started" in r.message)

    assert summary.stopped_because == "caught up and idle"
    assert summary.records == 100_000
    assert summary.committed == {(topic_100k, p): count for p, count in PER_PARTITION.items()}
    check = rs.check_exactly_once(
        admin_s3,
        bucket,
        prefix,
        topic=topic_100k,
        expected=PER_PARTITION,
        output_format=output_format,
        compression=compression,
    )
    assert check.records == 100_000
    assert check.files == summary.files == 9
    assert rs.open_uploads(admin_s3, bucket) == []
    if fields == "value":
        # Byte for byte what the record path writes: compact JSON, one object per line.
        for key, data in rs.list_objects(admin_s3, bucket, prefix).items():
            match = rs.NAME_PATTERN.fullmatch(key[len(prefix) :])
            assert match is not None
            partition, start = int(match.group("partition")), int(match.group("start"))
            lines = rs.decompress(data, compression).splitlines(keepends=True)
            expected = [
                json.dumps({"value": rs.value_of(partition, offset)}, separators=(",", ":")).encode() + b"\n"
                for offset in range(start, start + len(lines))
            ]
            assert lines == expected, key
