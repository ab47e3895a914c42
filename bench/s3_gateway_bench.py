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
>= 0.6, small-object operations and listing >= 0.5). Beside them, the CPU the server and
SeaweedFS spent in each timed block (from /proc: the server's processes and ``weed``) per GiB,
per operation or per listing, the server's peak RSS, and the load average before and after.
Last, the server's peak RSS while 8 clients each upload 1 GiB through it at once (goal: under
300 MB).

Beside them, the floor (unless ``--no-floor``): obstore's small operations through
``bench/passthrough_app.py``, an ASGI app on the same uvicorn that forwards each request to
SeaweedFS with one obstore call and checks nothing. No server in Python that forwards requests
goes faster on this machine, so the gateway's figure over the floor's says how much of that it
keeps, and the floor's over direct where the goal itself lies.

With ``--named-user``, obstore's small operations also go through the gateway as a named user
(``obstore-user``): each file it writes gets a row of its own in the namespace (its owner and
bits), which an admin's writes do not; shown beside the admin's, not judged against the goals.

Every transfer is checked so that a broken path cannot look fast: bytes read back equal bytes
written, and for the gateway the sizes and counts are checked in SeaweedFS itself (under the
root mount), not through the gateway. Clean-up goes through the gateway, so the namespace's
cache stays in step. Checks and clean-ups are outside the timed blocks.

    .venv/bin/python bench/s3_gateway_bench.py [--quick] [--rounds N] [--workers 1,2] [--no-memory]
        [--no-floor] [--named-user]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import obstore
from boto3.s3.transfer import TransferConfig
from obstore.store import S3Store as ObstoreS3Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import RunningServer, start_api_server, wait_until_answering

import store_bench as sb
from tierstore.local.info import StackInfo
from tierstore.local.stack import start_stack, stop_stack
from tierstore.server.run import bound_socket

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
# The floor's route: obstore through bench/passthrough_app.py, small operations only.
FLOOR = "obstore-floor"
# With --named-user: obstore's small operations through the gateway as a named user (not an admin),
# whose every new file gets a row of its own in the namespace. Shown, not judged against the goals.
NAMED = "obstore-user"
NAMED_USER = "analyst"
FLOOR_WORKLOADS = ("small",)
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


class GatewayJanitor(sb.Janitor):
    """Checks in SeaweedFS itself, under the root mount (the gateway's answers are not taken on
    trust), and deletes through the gateway, a key at a time on ``pool`` (DeleteObject, as any
    client would: the namespace's cache learns of each delete)."""

    def __init__(self, store: ObstoreS3Store, gateway: S3Client, pool: ThreadPoolExecutor) -> None:
        super().__init__(store)
        self.gateway = gateway
        self.pool = pool

    def cleanup(self, prefix: str) -> None:
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
    """One client on one path: the client, the janitor checking it, and the server it goes
    through (its name in ``sb.PROBES``), None when it goes straight to SeaweedFS."""

    client: sb.Client
    janitor: sb.Janitor
    server: str | None
    # The workloads this route runs, when not every one of the plan's.
    only: tuple[str, ...] | None = None

    @property
    def direct(self) -> str:
        """The name of the same client's route straight to SeaweedFS."""
        return f"{self.client.name.split('-')[0]}-direct"


def make_client(kind: str, stack: sb.Stack, name: str) -> sb.Client:
    client = sb.CLIENT_FACTORIES[kind](stack)
    client.name = name  # the results' column, and the keys' prefix: each route writes its own
    return client


def run_round(
    route: Route,
    *,
    workloads: list[str],
    blobs: list[bytes],
    pool: ThreadPoolExecutor,
    sizes: sb.Sizes,
    expected: set[str],
) -> dict[str, float]:
    runs: dict[str, Callable[[], dict[str, float]]] = {
        "big": lambda: sb.run_big(route.client, route.janitor, blobs),
        "small": lambda: sb.run_small(route.client, route.janitor, pool, sizes),
        "list": lambda: sb.run_list(route.client, expected),
    }
    row: dict[str, float] = {}
    for workload in workloads:
        row |= runs[workload]()
    return row


# -- the report -------------------------------------------------------------------------------

# CPU lines: (the store bench's line, its label, the factor from its unit to the one shown).
CPU_LINES = [
    ("up", "CPU s/GiB big up", 1.0),
    ("down", "CPU s/GiB big down", 1.0),
    ("put", "CPU ms/op PUT", 1000.0),
    ("get", "CPU ms/op GET", 1000.0),
    ("head", "CPU ms/op HEAD", 1000.0),
    ("list", "CPU s list", 1.0),
]


