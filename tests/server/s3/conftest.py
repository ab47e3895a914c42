"""Fixtures for the S3 API: a small S3 endpoint on its foundation (over HTTP and HTTPS), and the
gateway of a real ``tierstore serve`` with boto3 clients signing with users' S3 keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.endpoint import S3Endpoint
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY_ID = "TSKEXAMPLEKEY0000001"
SECRET = "tierstore/example/secret/key/0123456789"


@pytest.fixture
def endpoint() -> Iterator[S3Endpoint]:
    """An endpoint over plain HTTP that knows one key, ``KEY_ID`` with ``SECRET``."""
    with S3Endpoint({KEY_ID: SECRET}) as running:
        yield running


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[S3Endpoint]:
    """The same over HTTPS (a self-signed certificate the clients it makes trust): botocore sends
    aws-chunked bodies with checksum trailers only over HTTPS."""
    with S3Endpoint({KEY_ID: SECRET}, tls_dir=tmp_path) as running:
        yield running


@pytest.fixture
def gateway(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    """``tierstore serve`` (in a thread) with its root mount on ``bucket`` and its S3 gateway on."""
    config = write_server_config(tmp_path / "server.yaml", stack, bucket)
    server = start_api_server(config)
    yield server
    server.stop()


@pytest.fixture
def gateway_admin(gateway: RunningServer) -> str:
    """The name of the gateway's first admin."""
    whoami = httpx.get(f"{gateway.url}/v1/whoami", headers=gateway.auth()).json()
    return str(whoami["user"])


def gateway_client(endpoint: str, access_key_id: str, secret: str, **config: Any) -> S3Client:
    """A boto3 client of the gateway (path style, no retries: a test sees the first answer)."""
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4", **config
        ),
    )
    return client


@pytest.fixture
def s3_for(gateway: RunningServer) -> Callable[[str], S3Client]:
    """A boto3 client signing with a new S3 key of the user named (who must exist)."""

    def make(user: str) -> S3Client:
        assert gateway.s3_url is not None
        key_id, secret = gateway.add_s3_key(user)
        return gateway_client(gateway.s3_url, key_id, secret.reveal())

    return make
