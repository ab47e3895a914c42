"""``tasks.max``: one ``sink run`` starts a process per task, one consumer group, stopped together.

Against tansu and SeaweedFS; the output is read back with boto3 and gzip/json, not tierstore.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.sink import runtime_support as rs

from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

VALUE_ONLY = {
    "format.output.type": "jsonl",
    "file.compression.type": "gzip",
    "format.output.fields": "value",
}


def _config(stack: StackInfo, tmp_path: Path, topic: str, bucket: str, **extra: str) -> Path:
    return rs.write_config(
        tmp_path,
        rs.sink_json(stack, name=rs.unique("tasks"), topic=topic, bucket=bucket, prefix="out/", **extra),
    )


def _tasks_of(parent_pid: int) -> list[int]:
    """Processes still running as tasks of ``parent_pid`` (their command line says so)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--task" in command and command[command.index(b"--task") + 1].endswith(f":{parent_pid}".encode()):
            found.append(int(entry.name))
    return found


def _loaded_topic(stack: StackInfo, prefix: str, partitions: int, each: int) -> tuple[str, dict[int, int]]:
    """A new topic with ``each`` records produced to each of its ``partitions``."""
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique(prefix), partitions)
    counts = dict.fromkeys(range(partitions), each)
    rs.produce(stack.kafka_bootstrap, topic, counts)
    return topic, counts


