"""A store failure while a file completes: the sink stops, commits only what is durable, leaves
no upload behind, and a restart writes every record exactly once.

The failure is injected by a store layer around the real S3 store (SeaweedFS cannot be made to
fail on cue): the seventh file's completion raises a ``StoreError``, and the real multipart
upload under it is aborted by the sink. Files complete on the sink's background thread, so this
is the path where the failure surfaces there and is raised in the consumer loop. tansu holds the
committed offsets; SeaweedFS the files and the (absent) left-over uploads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from tests.sink import runtime_support as rs

from tierstore.errors import StoreError
from tierstore.local import StackInfo
from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.worker import _open_sink_store, run_sink
from tierstore.storage.interface import ObjectAttributes, ObjectWriter, PutResult, Store
from tierstore.storage.layers import StoreLayer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 5000, 1: 5000, 2: 5000}
FILE_RECORDS = 1000


class _FailingClose(ObjectWriter):
    def __init__(self, inner: ObjectWriter, fail: bool) -> None:
        self._inner = inner
        self._fail = fail

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._inner.write(data)

    def close(self) -> PutResult:
        if self._fail:
            raise StoreError("injected failure completing the upload")
        return self._inner.close()

    def abort(self) -> None:
        self._inner.abort()


class FailNthCompletion(StoreLayer):
    """The ``nth`` writer opened fails when it is closed (completed); the others pass through."""

    def __init__(self, inner: Store, nth: int) -> None:
        super().__init__(inner)
        self._nth = nth
        self._opened = 0
        self._lock = threading.Lock()

    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        with self._lock:
            self._opened += 1
            fail = self._opened == self._nth
        return _FailingClose(self.inner.open_write(key, attributes=attributes), fail)


def test_a_failed_completion_stops_the_sink_and_a_restart_is_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("storefail"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION)
    name = rs.unique("storefail")
    config = sink_config_from_mapping(
        rs.sink_json(
            stack,
            name=name,
            topic=topic,
            bucket=bucket,
            prefix="out/",
            **{
                "format.output.type": "jsonl",
                "file.compression.type": "gzip",
                "format.output.fields": "value",
                "file.max.records": str(FILE_RECORDS),
            },
        )
    )
    real = _open_sink_store(config.store)
    try:
        # A store error is raised as it is (the CLI prints it as one line, exit 2).
        with pytest.raises(StoreError, match="injected failure"):
            run_sink(config, until_idle=0.5, store=FailNthCompletion(real, 7))
    finally:
        real.close()

    # Only whole files are committed, and never past a file that is not in S3.
    committed = rs.committed_offsets(stack.kafka_bootstrap, name, topic, PER_PARTITION)
    written = set(rs.list_objects(admin_s3, bucket, "out/"))
    for partition, offset in committed.items():
        if offset < 0:
            continue  # nothing committed yet
        assert offset % FILE_RECORDS == 0, (partition, offset)
        for start in range(0, offset, FILE_RECORDS):
            assert f"out/{topic}-{partition}-{start}.gz" in written, (partition, start)
    assert sum(max(offset, 0) for offset in committed.values()) < sum(PER_PARTITION.values())
    assert rs.open_uploads(admin_s3, bucket) == []

    summary = run_sink(config, until_idle=0.5)

    assert summary.stopped_because == "caught up and idle"
    check = rs.check_exactly_once(
        admin_s3,
        bucket,
        "out/",
        topic=topic,
        expected=PER_PARTITION,
        output_format="jsonl",
        compression="gzip",
    )
    assert check.records == sum(PER_PARTITION.values())
    assert check.files == 15
    assert rs.open_uploads(admin_s3, bucket) == []
