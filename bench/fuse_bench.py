"""tierstore's FUSE mount side by side with s3fs-fuse and ``rclone mount`` on one SeaweedFS bucket.

One run starts the local stack (SeaweedFS) and ``tierstore serve`` in a child process (its root
mount on ``s3://fuse-bench/root``, vending through the stack's ReadWriteRole), puts the test
data into the bucket once, mounts the three sides side by side, and times the same workloads on
each, in rounds (``--repeat``, 3): in each round every workload runs on every side in turn, the
order turning from round to round, and each side's best round is kept; load from other work on a
shared machine comes and goes, and this gives every side the same chances of a quiet moment:

- ``seq read``: ``dd bs=1M`` of a ``--size-mib`` (1,024) MiB file to /dev/null (each open
  drops the kernel's page cache of the file on all three sides);
- ``seq write``: ``dd bs=1M`` of as many MiB from /dev/zero into a new file (the time includes
  ``close``, which waits for the upload on all three sides);
- ``ls -l``: of a directory of ``--files`` (1,000) files that the side never listed (one per
  round), so nothing of it is cached;
- ``read small``: listing, then reading ``--files`` other files of 4 KiB each (another
  directory per round);
- ``cp -r``: of a local tree of ``--tree-files`` (2,000) files of 1 to 4 KiB in 20 directories
  into the mount;
- ``peak RSS``: the FUSE process's peak resident memory (``VmHWM``) after all the rounds.

Besides wall times, the FUSE process's CPU seconds per workload, which other load on the shared
machine inflates far less. ``direct`` is tierstore's own client (``Client.iter_read``, straight
from the store with vended credentials) reading the same object in this process: the mount's
sequential read is compared with it (read in each round just before the sides read it).

The peers run as Debian packages them, with the admin's keys given directly: s3fs-fuse with
``-o url=... -o use_path_request_style -o passwd_file=...``; rclone with a config file of its own
and none of this machine's environment (it refuses to start when ``AWS_CA_BUNDLE`` is set).

    .venv/bin/python bench/fuse_bench.py [--size-mib 1024] [--repeat 3] [--sides tierstore,s3fs,rclone]
        [--workloads seq-read,seq-write,ls,read-small,cp] [--mount-arg=--read-buffer-mib=64 ...]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.client.conftest import server_config
from tests.server.harness import RunningServer, start_api_server
from tests.tools import rclone_config, tool_environment

from tierstore.client import Client
from tierstore.local import StackInfo, start_stack, stop_stack

MIB = 1024 * 1024
BUCKET = "fuse-bench"
# The server's root mount is s3://BUCKET/root: the namespace's /bench is root/bench in the bucket.
PREFIX = "root"
SIDES = ("tierstore", "s3fs", "rclone")
WORKLOADS = ("seq-read", "seq-write", "ls", "read-small", "cp")
MOUNT_TIMEOUT = 30.0


@dataclass
class Result:
    """One side's figures: seconds and the FUSE process's CPU seconds per workload."""

    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0


@dataclass
class Mount:
    side: str
    path: Path
    base: Path  # where the namespace's /bench is seen through this mount
    process: subprocess.Popen[bytes]
    log: Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run(command: Sequence[str], *, timeout: float = 900) -> None:
    done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")


def is_mounted(path: Path) -> bool:
    return os.path.ismount(path)


def wait_mounted(mount: Mount) -> Mount:
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not is_mounted(mount.path):
        if mount.process.poll() is not None or time.monotonic() > deadline:
            mount.process.kill()
            raise RuntimeError(f"{mount.side} did not mount: {mount.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return mount


# -- the three mounts ----------------------------------------------------------------------------


def mount_tierstore(where: Path, server: RunningServer, extra: Sequence[str]) -> Mount:
    log = where.parent / "tierstore.log"
    env = {**os.environ, "TIERSTORE_TOKEN": server.admin_token}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierstore.cli.main", "fuse", "mount", str(where),
             "--server", server.url, "--foreground", *extra],
            env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    return wait_mounted(Mount("tierstore", where, where / "bench", process, log))


def mount_s3fs(where: Path, stack: StackInfo, scratch: Path) -> Mount:
    admin = stack.admin
    passwords = scratch / "s3fs.passwd"
    passwords.write_text(f"{admin.access_key_id}:{admin.secret_access_key.reveal()}\n")
    passwords.chmod(0o600)
    log = where.parent / "s3fs.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["s3fs", BUCKET, str(where), "-f", "-o", f"url={stack.endpoint}", "-o", "use_path_request_style",
             "-o", f"passwd_file={passwords}", "-o", f"endpoint={stack.region}"],
            env=tool_environment(scratch), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    return wait_mounted(Mount("s3fs", where, where / PREFIX / "bench", process, log))


def mount_rclone(where: Path, stack: StackInfo, scratch: Path) -> Mount:
    admin = stack.admin
    config = scratch / "rclone.conf"
    config.write_text(rclone_config(stack.endpoint, admin.access_key_id, admin.secret_access_key.reveal()))
    config.chmod(0o600)
    log = where.parent / "rclone.log"
    with log.open("wb") as output:
        # tool_environment: no AWS_CA_BUNDLE (rclone refuses to start with it).
        process = subprocess.Popen(
            ["rclone", "--config", str(config), "mount", f"s3:{BUCKET}", str(where)],
            env=tool_environment(scratch), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    return wait_mounted(Mount("rclone", where, where / PREFIX / "bench", process, log))


def unmount(mount: Mount) -> None:
    subprocess.run(["fusermount3", "-u", str(mount.path)], capture_output=True, check=False, timeout=120)
    try:
        mount.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        mount.process.send_signal(signal.SIGKILL)
        mount.process.wait()
        subprocess.run(["fusermount3", "-u", "-z", str(mount.path)], capture_output=True, check=False)


# -- the data ----------------------------------------------------------------------------------


def put_data(client: Client, size: int, files: int, rounds: int) -> None:
    """The large file, and per round a directory to list and one of small files to read, all
    through tierstore's client (straight to the store), so that every side sees the same objects."""
    block = random.Random(1).randbytes(8 * MIB)
    with client.open_write("/bench/big.bin") as out:
        for start in range(0, size, len(block)):
            out.write(block[: min(len(block), size - start)])
    small = random.Random(2).randbytes(4096)

    def put(path: str) -> None:
        client.write(path, small)

    with ThreadPoolExecutor(16) as pool:
        paths = [
            f"/bench/{kind}-{r}/f{n:05d}"
            for kind in ("listing", "small")
            for r in range(rounds)
            for n in range(files)
        ]
        list(pool.map(put, paths))


