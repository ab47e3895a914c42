"""The S3 gateway benchmark: ``tierstore serve``'s S3 gateway against SeaweedFS used directly.

One run starts the local stack (SeaweedFS) once and ``tierstore serve`` in a child process (its
root mount on a SeaweedFS bucket of its own, the embedded SQLite metadata, an S3 key for its
admin), then runs the store benchmark's workloads (``bench/store_bench.py``) with obstore and
boto3, each once through the gateway and once straight to SeaweedFS, interleaved round by round:

1. 4 x 128 MiB objects up from memory and down to memory (multipart, 16 MiB parts, 8 at once);
2. 2,000 x 4 KiB objects PUT, then GET, then HEAD with 16 workers;
3. a recursive listing of 10,000 keys (seeded once, straight into each bucket).

It prints the medians side by side and, per client and workload, the gateway's figure as a
fraction of the same client's straight to SeaweedFS, against issue 18's goals (big objects
>= 0.6, small-object operations and listing >= 0.5). Beside them, the CPU seconds the server
and SeaweedFS spent on each workload (from /proc: the server's processes and ``weed``), the
server's peak RSS, and the load average before and after. Last, the server's peak RSS while 8
clients each upload 1 GiB through it at once (goal: under 300 MB).

Every transfer is checked so that a broken path cannot look fast: bytes read back equal bytes
written, and for the gateway the sizes and counts are checked in SeaweedFS itself (under the
root mount), not through the gateway. Clean-up goes through the gateway, so the namespace's
cache stays in step; the CPU the checks and clean-ups cost is left out of the figures.

    .venv/bin/python bench/s3_gateway_bench.py [--quick] [--rounds N] [--workers 1,2] [--no-memory]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import obstore
from boto3.s3.transfer import TransferConfig
from obstore.store import S3Store as ObstoreS3Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import RunningServer, start_api_server

import store_bench as sb
from tierstore.local.info import StackInfo
from tierstore.local.stack import start_stack, stop_stack

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = sb.MiB
GiB = sb.GiB
# The SeaweedFS bucket under the server's root mount, and the mount's prefix in it: the gateway's
# bucket ``bench`` (a top-level directory of the namespace) is ROOT_BUCKET/ROOT_PREFIX/bench/.
ROOT_BUCKET = "gateway-root"
ROOT_PREFIX = "root"
# Enough per-user uploads for 16 workers (the default, 8, answers the rest SlowDown, which the
# clients retry: the bench would measure the cap, not the gateway).
UPLOADS_PER_USER = 64
# The memory phase: issue 18's 8 clients each uploading 1 GiB; 4 parts at once each, so the
# 32 parts in flight fit the server's 32 upload threads (tierstore.server.limits.uploads).
MEMORY_CLIENTS = 8
MEMORY_PART_CONCURRENCY = 4
MEMORY_GOAL_MB = 300
GOALS = {"up": 0.6, "down": 0.6, "put": 0.5, "get": 0.5, "head": 0.5, "list": 0.5}
KINDS = ("obstore", "boto3")

# -- the server's and SeaweedFS's processes, from /proc --------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``tierstore serve --workers N`` runs N worker processes)."""
    found = [pid]
    for each in found:
        try:
            for task in Path(f"/proc/{each}/task").iterdir():
                found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # ended meanwhile
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its descendants, living and reaped."""
    total = 0
    for each in process_tree(pid):
        try:
            text = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
        # utime, stime, cutime, cstime: fields 14-17 of proc(5); fields[0] is field 3.
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """The largest peak RSS (VmHWM) of ``pid`` and its descendants, in MB."""
    peak = 0
    for each in process_tree(pid):
        try:
            for row in Path(f"/proc/{each}/status").read_text().splitlines():
                if row.startswith("VmHWM:"):
                    peak = max(peak, int(row.split()[1]))
        except OSError:
            continue
    return peak * 1024 / 1e6


def reset_peak_rss(pid: int) -> bool:
    """Starts ``pid``'s (and its descendants') VmHWM again from the current RSS (proc(5):
    clear_refs 5; needs the right to write there, which the bench's own children give)."""
    done = True
    for each in process_tree(pid):
        try:
            Path(f"/proc/{each}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


@dataclass
class Meter:
    """CPU seconds of the processes a workload makes work: each server's and SeaweedFS's."""

    pids: dict[str, int]

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}


@dataclass
class MeteredJanitor(sb.Janitor):
    """A janitor whose checks and clean-ups are metered, so the workloads' CPU leaves them out."""

    meter: Meter
    spent: dict[str, float] = field(default_factory=dict)

    def __init__(self, store: ObstoreS3Store, meter: Meter) -> None:
        super().__init__(store)
        self.meter = meter
        self.spent = {}

    def _metered(self, work: Callable[[], object]) -> object:
        before = self.meter.read()
        try:
            return work()
        finally:
            after = self.meter.read()
            for name, value in after.items():
                self.spent[name] = self.spent.get(name, 0.0) + value - before[name]

    def size(self, key: str) -> int:
        return int(self._metered(lambda: super(MeteredJanitor, self).size(key)))  # type: ignore[call-overload]

    def keys(self, prefix: str) -> list[str]:
        found = self._metered(lambda: super(MeteredJanitor, self).keys(prefix))
        assert isinstance(found, list)
        return found

    def cleanup(self, prefix: str) -> None:
        self._metered(lambda: self._cleanup(prefix))

    def _cleanup(self, prefix: str) -> None:
        super().cleanup(prefix)


class GatewayJanitor(MeteredJanitor):
    """Checks in SeaweedFS itself, under the root mount (the gateway's answers are not taken on
    trust), and deletes through the gateway, a key at a time on ``pool`` (DeleteObject, as any
    client would: the namespace's cache learns of each delete)."""

    def __init__(
        self, store: ObstoreS3Store, meter: Meter, gateway: S3Client, pool: ThreadPoolExecutor
    ) -> None:
        super().__init__(store, meter)
        self.gateway = gateway
        self.pool = pool

    def _cleanup(self, prefix: str) -> None:
        keys = sb.list_all(self.store, prefix)
        # boto3, since obstore deletes even one key with DeleteObjects.
        list(self.pool.map(lambda key: self.gateway.delete_object(Bucket=sb.BUCKET, Key=key), keys))
        sb.check(
            not sb.list_all(self.store, prefix), f"clean-up through the gateway left keys under {prefix}"
        )


# -- the set-up -------------------------------------------------------------------------------


def server_config(directory: Path, info: StackInfo) -> Path:
    """The root mount on ``s3://ROOT_BUCKET/ROOT_PREFIX`` with the stack admin's keys."""
    admin = info.users["admin"]
    lines = {
        "remote.data.dir": f"s3://{ROOT_BUCKET}/{ROOT_PREFIX}",
        "s3.endpoint": info.endpoint,
        "s3.region": info.region,
        "s3.path-style-access": "true",
        "s3.access-key": admin.access_key_id,
        "s3.secret-key": admin.secret_access_key.reveal(),
        "tierstore.metadata.url": f"sqlite:///{directory / 'namespace.db'}",
        "tierstore.server.limits.uploads-per-user": str(UPLOADS_PER_USER),
    }
    path = directory / "server.yaml"
    path.write_text("".join(f"{key}: '{value}'\n" for key, value in lines.items()))
    path.chmod(0o600)
    return path


def s3_client(stack: sb.Stack) -> S3Client:
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=stack.key_id,
        aws_secret_access_key=stack.secret,
        config=sb._botocore_config(when_required=False),
    )
    return client


