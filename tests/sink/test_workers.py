"""Two ``sink run`` processes with one name share six partitions, through a rebalance.

Worker A starts alone and takes all six partitions; it writes the first half of the records
into files it keeps open (no record limit, a long flush interval). Worker B then joins: tansu
rebalances the group, A completes and commits its open files for the revoked partitions before
giving them up, and each worker continues on three partitions from the committed offsets. The
second half is produced once both hold their share. Both stop once caught up and idle: B after
5 s, A after 12 s, so that A (idle since the first half) does not leave while B is still starting
on a loaded machine. When B leaves, A is rebalanced again, takes all six partitions and leaves only
once that rebalance is over (tansu keeps a member that leaves during a join as the group's
leader, and the member that stays then rejoins forever; the worker never leaves mid-rebalance).
Checked on SeaweedFS with boto3: every record exactly once and in order, and both workers wrote
files.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tests.sink import runtime_support as rs

from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HALF = {partition: 2000 for partition in range(6)}


def _start(config: Path, log: Path, idle_seconds: int) -> subprocess.Popen[str]:
    command = rs.sink_run_command(config, "--exit-when-idle", str(idle_seconds), "--json")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def _assigned(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "partitions assigned" in line]


def test_two_workers_share_six_partitions_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("workers"), 6)
    config = rs.write_config(
        tmp_path,
        rs.sink_json(
            stack,
            name=rs.unique("workers"),
            topic=topic,
            bucket=bucket,
            prefix="out/",
            # The value alone, so the records go through the task's text lane (the crash test
            # covers the record path).
            **{
                "format.output.type": "jsonl",
                "file.compression.type": "gzip",
                "format.output.fields": "value",
            },
        ),
    )
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    rs.produce(stack.kafka_bootstrap, topic, HALF)
    worker_a = _start(config, log_a, 12)
    rs.wait_for(lambda: _assigned(log_a), 90, "worker A's assignment")
    worker_b = _start(config, log_b, 5)
    # After the rebalance each worker holds three partitions.
    rs.wait_for(lambda: _assigned(log_b), 90, "worker B's assignment")
    rs.produce(stack.kafka_bootstrap, topic, HALF, start=HALF)

    try:
        out_b, _ = worker_b.communicate(timeout=90)
        out_a, _ = worker_a.communicate(timeout=90)
    finally:
        for worker in (worker_a, worker_b):
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert worker_a.returncode == 0, log_a.read_text()[-3000:]
    assert worker_b.returncode == 0, log_b.read_text()[-3000:]
    summary_a, summary_b = json.loads(out_a), json.loads(out_b)

    total = {partition: 2 * count for partition, count in HALF.items()}
    check = rs.check_exactly_once(
        admin_s3, bucket, "out/", topic=topic, expected=total, output_format="jsonl", compression="gzip"
    )
    assert check.records == sum(total.values())
    assert summary_a["records"] + summary_b["records"] == sum(total.values())
    assert summary_a["partitions_written"] and summary_b["partitions_written"]
    # A gave its partitions up with files open, completed them, and got three partitions back.
    lines = log_a.read_text().splitlines()
    assert any("sink started" in line and "lane=text" in line for line in lines)
    assigned = [n for n, line in enumerate(lines) if "partitions assigned" in line]
    assert len(assigned) >= 2, "worker A saw no rebalance"
    between = lines[assigned[0] : assigned[1]]
    assert any("partitions revoked; completing their files" in line for line in between)
    assert sum("file completed" in line for line in between) == 6
    assert lines[assigned[1]].count(f"{topic}[") == 3
    # When B left, A waited for the rebalance to end (all six partitions) before it stopped.
    assert lines[assigned[-1]].count(f"{topic}[") == 6
    assert any("sink stopped" in line for line in lines[assigned[-1] :])
    assert rs.open_uploads(admin_s3, bucket) == []
