"""Reading the namespace through the mount with the tools people use: ls, stat, cat, find,
sha256sum, dd, Python's open/seek/read and pandas, on both buckets and a local-directory mount.

Files are put into the namespace with ``tierstore.Client`` (straight to the store), then read
through the mount; what comes out is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pandas
import pytest

from tests.client.conftest import data_proxy_requests
from tests.fuse.conftest import Mounted, Namespace
from tierstore.client import Client

MIB = 1024 * 1024


@pytest.fixture(scope="package")
def admin(namespace: Namespace) -> Client:
    client = Client(namespace.server.url, namespace.server.admin_token)
    return client


def pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def test_ls_stat_cat_and_find_show_the_namespace(mounted: Mounted, admin: Client) -> None:
    admin.mkdir("/read-tree/sub", parents=True)
    admin.write("/read-tree/a.txt", b"alpha\n")
    admin.write("/read-tree/sub/b.txt", b"beta beta\n")
    admin.write("/b/read-tree/c.txt", b"on the second bucket\n")
    admin.write("/local/read-tree/d.txt", b"on a local directory\n")
    top = mounted.path

    listing = run("ls", "-l", str(top / "read-tree"))
    assert "a.txt" in listing and "sub" in listing
    assert "6 " in listing.splitlines()[-2] or "6 " in listing  # a.txt's size
    assert run("stat", "-c", "%s %F", str(top / "read-tree/sub/b.txt")) == "10 regular file\n"
    assert run("stat", "-c", "%F", str(top / "read-tree/sub")) == "directory\n"
    assert run("cat", str(top / "read-tree/a.txt")) == "alpha\n"
    assert run("cat", str(top / "b/read-tree/c.txt")) == "on the second bucket\n"
    assert run("cat", str(top / "local/read-tree/d.txt")) == "on a local directory\n"
    found = sorted(run("find", str(top / "read-tree")).split())
    assert found == [
        str(top / p) for p in ("read-tree", "read-tree/a.txt", "read-tree/sub", "read-tree/sub/b.txt")
    ]
    # A missing name is ENOENT, as the tools say it.
    done = subprocess.run(["cat", str(top / "read-tree/nope")], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "No such file or directory" in done.stderr
    assert os.statvfs(top).f_namemax == 255


def test_a_large_file_reads_straight_from_the_store_with_read_ahead(
    mounted: Mounted, admin: Client, namespace: Namespace
) -> None:
    data = pattern(64 * MIB)
    with admin.open_write("/big/file.bin") as out:
        for start in range(0, len(data), 8 * MIB):
            out.write(data[start : start + 8 * MIB])
    admin.write("/big/warm.bin", data[:MIB])
    proxied = data_proxy_requests(namespace.server)
    path = mounted.path / "big/file.bin"
    # Measured after a small first read: a fresh mount's first read makes what it keeps for good
    # (the store's client, the read-ahead's threads: 38 MiB when this test ran first in a mount).
    assert (mounted.path / "big/warm.bin").read_bytes() == data[:MIB]
    resident_before = resident_bytes(mounted.process.pid)

    assert run("sha256sum", str(path)).split()[0] == hashlib.sha256(data).hexdigest()
    done = subprocess.run(
        ["dd", f"if={path}", "of=/dev/null", "bs=1M"], capture_output=True, text=True, timeout=120, check=True
    )
    assert "67108864 bytes" in done.stderr
    # File data went to SeaweedFS with vended credentials, never through the server.
    assert data_proxy_requests(namespace.server) == proxied
    # The read-ahead's blocks came from malloc's heaps; once it holds nothing, their pages go
    # back to the system (tierstore.fuse.memory): the mount does not stay 64 MiB larger.
    deadline = time.monotonic() + 10
    while resident_bytes(mounted.process.pid) > resident_before + 24 * MIB and time.monotonic() < deadline:
        time.sleep(0.2)
    grown = resident_bytes(mounted.process.pid) - resident_before
    assert grown <= 24 * MIB, f"the mount kept {grown / MIB:.0f} MiB more after the reads ended"


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_python_open_seek_read_at_random_places(mounted: Mounted, admin: Client) -> None:
    data = pattern(12 * MIB, seed=11)
    admin.write("/seek/data.bin", data)
    chooser = random.Random(5)
    with open(mounted.path / "seek/data.bin", "rb", buffering=0) as handle:
        for _ in range(40):
            start = chooser.randrange(0, len(data))
            length = chooser.choice([1, 100, 4096, 200_000, 3 * MIB])
            handle.seek(start)
            assert handle.read(length) == data[start : start + length]
        handle.seek(len(data) - 10)
        assert handle.read(100) == data[-10:]
        assert handle.read(100) == b""


def test_pandas_reads_parquet_from_a_path_in_the_mount(mounted: Mounted, admin: Client) -> None:
    frame = pandas.DataFrame({"id": range(50_000), "name": [f"n{i}" for i in range(50_000)]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    admin.write("/tables/events.parquet", buffer.getvalue())
    back = pandas.read_parquet(mounted.path / "tables/events.parquet")
    assert back.equals(frame)


def test_a_directory_of_many_pages_lists_whole(mounted: Mounted, admin: Client) -> None:
    # 1,100 files: two of the server's pages of 1,000.
    def put(number: int) -> None:
        admin.write(f"/many/f{number:05d}", b"x")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(1100)))
    names = os.listdir(mounted.path / "many")
    assert sorted(names) == [f"f{number:05d}" for number in range(1100)]
    listing = run("ls", "-l", str(mounted.path / "many"))
    assert len(listing.splitlines()) == 1101  # "total" and one line per file


def test_threads_reading_one_file_out_of_order_get_their_bytes(mounted: Mounted, admin: Client) -> None:
    # The kernel's own read-ahead already sends several 1 MiB requests of a file at once, which
    # libfuse's threads serve in any order; readers of their own on top, each going its own way
    # through the file, must still each get exactly their bytes, never an EIO.
    data = pattern(24 * MIB, seed=13)
    admin.write("/concurrent/data.bin", data)
    chunk = 256 * 1024
    descriptor = os.open(mounted.path / "concurrent/data.bin", os.O_RDONLY)

    def read_at(starts: range) -> None:
        for start in starts:
            assert os.pread(descriptor, chunk, start) == data[start : start + chunk], start

    try:
        with ThreadPoolExecutor(4) as pool:
            ways = [
                range(0, len(data), 2 * chunk),  # two forwards, interleaved
                range(chunk, len(data), 2 * chunk),
                range(len(data) - chunk, -1, -3 * chunk),  # backwards
                range(len(data) // 2, len(data), 3 * chunk),  # from the middle
            ]
            for future in [pool.submit(read_at, starts) for starts in ways]:
                future.result()
    finally:
        os.close(descriptor)
