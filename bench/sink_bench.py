"""The sink benchmark: records/s against confluent-kafka's raw consume rate, and peak memory.

One run starts its own local stack (SeaweedFS and tansu), produces the records once, then runs
each measurement in a fresh child process, so that its peak RSS is its own:

1. raw: confluent-kafka consumes every record (touching each value), as fast as it can, in
   batches of the sink's size: once with librdkafka's default settings, once with the prefetch
   settings the sink uses (its ``fetch.queue.backoff.ms`` of 10 ms instead of 1 s makes the raw
   consumer itself several times faster on tansu). The ratio is taken against the faster one.
2. sink: the sink (jsonl, gzip, String converter, ``format.output.fields=value``) writes the same
   records to S3 as files of a tenth of a partition (33,333 records of 1,000,000) and commits
   them. Its time runs from the partition assignment to the last file completed and committed;
   the output is read back and counted, so a broken sink cannot look fast.
2b. sink with tasks: ``tierstore sink run`` with ``tasks.max=--tasks`` (3), a process per task;
   timed from the first assignment until every partition has committed its last full file (the
   rest is committed as the run stops), then read back and counted like the sink's.
3. one big file: the sink's file writer (encoder, compressor none, streaming multipart upload)
   writes one file of ``--file-gib`` GiB from records made in memory (not through tansu, whose
   memory engine would hold the 2 GiB); peak RSS is the figure (goal: under 300 MB).

    .venv/bin/python bench/sink_bench.py [--quick] [--records N] [--rounds R] [--tasks T] [--file-gib G]

Raw and sink runs alternate for ``--rounds`` rounds (3), and each figure is the best of its
rounds: on a shared machine single runs of either vary by a third.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tierstore.local.stack import start_stack, stop_stack
from tierstore.sink.worker import (
    CONSUME_BATCH,
    DEFAULT_FETCH_QUEUE_BACKOFF_MS,
    DEFAULT_QUEUED_KBYTES,
    peak_rss_mb,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
VALUE_SIZE = 100
PARTITIONS = 3
BUCKET = "sink-bench"
RATIO_GOAL = 0.8
MEMORY_GOAL_MB = 300


def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread (user + system)."""
    times = os.times()
    return times.user + times.system