def local_tree(where: Path, count: int) -> Path:
    chooser = random.Random(3)
    for number in range(count):
        directory = where / f"d{number % 20:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{number:05d}").write_bytes(chooser.randbytes(chooser.randrange(1024, 4097)))
    return where


# -- the workloads -----------------------------------------------------------------------------


def timed(result: Result, name: str, pid: int, action: Callable[[], None]) -> None:
    cpu_before = cpu_seconds(pid)
    began = time.perf_counter()
    action()
    taken = time.perf_counter() - began
    cpu = cpu_seconds(pid) - cpu_before
    if name not in result.seconds or taken < result.seconds[name]:
        result.seconds[name], result.cpu[name] = taken, cpu


def run_workload(
    mount: Mount, result: Result, workload: str, *, size: int, files: int, round_: int, tree: Path
) -> None:
    """One workload on one side, for round ``round_`` (each round lists and reads directories
    of its own, so that every side meets them uncached)."""
    pid, base = mount.process.pid, mount.base
    if workload == "ls":

        def listing() -> None:
            done = subprocess.run(
                ["ls", "-l", str(base / f"listing-{round_}")], capture_output=True, check=True
            )
            lines = len(done.stdout.splitlines())
            if lines != files + 1:
                raise RuntimeError(f"{mount.side}: ls -l gave {lines} lines, expected {files + 1}")

        timed(result, "ls", pid, listing)
    elif workload == "read-small":

        def read_small() -> None:
            directory = base / f"small-{round_}"
            names = sorted(os.listdir(directory))
            if len(names) != files:
                raise RuntimeError(f"{mount.side}: {len(names)} small files listed, expected {files}")
            total = 0
            for name in names:
                with open(directory / name, "rb") as handle:
                    total += len(handle.read())
            if total != files * 4096:
                raise RuntimeError(f"{mount.side}: read {total} bytes of small files")

        timed(result, "read-small", pid, read_small)
    elif workload == "seq-read":
        big = base / "big.bin"
        if big.stat().st_size != size:
            raise RuntimeError(f"{mount.side}: {big} has {big.stat().st_size} bytes, expected {size}")
        timed(result, "seq-read", pid, lambda: run(["dd", f"if={big}", "of=/dev/null", "bs=1M"]))
    elif workload == "seq-write":
        out = base / f"written-{mount.side}-{round_}.bin"
        command = ["dd", "if=/dev/zero", f"of={out}", "bs=1M", f"count={size // MIB}"]
        timed(result, "seq-write", pid, lambda: run(command))
        if out.stat().st_size != size:
            raise RuntimeError(f"{mount.side}: the written file has {out.stat().st_size} bytes")
    elif workload == "cp":
        target = base / f"tree-{mount.side}-{round_}"
        timed(result, "cp", pid, lambda: run(["cp", "-r", str(tree), str(target)]))


