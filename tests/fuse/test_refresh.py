"""Vended credentials refreshed under an open file: a 256 MiB file written and read through the
mount while the mount's credentials are renewed several times, not one request failing.

The server below reuses vended credentials for 0.001 of their 900 s life (~0.9 s,
``tierstore.vending.cache.fraction``) and tells the client to refresh at the same point, so a
write and a read paced over ~3 s each cross several refreshes. SeaweedFS checks every request's
credentials (the parts of the write's multipart upload and the read-ahead's ranged GETs); the
server's STS calls (vend-cache misses) count the refreshes. The data goes straight to SeaweedFS:
the data proxy sees no request. (SeaweedFS's STS gives no life under 900 s, so the replaced
credentials are still valid here: what this shows is that renewing them under open files fails
no request and that the renewed ones are used.)
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import time
from pathlib import Path

from tests.client.conftest import data_proxy_requests, metric, serve_in
from tests.fuse.conftest import start_mount, stop_mount
from tests.server.harness import RunningServer
from tierstore.fuse.mount import is_mounted
from tierstore.local import StackInfo

MIB = 1024 * 1024
SIZE = 256 * MIB
# A MiB written every 12 ms: ~3.1 s, three or more refresh periods. The read-ahead asks the store
# once per block of up to 16 MiB, so the reader is paced slower (20 ms) over its first 160 MiB.
PACE_SECONDS = 0.012
READ_PACE_SECONDS = 0.02
PACED_READ = 160 * MIB


def vended(server: RunningServer) -> float:
    """The server's STS calls for vends so far: one per refresh once the cache's reuse ran out."""
    return metric(server, "tierstore_vended_credentials", cache="miss")


def test_a_256_mib_file_is_written_and_read_across_credential_refreshes(
    stack: StackInfo, bucket: str, tmp_path: Path
) -> None:
    server = serve_in(tmp_path / "server", stack, bucket, **{"tierstore.vending.cache.fraction": 0.001})
    mounted = None
    try:
        mounted = start_mount(tmp_path / "mnt", server, server.admin_token)
        target = mounted.path / "refresh" / "big.bin"
        target.parent.mkdir()
        chooser = random.Random(7)
        expected = hashlib.sha256()
        proxied, misses = data_proxy_requests(server), vended(server)

        with open(target, "wb", buffering=0) as out:
            for _ in range(SIZE // MIB):
                block = chooser.randbytes(MIB)
                expected.update(block)
                assert out.write(block) == MIB
                time.sleep(PACE_SECONDS)
        misses_writing = vended(server) - misses
        assert misses_writing >= 3, f"only {misses_writing:.0f} refreshes while writing"

        # The tool reads it whole, then a paced reader crosses more refreshes.
        done = subprocess.run(
            ["sha256sum", str(target)], capture_output=True, text=True, timeout=120, check=True
        )
        assert done.stdout.split()[0] == expected.hexdigest()
        misses = vended(server)
        read = hashlib.sha256()
        with open(target, "rb", buffering=0) as handle:
            while block := handle.read(MIB):
                read.update(block)
                if handle.tell() <= PACED_READ:
                    time.sleep(READ_PACE_SECONDS)
        assert read.hexdigest() == expected.hexdigest()
        misses_reading = vended(server) - misses
        assert misses_reading >= 2, f"only {misses_reading:.0f} refreshes while reading"

        assert data_proxy_requests(server) == proxied  # every byte went to SeaweedFS
        log = mounted.log_text()
        assert "EIO" not in log and "EACCES" not in log, log[-3000:]
        assert stop_mount(mounted) == 0, mounted.log_text()[-3000:]
        assert not is_mounted(mounted.path)
        mounted = None
    finally:
        if mounted is not None:
            stop_mount(mounted)
        server.stop()
