"""Fixtures for the S3 API: a small S3 endpoint on its foundation (over HTTP and HTTPS), and the
gateway of a real ``tierstore serve`` with boto3 clients signing with users' S3 keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.endpoint import S3Endpoint
from tests.server.s3.raw import Key
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


@pytest.fixture
def s3_key_for(gateway: RunningServer) -> Callable[[str], Key]:
    """A new S3 key of the user named, for requests made by hand (:mod:`tests.server.s3.raw`)."""

    def make(user: str) -> Key:
        return Key(*gateway.add_s3_key(user))

    return make


@dataclass
class Mount:
    """A bucket of the gateway, on the S3 root mount or on a local mount of its own, with what a
    test needs to look behind it: its directory (local), the SeaweedFS bucket holding the root
    mount (``root/<bucket>/...``), and an admin's boto3 client and key."""

    kind: str
    bucket: str
    gateway: RunningServer
    admin: S3Client
    key: Key
    store: S3Client
    store_bucket: str
    directory: Path | None = None

    def url(self, key: str = "", query: str = "") -> str:
        assert self.gateway.s3_url is not None
        path = f"{self.gateway.s3_url}/{self.bucket}/{quote(key, safe='/~')}"
        return f"{path}?{query}" if query else path

    def store_key(self, key: str) -> str:
        """Where the root mount keeps ``key`` in SeaweedFS (S3 mounts only)."""
        return f"root/{self.bucket}/{key}"

    def chmod(self, path: str, mode: str) -> None:
        answer = httpx.post(
            f"{self.gateway.url}/v1/fs/chmod", json={"path": path, "mode": mode}, headers=self.gateway.auth()
        )
        assert answer.status_code == 200, answer.text

    def assert_clean(self, wait: float = 10.0) -> None:
        """Nothing half-written: no temporary file in a local mount's directory, no multipart
        upload left in SeaweedFS. A request whose client went away may still be aborting what
        it wrote when the client sees the connection close: that is waited for (``wait``)."""
        deadline = time.monotonic() + wait
        while True:
            strays = []
            if self.directory is not None:
                strays = [
                    path for path in self.directory.rglob("*") if path.name.startswith(".tierstore-tmp-")
                ]
            uploads = self.store.list_multipart_uploads(Bucket=self.store_bucket).get("Uploads", [])
            if not strays and not uploads:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"left half-written: {strays} {uploads}")
            time.sleep(0.1)


def add_local_mount(gateway: RunningServer, path: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    answer = httpx.post(
        f"{gateway.url}/v1/mounts", json={"path": path, "uri": directory.as_uri()}, headers=gateway.auth()
    )
    assert answer.status_code == 201, answer.text


@pytest.fixture
def make_mount(  # noqa: PLR0917 - fixtures are named by their parameters
    gateway: RunningServer,
    s3_for: Callable[[str], S3Client],
    s3_key_for: Callable[[str], Key],
    gateway_admin: str,
    admin_s3: S3Client,
    bucket: str,
    tmp_path: Path,
) -> Callable[[str, str], Mount]:
    """``make_mount(kind, name)``: the bucket ``name`` made on the S3 root mount (``s3``) or as
    a local mount of its own (``local``)."""

    def make(kind: str, name: str) -> Mount:
        admin = s3_for(gateway_admin)
        directory = None
        if kind == "s3":
            admin.create_bucket(Bucket=name)
        else:
            directory = tmp_path / f"local-{name}"
            add_local_mount(gateway, f"/{name}", directory)
        return Mount(kind, name, gateway, admin, s3_key_for(gateway_admin), admin_s3, bucket, directory)

    return make


@pytest.fixture(params=["s3", "local"])
def mount(request: pytest.FixtureRequest, make_mount: Callable[[str, str], Mount]) -> Mount:
    """A bucket on the S3 root mount, then one on a local mount."""
    return make_mount(str(request.param), "objs")