def clean_up(client: Client) -> None:
    """What the sides wrote, so that the next run starts from the same bucket."""
    for entry in client.ls("/bench"):
        name = str(entry["path"]).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(("written-", "tree-")):
            client.rm(f"/bench/{name}", recursive=True)


def direct_read(client: Client, size: int) -> float:
    began = time.perf_counter()
    got = sum(len(chunk) for chunk in client.iter_read("/bench/big.bin"))
    if got != size:
        raise RuntimeError(f"direct: read {got} bytes, expected {size}")
    return time.perf_counter() - began


# -- the report --------------------------------------------------------------------------------


def report(results: dict[str, Result], direct: float | None, size: int, files: int, tree_files: int) -> None:
    sides = list(results)
    mib = size / MIB

    def rate(key: str) -> Callable[[Result], str]:
        return lambda r: f"{mib / r.seconds[key]:,.0f} MiB/s"

    rows: list[tuple[str, str, Callable[[Result], str]]] = [
        (f"seq read {mib:,.0f} MiB (dd bs=1M)", "seq-read", rate("seq-read")),
        (f"seq write {mib:,.0f} MiB (dd bs=1M)", "seq-write", rate("seq-write")),
        (f"ls -l of {files:,} files", "ls", lambda r: f"{r.seconds['ls']:.2f} s"),
        (f"read {files:,} files of 4 KiB", "read-small", lambda r: f"{r.seconds['read-small']:.2f} s"),
        (f"cp -r of {tree_files:,} small files", "cp", lambda r: f"{r.seconds['cp']:.2f} s"),
    ]  # fmt: skip
    width = 36
    print(f"{'workload':<{width}}" + "".join(f"{side:>16}" for side in sides) + f"{'direct client':>16}")
    for title, key, show in rows:
        if not any(key in result.seconds for result in results.values()):
            continue
        cells = [show(results[side]) if key in results[side].seconds else "-" for side in sides]
        extra = f"{mib / direct:,.0f} MiB/s" if key == "seq-read" and direct else ""
        print(f"{title:<{width}}" + "".join(f"{cell:>16}" for cell in cells) + f"{extra:>16}")
    rss = [f"{results[side].peak_rss / 1e6:,.0f} MB" for side in sides]
    print(f"{'peak RSS of the FUSE process':<{width}}" + "".join(f"{cell:>16}" for cell in rss))
    print()
    print(f"{'FUSE process CPU seconds':<{width}}" + "".join(f"{side:>16}" for side in sides))
    for title, key, _ in rows:
        if not any(key in result.cpu for result in results.values()):
            continue
        cells = [f"{results[side].cpu[key]:.2f}" if key in results[side].cpu else "-" for side in sides]
        print(f"{title:<{width}}" + "".join(f"{cell:>16}" for cell in cells))
    if direct and "tierstore" in results and "seq-read" in results["tierstore"].seconds:
        ratio = direct / results["tierstore"].seconds["seq-read"]
        print(f"\ntierstore's sequential read / the direct client's: {ratio:.2f}")