def gateway_stack(server: RunningServer, region: str) -> sb.Stack:
    """The gateway as an S3 endpoint, with a new S3 key of the server's admin."""
    assert server.s3_url is not None, "the server's S3 gateway is off"
    whoami = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(), timeout=30)
    sb.check(whoami.status_code == 200, f"whoami: {whoami.status_code} {whoami.text}")
    key_id, secret = server.add_s3_key(str(whoami.json()["user"]))
    return sb.Stack(server.s3_url, region, key_id, secret.reveal())


@dataclass
class Route:
    """One client on one path: the client, the janitor checking it, and which server it uses."""

    client: sb.Client
    janitor: MeteredJanitor
    server: str | None  # the Meter's name of the server in the path; None: straight to SeaweedFS


def make_client(kind: str, stack: sb.Stack, name: str) -> sb.Client:
    client = sb.CLIENT_FACTORIES[kind](stack)
    client.name = name  # the results' column, and the keys' prefix: each path writes its own
    return client


# -- the report -------------------------------------------------------------------------------

RESOURCE_LINES = [
    ("server", "big", "server CPU s/GiB big"),
    ("server", "small", "server CPU ms/op small"),
    ("server", "list", "server CPU s list"),
    ("weed", "big", "weed CPU s/GiB big"),
    ("weed", "small", "weed CPU ms/op small"),
    ("weed", "list", "weed CPU s list"),
]


