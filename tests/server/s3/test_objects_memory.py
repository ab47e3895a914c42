"""The gateway's object bodies stream with bounded memory, measured on the server (in a thread of
this process, so its RSS and its Python allocations are this process's): a GET of a 256 MiB
object, a reader that stops reading (the server must stop reading from the store: back-pressure,
seen in the bytes the server has handed to the connection), and CopyObject of a 64 MiB object
across a local mount and the S3 root mount (streamed through the gateway)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.conftest import Mount
from tests.server.s3.raw import RawConnection, signed_headers
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
BLOCK = os.urandom(MiB)
# Well under the object: a server holding the body (or reading ahead of the client without
# bound) passes it; chunks, part buffers (5 MiB x 3 here) and the allocator's slack do not.
BOUND = 64 * MiB


@pytest.fixture
def gateway(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    """The gateway with small multipart buffers (5 MiB parts, 2 at once: 15 MiB a write), so that
    what a stream holds stands well apart from a 64 MiB object held whole."""
    config = write_server_config(
        tmp_path / "server.yaml",
        stack,
        bucket,
        extra={"s3.multipart.size": "5MiB", "s3.multipart.concurrency": 2},
    )
    server = start_api_server(config)
    yield server
    server.stop()


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Footprint:
    """The growth of this process's RSS (sampled every 10 ms) and the peak of its Python
    allocations (tracemalloc) over a block."""

    def __init__(self) -> None:
        self.rss_growth = 0
        self.python_peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.rss_growth = max(self.rss_growth, _rss() - self._baseline)

    def __enter__(self) -> Footprint:
        tracemalloc.start()
        self._baseline = _rss()
        self._sampler.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._sampler.join()
        self.python_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    def check(self, what: str) -> None:
        print(
            f"{what}: RSS grew {self.rss_growth / MiB:.1f} MiB, Python peak {self.python_peak / MiB:.1f} MiB"
        )
        assert self.rss_growth < BOUND, f"{what}: RSS grew {self.rss_growth / MiB:.0f} MiB"
        assert self.python_peak < BOUND, (
            f"{what}: Python allocations peaked at {self.python_peak / MiB:.0f} MiB"
        )


class _Blocks(io.RawIOBase):
    """``count`` MiB of incompressible bytes, read without holding them (for uploads)."""

    def __init__(self, count: int) -> None:
        self.left = count * MiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self.left, MiB)
        buffer[:size] = BLOCK[:size]
        self.left -= size
        return size


def _store_object(mount: Mount, key: str, mebibytes: int) -> None:
    """A large object put straight into the mount's store (not through the gateway)."""
    if mount.directory is not None:
        path = mount.directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            for _ in range(mebibytes):
                file.write(BLOCK)
        return
    mount.store.upload_fileobj(
        io.BufferedReader(_Blocks(mebibytes)), mount.store_bucket, mount.store_key(key)
    )


def _sent(gateway: RunningServer) -> float:
    """Bytes the server has handed to its connections so far."""
    value = gateway.state.metrics.registry.get_sample_value(
        "tierstore_data_bytes_total", {"direction": "read"}
    )
    return value or 0.0


def test_a_get_of_256_mib_holds_bounded_memory(mount: Mount) -> None:
    _store_object(mount, "big.bin", 256)
    url = str(
        mount.admin.generate_presigned_url("get_object", Params={"Bucket": mount.bucket, "Key": "big.bin"})
    )
    received = 0
    with Footprint() as footprint, httpx.stream("GET", url, timeout=120) as answer:
        assert answer.status_code == 200
        for piece in answer.iter_raw(256 * 1024):
            received += len(piece)
    assert received == 256 * MiB
    footprint.check(f"GET of 256 MiB ({mount.kind})")


def test_a_slow_reader_holds_the_server_back(mount: Mount) -> None:
    _store_object(mount, "big.bin", 256)
    url = mount.url("big.bin")
    connection = RawConnection(url)
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    before = _sent(mount.gateway)
    with Footprint() as footprint:
        connection.send_head("GET", urlsplit(url).path, signed_headers("GET", url, mount.key))
        status, fields = connection.read_head()
        assert status == 200 and int(fields["content-length"]) == 256 * MiB
        received = len(connection.read_body(MiB))
        time.sleep(2)  # the reader stops: the server must stop too
        stalled = _sent(mount.gateway) - before
        time.sleep(1)
        assert _sent(mount.gateway) - before == stalled, "the server kept reading while nobody took its bytes"
        assert stalled < BOUND, f"{stalled / MiB:.0f} MiB handed to a connection whose reader took 1 MiB"
        while received < 256 * MiB:
            piece = connection.recv(MiB)
            assert piece, f"the body ended after {received} bytes"
            received += len(piece)
    connection.close()
    print(f"stalled reader ({mount.kind}): the server had sent {stalled / MiB:.1f} MiB")
    footprint.check(f"slow GET of 256 MiB ({mount.kind})")


@pytest.mark.parametrize("direction", ["local-to-s3", "s3-to-local"])
def test_a_copy_of_64_mib_across_stores_holds_bounded_memory(
    make_mount: Callable[[str, str], Mount], direction: str
) -> None:
    remote, local = make_mount("s3", "objs"), make_mount("local", "locb")
    source, dest = (local, remote) if direction == "local-to-s3" else (remote, local)
    _store_object(source, "src.bin", 64)
    admin: S3Client = source.admin
    with Footprint() as footprint:
        admin.copy_object(
            Bucket=dest.bucket, Key="dst.bin", CopySource={"Bucket": source.bucket, "Key": "src.bin"}
        )
    head = dest.admin.head_object(Bucket=dest.bucket, Key="dst.bin")
    assert head["ContentLength"] == 64 * MiB
    ranged = dest.admin.get_object(Bucket=dest.bucket, Key="dst.bin", Range=f"bytes={63 * MiB}-")[
        "Body"
    ].read()
    assert ranged == BLOCK
    footprint.check(f"copy of 64 MiB {direction}")
    dest.assert_clean()
