"""A mount changed by another process sharing PostgreSQL reaches a running server.

``tierstore serve`` (process A) keeps each mount's store open. Another process (B, here
``tierstore fs`` commands, each its own process, on the same database) unmounts a path and mounts
the same URI again with other keys: A's next request on the path must use the new keys. Keyed by
path and URI alone, A went on signing with the old ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.namespace import conftest as namespace_fixtures
from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The PostgreSQL fixtures of the namespace tests (they fail, naming the package, without its binaries).
postgres_url = namespace_fixtures.postgres_url
fresh_postgres_url = namespace_fixtures.fresh_postgres_url

# How long a change in the database may take to reach the server (its metadata polling).
SEEN_WITHIN_SECONDS = 15.0


def _fs(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tierstore fs ACTION -c CONFIG ARGS…`` as its own process (process B)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    command = [sys.executable, "-m", "tierstore.cli.main", "fs", args[0], "-c", str(config), *args[1:]]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _mount_args(stack: StackInfo, identity: str, uri: str) -> list[str]:
    keys = stack.users[identity]
    options = {
        "aws.accessKeyId": keys.access_key_id,
        "aws.secretKey": keys.secret_access_key.reveal(),
        "alluxio.underfs.s3.endpoint": stack.endpoint,
        "alluxio.underfs.s3.region": "us-east-1",
    }
    return [
        *(part for key, value in options.items() for part in ("--option", f"{key}={value}")),
        "/data",
        uri,
    ]


def _put(server: RunningServer, path: str, body: bytes) -> httpx.Response:
    return httpx.put(
        f"{server.url}/v1/data", params={"path": path}, content=body, headers=server.auth(), timeout=30
    )


@pytest.mark.stack
def test_a_remount_with_other_keys_by_another_process_reaches_the_running_server(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client, fresh_postgres_url: str
) -> None:
    # Two configs on one database and one secrets key: A's (the server) and B's (the CLI).
    extra = {
        "tierstore.metadata.url": fresh_postgres_url,
        "tierstore.secrets.key-file": str(tmp_path / "shared" / "secrets.key"),
    }
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        configs.append(write_server_config(tmp_path / name / "server.yaml", stack, bucket, extra=extra))
    config_a, config_b = configs
    uri = f"s3://{bucket}/data"
    admin_s3.put_object(Bucket=bucket, Key="data/before.txt", Body=b"before")

    server = start_api_server(config_a, process=True)
    try:
        # B mounts with the reader's keys; A reads through the mount (its store is opened now),
        # and a write is refused by the store: the reader may not write.
        _fs(config_b, "mount", *_mount_args(stack, "reader", uri))
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while True:
            read = httpx.get(
                f"{server.url}/v1/data",
                params={"path": "/data/before.txt"},
                headers=server.auth(),
                timeout=30,
            )
            if read.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (read.status_code, read.content) == (200, b"before"), read.text
        refused = _put(server, "/data/new.txt", b"written")
        assert refused.status_code == 403, refused.text

        # B mounts the same URI again, now with the writer's keys.
        _fs(config_b, "unmount", "/data")
        _fs(config_b, "mount", *_mount_args(stack, "writer", uri))

        # A's next writes use the writer's keys (once its metadata has seen the change).
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while True:
            written = _put(server, "/data/new.txt", b"written")
            if written.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert written.status_code == 201, written.text
    finally:
        server.stop()
    stored = admin_s3.get_object(Bucket=bucket, Key="data/new.txt")["Body"].read()
    assert stored == b"written"