def cpu_figures(route: Route, row: dict[str, float]) -> dict[str, float]:
    """The route's server's and SeaweedFS's CPU lines of one round (from the probes' keys)."""
    found: dict[str, float] = {}
    for key, label, factor in CPU_LINES:
        for who, probe in (("server", route.server), ("weed", "weed")):
            value = row.get(f"{key}@{probe}") if probe else None
            if value is not None:
                found[f"{who} {label}"] = value * factor
    return found


def report(
    results: dict[str, dict[str, list[float]]], routes: list[Route], sizes: sb.Sizes, rounds: int
) -> list[str]:
    """The tables (Markdown), printed; the goals missed are returned."""
    names = [route.client.name for route in routes]
    medians = {n: {k: statistics.median(v) for k, v in results[n].items() if v} for n in names}

    def label(text: str) -> str:
        return text.replace("N", f"{sizes.list_count:,}")

    print(f"\nMedians of {rounds} round(s); MiB/s and ops/s: higher is better; s, CPU s and ms: lower")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    lines = [(line.key, label(line.label)) for line in sb.LINES]
    lines += [(f"{who} {text}", f"{who} {text}") for who in ("server", "weed") for _, text, _ in CPU_LINES]
    for key, text in lines:
        if not any(key in medians[n] for n in names):
            continue
        cells = [sb.fmt(medians[n][key]) if key in medians[n] else "" for n in names]
        print(f"| {text} | " + " | ".join(cells) + " |")

    gateways = [route for route in routes if route.server is not None]
    columns = [route.client.name for route in gateways]
    misses: list[str] = []
    print("\nThrough the gateway as a fraction of the same client straight to SeaweedFS")
    print("(> 1: the gateway is faster; for seconds the inverse ratio, so higher is better throughout)")
    print("| | " + " | ".join(route.client.name for route in gateways) + " | goal |")
    print("|---|" + "---:|" * (len(gateways) + 1))
    for line in sb.LINES:
        if not any(line.key in medians[n] for n in columns):
            continue
        cells = []
        for route in gateways:
            ratio = _ratio(medians, route.client.name, route.direct, line)
            cells.append("" if ratio is None else f"{ratio:.2f}")
            goal = GOALS.get(line.key)
            judged = route.client.name not in (FLOOR, NAMED)
            if goal is not None and ratio is not None and ratio < goal and judged:
                misses.append(f"{route.client.name} {label(line.label)}: {ratio:.2f} of direct (goal {goal})")
        goal_text = f">= {GOALS[line.key]}" if line.key in GOALS else ""
        print(f"| {label(line.label)} | " + " | ".join(cells) + f" | {goal_text} |")
    if FLOOR in medians and "obstore-gw" in medians:
        print(f"\nobstore through the gateway as a fraction of the floor ({FLOOR}: forwarding, no checks)")
        print("| | obstore-gw / floor | floor / direct |")
        print("|---|---:|---:|")
        for line in sb.LINES:
            beside = _ratio(medians, "obstore-gw", FLOOR, line)
            under = _ratio(medians, FLOOR, "obstore-direct", line)
            if beside is not None and under is not None:
                print(f"| {label(line.label)} | {beside:.2f} | {under:.2f} |")
    return misses


def _ratio(medians: dict[str, dict[str, float]], ours: str, theirs: str, line: sb.Line) -> float | None:
    """``ours`` over ``theirs`` on ``line`` (the inverse for seconds); None when one lacks it."""
    if line.key not in medians.get(ours, {}) or line.key not in medians.get(theirs, {}):
        return None
    mine, other = medians[ours][line.key], medians[theirs][line.key]
    return mine / other if line.higher_is_better else other / mine


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


