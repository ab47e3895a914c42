"""``fs cp -r`` of many small files, S3 mount to local mount, against obstore doing the same copy.

Starts the local stack, writes --files files of --size bytes (5,000 x 4 KiB) into a bucket
mounted at /src, then in interleaved rounds copies them to a local mount:

- obstore: list the prefix, then GET from S3 and PUT into obstore's LocalStore with 32 requests
  in flight (asyncio), what a careful user of obstore would write;
- tierstore, in-process: ``FileSystem.copy("/src", "/local/...", recursive=True)`` at the
  default concurrency (every file checked, as the CLI does);
- tierstore, the command: ``tierstore fs cp -r`` as a user runs it, its own process, timed from
  start to exit (so it includes starting Python and importing tierstore, from bytecode).

Every copy is checked byte for byte against what was written. Prints the median of the rounds,
CPU seconds of the copying process, and each tierstore figure's ratio to obstore (goal: 0.8).

    .venv/bin/python bench/tree_copy_bench.py [--files 5000] [--size 4096] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import obstore
from obstore.store import LocalStore as ObstoreLocalStore
from obstore.store import S3Store as ObstoreS3Store

from tierstore.local.info import StackInfo
from tierstore.namespace.filesystem import FileSystem

BUCKET = "bench-tree"
PREFIX = "data"
IN_FLIGHT = 32
GOAL = 0.8
T = TypeVar("T")


def _obstore_s3(info: StackInfo) -> ObstoreS3Store:
    admin = info.admin
    return ObstoreS3Store(
        BUCKET,
        config={
            "endpoint": info.endpoint,
            "region": "us-east-1",
            "access_key_id": admin.access_key_id,
            "secret_access_key": admin.secret_access_key.reveal(),
            "virtual_hosted_style_request": False,
        },
        client_options={
            "allow_http": True,
            "pool_max_idle_per_host": str(IN_FLIGHT),
            "timeout": timedelta(seconds=300),
        },
    )


def _write_files(store: ObstoreS3Store, files: dict[str, bytes]) -> None:
    async def run() -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one(key: str, data: bytes) -> None:
            async with slots:
                await obstore.put_async(store, f"{PREFIX}/{key}", data, use_multipart=False)

        await asyncio.gather(*(one(key, data) for key, data in files.items()))

    asyncio.run(run())


def _obstore_copy(store: ObstoreS3Store, dest: Path) -> None:
    """List the prefix, then copy every object to ``dest`` with IN_FLIGHT requests at a time."""
    local = ObstoreLocalStore(str(dest), mkdir=True)

    async def run() -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one(key: str) -> None:
            async with slots:
                result = await obstore.get_async(store, key)
                data = await result.bytes_async()
                await obstore.put_async(local, key[len(PREFIX) + 1 :], data)

        keys = [str(meta["path"]) async for chunk in obstore.list(store, PREFIX) for meta in chunk]
        await asyncio.gather(*(one(key) for key in keys))

    asyncio.run(run())


def _config(directory: Path, info: StackInfo) -> Path:
    admin = info.admin
    config = directory / "server.yaml"
    config.write_text(
        f"remote.data.dir: s3://{BUCKET}/root\n"
        f"s3.endpoint: {info.endpoint}\ns3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\ns3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: sqlite:///{directory / 'namespace.db'}\n"
    )
    return config


def _tree_on_disk(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def _timed(copy: Callable[[], T]) -> tuple[T, float, float]:
    """What ``copy()`` gives, its wall seconds, and its CPU seconds (this process's and its
    children's: the command runs as one)."""
    before, started = os.times(), time.perf_counter()
    result = copy()
    wall, after = time.perf_counter() - started, os.times()
    return result, wall, sum(after[:4]) - sum(before[:4])


class _Bench:
    """The three copies of one round, each into a directory of its own."""

    def __init__(self, directory: Path, info: StackInfo, config: Path, fs: FileSystem) -> None:
        self.directory = directory
        self.source = _obstore_s3(info)
        self.config = config
        self.fs = fs
        # The command reads its config alone, as a user's would: none of this shell's keys. And
        # it starts from bytecode, as an installed package does (pip compiles it): a shell with
        # PYTHONDONTWRITEBYTECODE would have it compile every module on every start (5 s here).
        skipped = ("AWS_", "TIERSTORE_", "PYTHONDONTWRITEBYTECODE")
        self.env = {name: value for name, value in os.environ.items() if not name.startswith(skipped)}
        self._tierstore("du", "/src")  # writes the bytecode once, before anything is timed

    def _tierstore(self, *args: str) -> None:
        command = [sys.executable, "-m", "tierstore.cli.main", "fs", args[0], "-c", str(self.config)]
        subprocess.run([*command, *args[1:]], check=True, env=self.env, capture_output=True)

    def obstore(self, out: str) -> Path:
        _obstore_copy(self.source, self.directory / "obstore" / out)
        return self.directory / "obstore" / out

    def tierstore(self, out: str) -> Path:
        self.fs.copy("/src", f"/local/{out}", recursive=True)
        return self.directory / "local" / out

    def command(self, out: str) -> Path:
        self._tierstore("cp", "-r", "/src", f"/local/cli-{out}")
        return self.directory / "local" / f"cli-{out}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from tierstore.local.stack import start_stack, stop_stack
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.mounts import MountTable
    from tierstore.namespace.server_metadata import open_server_metadata
    from tierstore.storage.factory import open_backend

    files = {f"d{number % 50:02d}/f{number:05d}.bin": os.urandom(args.size) for number in range(args.files)}
    times: dict[str, list[tuple[float, float]]] = {"obstore": [], "tierstore": [], "tierstore fs cp -r": []}
    with tempfile.TemporaryDirectory(prefix="tierstore-tree-bench-") as scratch:
        directory = Path(scratch)
        info = start_stack(directory / "stack")
        try:
            config = _config(directory, info)
            server = load_server_config(config)
            open_backend(server.root).control.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            started = time.perf_counter()
            _write_files(_obstore_s3(info), files)
            print(f"wrote {args.files} x {args.size} B in {time.perf_counter() - started:.1f} s", flush=True)
            admin = info.admin
            table = MountTable(server, open_server_metadata(server))
            table.add("/src", f"s3://{BUCKET}/{PREFIX}", {
                "aws.accessKeyId": admin.access_key_id, "aws.secretKey": admin.secret_access_key.reveal(),
                "alluxio.underfs.s3.endpoint": info.endpoint,
            })  # fmt: skip
            table.add("/local", f"file://{directory / 'local'}")
            bench = _Bench(directory, info, config, FileSystem(table))
            runs = {
                "obstore": bench.obstore,
                "tierstore": bench.tierstore,
                "tierstore fs cp -r": bench.command,
            }
            for number in range(args.rounds):
                for name, run in runs.items():
                    copied, wall, cpu = _timed(functools.partial(run, f"r{number}"))
                    times[name].append((wall, cpu))
                    if _tree_on_disk(copied) != files:
                        print(f"round {number + 1}: {name}'s copy {copied} differs from what was written")
                        return 1
                    shutil.rmtree(copied)
                line = ", ".join(f"{name} {figures[-1][0]:.2f} s" for name, figures in times.items())
                print(f"round {number + 1}: {line}", flush=True)
            table.close()
        finally:
            stop_stack(info.directory)
    return _print_figures(times, args.files, args.size)


def _print_figures(times: dict[str, list[tuple[float, float]]], files: int, size: int) -> int:
    obstore_median = statistics.median(wall for wall, _ in times["obstore"])
    rounds = len(times["obstore"])
    print(f"\nfs cp -r of {files:,} x {size:,} B, S3 mount -> local mount, median of {rounds} rounds:")
    print(f"{'client':<22} {'seconds':>8} {'files/s':>9} {'CPU s':>7} {'vs obstore':>11}")
    met = True
    for name, figures in times.items():
        wall = statistics.median(seconds for seconds, _ in figures)
        cpu = statistics.median(seconds for _, seconds in figures)
        ratio = obstore_median / wall
        met = met and (name == "obstore" or ratio >= GOAL)
        print(f"{name:<22} {wall:>8.2f} {files / wall:>9,.0f} {cpu:>7.2f} {ratio:>11.2f}")
    verdict = "met" if met else "NOT met"
    print(f"goal: tierstore at least {GOAL} of obstore with {IN_FLIGHT} requests in flight: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
