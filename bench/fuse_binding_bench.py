"""Which Python binding of libfuse3 serves tierstore's FUSE mount: measured, not guessed.

Each candidate runs the same hello-world read-only file system in a child process of its own:
one directory holding one file of ``--size-gib`` GiB (1) whose bytes come from memory, so what is
measured is the binding and the kernel, not a store. Per binding and option set it prints:

- sequential read of the whole file with ``dd bs=1M`` (MiB/s), twice, the best kept;
- getattr round trips per second: ``os.stat`` of the file in a loop for ``--seconds`` (3), from
  another process, with the attribute and entry timeouts at 0 so that every stat reaches the
  file system (a shell ``stat`` per call would measure process start-up instead);
- the file system process's CPU seconds over the whole run.

    .venv/bin/python bench/fuse_binding_bench.py [--size-gib 1] [--seconds 3]

Candidates: mfusepy (ctypes over libfuse3's high-level, path-based API; a pure-Python wheel, needs
only Debian's libfuse3-3 at run time; libfuse's own worker threads call Python) and pyfuse3
(Cython over the low-level, inode-based API, driven by trio; PyPI has no wheel, so it builds from
source with libfuse3-dev, pkg-config and a C compiler). Both are installed here by hand for the
measurement: ``uv pip install mfusepy pyfuse3`` (after ``apt-get install libfuse3-dev``).
"""

from __future__ import annotations