@contextmanager
def environment(scratch: Path) -> Iterator[tuple[StackInfo, RunningServer, Client]]:
    stack = start_stack(scratch / "stack")
    server = None
    try:
        admin = stack.admin
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.endpoint,
            aws_access_key_id=admin.access_key_id,
            aws_secret_access_key=admin.secret_access_key.reveal(),
            region_name=stack.region,
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        (scratch / "server").mkdir()
        server = start_api_server(server_config(scratch / "server", stack, BUCKET), process=True)
        with Client(server.url, server.admin_token) as client:
            yield stack, server, client
    finally:
        if server is not None:
            server.stop()
        stop_stack(scratch / "stack")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tree-files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (the best is kept)")
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--mount-arg", action="append", default=[], help="more tierstore fuse mount options")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct client's read")
    parser.add_argument(
        "--hold", action="store_true", help="keep the mounts up until Enter (to profile them)"
    )
    args = parser.parse_args(argv)
    sides = [side for side in args.sides.split(",") if side]
    workloads = [name for name in args.workloads.split(",") if name]
    unknown = (set(sides) - set(SIDES)) | (set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    size = args.size_mib * MIB
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    results: dict[str, Result] = {}
    direct: float | None = None
    with tempfile.TemporaryDirectory(prefix="tierstore-fuse-bench-") as name:
        scratch = Path(name)
        tree = local_tree(scratch / "tree", args.tree_files)
        with environment(scratch) as (stack, server, client):
            put_data(client, size, args.files, args.repeat)
            mounts: list[Mount] = []
            try:
                for side in sides:
                    where = scratch / side / "mnt"
                    where.mkdir(parents=True)
                    if side == "tierstore":
                        mounts.append(mount_tierstore(where, server, args.mount_arg))
                    elif side == "s3fs":
                        mounts.append(mount_s3fs(where, stack, scratch / side))
                    else:
                        mounts.append(mount_rclone(where, stack, scratch / side))
                results = {mount.side: Result() for mount in mounts}
                # Round by round, each workload on every side in turn, the order turning each
                # round: load from other work on the shared machine comes and goes, and this
                # gives every side the same chances of a quiet moment (the best round is kept).
                for round_ in range(args.repeat):
                    for workload in workloads:
                        if workload == "seq-read" and not args.no_direct:
                            taken = direct_read(client, size)
                            direct = taken if direct is None else min(direct, taken)
                        turn = round_ % len(mounts)
                        for mount in mounts[turn:] + mounts[:turn]:
                            run_workload(
                                mount,
                                results[mount.side],
                                workload,
                                size=size,
                                files=args.files,
                                round_=round_,
                                tree=tree,
                            )
                        clean_up(client)
                    print(f"round {round_ + 1} done, load {os.getloadavg()[0]:.1f}", flush=True)
                for mount in mounts:
                    results[mount.side].peak_rss = peak_rss(mount.process.pid)
                if args.hold:
                    input(f"mounted on {', '.join(str(m.path) for m in mounts)}; Enter to go on ")
            finally:
                for mount in mounts:
                    unmount(mount)
    print()
    report(results, direct, size, args.files, args.tree_files)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