def cpu_row(spent: dict[str, dict[str, float]], sizes: sb.Sizes, server: str | None) -> dict[str, float]:
    """CPU per unit of work of one round of one path (``spent``: per workload, per process)."""
    moved_gib = 2 * sizes.big_count * sizes.big_size / GiB  # up and down
    ops = 3 * sizes.small_count  # PUT, GET, HEAD
    per_unit = {"big": moved_gib, "small": ops / 1000, "list": 1.0}
    row: dict[str, float] = {}
    for who, workload, label in RESOURCE_LINES:
        process = "weed" if who == "weed" else server
        if process is None or workload not in spent:
            continue
        row[label] = spent[workload][process] / per_unit[workload]
    return row


def report(
    results: dict[str, dict[str, list[float]]],
    paths: list[Route],
    sizes: sb.Sizes,
    rounds: int,
) -> list[str]:
    """The tables (Markdown), printed; the goals missed are returned."""
    names = [p.client.name for p in paths]
    medians = {n: {k: statistics.median(v) for k, v in results[n].items() if v} for n in names}

    def label(text: str) -> str:
        return text.replace("N", f"{sizes.list_count:,}")

    print(f"\nMedians of {rounds} round(s); MiB/s and ops/s: higher is better; s, CPU s and ms: lower")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    lines = [(line.key, label(line.label)) for line in sb.LINES] + [(x[2], x[2]) for x in RESOURCE_LINES]
    for key, text in lines:
        cells = [sb.fmt(medians[n][key]) if key in medians[n] else "" for n in names]
        print(f"| {text} | " + " | ".join(cells) + " |")

    print("\nThrough the gateway as a fraction of the same client straight to SeaweedFS")
    print("(> 1: the gateway is faster; for seconds the inverse ratio, so higher is better throughout)")
    gateways = [p for p in paths if p.server is not None]
    print("| | " + " | ".join(p.client.name for p in gateways) + " | goal |")
    print("|---|" + "---:|" * (len(gateways) + 1))
    misses: list[str] = []
    for line in sb.LINES:
        cells = []
        for p in gateways:
            direct = f"{p.client.name.split('-')[0]}-direct"
            ours, theirs = medians[p.client.name][line.key], medians[direct][line.key]
            ratio = ours / theirs if line.higher_is_better else theirs / ours
            cells.append(f"{ratio:.2f}")
            goal = GOALS.get(line.key)
            if goal is not None and ratio < goal:
                misses.append(f"{p.client.name} {label(line.label)}: {ratio:.2f} of direct (goal {goal})")
        goal_text = f">= {GOALS[line.key]}" if line.key in GOALS else ""
        print(f"| {label(line.label)} | " + " | ".join(cells) + f" | {goal_text} |")
    return misses


# -- the memory phase -------------------------------------------------------------------------


class RepeatingReader(io.RawIOBase):
    """``size`` bytes made of one random block over and over (each block numbered, so no two
    parts are alike), read like a file; never more than one block in memory."""

    def __init__(self, size: int, block: bytes) -> None:
        self.size, self.block, self.position = size, block, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self.position < self.size:
            number, offset = divmod(self.position, len(self.block))
            piece = number.to_bytes(8, "big") + self.block[8:] if offset < 8 else self.block
            take = min(len(out) - done, len(self.block) - offset, self.size - self.position)
            out[done : done + take] = piece[offset : offset + take]
            done += take
            self.position += take
        return done