import argparse
import ctypes.util
import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
NAME = "big.bin"
# Read requests are served from one pattern: a slice of it is as cheap as a store's buffer.
_PATTERN = bytes(range(256)) * (2 * MIB // 256)


def _slice(offset: int, size: int, total: int) -> bytes:
    size = max(0, min(size, total - offset))
    start = offset % MIB
    return _PATTERN[start : start + size]


# -- the file systems (run in the child) ------------------------------------------------------


def serve_mfusepy(mountpoint: str, total: int, variant: str) -> None:
    # mfusepy loads libfuse 2 when both are installed (Debian's s3fs brings libfuse2): ask for 3.
    os.environ.setdefault("FUSE_LIBRARY_PATH", ctypes.util.find_library("fuse3") or "libfuse3.so.3")
    import mfusepy

    assert mfusepy.fuse_version_major == 3, mfusepy.fuse_version_major

    now = time.time()

    class Hello(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            if path == "/":
                return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_mtime": int(now * 1e9)}
            if path == f"/{NAME}":
                mode = stat.S_IFREG | 0o444
                return {"st_mode": mode, "st_nlink": 1, "st_size": total, "st_mtime": int(now * 1e9)}
            raise mfusepy.FuseOSError(errno.ENOENT)

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", NAME]

        def open(self, path: str, fi: Any) -> int:
            if variant.endswith("direct"):
                fi.direct_io = 1
            return 0

        def read(self, path: str, size: int, offset: int, fh: Any) -> bytes:
            return _slice(offset, size, total)

    options: dict[str, Any] = {"foreground": True, "ro": True, "attr_timeout": 0, "entry_timeout": 0}
    if variant.startswith("single"):
        options["nothreads"] = True
    mfusepy.FUSE(Hello(), mountpoint, raw_fi=True, **options)


def serve_pyfuse3(mountpoint: str, total: int, variant: str) -> None:
    import pyfuse3
    import trio

    inode = pyfuse3.ROOT_INODE + 1
    now_ns = time.time_ns()

    def attributes(number: int) -> Any:
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = number
        if number == pyfuse3.ROOT_INODE:
            entry.st_mode, entry.st_nlink, entry.st_size = stat.S_IFDIR | 0o755, 2, 0
        else:
            entry.st_mode, entry.st_nlink, entry.st_size = stat.S_IFREG | 0o444, 1, total
        entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = now_ns
        entry.attr_timeout = entry.entry_timeout = 0
        return entry

    class Hello(pyfuse3.Operations):  # type: ignore[misc]
        async def getattr(self, number: int, ctx: Any = None) -> Any:
            if number not in (pyfuse3.ROOT_INODE, inode):
                raise pyfuse3.FUSEError(errno.ENOENT)
            return attributes(number)

        async def lookup(self, parent: int, name: bytes, ctx: Any = None) -> Any:
            if parent != pyfuse3.ROOT_INODE or name != NAME.encode():
                raise pyfuse3.FUSEError(errno.ENOENT)
            return attributes(inode)

        async def opendir(self, number: int, ctx: Any) -> int:
            return number

        async def readdir(self, fh: int, start_id: int, token: Any) -> None:
            if start_id == 0:
                pyfuse3.readdir_reply(token, NAME.encode(), attributes(inode), 1)

        async def open(self, number: int, flags: int, ctx: Any) -> Any:
            return pyfuse3.FileInfo(fh=number, direct_io=variant.endswith("direct"))

        async def read(self, fh: int, offset: int, size: int) -> bytes:
            return _slice(offset, size, total)

    options = set(pyfuse3.default_options) | {"ro", "fsname=hello"}
    pyfuse3.init(Hello(), mountpoint, options)
    stop = signal.SIGTERM

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pyfuse3.main)
            with trio.open_signal_receiver(stop) as signals:
                async for _ in signals:
                    pyfuse3.terminate()
                    return

    try:
        trio.run(run)
    finally:
        pyfuse3.close(unmount=True)


SERVERS = {"mfusepy": serve_mfusepy, "pyfuse3": serve_pyfuse3}
VARIANTS = {
    # libfuse 3.14 refuses max_read with either binding: "init() and fuse_session_new() requested
    # different maximum read size".
    # "ra": the kernel's read-ahead for the mount raised from 128 KiB to 1 MiB (read_ahead_kb of
    # its backing device), so a page-cache read comes in requests of up to 1 MiB.
    "mfusepy": ["threads", "threads-ra", "threads-direct", "single"],
    "pyfuse3": ["tasks", "tasks-ra", "tasks-direct"],
}


# -- the driver --------------------------------------------------------------------------------


def _child_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dd(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={path}", "of=/dev/null", "bs=1M"], check=True, capture_output=True, timeout=600
    )
    return time.perf_counter() - started


_STAT_LOOP = """
import os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
count, end = 0, time.perf_counter() + seconds
while time.perf_counter() < end:
    for _ in range(100):
        os.stat(path)
    count += 100
print(count / seconds)
"""


def measure(binding: str, variant: str, total: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fuse-bench-") as scratch:
        mountpoint = Path(scratch) / "mnt"
        mountpoint.mkdir()
        log = Path(scratch) / "fs.log"
        with log.open("wb") as output:
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", binding, variant, str(mountpoint), str(total)],
                stdout=output,
                stderr=output,
            )
        try:
            deadline = time.monotonic() + 20
            while not os.path.ismount(mountpoint):
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binding} {variant} did not mount: {log.read_text()[-2000:]}")
                time.sleep(0.02)
            if "-ra" in variant:
                device = os.stat(mountpoint).st_dev
                bdi = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
                bdi.write_text("1024")
            target = mountpoint / NAME
            assert target.stat().st_size == total
            best = min(_dd(target) for _ in range(2))
            done = subprocess.run(
                [sys.executable, "-c", _STAT_LOOP, str(target), str(seconds)],
                check=True, capture_output=True, text=True, timeout=seconds + 60,
            )  # fmt: skip
            cpu = _child_cpu(child.pid)
            return {
                "binding": binding,
                "variant": variant,
                "read_mib_s": total / MIB / best,
                "stat_per_s": float(done.stdout),
                "fs_cpu_s": cpu,
            }
        finally:
            subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, check=False)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        binding, variant, mountpoint, total = sys.argv[2:6]
        SERVERS[binding](mountpoint, int(total), variant)
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", choices=sorted(SERVERS), action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    total = int(args.size_gib * 1024 * MIB)
    rows = []
    for binding in args.only or sorted(SERVERS):
        for variant in VARIANTS[binding]:
            rows.append(measure(binding, variant, total, args.seconds))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'binding':<10} {'options':<24} {'dd bs=1M MiB/s':>15} {'stat/s':>10} {'FS CPU s':>9}")
    for row in rows:
        print(
            f"{row['binding']:<10} {row['variant']:<24} {row['read_mib_s']:>15,.0f} "
            f"{row['stat_per_s']:>10,.0f} {row['fs_cpu_s']:>9.2f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; peak RSS of this driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