def memory_phase(server: RunningServer, gateway: sb.Stack, root: ObstoreS3Store, size_mib: int) -> float:
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
        f"(peak {start}; goal < {MEMORY_GOAL_MB} MB)"
    )
    print(line, flush=True)
    return peak


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
        "--no-floor", action="store_true", help="skip the floor (obstore through bench/passthrough_app.py)"
    )
    parser.add_argument(
        "--named-user",
        action="store_true",
        help=f"also obstore's small operations through the gateway as a named user ({NAMED})",
    )
    parser.add_argument(
        "--hold", action="store_true", help="print the server's pid and wait for Enter before the rounds"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Plan:
    sizes: sb.Sizes
    rounds: int
    workers: list[int]
    workloads: list[str]
    kinds: list[str]
    memory_mib: int | None  # None: no memory phase
    hold: bool  # wait for Enter before the rounds (to attach a profiler to the server)
    floor: bool  # obstore's small operations through bench/passthrough_app.py too
    named: bool  # obstore's small operations through the gateway as a named user too


def plan_of(args: argparse.Namespace) -> Plan | None:
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    kinds = [k.strip() for k in args.clients.split(",") if k.strip()]
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds < 1 or not workers or min(workers) < 1 or set(workloads) - {"big", "small", "list"}:
        print("rounds and workers must be >= 1, workloads from big, small, list", file=sys.stderr)
        return None
    if not kinds or set(kinds) - set(KINDS):
        print(f"clients from {', '.join(KINDS)}", file=sys.stderr)
        return None
    memory = None if args.no_memory else (args.memory_mib or (64 if args.quick else 1024))
    floor = not args.no_floor and "obstore" in kinds and "small" in workloads
    named = args.named_user and "obstore" in kinds and "small" in workloads
    return Plan(
        sb.QUICK if args.quick else sb.FULL,
        rounds,
        workers,
        workloads,
        kinds,
        memory,
        args.hold,
        floor,
        named,
    )


def print_header(plan: Plan, load: tuple[float, float, float]) -> None:
    sizes = plan.sizes
    print(f"machine: {sb.machine()}")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in load)}")
    print(f"{sb.interpreter()}, the server's and the floor's too; {sb.versions()}")
    print(f"tierstore source: {sb.source_revision()}")
    print(f"server: SeaweedFS `weed mini` via tierstore.local.stack ({sb.weed_version()})")
    print(
        f"workloads ({', '.join(plan.workloads)}): {sizes.big_count} x {sizes.big_size // MiB} MiB "
        f"up/down ({sb.PART_SIZE // MiB} MiB parts, {sb.PART_CONCURRENCY} parallel); "
        f"{sizes.small_count:,} x {sizes.small_size // sb.KiB} KiB PUT/GET/HEAD with {sb.WORKERS} "
        f"workers; list {sizes.list_count:,} keys; {plan.rounds} round(s); tierstore serve --workers "
        f"{','.join(map(str, plan.workers))}",
        flush=True,
    )


@dataclass
class Running:
    """The stack and the servers of one run, and the ways to them."""

    info: StackInfo
    direct: sb.Stack
    servers: dict[int, RunningServer]
    gateways: dict[int, sb.Stack]
    under_root: ObstoreS3Store  # the gateway's bucket in SeaweedFS, for the checks
    floor: subprocess.Popen[bytes] | None = None
    floor_stack: sb.Stack | None = None
    named: sb.Stack | None = None  # the first server's gateway with a named user's key

    def pid(self, count: int) -> int:
        process = self.servers[count]._process
        assert process is not None
        return process.pid