def digest_of(reader: RepeatingReader) -> str:
    reader.seek(0)
    digest = hashlib.sha256()
    while chunk := reader.read(8 * MiB):
        digest.update(chunk)
    return digest.hexdigest()


def memory_phase(
    server: RunningServer, gateway: sb.Stack, root: ObstoreS3Store, size_mib: int, rounds_note: str
) -> tuple[str, float]:
    """The server's peak RSS while MEMORY_CLIENTS boto3 clients each upload ``size_mib`` MiB
    through the gateway at once; each object then read straight from SeaweedFS and hashed."""
    assert server._process is not None
    pid = server._process.pid
    block = os.urandom(MiB)
    size = size_mib * MiB
    expected = digest_of(RepeatingReader(size, block))
    transfer = TransferConfig(
        multipart_threshold=sb.PART_SIZE,
        multipart_chunksize=sb.PART_SIZE,
        max_concurrency=MEMORY_PART_CONCURRENCY,
    )
    clients = [s3_client(gateway) for _ in range(MEMORY_CLIENTS)]
    reset = reset_peak_rss(pid)
    before = peak_rss_mb(pid)
    began = time.perf_counter()
    with ThreadPoolExecutor(MEMORY_CLIENTS) as pool:
        list(
            pool.map(
                lambda i: clients[i].upload_fileobj(
                    RepeatingReader(size, block), sb.BUCKET, f"memory/{i}", Config=transfer
                ),
                range(MEMORY_CLIENTS),
            )
        )
    wall = time.perf_counter() - began
    peak = peak_rss_mb(pid)
    for client in clients:
        client.close()
    for i in range(MEMORY_CLIENTS):
        digest = hashlib.sha256()
        for chunk in obstore.get(root, f"memory/{i}"):
            digest.update(chunk)
        sb.check(digest.hexdigest() == expected, f"memory/{i} came back different from SeaweedFS")
        obstore.delete(root, f"memory/{i}")
    start = "reset before" if reset else f"not reset (could not write clear_refs; {before:,.0f} MB before)"
    line = (
        f"{MEMORY_CLIENTS} boto3 clients x {size_mib:,} MiB up through the gateway at once "
        f"({MEMORY_PART_CONCURRENCY} x {sb.PART_SIZE // MiB} MiB parts each): "
        f"{MEMORY_CLIENTS * size_mib / wall:,.0f} MiB/s in all; server peak RSS {peak:,.0f} MB "
        f"(peak {start}; goal < {MEMORY_GOAL_MB} MB){rounds_note}"
    )
    print(line, flush=True)
    return line, peak


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 round: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument(
        "--workers",
        default="1",
        help="tierstore serve --workers: a count, or several comma-separated (1,2), each its own "
        "server and its own column (default 1)",
    )
    parser.add_argument(
        "--workloads", default="big,small,list", help="comma-separated from big, small, list (default all)"
    )
    parser.add_argument("--clients", default=",".join(KINDS), help="obstore, boto3 or both (default)")
    parser.add_argument(
        "--memory-mib", type=int, default=None, help="per-client upload of the memory phase (default 1024)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory phase")
    parser.add_argument(
        "--hold", action="store_true", help="print the server's pid and wait for Enter before the rounds"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (a bench run in the background is deaf to SIGINT) unwinds as an exception, so the
    # server and SeaweedFS are stopped rather than left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sb.QUICK if args.quick else sb.FULL
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    kinds = [k.strip() for k in args.clients.split(",") if k.strip()]
    memory_mib = args.memory_mib or (64 if args.quick else 1024)
    if rounds < 1 or not workers or min(workers) < 1 or set(workloads) - {"big", "small", "list"}:
        print("rounds and workers must be >= 1, workloads from big, small, list", file=sys.stderr)
        return 2
    if set(kinds) - set(KINDS):
        print(f"clients from {', '.join(KINDS)}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    load_start = os.getloadavg()
    print(f"machine: {sb.machine()}")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in load_start)}")
    print(f"python {sys.version.split()[0]}; {sb.versions()}")
    print(f"tierstore source: {sb.source_revision()}")
    print(f"server: SeaweedFS `weed mini` via tierstore.local.stack ({sb.weed_version()})")
    print(
        f"workloads ({', '.join(workloads)}): {sizes.big_count} x {sizes.big_size // MiB} MiB up/down "
        f"({sb.PART_SIZE // MiB} MiB parts, {sb.PART_CONCURRENCY} parallel); "
        f"{sizes.small_count:,} x {sizes.small_size // sb.KiB} KiB PUT/GET/HEAD with {sb.WORKERS} workers; "
        f"list {sizes.list_count:,} keys; {rounds} round(s); tierstore serve --workers {args.workers}",
        flush=True,
    )

    blobs = [os.urandom(sizes.big_size) for _ in range(sizes.big_count)] if "big" in workloads else []
    with tempfile.TemporaryDirectory(prefix="s3-gateway-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp)
        servers: dict[int, RunningServer] = {}
        paths: list[Route] = []
        try:
            info = start_stack(directory / "stack")
            admin = info.users["admin"]
            direct = sb.Stack(
                info.endpoint, info.region, admin.access_key_id, admin.secret_access_key.reveal()
            )
            with contextlib.closing(s3_client(direct)) as seaweed:
                seaweed.create_bucket(Bucket=sb.BUCKET)
                seaweed.create_bucket(Bucket=ROOT_BUCKET)
            (directory / "api").mkdir()
            config = server_config(directory / "api", info)
            for count in workers:
                servers[count] = start_api_server(config, process=True, workers=count)
            first = servers[workers[0]]
            gateways = {count: gateway_stack(server, "us-east-1") for count, server in servers.items()}
            # The gateway's bucket: a top-level directory of the namespace, made by its admin.
            with contextlib.closing(s3_client(gateways[workers[0]])) as gateway:
                gateway.create_bucket(Bucket=sb.BUCKET)
            meter_pids = {f"server{count}": server._process.pid for count, server in servers.items()}  # type: ignore[union-attr]
            meter_pids["weed"] = info.pids["weed"]
            meter = Meter(meter_pids)
            print(
                f"stack at {info.endpoint} (weed pid {info.pids['weed']}); "
                + "; ".join(
                    f"tierstore serve --workers {c} at {s.s3_url} (pid {s._process.pid})"
                    for c, s in servers.items()
                )  # type: ignore[union-attr]
                + f"; root mount on s3://{ROOT_BUCKET}/{ROOT_PREFIX}",
                flush=True,
            )
            under_root = sb.obstore_store(direct, ROOT_BUCKET, f"{ROOT_PREFIX}/{sb.BUCKET}")
            with ThreadPoolExecutor(max_workers=sb.WORKERS, thread_name_prefix="bench") as pool:
                list(pool.map(lambda _: time.sleep(0.01), range(sb.WORKERS)))  # start the threads
                for kind in kinds:
                    for count in workers:
                        suffix = "" if count == 1 else f"{count}w"
                        paths.append(
                            Route(
                                make_client(kind, gateways[count], f"{kind}-gw{suffix}"),
                                GatewayJanitor(under_root, meter, s3_client(gateways[count]), pool),
                                f"server{count}",
                            )
                        )
                    paths.append(
                        Route(
                            make_client(kind, direct, f"{kind}-direct"),
                            MeteredJanitor(sb.obstore_store(direct), meter),
                            None,
                        )
                    )
                expected: set[str] = set()
                if "list" in workloads:
                    seed_start = time.perf_counter()
                    expected = sb.seed_listing(sb.obstore_store(direct), pool, sizes.list_count)
                    sb.seed_listing(under_root, pool, sizes.list_count)
                    print(
                        f"seeded {len(expected):,} keys in each bucket in "
                        f"{time.perf_counter() - seed_start:.1f} s",
                        flush=True,
                    )
                for p in paths:  # warm up: connections, lazy imports, the server's caches
                    p.client.put_small(f"warmup/{p.client.name}", b"warm")
                    sb.check(
                        p.client.get_small(f"warmup/{p.client.name}") == b"warm", f"{p.client.name} warm-up"
                    )
                    sb.check(p.client.head(f"warmup/{p.client.name}") == 4, f"{p.client.name} warm-up head")
                    p.janitor.cleanup("warmup/")
                if args.hold:
                    input(f"server pids {meter_pids}: press Enter to start the rounds ")
                line_keys = [line.key for line in sb.LINES] + [x[2] for x in RESOURCE_LINES]
                results = {p.client.name: {key: [] for key in line_keys} for p in paths}
                for number in range(1, rounds + 1):
                    for p in paths:
                        row, spent = run_round(
                            p,
                            workloads=workloads,
                            blobs=blobs,
                            pool=pool,
                            sizes=sizes,
                            expected=expected,
                            meter=meter,
                        )
                        row |= cpu_row(spent, sizes, p.server)
                        for key, value in row.items():
                            results[p.client.name][key].append(value)
                        shown = "  ".join(f"{k} {sb.fmt(v)}" for k, v in row.items() if " CPU " not in k)
                        cpu = "  ".join(
                            f"{who} {sum(spent[w][who] for w in spent):.1f}s"
                            for who in (p.server, "weed")
                            if who is not None
                        )
                        print(
                            f"round {number} {p.client.name:<15} {shown}  CPU {cpu}  "
                            f"(load {os.getloadavg()[0]:.2f})",
                            flush=True,
                        )
            peaks = {count: peak_rss_mb(s._process.pid) for count, s in servers.items()}  # type: ignore[union-attr]
            print(
                "server peak RSS over the rounds: "
                + ", ".join(f"--workers {c}: {mb:,.0f} MB" for c, mb in peaks.items()),
                flush=True,
            )
            if rounds and len(workloads) == 3:
                misses = report(results, paths, sizes, rounds)
            else:
                misses = report_partial(results, paths)
            if not args.no_memory:
                _, peak = memory_phase(first, gateways[workers[0]], under_root, memory_mib, "")
                if peak >= MEMORY_GOAL_MB:
                    misses.append(
                        f"server peak RSS {peak:,.0f} MB during the uploads (goal < {MEMORY_GOAL_MB})"
                    )
        finally:
            for p in paths:
                p.client.close()
            for server in servers.values():
                server.stop()
            stop_stack(directory / "stack")
    print()
    if len(workloads) < 3:
        print("GOALS (issue 18): not judged (not every workload ran)")
    elif misses:
        print(f"GOALS (issue 18): MISSED on {len(misses)}:")
        for miss in misses:
            print(f"  - {miss}")
    else:
        print("GOALS (issue 18): MET on every line")
    load_end = os.getloadavg()
    print(
        f"load average at start {', '.join(f'{x:.2f}' for x in load_start)}; at the end "
        f"{', '.join(f'{x:.2f}' for x in load_end)}; total time {time.perf_counter() - started:.0f} s"
    )
    return 0


def run_round(
    p: Route,
    *,
    workloads: list[str],
    blobs: list[bytes],
    pool: ThreadPoolExecutor,
    sizes: sb.Sizes,
    expected: set[str],
    meter: Meter,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """One path's workloads: their figures, and the CPU each process spent on each workload
    (what the janitor's checks and clean-ups cost left out)."""
    runs: dict[str, Callable[[], dict[str, float]]] = {
        "big": lambda: sb.run_big(p.client, p.janitor, blobs),
        "small": lambda: sb.run_small(p.client, p.janitor, pool, sizes),
        "list": lambda: sb.run_list(p.client, expected),
    }
    row: dict[str, float] = {}
    spent: dict[str, dict[str, float]] = {}
    for workload in workloads:
        p.janitor.spent = {}
        before = meter.read()
        row |= runs[workload]()
        after = meter.read()
        spent[workload] = {
            name: after[name] - before[name] - p.janitor.spent.get(name, 0.0) for name in after
        }
    return row, spent


def report_partial(results: dict[str, dict[str, list[float]]], paths: list[Route]) -> list[str]:
    """Medians of what ran, when not every workload did (no goals judged)."""
    print("\nMedians (not every workload ran: no ratios judged)")
    for p in paths:
        shown = "  ".join(
            f"{key} {sb.fmt(statistics.median(values))}"
            for key, values in results[p.client.name].items()
            if values
        )
        print(f"{p.client.name:<15} {shown}")
    return []


if __name__ == "__main__":
    sys.exit(main())
