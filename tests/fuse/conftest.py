"""The FUSE tests' fixtures: one ``tierstore serve`` for the package (setting up a server and a
mount takes seconds) over two SeaweedFS buckets and a local directory,
mounted by ``tierstore fuse mount --foreground`` in a child process, as a user would run it.

The namespace of the server:

- ``/`` on ``s3://BUCKET_A/root`` (vending through ReadWriteRole: data goes straight to S3);
- ``/b`` on ``s3://BUCKET_B/data``, a second bucket with the admin's keys in its options;
- ``/local`` on a local directory (data through the server's data proxy);
- ``/ro`` a read-only mount of ``s3://BUCKET_B/archive``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.client.conftest import serve_in
from tests.conftest import bucket_name_for, empty_bucket
from tests.namespace.test_filesystem import user_options
from tests.server.harness import RunningServer
from tests.tools import require_fuse, require_tool
from tierstore.client import Client
from tierstore.fuse.mount import is_mounted
from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MOUNT_TIMEOUT_SECONDS = 20.0


@dataclass
class Namespace:
    server: RunningServer
    bucket_a: str
    bucket_b: str
    local_dir: Path


@dataclass
class Mounted:
    path: Path
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="package")
def namespace(
    stack: StackInfo, admin_s3: S3Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Namespace]:
    require_fuse()
    bucket_a = bucket_name_for(f"fuse-a-{secrets.token_hex(2)}")
    bucket_b = bucket_name_for(f"fuse-b-{secrets.token_hex(2)}")
    for name in (bucket_a, bucket_b):
        admin_s3.create_bucket(Bucket=name)
    directory = tmp_path_factory.mktemp("fuse-serve")
    local_dir = directory / "local-data"
    local_dir.mkdir()
    server = serve_in(directory / "server", stack, bucket_a, process=True)
    try:
        with Client(server.url, server.admin_token) as admin:
            options = user_options(stack, "admin")
            admin.add_mount("/b", f"s3://{bucket_b}/data", options)
            admin.add_mount("/ro", f"s3://{bucket_b}/archive", options, readonly=True)
            admin.add_mount("/local", local_dir.as_uri())
        yield Namespace(server, bucket_a, bucket_b, local_dir)
    finally:
        server.stop()
        for name in (bucket_a, bucket_b):
            empty_bucket(admin_s3, name)
            admin_s3.delete_bucket(Bucket=name)


def fuse_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tierstore.cli.main", "fuse", *args]


def start_mount(
    mountpoint: Path, server: RunningServer, token: str, *extra: str, log: Path | None = None
) -> Mounted:
    """``tierstore fuse mount --foreground`` in a child process; returns once mounted."""
    require_tool("fusermount3")
    mountpoint.mkdir(parents=True, exist_ok=True)
    log = log or mountpoint.parent / f"{mountpoint.name}.log"
    env = {**os.environ, "TIERSTORE_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tierstore.cli.main", "-v", "fuse", "mount", str(mountpoint),
             "--server", server.url, "--foreground", *extra],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + MOUNT_TIMEOUT_SECONDS
    while not is_mounted(mountpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"tierstore fuse mount did not mount {mountpoint}: {log.read_text()[-3000:]}")
        time.sleep(0.02)
    return Mounted(mountpoint, process, log)


def stop_mount(mounted: Mounted, *, how: str = "unmount") -> int:
    """Unmounts (``tierstore fuse unmount``) or signals the process; its exit code."""
    if how == "unmount":
        if is_mounted(mounted.path):
            subprocess.run(
                fuse_command("unmount", str(mounted.path)), check=True, capture_output=True, timeout=60
            )
    else:
        mounted.process.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
    try:
        return mounted.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        mounted.process.kill()
        subprocess.run(["fusermount3", "-u", "-z", str(mounted.path)], capture_output=True, check=False)
        pytest.fail(f"the FUSE process did not end: {mounted.log_text()[-3000:]}")


@pytest.fixture(scope="package")
def mounted(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    """The whole namespace mounted as the admin, shared by the package's tests."""
    mount = start_mount(
        tmp_path_factory.mktemp("fuse") / "mnt", namespace.server, namespace.server.admin_token
    )
    yield mount
    assert stop_mount(mount) == 0, mount.log_text()[-3000:]
    assert not is_mounted(mount.path)


@pytest.fixture
def workdir(mounted: Mounted, request: pytest.FixtureRequest) -> Path:
    """A fresh directory of this test's own at the top of the mount (on the root mount's bucket)."""
    path = (
        mounted.path / f"{request.node.name[:40].replace('[', '-').replace(']', '')}-{secrets.token_hex(3)}"
    )
    path.mkdir()
    return path
