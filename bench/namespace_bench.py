"""Large namespaces: listing through every page of ``GET /v1/fs/ls`` against the store's own speed.

One run starts the local stack (SeaweedFS) and ``tierstore serve`` in a child process, fills

- flat directories of 1k, 10k and 100k objects on SeaweedFS (``--sizes``),
- 5,000 sub-directories ``part=NNNNN/`` with one object each,
- a local mount of 200,000 files,

then, round by round and interleaved so the machine's load falls on all alike, lists each one:

- **tierstore**: every page of ``GET /v1/fs/ls`` (``sync=true``, so each page comes from the
  store, not the cache), through one HTTP connection;
- **obstore** ``list_with_delimiter`` on the same prefix with the same keys (S3 only);
- **boto3**'s ``list_objects_v2`` paginator with ``Delimiter="/"`` (S3 only).

Each listing's entry count is checked, so a broken listing cannot look fast. Besides the median
time and the ratio to obstore, the server's peak RSS growth during the tierstore listing is
printed: its VmHWM is reset (``/proc/PID/clear_refs``) before the listing and read after it,
against VmRSS before it.

    .venv/bin/python bench/namespace_bench.py [--quick] [--rounds N] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import httpx
import obstore
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import store_bench as sb
import vend_bench
from tierstore.local import stop_stack

PUT_CONCURRENCY = 64
SUBDIRECTORIES = 5_000
LOCAL_FILES = 200_000


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    # "5" resets the peak resident set size (VmHWM) to the current RSS (proc(5)).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _fill(store: Any, keys: list[str]) -> None:
    gate = asyncio.Semaphore(PUT_CONCURRENCY)

    async def one(key: str) -> None:
        async with gate:
            await obstore.put_async(store, key, b"x")

    await asyncio.gather(*(one(key) for key in keys))


def fill_store(stack: sb.Stack, sizes: Sequence[int], subdirectories: int) -> dict[str, int]:
    """The S3 directories to list: prefix -> number of entries."""
    store = sb.obstore_store(stack)
    made: dict[str, int] = {}
    for size in sizes:
        prefix = f"flat-{size}"
        asyncio.run(_fill(store, [f"{prefix}/obj-{number:06d}" for number in range(size)]))
        made[prefix] = size
    if subdirectories:
        asyncio.run(
            _fill(store, [f"parts/part={number:05d}/data.parquet" for number in range(subdirectories)])
        )
        made["parts"] = subdirectories
    return made


def fill_local(directory: Path, files: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(files):
        (directory / f"f{number:06d}").write_bytes(b"")


def tierstore_lister(http: httpx.Client, path: str) -> Callable[[], int]:
    def run() -> int:
        count = 0
        after: str | None = None
        while True:
            params = {"path": path, "sync": "true"}
            if after:
                params["after"] = after
            answer = http.get("/v1/fs/ls", params=params)
            answer.raise_for_status()
            page = answer.json()
            count += len(page["entries"])
            after = page["next"]
            if after is None:
                return count

    return run


def obstore_lister(stack: sb.Stack, prefix: str) -> Callable[[], int]:
    store = sb.obstore_store(stack)

    def run() -> int:
        listed = obstore.list_with_delimiter(store, prefix)
        return len(listed["objects"]) + len(listed["common_prefixes"])

    return run


def boto3_lister(stack: sb.Stack, prefix: str) -> Callable[[], int]:
    client = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        aws_access_key_id=stack.key_id,
        aws_secret_access_key=stack.secret,
        config=Config(region_name=stack.region, s3={"addressing_style": "path"}),
    )

    def run() -> int:
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=sb.BUCKET, Prefix=f"{prefix}/", Delimiter="/"
        ):
            count += len(page.get("Contents", [])) + len(page.get("CommonPrefixes", []))
        return count

    return run


def timed(run: Callable[[], int], expected: int, what: str) -> float:
    started = time.perf_counter()
    count = run()
    elapsed = time.perf_counter() - started
    if count != expected:
        raise SystemExit(f"{what}: listed {count} entries, expected {expected}")
    return elapsed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--subdirectories", type=int, default=SUBDIRECTORIES)
    parser.add_argument("--local-files", type=int, default=LOCAL_FILES)
    parser.add_argument(
        "--quick", action="store_true", help="1k and 10k only, 1,000 sub-directories, 20k files"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    subdirectories, local_files = args.subdirectories, args.local_files
    if args.quick:
        sizes, subdirectories, local_files = [1000, 10_000], 1000, 20_000
    with tempfile.TemporaryDirectory(prefix="tierstore-nsbench-") as temporary:
        directory = Path(temporary)
        info, stack, server = vend_bench.start_stack_and_server(directory)
        try:
            started = time.perf_counter()
            made = fill_store(stack, sizes, subdirectories)
            fill_local(directory / "local", local_files)
            print(f"filled in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
            pid = server._process.pid if server._process else os.getpid()
            with httpx.Client(base_url=server.url, headers=server.auth(), timeout=600) as http:
                mounted = http.post(
                    "/v1/mounts", json={"path": "/local", "uri": f"file://{directory / 'local'}"}
                )
                mounted.raise_for_status()
                rows = []
                for prefix, count in [*made.items(), ("/local", local_files)]:
                    local = prefix.startswith("/")
                    listers: dict[str, Callable[[], int]] = {
                        "tierstore": tierstore_lister(http, prefix if local else f"/{prefix}")
                    }
                    if not local:
                        listers["obstore"] = obstore_lister(stack, prefix)
                        listers["boto3"] = boto3_lister(stack, prefix)
                    times: dict[str, list[float]] = {name: [] for name in listers}
                    growth: list[int] = []
                    for _ in range(args.rounds):
                        for name, run in listers.items():
                            if name == "tierstore":
                                before = _status_kib(pid, "VmRSS")
                                _reset_peak(pid)
                            times[name].append(timed(run, count, f"{name} {prefix}"))
                            if name == "tierstore":
                                growth.append(_status_kib(pid, "VmHWM") - before)
                    medians = {name: statistics.median(values) for name, values in times.items()}
                    rows.append((prefix, count, medians, max(growth) / 1024))
            print(f"\nrounds: {args.rounds}; load average after: {os.getloadavg()[0]:.2f}")
            print(f"{'directory':<16} {'entries':>8} {'tierstore s':>12} {'obstore s':>10} {'boto3 s':>8} "
                  f"{'ts/obstore':>10} {'server +MB':>10}")  # fmt: skip
            for prefix, count, medians, grown in rows:
                ours, theirs, boto = medians["tierstore"], medians.get("obstore"), medians.get("boto3")
                ratio = f"{ours / theirs:.2f}" if theirs else "-"
                print(
                    f"{prefix:<16} {count:>8} {ours:>12.3f} {theirs or 0:>10.3f} {boto or 0:>8.3f} "
                    f"{ratio:>10} {grown:>10.1f}"
                )
        finally:
            server.stop()
            stop_stack(info.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
