"""A store that fails under the mount: SeaweedFS killed in the middle of a read.

The read fails with EIO, and no later than ``--io-timeout`` after the store went (the reader is
never left hanging on a store that does not answer); the log names the file and the store's
error; the mount still answers what it has cached; unmounting works with the store still down
(fetches still retrying on the dead store do not hold the process). The store is one of this module's own
(:class:`RestartableStore`): the session's serves every other test at once.
"""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.client.conftest import serve_in
from tests.conftest import s3_client_config
from tests.fuse.conftest import start_mount, stop_mount
from tests.servers.restartable import RestartableStore
from tierstore.client import Client
from tierstore.fuse.mount import is_mounted

MIB = 1024 * 1024
IO_TIMEOUT = 3.0
# What EIO may take past --io-timeout: the kernel's round trips on a loaded 2-core machine.
SLACK = 5.0
BUCKET = "fuse-faults"


@pytest.fixture
def store() -> Iterator[RestartableStore]:
    started = RestartableStore()
    yield started
    started.close()


def test_a_store_killed_mid_read_gives_eio_within_the_io_timeout(
    store: RestartableStore, tmp_path: Path
) -> None:
    admin = store.info.admin
    s3 = boto3.client(
        "s3",
        endpoint_url=store.info.endpoint,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        config=s3_client_config(),
    )
    s3.create_bucket(Bucket=BUCKET)
    # In this process: it starts in a fraction of a child's time, and the test mostly waits.
    server = serve_in(tmp_path / "server", store.info, BUCKET)
    try:
        # Larger than what the read-ahead can have fetched when the store goes (its window
        # after the first MiB, plus the kernel's 8 MiB ahead of the reader).
        data = random.Random(3).randbytes(32 * MIB)
        with Client(server.url, server.admin_token) as client, client.open_write("/fault/big.bin") as out:
            for start in range(0, len(data), 8 * MIB):
                out.write(data[start : start + 8 * MIB])
        mounted = start_mount(tmp_path / "mnt", server, server.admin_token, "--io-timeout", str(IO_TIMEOUT))
        path = mounted.path / "fault/big.bin"
        read = 0
        with open(path, "rb", buffering=0) as handle:
            first = handle.read(MIB)
            assert first == data[:MIB]
            read += len(first)
            store.kill()
            went = time.monotonic()
            with pytest.raises(OSError) as caught:
                while chunk := handle.read(MIB):
                    assert chunk == data[read : read + len(chunk)]
                    read += len(chunk)
            failed_after = time.monotonic() - went
        assert caught.value.errno == errno.EIO, caught.value
        assert read < len(data)
        assert failed_after < IO_TIMEOUT + SLACK, f"EIO came {failed_after:.1f} s after the store went"
        log = mounted.log_text()
        assert "read /fault/big.bin: EIO" in log, log[-3000:]
        # The mount itself still answers from its caches, and unmounts with the store down.
        assert os.stat(path).st_size == len(data)
        assert stop_mount(mounted) == 0, mounted.log_text()[-3000:]
        assert not is_mounted(mounted.path)
    finally:
        server.stop()
