"""Crash safety: ``tierstore sink run`` killed with SIGKILL at random moments, restarted each time.

Records of 10 KB arrive steadily while the sink is killed and restarted (a producer thread
paces them over about twenty seconds), so the sink is always busy: files of up to 1,000 records
(about 10 MB) stream as multipart uploads of 5 MiB parts, and a five-second flush interval closes
them on the wall clock too, the case where a replay cuts a file differently. Every other kill
comes as soon as an upload is seen in progress, the others at random moments. After at least ten kills
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
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.sink import runtime_support as rs

from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 3000, 1: 3000, 2: 3000}
VALUE_SIZE = 10_000
KILLS = 6
SLICE = 100  # records (1 MB) per partition every 0.7 s: about 21 s for all of them


def _start(config: Path, log: Path, *extra: str) -> subprocess.Popen[str]:
    command = rs.sink_run_command(config, *extra)
    with log.open("a") as err:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=os.environ.copy())


def _wait_for_assignment(log: Path, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until this run of the sink logs its partition assignment (each run appends to ``log``)."""
    seen = log.read_text().count("partitions assigned") if log.exists() else 0
    deadline = time.monotonic() + timeout
    while log.read_text().count("partitions assigned") <= seen:
        assert process.poll() is None, "the sink stopped before it was assigned partitions"
        assert time.monotonic() < deadline, "the sink was not assigned partitions in time"
        time.sleep(0.05)


def test_sigkill_at_random_moments_still_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("crash"), 3)
    bootstrap = stack.kafka_bootstrap

    def produce_steadily() -> None:
        for start in range(0, PER_PARTITION[0], SLICE):
            rs.produce(
                bootstrap,
                topic,
                dict.fromkeys(PER_PARTITION, SLICE),
                start=dict.fromkeys(PER_PARTITION, start),
                size=VALUE_SIZE,
            )
            time.sleep(0.7)

    producer = threading.Thread(target=produce_steadily)
    producer.start()
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
                "offset.flush.interval.ms": "5000",
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
        # The moments count from the partition assignment, not the process start: on a loaded
        # machine start-up alone can take seconds. Every other kill lands as soon as an upload is
        # seen in progress (so that some kills surely leave one behind); the others at random.
        _wait_for_assignment(log, process)
        targeted = kills % 2 == 1
        kill_at = time.monotonic() + (8.0 if targeted else chance.uniform(0.3, 3.0))
        while time.monotonic() < kill_at:
            if rs.open_uploads(admin_s3, bucket):
                uploads_seen += 1
                if targeted:
                    break
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL, "the sink stopped before it was killed"
        kills += 1
    producer.join()

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
    # Uploads were in progress while the sink ran; kills left some, and restarts aborted them.
    assert uploads_seen > 0
    assert text.count("left-over upload aborted") >= 1, f"{text.count('partitions assigned')} assignments"
