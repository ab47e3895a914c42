"""Operations of ``tierstore sink run``: Prometheus metrics, the status line, a clean SIGTERM stop;
and rotation by record time and by size, which decide file boundaries from the records alone.

tansu serves the records (with the timestamps the producer set) and the committed offsets;
SeaweedFS stores the files, read back with boto3.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Producer
from tests.sink import runtime_support as rs

from tierstore.local import StackInfo
from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.worker import run_sink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 3000, 1: 3000, 2: 3000}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("tierstore_sink_"):
            name, value = line.rsplit(" ", 1)
            values[name] = values.get(name, 0.0) + float(value)
    return values


def _total(values: dict[str, float], metric: str) -> float:
    return sum(value for name, value in values.items() if name.startswith(metric + "{"))


def test_metrics_status_and_a_clean_sigterm_stop(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("ops"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION)
    name = rs.unique("ops")
    config = rs.write_config(
        tmp_path,
        rs.sink_json(
            stack,
            name=name,
            topic=topic,
            bucket=bucket,
            prefix="out/",
            # Neither the record limit nor the flush interval comes: files stay open until SIGTERM.
            **{"format.output.type": "jsonl", "file.compression.type": "gzip"},
        ),
    )
    port = _free_port()
    log = tmp_path / "sink.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            rs.sink_run_command(config, "--metrics-port", str(port), "--status-interval", "0.5", "--json"),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            rs.wait_for(
                lambda: _total(_safe_metrics(port), "tierstore_sink_records_total") == 9000, 30, "records"
            )
            # The lag gauge is refreshed with each status line.
            rs.wait_for(lambda: "lag=0 " in log.read_text(), 30, "a status line with no lag")
            rs.wait_for(lambda: _total(_metrics(port), "tierstore_sink_lag_records") == 0, 30, "no lag")
            metrics = _metrics(port)
            assert rs.list_objects(admin_s3, bucket, "out/") == {}  # all still in open files
        finally:
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)

    assert process.returncode == 0, log.read_text()[-2000:]
    assert _total(metrics, "tierstore_sink_lag_records") == 0
    assert _total(metrics, "tierstore_sink_files_total") == 0
    status = [line for line in log.read_text().splitlines() if "sink status" in line]
    assert any("records=9000" in line and "records_per_s=" in line for line in status)
    summary = json.loads(out)
    assert summary["stopped_because"] == "stop requested"
    assert summary["files"] == 3
    # The process's own (test_peak_rss.py); the bound for large files is test_sink_memory.py's.
    assert summary["peak_rss_mb"] < rs.PEAK_RSS_BOUND_MB
    # On SIGTERM the open files were completed and committed.
    rs.check_exactly_once(
        admin_s3,
        bucket,
        "out/",
        topic=topic,
        expected=PER_PARTITION,
        output_format="jsonl",
        compression="gzip",
    )
    committed = rs.committed_offsets(stack.kafka_bootstrap, name, topic, PER_PARTITION)
    assert [committed[p] for p in sorted(committed)] == [3000, 3000, 3000]


def _safe_metrics(port: int) -> dict[str, float]:
    try:
        return _metrics(port)
    except OSError:  # not serving yet
        return {}


def test_rotation_by_record_time_and_by_size(stack: StackInfo, admin_s3: S3Client, bucket: str) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("rotate"), 2)
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "linger.ms": 20})
    base = 1_700_000_000_000
    for offset in range(1000):
        value = rs.value_of(0, offset).encode()
        # Partition 0: a record every 100 ms of record time; partition 1: same values, no gaps.
        producer.produce(
            topic, value=value, key=str(offset).encode(), partition=0, timestamp=base + offset * 100
        )
        producer.produce(topic, value=rs.value_of(1, offset).encode(), key=b"k", partition=1, timestamp=base)
    assert producer.flush(30) == 0
    settings = {
        "format.output.type": "jsonl",
        "file.compression.type": "none",
        "rotate.interval.ms": "7000",  # partition 0: a new file every 70 records
        "file.max.bytes": "20000",  # partition 1: about 20 KB per file
    }
    config = sink_config_from_mapping(
        rs.sink_json(stack, name=rs.unique("rotate"), topic=topic, bucket=bucket, prefix="out/", **settings)
    )

    run_sink(config, until_idle=0.5)

    check = rs.check_exactly_once(admin_s3, bucket, "out/", topic=topic, expected={0: 1000, 1: 1000})
    assert check.records == 2000
    starts = {0: [], 1: []}  # type: dict[int, list[int]]
    sizes: list[int] = []
    for key, data in rs.list_objects(admin_s3, bucket, "out/").items():
        match = rs.NAME_PATTERN.fullmatch(key[len("out/") :])
        assert match is not None
        starts[int(match.group("partition"))].append(int(match.group("start")))
        if match.group("partition") == "1":
            sizes.append(len(data))
    assert sorted(starts[0]) == list(range(0, 1000, 70))
    # Size: each file of partition 1 ends with the record that reached 20,000 encoded bytes.
    line = len(json.dumps({"key": "k", "value": rs.value_of(1, 0), "offset": 0, "timestamp": base}))
    assert len(starts[1]) > 1
    assert all(20_000 <= size < 20_000 + 2 * line for size in sorted(sizes)[1:])


def test_a_busy_metrics_port_is_one_clear_error(stack: StackInfo, bucket: str, tmp_path: Path) -> None:
    config = rs.write_config(
        tmp_path, rs.sink_json(stack, name=rs.unique("busy"), topic="unused", bucket=bucket, prefix="out/")
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            rs.sink_run_command(config, "--metrics-port", str(port)),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"tierstore: error: --metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} "
        "(Address already in use); choose a free port"
    )
