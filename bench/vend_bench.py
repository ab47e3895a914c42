"""The vending benchmark: how fast the server vends, and what ``tierstore://`` costs on the data path.

One run starts the local stack (SeaweedFS) and ``tierstore serve`` in a child process (so the
server does not share this process's GIL), then measures:

1. Vends with a warm cache: one thread, then several, ask ``POST /v1/credentials`` for the same
   directory for a few seconds; requests per second and p50/p99 latency.
2. One 512 MiB object written and read back through ``tierstore://`` (fsspec ``pipe_file`` /
   ``cat_file``: vended credentials, straight to SeaweedFS), obstore and minio used directly with
   the admin's keys, and s3fs (what pandas users get today) -- the same object key for every
   client, interleaved round by round, medians, and each one's ratio to the fastest direct client.

Every transfer is checked (size after the write, bytes equal after the read), so a broken client
cannot look fast.

With ``--tools`` it measures the tool adapters instead (issue 20): one Parquet file of
``--size-mib`` MiB (512 by default; eight float64 columns of random values, uncompressed) is
uploaded once, then read whole by obstore, polars, DuckDB, pyarrow (its ``S3FileSystem`` and the
refreshing ``PyFileSystem``) and PyIceberg, each with tierstore's vended credentials and with the
admin's static keys configured by hand, interleaved round by round. It prints each tool's
medians and the ratio of the two (goal: at least 0.95, a cost of at most 5 %).

    .venv/bin/python bench/vend_bench.py [--quick] [--rounds N] [--size-mib N] [--threads N]
    .venv/bin/python bench/vend_bench.py --tools [--quick] [--rounds N] [--size-mib N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import obstore

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import RunningServer, start_api_server

import store_bench as sb
from tierstore.client import Client
from tierstore.client.fsspec_fs import TierstoreFileSystem
from tierstore.local.stack import start_stack, stop_stack

MiB = sb.MiB
KEY = "big/object.bin"
VEND_DIRECTORY = "/vend-target"


class FsspecTierstoreClient(sb.Client):
    """``tierstore://`` through fsspec, as pandas and pyarrow use it."""

    name = "tierstore://"

    def __init__(self, url: str, token: str) -> None:
        self.fs = TierstoreFileSystem(server=url, token=token, skip_instance_cache=True)

    def put_big(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"/{key}", data)

    def get_big(self, key: str) -> sb.Buffer:
        data: bytes = self.fs.cat_file(f"/{key}")
        return data

    def put_small(self, key: str, data: bytes) -> None:
        self.put_big(key, data)

    def get_small(self, key: str) -> sb.Buffer:
        return self.get_big(key)

    def close(self) -> None:
        self.fs.client.close()


def server_config(directory: Path, info: object) -> Path:
    """The root mount on ``s3://bench/`` with the admin's keys; vending through ReadWriteRole."""
    admin = info.users["admin"]  # type: ignore[attr-defined]
    lines = {
        "remote.data.dir": f"s3://{sb.BUCKET}/",
        "s3.endpoint": info.endpoint,  # type: ignore[attr-defined]
        "s3.region": info.region,  # type: ignore[attr-defined]
        "s3.path-style-access": "true",
        "s3.access-key": admin.access_key_id,
        "s3.secret-key": admin.secret_access_key.reveal(),
        "tierstore.vending.role.arn": info.roles["ReadWriteRole"],  # type: ignore[attr-defined]
        "tierstore.vending.duration": "3600",
        "tierstore.metadata.url": f"sqlite:///{directory / 'namespace.db'}",
    }
    path = directory / "server.yaml"
    path.write_text("".join(f"{key}: '{value}'\n" for key, value in lines.items()))
    path.chmod(0o600)
    return path


def start_stack_and_server(directory: Path) -> tuple[Any, sb.Stack, RunningServer]:
    """The local stack (its bench bucket made) and ``tierstore serve`` over it in a child process."""
    info = start_stack(directory / "stack")
    admin = info.users["admin"]
    stack = sb.Stack(info.endpoint, info.region, admin.access_key_id, admin.secret_access_key.reveal())
    owner = sb.TierstoreClient(stack)
    owner.store.ensure_bucket()
    owner.close()
    (directory / "api").mkdir()
    return info, stack, start_api_server(server_config(directory / "api", info), process=True)


