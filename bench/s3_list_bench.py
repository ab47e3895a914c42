"""The S3 gateway's listings against SeaweedFS's own, over the same objects.

One run starts the local stack (SeaweedFS) and ``tierstore serve`` in a child process (its root
mount on ``s3://bench-list/root``, the namespace's default cache), writes 10,000 objects straight
to SeaweedFS in two layouts under the root mount, and lists each with a boto3 paginator (1,000
keys a page), once through the gateway (the bucket ``flat`` or ``nested``) and once straight
from SeaweedFS (the prefix ``root/flat/`` or ``root/nested/`` of its bucket):

- ``flat``: 10,000 files in one directory;
- ``nested``: 100 directories of 100 files (the gateway reads each directory on its own: one
  listing request to SeaweedFS per directory, where SeaweedFS walks them in one);
- ``flat, delimiter /``: one level of ``flat``;
- ``flat, ListObjects (V1)``: markers instead of tokens (rclone's default for other providers).

Each figure is the best of ``--repeat`` runs, the two sides taken in turn (the machine is shared:
the best is the least disturbed), with the ratio gateway / SeaweedFS, and the CPU time the
gateway's process spent on its listing (the least of the runs), which load from other work on
the machine inflates far less than wall time. Every listing is checked (10,000 keys, none twice)
before it is timed.

    .venv/bin/python bench/s3_list_bench.py [--repeat 5] [--keys 10000]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import start_api_server

from tierstore.local import start_stack, stop_stack

BUCKET = "bench-list"


def client(endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, max_pool_connections=16),
    )


def listed(s3: Any, operation: str, **parameters: Any) -> int:
    """How many keys and common prefixes the paginator gives (checked: none twice)."""
    seen: set[str] = set()
    count = 0
    for page in s3.get_paginator(operation).paginate(**parameters, PaginationConfig={"PageSize": 1000}):
        names = [item["Key"] for item in page.get("Contents", [])]
        names += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
        # SeaweedFS also lists the directory's own marker (CreateBucket made it).
        names = [name for name in names if name != parameters.get("Prefix")]
        seen.update(names)
        count += len(names)
    if count != len(seen):
        raise AssertionError(f"{operation} {parameters}: {count - len(seen)} names came twice")
    return count


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best(
    repeat: int, runs: Sequence[Callable[[], int]], expected: int, server: int
) -> tuple[list[float], float]:
    """The best time of each of ``runs``, taken in turn ``repeat`` times (the machine is shared:
    interleaving gives each the same chances of a quiet moment), and the least CPU time the
    process ``server`` used during the first run (the gateway's own cost, which other load on
    the machine does not inflate)."""
    times: list[list[float]] = [[] for _ in runs]
    server_cpu: list[float] = []
    for _ in range(repeat):
        for number, (run, taken) in enumerate(zip(runs, times, strict=True)):
            cpu_before = cpu_seconds(server)
            began = time.perf_counter()
            found = run()
            taken.append(time.perf_counter() - began)
            if number == 0:
                server_cpu.append(cpu_seconds(server) - cpu_before)
            if found != expected:
                raise AssertionError(f"listed {found}, expected {expected}")
    return [min(taken) for taken in times], min(server_cpu)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args(argv)
    count: int = args.keys
    per_directory = max(1, count // 100)
    with tempfile.TemporaryDirectory(prefix="tierstore-list-bench-") as scratch:
        directory = Path(scratch)
        info = start_stack(directory / "stack")
        server = None
        try:
            admin = info.users["admin"]
            direct = client(info.endpoint, admin.access_key_id, admin.secret_access_key.reveal())
            direct.create_bucket(Bucket=BUCKET)
            config = directory / "server.yaml"
            config.write_text(
                f"remote.data.dir: s3://{BUCKET}/root\n"
                f"s3.endpoint: {info.endpoint}\ns3.region: us-east-1\n"
                f"s3.access-key: {admin.access_key_id}\n"
                f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
                f"tierstore.metadata.url: sqlite:///{directory / 'namespace.db'}\n"
            )
            server = start_api_server(config, process=True)
            assert server.s3_url is not None and server._process is not None
            pid = server._process.pid
            key_id, secret = server.add_s3_key("admin")
            gateway = client(server.s3_url, key_id, secret.reveal())
            for name in ("flat", "nested"):
                gateway.create_bucket(Bucket=name)
            keys = [f"root/flat/f{number:06d}" for number in range(count)]
            keys += [f"root/nested/d{number // per_directory:03d}/f{number:06d}" for number in range(count)]
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda key: direct.put_object(Bucket=BUCKET, Key=key, Body=b"x"), keys))
            # One untimed listing of each first: the writes' aftermath, connection pools, imports.
            for name in ("flat", "nested"):
                listed(gateway, "list_objects_v2", Bucket=name)
                listed(direct, "list_objects_v2", Bucket=BUCKET, Prefix=f"root/{name}/")
            print(f"{count:,} keys per layout; best of {args.repeat}; boto3 paginator, 1,000 a page")
            print(f"{'listing':<28}{'gateway':>10}{'SeaweedFS':>12}{'ratio':>8}{'gateway CPU':>15}")
            cases = [
                ("flat", "list_objects_v2", {}, count),
                ("nested", "list_objects_v2", {}, count),
                ("flat, delimiter /", "list_objects_v2", {"Delimiter": "/"}, count),
                ("flat, ListObjects (V1)", "list_objects", {}, count),
            ]
            for title, operation, extra, expected in cases:
                bucket = title.split(",")[0]
                (through, straight), cpu = best(
                    args.repeat,
                    [
                        functools.partial(listed, gateway, operation, Bucket=bucket, **extra),
                        functools.partial(
                            listed, direct, operation, Bucket=BUCKET, Prefix=f"root/{bucket}/", **extra
                        ),
                    ],
                    expected,
                    pid,
                )
                print(
                    f"{title:<28}{through:>9.2f}s{straight:>11.2f}s{through / straight:>7.2f}x{cpu:>14.2f}s"
                )
        finally:
            if server is not None:
                server.stop()
            stop_stack(directory / "stack")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
