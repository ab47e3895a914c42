"""Crash safety: ``tierstore sink run`` killed with SIGKILL at random moments, restarted each time.

Records of 10 KB make files of 1,000 records (about 10 MB) stream as multipart uploads of 5 MiB
parts, so most kills land while an upload is in progress; a one-second flush interval also closes
files on the wall clock, the case where a replay cuts a file differently. After at least ten kills
a last run stops once caught up and idle. What must hold, checked on SeaweedFS with boto3: every
record exactly once and in order, and no multipart upload left (the restarts found and aborted
the ones the kills left: SeaweedFS lists and aborts them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.sink import runtime_support as rs

from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 1500, 1: 1500, 2: 1500}
VALUE_SIZE = 10_000
KILLS = 10


def _start(config: Path, log: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tierstore.cli.main", "sink", "run", "-c", str(config), *extra]
    with log.open("a") as err:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=os.environ.copy())


def test_sigkill_at_random_moments_still_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("crash"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION, size=VALUE_SIZE)
    config = rs.write_config(
        tmp_path,
        rs.sink_json(
            stack,
            name=rs.unique("crash"),
            topic=topic,
            bucket=bucket,
            prefix="out/",
            **{
                "format.output.type": "jsonl",
                "file.compression.type": "none",
                "file.max.records": "1000",
                "offset.flush.interval.ms": "1000",
                "aws.s3.part.size.bytes": str(5 * 1024 * 1024),
            },
        ),
    )
    log = tmp_path / "sink.log"
    chance = random.Random()
    kills = 0
    uploads_seen = 0
    while kills < KILLS:
        process = _start(config, log)
        time.sleep(chance.uniform(1.0, 4.0))
        uploads_seen += len(rs.open_uploads(admin_s3, bucket))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL, "the sink stopped before it was killed"
        kills += 1

    final = _start(config, log, "--exit-when-idle", "1", "--json")
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out)

    check = rs.check_exactly_once(
        admin_s3,
        bucket,
        "out/",
        topic=topic,
        expected=PER_PARTITION,
        output_format="jsonl",
        value_size=VALUE_SIZE,
    )
    assert check.records == sum(PER_PARTITION.values())
    assert rs.open_uploads(admin_s3, bucket) == []
    assert summary["stopped_because"] == "caught up and idle"
    text = log.read_text()
    # The kills did land mid-upload, and restarts cleaned up after them.
    assert uploads_seen > 0
    assert "left-over upload aborted" in text