def start_floor(directory: Path, direct: sb.Stack) -> tuple[subprocess.Popen[bytes], sb.Stack]:
    """bench/passthrough_app.py on uvicorn (uvloop, httptools: as tierstore serve), forwarding to
    the direct bucket; its log in ``directory``."""
    with bound_socket("127.0.0.1") as probe:
        port = probe.getsockname()[1]
    env = os.environ | {
        "PASSTHROUGH_BUCKET": sb.BUCKET,
        "PASSTHROUGH_ENDPOINT": direct.endpoint,
        "PASSTHROUGH_REGION": direct.region,
        "PASSTHROUGH_KEY_ID": direct.key_id,
        "PASSTHROUGH_SECRET": direct.secret,
    }
    command = [sys.executable, "-m", "uvicorn", "passthrough_app:app", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    with (directory / "floor.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=Path(__file__).resolve().parent, env=env, stdout=log, stderr=log
        )
    try:
        wait_until_answering(
            process,
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(),
            OSError,
            timeout=30,
        )
    except RuntimeError:
        process.kill()
        raise RuntimeError(f"the floor app did not start: {(directory / 'floor.log').read_text()}") from None
    return process, sb.Stack(f"http://127.0.0.1:{port}", direct.region, direct.key_id, direct.secret)


def named_user_stack(server: RunningServer, gateway: sb.Stack) -> sb.Stack:
    """A named user's S3 key on ``gateway``, the user given search on ``/`` and every bit on the
    bench's bucket (so each file it writes is its own: a row in the namespace, as for any user)."""
    server.add_user(NAMED_USER)
    key_id, secret = server.add_s3_key(NAMED_USER)
    for path, mode in (("/", "0711"), (f"/{sb.BUCKET}", "0777")):
        answer = httpx.post(
            f"{server.url}/v1/fs/chmod", json={"path": path, "mode": mode}, headers=server.auth(), timeout=30
        )
        sb.check(answer.status_code == 200, f"chmod {mode} {path}: {answer.status_code} {answer.text}")
    return sb.Stack(gateway.endpoint, gateway.region, key_id, secret.reveal())


def start(directory: Path, workers: list[int], *, floor: bool, named: bool = False) -> Running:
    """The stack, its two buckets, a server per worker count (one config, one namespace), an S3
    key for their admin, the gateway's bucket, and the CPU probes of every timed block."""
    info = start_stack(directory / "stack")
    admin = info.users["admin"]
    direct = sb.Stack(info.endpoint, info.region, admin.access_key_id, admin.secret_access_key.reveal())
    with contextlib.closing(s3_client(direct)) as seaweed:
        seaweed.create_bucket(Bucket=sb.BUCKET)
        seaweed.create_bucket(Bucket=ROOT_BUCKET)
    (directory / "api").mkdir()
    config = server_config(directory / "api", info)
    servers: dict[int, RunningServer] = {}
    try:
        for count in workers:
            servers[count] = start_api_server(config, process=True, workers=count)
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    gateways = {count: gateway_stack(server, "us-east-1") for count, server in servers.items()}
    under_root = sb.obstore_store(direct, ROOT_BUCKET, f"{ROOT_PREFIX}/{sb.BUCKET}")
    running = Running(info, direct, servers, gateways, under_root)
    # The gateway's bucket: a top-level directory of the namespace, made by its admin.
    with contextlib.closing(s3_client(gateways[workers[0]])) as gateway:
        gateway.create_bucket(Bucket=sb.BUCKET)
    if named:
        running.named = named_user_stack(servers[workers[0]], gateways[workers[0]])
    if floor:
        running.floor, running.floor_stack = start_floor(directory, direct)
        sb.PROBES["floor"] = functools.partial(cpu_seconds, running.floor.pid)
    for count in workers:
        sb.PROBES[f"server{count}"] = functools.partial(cpu_seconds, running.pid(count))
    sb.PROBES["weed"] = functools.partial(cpu_seconds, info.pids["weed"])
    servers_text = "; ".join(
        f"tierstore serve --workers {count} at {servers[count].s3_url} (pid {running.pid(count)})"
        for count in workers
    )
    print(
        f"stack at {info.endpoint} (weed pid {info.pids['weed']}); {servers_text}; root mount on "
        f"s3://{ROOT_BUCKET}/{ROOT_PREFIX}",
        flush=True,
    )
    return running


def make_routes(running: Running, plan: Plan, pool: ThreadPoolExecutor) -> list[Route]:
    """Per client: through each server, then straight to SeaweedFS (the round's order)."""
    routes: list[Route] = []
    for kind in plan.kinds:
        for count in plan.workers:
            suffix = "" if count == 1 else f"{count}w"
            client = make_client(kind, running.gateways[count], f"{kind}-gw{suffix}")
            janitor = GatewayJanitor(running.under_root, s3_client(running.gateways[count]), pool)
            routes.append(Route(client, janitor, f"server{count}"))
        if kind == "obstore" and running.named is not None:
            first = plan.workers[0]
            client = make_client(kind, running.named, NAMED)
            janitor = GatewayJanitor(running.under_root, s3_client(running.gateways[first]), pool)
            routes.append(Route(client, janitor, f"server{first}", FLOOR_WORKLOADS))
        if kind == "obstore" and running.floor_stack is not None:
            client = make_client(kind, running.floor_stack, FLOOR)
            routes.append(
                Route(client, sb.Janitor(sb.obstore_store(running.direct)), "floor", FLOOR_WORKLOADS)
            )
        client = make_client(kind, running.direct, f"{kind}-direct")
        routes.append(Route(client, sb.Janitor(sb.obstore_store(running.direct)), None))
    return routes


def prepare(running: Running, routes: list[Route], plan: Plan, pool: ThreadPoolExecutor) -> set[str]:
    """The keys to list, seeded in both buckets (straight into SeaweedFS), and every route warm."""
    expected: set[str] = set()
    if "list" in plan.workloads:
        began = time.perf_counter()
        expected = sb.seed_listing(sb.obstore_store(running.direct), pool, plan.sizes.list_count)
        sb.seed_listing(running.under_root, pool, plan.sizes.list_count)
        print(
            f"seeded {len(expected):,} keys in each bucket in {time.perf_counter() - began:.1f} s", flush=True
        )
    for route in routes:  # connections, lazy imports, the server's caches
        name = route.client.name
        route.client.put_small(f"warmup/{name}", b"warm")
        sb.check(route.client.get_small(f"warmup/{name}") == b"warm", f"{name} warm-up")
        sb.check(route.client.head(f"warmup/{name}") == 4, f"{name} warm-up head")
        route.janitor.cleanup("warmup/")
    return expected


def run_rounds(
    routes: list[Route], plan: Plan, pool: ThreadPoolExecutor, expected: set[str]
) -> dict[str, dict[str, list[float]]]:
    """Every route's workloads, round by round, each round's figures printed as it ends."""
    blobs = [os.urandom(plan.sizes.big_size) for _ in range(plan.sizes.big_count)]
    if "big" not in plan.workloads:
        blobs = []
    results: dict[str, dict[str, list[float]]] = {route.client.name: {} for route in routes}
    for number in range(1, plan.rounds + 1):
        for route in routes:
            workloads = [w for w in plan.workloads if route.only is None or w in route.only]
            row = run_round(
                route, workloads=workloads, blobs=blobs, pool=pool, sizes=plan.sizes, expected=expected
            )
            figures = {k: v for k, v in row.items() if "@" not in k} | cpu_figures(route, row)
            for key, value in figures.items():
                results[route.client.name].setdefault(key, []).append(value)
            shown = "  ".join(f"{k} {sb.fmt(v)}" for k, v in figures.items() if "CPU" not in k)
            load = os.getloadavg()[0]
            print(f"round {number} {route.client.name:<15} {shown}  (load {load:.2f})", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    plan = plan_of(parse_args(argv))
    if plan is None:
        return 2
    # A SIGTERM (a bench run in the background is deaf to SIGINT) unwinds as an exception, so the
    # server and SeaweedFS are stopped rather than left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    load_start = os.getloadavg()
    print_header(plan, load_start)
    misses: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s3-gateway-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp)
        running: Running | None = None
        routes: list[Route] = []
        try:
            running = start(directory, plan.workers, floor=plan.floor, named=plan.named)
            with ThreadPoolExecutor(max_workers=sb.WORKERS, thread_name_prefix="bench") as pool:
                list(pool.map(lambda _: time.sleep(0.01), range(sb.WORKERS)))  # start the threads
                routes = make_routes(running, plan, pool)
                expected = prepare(running, routes, plan, pool)
                if plan.hold:
                    input(f"pids: servers {[running.pid(c) for c in plan.workers]}; press Enter ")
                results = run_rounds(routes, plan, pool, expected)
            peaks = ", ".join(f"--workers {c}: {peak_rss_mb(running.pid(c)):,.0f} MB" for c in plan.workers)
            print(f"server peak RSS over the rounds: {peaks}", flush=True)
            misses = report(results, routes, plan.sizes, plan.rounds)
            if plan.memory_mib is not None:
                first = plan.workers[0]
                peak = memory_phase(
                    running.servers[first], running.gateways[first], running.under_root, plan.memory_mib
                )
                if peak >= MEMORY_GOAL_MB:
                    misses.append(f"server peak RSS {peak:,.0f} MB uploading (goal < {MEMORY_GOAL_MB})")
        finally:
            for route in routes:
                route.client.close()
            if running is not None:
                for server in running.servers.values():
                    server.stop()
                if running.floor is not None:
                    running.floor.terminate()
                    running.floor.wait(30)
            stop_stack(directory / "stack")
    print()
    if len(plan.workloads) < 3:
        print("GOALS (issue 18): not judged (not every workload ran)")
    elif misses:
        print(f"GOALS (issue 18): MISSED on {len(misses)}:")
        for miss in misses:
            print(f"  - {miss}")
    else:
        print("GOALS (issue 18): MET on every line")
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    start_text = ", ".join(f"{x:.2f}" for x in load_start)
    took = time.perf_counter() - began
    print(f"load average at start {start_text}; at the end {load_end}; total {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
