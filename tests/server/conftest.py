"""Fixtures for the API server tests: a server config on the session's SeaweedFS and a running server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.server.harness import RunningServer, start_api_server
from tierstore.local.info import StackInfo


def write_server_config(
    path: Path,
    stack: StackInfo,
    bucket: str,
    *,
    identity: str = "admin",
    extra: Mapping[str, object] | None = None,
    root_prefix: str = "root",
) -> Path:
    """A Fluss-style server.yaml: the root mount on ``s3://bucket/root`` with ``identity``'s keys."""
    keys = stack.users[identity]
    lines = [
        f"remote.data.dir: s3://{bucket}/{root_prefix}",
        f"s3.endpoint: {stack.endpoint}",
        "s3.region: us-east-1",
        f"s3.access-key: {keys.access_key_id}",
        f"s3.secret-key: {keys.secret_access_key.reveal()}",
        f"tierstore.metadata.url: sqlite:///{path.parent / 'namespace.db'}",
        "tierstore.metadata.cache.ttl: 0",
    ]
    lines += [f"{key}: {value}" for key, value in (extra or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def server_config(tmp_path: Path, stack: StackInfo, bucket: str) -> Path:
    return write_server_config(
        tmp_path / "server.yaml",
        stack,
        bucket,
        extra={"tierstore.vending.role.arn": stack.roles["ReadWriteRole"]},
    )


@pytest.fixture
def api(server_config: Path) -> Iterator[RunningServer]:
    server = start_api_server(server_config)
    yield server
    server.stop()


@pytest.fixture
def client(api: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client for ``api``, signed in as its admin."""
    with httpx.Client(base_url=api.url, headers=api.auth(), timeout=30) as http:
        yield http