def _process_cpu_seconds(pid: int) -> float:
    """CPU time of another process so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _value(n: int) -> bytes:
    head = f'{{"id":{n},"user":"u{n % 977}","event":"click","page":"/p/{n % 131}","pad":"'
    return (head + "x" * (VALUE_SIZE - len(head) - 2) + '"}').encode()


# -- children ------------------------------------------------------------------------------


def _child_raw(state: dict[str, Any], tuned: bool = False) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": state["bootstrap"],
        "group.id": f"raw-{os.getpid()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 400,
    }
    if tuned:  # the prefetch settings the sink uses (librdkafka's defaults otherwise)
        settings["queued.max.messages.kbytes"] = DEFAULT_QUEUED_KBYTES
        settings["fetch.queue.backoff.ms"] = DEFAULT_FETCH_QUEUE_BACKOFF_MS
    consumer = Consumer(settings)
    assigned: list[float] = []
    cpu_at_assignment: list[float] = []

    def on_assign(_consumer: Any, _partitions: Any) -> None:
        assigned.append(time.perf_counter())
        cpu_at_assignment.append(_cpu_seconds())

    consumer.subscribe([state["topic"]], on_assign=on_assign)
    count = 0
    size = 0
    wanted = state["records"]
    while count < wanted:
        for message in consumer.consume(CONSUME_BATCH, 1.0):
            if message.error() is None:
                count += 1
                size += len(message.value() or b"")
    seconds = time.perf_counter() - assigned[0]
    cpu = _cpu_seconds() - cpu_at_assignment[0]
    consumer.close()
    return {"records": count, "bytes": size, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_rss_mb()}


def _sink_config(state: dict[str, Any], name: str) -> Any:
    from tierstore.sink.config import sink_config_from_mapping

    return sink_config_from_mapping(_sink_values(state, name))


def _sink_values(state: dict[str, Any], name: str) -> dict[str, str]:
    return {
        "name": name,
        "topics": state["topic"],
        "bootstrap.servers": state["bootstrap"],
        "aws.s3.bucket.name": BUCKET,
        "aws.s3.prefix": f"{name}/",
        "aws.s3.endpoint": state["endpoint"],
        "aws.s3.region": "us-east-1",
        "aws.access.key.id": state["key_id"],
        "aws.secret.access.key": state["secret"],
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "format.output.type": "jsonl",
        "format.output.fields": "value",
        "format.output.fields.value.encoding": "none",
        "file.compression.type": "gzip",
        # About ten files per partition, so the run with tasks is timed over most of the records.
        "file.max.records": str(max(1, state["records"] // (PARTITIONS * 10))),
        "consumer.override.session.timeout.ms": "2000",
        "consumer.override.heartbeat.interval.ms": "400",
    }


def _child_sink(state: dict[str, Any]) -> dict[str, Any]:
    from tierstore.sink.metrics import SinkMetrics
    from tierstore.sink.worker import SinkWorker

    class Timed(SinkMetrics):
        """Notes when the last commit happened: the end of the run (leaving the group after it
        is not part of writing the records)."""

        last_commit = 0.0
        cpu_at_last_commit = 0.0

        def committed(self, partition: tuple[str, int], offset: int) -> None:
            super().committed(partition, offset)
            self.last_commit = time.perf_counter()
            self.cpu_at_last_commit = _cpu_seconds()

    config = _sink_config(state, f"sink-{os.getpid()}")
    stop = threading.Event()
    assigned: list[float] = []
    cpu_at_assignment: list[float] = []

    def on_assigned(_partitions: Any) -> None:
        assigned.append(time.perf_counter())
        cpu_at_assignment.append(_cpu_seconds())

    metrics = Timed(config.name)
    worker = SinkWorker(
        config,
        stop=stop,
        metrics=metrics,
        keep_completed=False,
        on_assigned=on_assigned,
    )

    def watch() -> None:
        while worker.metrics.records < state["records"]:
            time.sleep(0.01)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    summary = worker.run()  # on stop: the open files are completed and committed
    seconds = metrics.last_commit - assigned[0]
    return {
        "cpu": metrics.cpu_at_last_commit - cpu_at_assignment[0],
        "records": summary.records,
        "files": summary.files,
        "stored_bytes": summary.stored_bytes,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "prefix": f"{config.name}/",
        "committed": sum(summary.committed.values()),
    }


def _child_sink_tasks(state: dict[str, Any]) -> dict[str, Any]:
    """``tierstore sink run`` with ``tasks.max`` tasks, a process each. Timed from the first
    assignment until every partition's committed offset has passed its last full file (the rest
    is committed when the run stops); the run is then stopped and checked in full."""
    from confluent_kafka import TopicPartition as KafkaPartition

    name = f"tasks-{os.getpid()}"
    config = _sink_values(state, name) | {"tasks.max": str(state["tasks"])}
    # In the run's own directory (0700, removed at the end): the file holds the store's keys.
    config_file = Path(state["directory"]) / f"{name}.json"
    config_file.write_text(json.dumps(config))
    per_file = int(config["file.max.records"])
    counts = [len(range(partition, state["records"], PARTITIONS)) for partition in range(PARTITIONS)]
    targets = [count - count % per_file for count in counts]
    run = subprocess.Popen(
        [sys.executable, "-m", "tierstore.cli.main", "sink", "run", "-c", str(config_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assigned: list[float] = []

    def watch_log() -> None:
        assert run.stderr is not None
        for line in run.stderr:
            if "partitions assigned" in line and not assigned:
                assigned.append(time.perf_counter())

    threading.Thread(target=watch_log, daemon=True).start()
    offsets = Consumer({"bootstrap.servers": state["bootstrap"], "group.id": name})
    partitions = [KafkaPartition(state["topic"], partition) for partition in range(PARTITIONS)]
    while not assigned:
        time.sleep(0.01)
    while True:
        committed = [tp.offset for tp in offsets.committed(partitions, timeout=10)]
        if all(offset >= target for offset, target in zip(committed, targets, strict=True)):
            finished = time.perf_counter()
            break
        time.sleep(0.01)
    run.send_signal(signal.SIGTERM)
    out, _ = run.communicate(timeout=120)
    summary = json.loads(out)
    final = [tp.offset for tp in offsets.committed(partitions, timeout=10)]
    offsets.close()
    return {
        "records": sum(targets),
        "files": summary["files"],
        "seconds": finished - assigned[0],
        "prefix": f"{name}/",
        "committed": sum(final),
        "peak_rss_mb": summary["peak_rss_mb"],  # the tasks' peaks added up
    }


def _child_big_file(state: dict[str, Any]) -> dict[str, Any]:
    from tierstore.sink.compression import compressor_for
    from tierstore.sink.formats import encoder_for
    from tierstore.sink.formats.record import SinkRecord
    from tierstore.sink.worker import _open_sink_store
    from tierstore.sink.writer import PartitionFile

    config = _sink_config(state, "bigfile")
    value = "v" * (64 * 1024 - 16)
    target = int(state["file_gib"] * GiB)
    store = _open_sink_store(config.store)
    baseline = peak_rss_mb()
    started = time.perf_counter()
    first = SinkRecord("big", 0, 0, 0, None, value)
    file = PartitionFile(
        store=store,
        key="big-0-0",
        topic="big",
        partition=0,
        first=first,
        encoder=encoder_for(config),
        compressor=compressor_for("none"),
    )
    offset = 0
    while file.encoded_bytes < target:
        file.append(SinkRecord("big", 0, offset, offset, None, value))
        offset += 1
    done = file.complete()
    seconds = time.perf_counter() - started
    store.close()
    return {
        "bytes": done.stored_bytes,
        "records": done.records,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "part_size_mb": config.store.multipart.part_size / MiB,
    }


def _child_raw_tuned(state: dict[str, Any]) -> dict[str, Any]:
    return _child_raw(state, tuned=True)


CHILDREN = {
    "raw": _child_raw,
    "raw-tuned": _child_raw_tuned,
    "sink": _child_sink,
    "sink-tasks": _child_sink_tasks,
    "bigfile": _child_big_file,
}


def _rate(run: dict[str, Any]) -> float:
    return float(run["records"]) / float(run["seconds"])


def _row(label: str, run: dict[str, Any]) -> None:
    cpu = f"{run['cpu'] / run['records'] * 1e6:.2f}" if "cpu" in run else "-"
    broker = run["broker_cpu"] / run["records"] * 1e6
    peak = f"{run['peak_rss_mb']:.0f}" if "peak_rss_mb" in run else "-"
    print(f"{label:<44} {_rate(run):>12,.0f} {run['seconds']:>8.2f} {cpu:>11} {broker:>14.2f} {peak:>12}")


def _run_child(mode: str, state_file: Path) -> dict[str, Any]:
    broker = json.loads(state_file.read_text())["broker_pid"]
    broker_cpu = _process_cpu_seconds(broker)
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--state", str(state_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    # The broker's CPU over the whole child run (start-up and leaving included, when it is idle).
    figures["broker_cpu"] = _process_cpu_seconds(broker) - broker_cpu
    return figures


# -- the run -------------------------------------------------------------------------------


def _produce(bootstrap: str, topic: str, count: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    started = time.perf_counter()
    for n in range(count):
        while True:
            try:
                producer.produce(topic, value=_value(n), key=str(n).encode(), partition=n % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 50_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


def _count_output(s3: Any, prefix: str) -> int:
    lines = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            lines += gzip.decompress(body).count(b"\n")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--file-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="raw and sink runs, alternated (best of each)")
    parser.add_argument("--quick", action="store_true", help="200,000 records and a 256 MiB file")
    parser.add_argument(
        "--tasks",
        type=int,
        default=PARTITIONS,
        help=f"tasks.max of the run with tasks ({PARTITIONS}; 0: skip it)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        state = json.loads(args.state.read_text())
        print(json.dumps(CHILDREN[args.child](state)))
        return 0
    records = 200_000 if args.quick else args.records
    rounds = args.rounds
    file_gib = 0.25 if args.quick else args.file_gib

    directory = Path(tempfile.mkdtemp(prefix="ts-sink-bench-"))
    stack = start_stack(directory, kafka=True)
    try:
        assert stack.kafka_bootstrap is not None
        admin = stack.admin
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.endpoint,
            aws_access_key_id=admin.access_key_id,
            aws_secret_access_key=admin.secret_access_key.reveal(),
            config=Config(region_name="us-east-1", s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        topic = "bench"
        kafka_admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
        for future in kafka_admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
            future.result(30)
        del kafka_admin
        produce_seconds = _produce(stack.kafka_bootstrap, topic, records)
        state = {
            "bootstrap": stack.kafka_bootstrap,
            "topic": topic,
            "records": records,
            "endpoint": stack.endpoint,
            "key_id": admin.access_key_id,
            "secret": admin.secret_access_key.reveal(),
            "file_gib": file_gib,
            "tasks": args.tasks,
            "broker_pid": stack.pids["tansu"],
            "directory": str(directory),
        }
        state_file = directory / "bench-state.json"
        state_file.write_text(json.dumps(state))
        state_file.chmod(0o600)

        # Alternate raw and sink runs; each figure is the best of its rounds (the run least
        # disturbed by the rest of the machine), and every round must read back in full.
        raws: list[dict[str, Any]] = []
        tuned_raws: list[dict[str, Any]] = []
        sinks: list[dict[str, Any]] = []
        task_runs: list[dict[str, Any]] = []
        for round_ in range(1, rounds + 1):
            raws.append(_run_child("raw", state_file))
            tuned_raws.append(_run_child("raw-tuned", state_file))
            sinks.append(_run_child("sink", state_file))
            sinks[-1]["written"] = _count_output(s3, sinks[-1]["prefix"])
            tasks_figure = ""
            if args.tasks:
                task_runs.append(_run_child("sink-tasks", state_file))
                task_runs[-1]["written"] = _count_output(s3, task_runs[-1]["prefix"])
                tasks_figure = f", sink with {args.tasks} tasks {_rate(task_runs[-1]):,.0f} rec/s"
            print(
                f"round {round_}: raw {_rate(raws[-1]):,.0f} rec/s, raw with the sink's fetch "
                f"settings {_rate(tuned_raws[-1]):,.0f} rec/s, sink {_rate(sinks[-1]):,.0f} rec/s"
                f"{tasks_figure}",
                flush=True,
            )
        raw = max(raws, key=_rate)
        tuned_raw = max(tuned_raws, key=_rate)
        sink = max(sinks, key=_rate)
        tasks_run = max(task_runs, key=_rate) if task_runs else None
        written = min(run["written"] for run in [*sinks, *task_runs])
        big = _run_child("bigfile", state_file)
        big_size = s3.head_object(Bucket=BUCKET, Key="bigfile/big-0-0")["ContentLength"]
    finally:
        stop_stack(directory)
        shutil.rmtree(directory, ignore_errors=True)  # the stack's data and the files with keys

    raw_rate, tuned_rate, sink_rate = _rate(raw), _rate(tuned_raw), _rate(sink)
    # The goal is measured against the faster raw consumer, whichever settings gave it.
    ratio = sink_rate / max(raw_rate, tuned_rate)
    print(f"\n{records:,} records of {VALUE_SIZE} B over {PARTITIONS} partitions", end=" ")
    print(f"(produced in {produce_seconds:.1f} s)")
    print(
        f"{'measurement':<44} {'records/s':>12} {'seconds':>8} {'CPU us/rec':>11} {'broker us/rec':>14} "
        f"{'peak RSS MB':>12}"
    )
    _row("confluent-kafka raw consume", raw)
    _row("confluent-kafka raw, the sink fetch settings", tuned_raw)
    _row("tierstore sink (jsonl, gzip, committed)", sink)
    if tasks_run is not None:
        _row(f"tierstore sink, tasks.max={args.tasks} (committed)", tasks_run)
    print(
        f"sink / fastest raw: {ratio:.2f} (goal: at least {RATIO_GOAL}), best of {rounds} rounds each; "
        f"{sink['files']} files, {written:,} records read back (fewest of any run)"
    )
    if tasks_run is not None:
        print(
            f"sink with {args.tasks} tasks / fastest raw: {_rate(tasks_run) / max(raw_rate, tuned_rate):.2f} "
            f"on {os.cpu_count()} cores, shared with tansu and SeaweedFS"
        )
    # What the goal costs in CPU: the sink's and the broker's time per record at the goal rate.
    goal_rate = RATIO_GOAL * max(raw_rate, tuned_rate)
    per_record = (sink["cpu"] + sink["broker_cpu"]) / sink["records"]
    print(
        f"at the goal rate ({goal_rate:,.0f} records/s) the sink and the broker need "
        f"{goal_rate * per_record:.1f} cores ({sink['cpu'] / sink['records'] * 1e6:.2f} + "
        f"{sink['broker_cpu'] / sink['records'] * 1e6:.2f} us of CPU per record), spread over tasks; "
        f"this machine has {os.cpu_count()}"
    )
    print(
        f"one file of {big['bytes'] / GiB:.2f} GiB ({big_size:,} bytes stored) in {big['seconds']:.1f} s, "
        f"{big['bytes'] / MiB / big['seconds']:.0f} MiB/s: peak RSS {big['peak_rss_mb']:.0f} MB "
        f"(before writing: {big['baseline_rss_mb']:.0f} MB; {big['part_size_mb']:.0f} MiB parts) "
        f"(goal: under {MEMORY_GOAL_MB} MB)"
    )
    ok = (
        written == records
        and all(run["committed"] == records for run in [*sinks, *task_runs])
        and big_size == big["bytes"]
    )
    if not ok:
        print("output check FAILED: records read back or committed differ from records produced")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