def _run_to_end(config: Path, log: Path, *options: str) -> tuple[int, str]:
    """``sink run`` until it exits (at most 120 s), its log appended to ``log``: status, stdout."""
    with log.open("a") as stderr:
        run = subprocess.Popen(
            rs.sink_run_command(config, *options), stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        try:
            out, _ = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
            print(log.read_text()[-8000:])  # shown by pytest when the test fails
    assert not _tasks_of(run.pid), "tasks outlived their run"
    return run.returncode, out


def _written(log: Path) -> int:
    """Records written so far by all tasks: the sum of each task's last status line."""
    last: dict[str, int] = {}
    for line in log.read_text().splitlines():
        found = re.search(r"task=(\d+): sink status .* records=(\d+) ", line)
        if found:
            last[found.group(1)] = int(found.group(2))
    return sum(last.values())


def test_three_tasks_share_six_partitions_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    topic, counts = _loaded_topic(stack, "tasks", 6, 3000)
    config = _config(
        stack, tmp_path, topic, bucket, **VALUE_ONLY, **{"tasks.max": "3", "file.max.records": "1000"}
    )

    log = tmp_path / "run.log"
    code, out = _run_to_end(config, log, "--exit-when-idle", "3", "--json")

    assert code == 0, log.read_text()[-3000:]
    summary: dict[str, Any] = json.loads(out)
    assert summary["stopped_because"] == "caught up and idle"
    assert summary["records"] == sum(counts.values())
    assert len(summary["partitions_written"]) == 6
    tasks = summary["tasks"]
    assert [task["exit_status"] for task in tasks] == [0, 0, 0]
    assert sum(task["summary"]["records"] for task in tasks) == sum(counts.values())
    # Each task's peak memory, and the run's as their sum: what the machine must hold.
    peaks = [task["summary"]["peak_rss_mb"] for task in tasks]
    assert all(50 < peak < 1000 for peak in peaks), peaks
    assert abs(summary["peak_rss_mb"] - sum(peaks)) < 0.5
    # Each task was a member of the group and held its share of two partitions. They were stopped
    # in turn, from the last: task 0 took all six back before it was stopped itself.
    lines = log.read_text().splitlines()
    assigned = {
        number: [line for line in lines if f"task={number}:" in line and "partitions assigned" in line]
        for number in range(3)
    }
    for number, its_lines in assigned.items():
        assert any(line.count(f"{topic}[") == 2 for line in its_lines), f"task {number}: {its_lines}"
    assert assigned[0][-1].count(f"{topic}[") == 6
    assert sum(1 for task in tasks if task["summary"]["records"]) >= 2
    check = rs.check_exactly_once(
        admin_s3, bucket, "out/", topic=topic, expected=counts, output_format="jsonl", compression="gzip"
    )
    assert check.records == sum(counts.values())
    assert rs.open_uploads(admin_s3, bucket) == []


def test_sigterm_stops_every_task_cleanly_and_a_restart_is_exactly_once(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    topic, counts = _loaded_topic(stack, "tasks-stop", 4, 10_000)
    config = _config(
        stack, tmp_path, topic, bucket, **VALUE_ONLY, **{"tasks.max": "2", "file.max.records": "500"}
    )
    log = tmp_path / "run.log"

    with log.open("w") as stderr:
        run = subprocess.Popen(
            rs.sink_run_command(config, "--json"), stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        try:
            rs.wait_for(lambda: len(_tasks_of(run.pid)) == 2, 30, "two task processes")
            rs.wait_for(lambda: len(rs.list_objects(admin_s3, bucket, "out/")) >= 4, 90, "the first files")
            run.send_signal(signal.SIGTERM)
            out, _ = run.communicate(timeout=90)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()

    assert run.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out)
    assert summary["stopped_because"] == "stop requested"
    assert [task["exit_status"] for task in summary["tasks"]] == [0, 0]
    assert _tasks_of(run.pid) == []
    # What a task had open was completed and committed, or aborted: no upload is left.
    assert rs.open_uploads(admin_s3, bucket) == []
    first_run = summary["records"]

    rest_code, rest_out = _run_to_end(config, log, "--exit-when-idle", "3", "--json")
    assert rest_code == 0, log.read_text()[-3000:]
    assert first_run + json.loads(rest_out)["records"] == sum(counts.values())
    rs.check_exactly_once(
        admin_s3, bucket, "out/", topic=topic, expected=counts, output_format="jsonl", compression="gzip"
    )
    assert rs.open_uploads(admin_s3, bucket) == []


def test_a_failing_task_stops_the_run_and_names_the_record(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("tasks-poison"), 3)
    rs.produce(stack.kafka_bootstrap, topic, {0: 1000, 1: 1000, 2: 1000}, poison=[(1, 500)])
    config = _config(stack, tmp_path, topic, bucket, **{"tasks.max": "3", "format.output.type": "jsonl"})

    log = tmp_path / "run.log"
    code, out = _run_to_end(config, log, "--exit-when-idle", "30")
    err = log.read_text()

    # The task that met the record stopped with its message; the others were stopped then, well
    # before their 30 s of idle, and the run exits with the failed task's status.
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert f"record {topic}[1]@500" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"tierstore: error: sink {json.loads(config.read_text())['name']}: task ")
    assert "failed (exit status 2)" in last
    assert "stopped (task " in out
    assert rs.open_uploads(admin_s3, bucket) == []
    # Nothing at or after the poison record was written.
    for key, data in rs.list_objects(admin_s3, bucket, "out/").items():
        if f"{topic}-1-" in key:
            assert max(row["offset"] for row in rs.decode_rows(data, "jsonl", "gzip")) < 500, key


def test_metrics_ports_must_fit_every_task(tmp_path: Path, stack: StackInfo, bucket: str) -> None:
    config = _config(stack, tmp_path, "any-topic", bucket, **{"tasks.max": "4"})
    result = subprocess.run(
        rs.sink_run_command(config, "--metrics-port", "65534"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--metrics-port 65534: tasks.max=4 tasks serve on this port and the 3 after it" in result.stderr
    assert "give a port up to 65532" in result.stderr
    assert "Traceback" not in result.stderr


def test_tasks_stop_cleanly_when_their_run_is_killed(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    topic, counts = _loaded_topic(stack, "tasks-orphan", 2, 3000)
    # No record limit: each task holds its partition's file open until it stops.
    config = _config(stack, tmp_path, topic, bucket, **VALUE_ONLY, **{"tasks.max": "2"})
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        run = subprocess.Popen(
            rs.sink_run_command(config, "--status-interval", "0.3"),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            rs.wait_for(
                lambda: _written(log) == sum(counts.values()), 60, "every record written by the tasks"
            )
            tasks = _tasks_of(run.pid)
            assert len(tasks) == 2
            run.kill()
            run.wait()
            rs.wait_for(
                lambda: not any(Path(f"/proc/{pid}").exists() for pid in tasks), 60, "the tasks to stop"
            )
        finally:
            for pid in _tasks_of(run.pid):
                os.kill(pid, signal.SIGKILL)

    text = log.read_text()
    assert text.count("the sink run that started this task is gone; stopping") == 2, text[-3000:]
    assert "Traceback" not in text
    # Each task completed its open file on the way out: every record is in S3, none twice.
    check = rs.check_exactly_once(
        admin_s3, bucket, "out/", topic=topic, expected=counts, output_format="jsonl", compression="gzip"
    )
    assert check.records == sum(counts.values())
    assert rs.open_uploads(admin_s3, bucket) == []