def bench_vends(client: Client, threads: int, seconds: float) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, requests) of warm-cache vends from ``threads`` threads."""
    client.mkdir(VEND_DIRECTORY, parents=True)
    client.vend(VEND_DIRECTORY, "read", directory=True)  # warm the server's cache
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(mine: list[float]) -> None:
        start.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            vended = client.vend(VEND_DIRECTORY, "read", directory=True)
            mine.append(time.perf_counter() - began)
            sb.check(vended.credentials is not None, "a vend came back without credentials")

    workers = [threading.Thread(target=worker, args=(mine,)) for mine in latencies]
    for thread in workers:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - began
    every = sorted(x for mine in latencies for x in mine)
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
    return len(every) / wall, statistics.median(every) * 1000, p99 * 1000, len(every)


def run_object(client: sb.Client, janitor: object, blob: bytes) -> tuple[float, float]:
    """(write MiB/s, read MiB/s) of one object under ``KEY``, checked both ways."""
    with sb.Timer() as up:
        client.put_big(KEY, blob)
    size = obstore.head(janitor, KEY)["size"]  # type: ignore[arg-type]
    sb.check(size == len(blob), f"{client.name}: {KEY} is {size} bytes after the write, not {len(blob)}")
    with sb.Timer() as down:
        got = client.get_big(KEY)
    sb.check(len(got) == len(blob) and got == blob, f"{client.name}: {KEY} came back different")
    del got
    moved = len(blob) / MiB
    return moved / up.wall, moved / down.wall


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 1 round, 2 s of vends: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument(
        "--size-mib", type=int, default=None, help="object size (default 512; 64 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=8, help="vend threads (default 8)")
    parser.add_argument("--vend-seconds", type=float, default=None, help="vend run length (default 5)")
    parser.add_argument(
        "--tools", action="store_true", help="the tool adapters' reads instead: vended vs static keys"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tools:
        import tools_bench

        return tools_bench.run(args)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    size = (args.size_mib or (64 if args.quick else 512)) * MiB
    vend_seconds = args.vend_seconds or (2.0 if args.quick else 5.0)
    started = time.perf_counter()
    print(f"machine: {sb.machine()}")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"tierstore source: {sb.source_revision()}; {sb.versions()}")
    print(
        f"workloads: warm-cache vends from {args.threads} threads for {vend_seconds:.0f} s; one "
        f"{size // MiB} MiB object written then read by each client in turn "
        f"({sb.PART_SIZE // MiB} MiB parts, {sb.PART_CONCURRENCY} parallel), {rounds} round(s)",
        flush=True,
    )
    blob = os.urandom(size)
    factories: dict[str, Callable[[sb.Stack], sb.Client]] = {
        "obstore": sb.ObstoreClient,
        "minio": sb.MinioClient,
        "s3fs": sb.S3fsClient,
    }
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="vend-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp)
        clients: list[sb.Client] = []
        server = None
        try:
            _, stack, server = start_stack_and_server(directory)
            print(
                f"stack up at {stack.endpoint}; tierstore serve at {server.url} (child process)", flush=True
            )

            with Client(server.url, server.admin_token) as vend_client:
                for threads in dict.fromkeys((1, args.threads)):
                    rate, p50, p99, count = bench_vends(vend_client, threads, vend_seconds)
                    print(
                        f"vends, warm cache, {threads} thread(s): {rate:,.0f} req/s, p50 {p50:.1f} ms, "
                        f"p99 {p99:.1f} ms ({count:,} requests)",
                        flush=True,
                    )

            clients = [FsspecTierstoreClient(server.url, server.admin_token)]
            clients += [factory(stack) for factory in factories.values()]
            janitor = sb.obstore_store(stack)
            for client in clients:  # warm up: connections, lazy imports, the vends
                client.put_small(f"warmup/{client.name.strip(':/')}", b"warm")
                sb.check(
                    client.get_small(f"warmup/{client.name.strip(':/')}") == b"warm", f"{client.name} warm-up"
                )
            results = {c.name: {"write": [], "read": []} for c in clients}
            for number in range(1, rounds + 1):
                for client in clients:
                    write, read = run_object(client, janitor, blob)
                    results[client.name]["write"].append(write)
                    results[client.name]["read"].append(read)
                    print(
                        f"round {number} {client.name:<13} write {write:7.1f} MiB/s  read {read:7.1f} MiB/s"
                        f"  (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
        finally:
            for client in clients:
                client.close()
            if server is not None:
                server.stop()
            stop_stack(directory / "stack")

    medians = {name: {k: statistics.median(v) for k, v in lines.items()} for name, lines in results.items()}
    print(f"\nMedians of {rounds} round(s), {size // MiB} MiB object, MiB/s (higher is better)")
    print(f"{'':<16}{'write':>10}{'read':>10}")
    for name, line in medians.items():
        print(f"{name:<16}{line['write']:>10.1f}{line['read']:>10.1f}")
    print("\nRatio to the fastest direct client (obstore or minio) on each line")
    for direction in ("write", "read"):
        fastest = max(("obstore", "minio"), key=lambda n: medians[n][direction])
        best = medians[fastest][direction]
        ours = medians["tierstore://"][direction] / best
        s3fs = medians["s3fs"][direction] / best
        verdict = "MET" if ours >= 0.95 else "MISSED"
        print(
            f"{direction:<6} fastest direct: {fastest} {best:.1f} MiB/s; tierstore:// {ours:.2f} "
            f"(goal >= 0.95: {verdict}); s3fs {s3fs:.2f}"
        )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
