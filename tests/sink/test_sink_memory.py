"""The sink's memory bound (README, "Streaming, bounded memory"): a ``tierstore sink run``
process peaks under :data:`runtime_support.PEAK_RSS_BOUND_MB` whatever the file and record
sizes, shown on one 512 MiB file of 256 KiB records.

Large records are the case that matters: a consume batch of 500 of them is 125 MiB, and the text
lane copies what it is given several times (the sink peaked at 800 MB here before its batches
were bounded by bytes). The records go through a tansu of the test's own, so the shared broker
(whose memory engine keeps everything) does not carry 512 MiB for the rest of the session.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.sink import runtime_support as rs

from tierstore.local import StackInfo, tansu
from tierstore.local.ports import LOOPBACK
from tierstore.local.tansu import TansuLayout

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
RECORD_BYTES = 256 * 1024
RECORDS = 2048  # 512 MiB of values
LINE_HEAD = b'{"value":"'
LINE_TAIL = b'"}\n'


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[str]:
    """A tansu broker for this test alone; its bootstrap address."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    layout = TansuLayout(tmp_path / "tansu")
    broker = tansu.start(layout, port)
    try:
        tansu.wait_ready(broker, layout, port)
        yield f"{LOOPBACK}:{port}"
    finally:
        tansu.stop(broker.pid, port)
        broker.wait(timeout=10)


def _expected_sha256() -> str:
    """The digest of the one file the sink must write: each value as a JSON line, in order."""
    digest = hashlib.sha256()
    for offset in range(RECORDS):
        digest.update(LINE_HEAD + rs.value_of(0, offset, RECORD_BYTES).encode() + LINE_TAIL)
    return digest.hexdigest()


def test_a_512_mib_file_of_large_records_stays_under_the_memory_bound(
    stack: StackInfo, own_broker: str, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    topic = rs.create_topic(own_broker, rs.unique("big"), 1)
    rs.produce(own_broker, topic, {0: RECORDS}, size=RECORD_BYTES)
    config = rs.sink_json(
        stack,
        name=rs.unique("big"),
        topic=topic,
        bucket=bucket,
        prefix="out/",
        # The text lane (values alone as JSON lines) and no compression: every byte goes to
        # the store, so the upload's parts are as large as they get.
        **{
            "bootstrap.servers": own_broker,
            "format.output.fields": "value",
            "format.output.type": "jsonl",
            "file.compression.type": "none",
        },
    )
    log = tmp_path / "sink.log"
    with log.open("w") as err:
        done = subprocess.run(
            rs.sink_run_command(rs.write_config(tmp_path, config), "--exit-when-idle", "1", "--json"),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(done.stdout)
    line_bytes = len(LINE_HEAD) + RECORD_BYTES + len(LINE_TAIL)
    assert (summary["records"], summary["files"]) == (RECORDS, 1)
    assert summary["stored_bytes"] == RECORDS * line_bytes > 512 * MiB

    # The bound itself: the sink's own peak, with everything it read, wrote and uploaded.
    assert summary["peak_rss_mb"] < rs.PEAK_RSS_BOUND_MB, summary

    # One object, every record once and in order (compared by digest: 512 MiB is not kept).
    listing = admin_s3.list_objects_v2(Bucket=bucket, Prefix="out/")
    assert [item["Key"] for item in listing.get("Contents", [])] == [f"out/{topic}-0-0"]
    body = admin_s3.get_object(Bucket=bucket, Key=f"out/{topic}-0-0")["Body"]
    stored = hashlib.sha256()
    for piece in body.iter_chunks(8 * MiB):
        stored.update(piece)
    assert stored.hexdigest() == _expected_sha256()
    assert rs.committed_offsets(own_broker, config["name"], topic, [0]) == {0: RECORDS}
