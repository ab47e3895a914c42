"""Fixtures for the S3 API: a small S3 endpoint on its foundation (over HTTP and HTTPS), and the
gateway of a real ``tierstore serve`` with boto3 clients signing with users' S3 keys."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.conftest import bucket_name_for, empty_bucket
from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.endpoint import S3Endpoint
from tests.server.s3.raw import Key
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY_ID = "TSKEXAMPLEKEY0000001"
SECRET = "tierstore/example/secret/key/0123456789"
# The JSON API's answers to a test's set-up calls (mounts, chmod), on a machine other tests load.
ADMIN_API_TIMEOUT = 30.0


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
    return admin_of(gateway)


def admin_of(server: RunningServer) -> str:
    whoami = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(), timeout=30).json()
    return str(whoami["user"])


@pytest.fixture(scope="module")
def module_gateway(
    tmp_path_factory: pytest.TempPathFactory, stack: StackInfo, admin_s3: S3Client
) -> Iterator[RunningServer]:
    """One ``tierstore serve`` for a whole module, for tests that each make buckets of their own
    names in it (a server's start costs more than most such tests): its root mount on a SeaweedFS
    bucket of its own, emptied and removed afterwards."""
    store_bucket = bucket_name_for("module-gateway")
    admin_s3.create_bucket(Bucket=store_bucket)
    directory = tmp_path_factory.mktemp("module-gateway")
    server = start_api_server(write_server_config(directory / "server.yaml", stack, store_bucket))
    try:
        yield server
    finally:
        server.stop()
        empty_bucket(admin_s3, store_bucket)
        admin_s3.delete_bucket(Bucket=store_bucket)


@pytest.fixture(scope="module")
def module_s3_for(module_gateway: RunningServer) -> Callable[[str], S3Client]:
    """``s3_for`` on the module's gateway."""

    def make(user: str) -> S3Client:
        assert module_gateway.s3_url is not None
        key_id, secret = module_gateway.add_s3_key(user)
        return gateway_client(module_gateway.s3_url, key_id, secret.reveal())

    return make


@contextmanager
def workers_gateway(
    tmp_path: Path, stack: StackInfo, bucket: str, ttl: int
) -> Iterator[Callable[[], S3Client]]:
    """A real ``tierstore serve --workers 2`` (cache ttl ``ttl``) and a maker of its admin's S3
    clients, each on a new connection, which either worker may take; stopped after."""
    config = write_server_config(
        tmp_path / "server.yaml", stack, bucket, extra={"tierstore.metadata.cache.ttl": ttl}
    )
    server = start_api_server(config, process=True, workers=2)
    try:
        assert server.s3_url is not None
        endpoint = server.s3_url
        key_id, secret = server.add_s3_key(admin_of(server))
        yield lambda: gateway_client(endpoint, key_id, secret.reveal())
    finally:
        server.stop()


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
            f"{self.gateway.url}/v1/fs/chmod",
            json={"path": path, "mode": mode},
            headers=self.gateway.auth(),
            timeout=30,
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
        f"{gateway.url}/v1/mounts",
        json={"path": path, "uri": directory.as_uri()},
        headers=gateway.auth(),
        timeout=ADMIN_API_TIMEOUT,
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


# A server shared by a module of client-tool tests (test_clients_*.py), a bucket per test.


@dataclass(frozen=True)
class Keys:
    """A user's S3 key: its id and secret, as a client tool is given them."""

    user: str
    key_id: str
    secret: str


@dataclass
class ToolGateway:
    """``tierstore serve`` shared by a module, its admin's S3 key and boto3 client, and the
    directory local mounts are made in."""

    server: RunningServer
    endpoint: str
    admin: Keys
    boto: S3Client
    local_root: Path
    _users: dict[str, Keys] = field(default_factory=dict)

    def new_bucket(self, kind: str, label: str) -> str:
        """A new, empty bucket named after ``label``: a directory of the S3 root mount (``s3``)
        or a local mount of its own (``local``)."""
        name = f"{label[:40].strip('-')}-{kind}-{secrets.token_hex(3)}"
        if kind == "s3":
            self.boto.create_bucket(Bucket=name)
        else:
            add_local_mount(self.server, f"/{name}", self.local_root / name)
        return name

    def keys(self, user: str) -> Keys:
        """An S3 key of ``user``, made on first use with the user (no groups, not an admin)."""
        if user not in self._users:
            self.server.add_user(user)
            key_id, secret = self.server.add_s3_key(user)
            self._users[user] = Keys(user, key_id, secret.reveal())
        return self._users[user]

    def chmod(self, path: str, mode: str) -> None:
        answer = httpx.post(
            f"{self.server.url}/v1/fs/chmod",
            json={"path": path, "mode": mode},
            headers=self.server.auth(),
            timeout=ADMIN_API_TIMEOUT,
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def tool_gateway(
    stack: StackInfo, admin_s3: S3Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ToolGateway]:
    """``tierstore serve`` in a child process over a SeaweedFS bucket of its own, for one module:
    the clients' threads (pyarrow, DuckDB, obstore, s3fs) and the gateway then never compete for
    one interpreter's lock, as on a real machine."""
    store_bucket = bucket_name_for(f"tools-{secrets.token_hex(2)}")
    admin_s3.create_bucket(Bucket=store_bucket)
    directory = tmp_path_factory.mktemp("tool-gateway")
    server = start_api_server(
        write_server_config(directory / "server.yaml", stack, store_bucket), process=True
    )
    try:
        assert server.s3_url is not None
        whoami = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(), timeout=ADMIN_API_TIMEOUT).json()
        key_id, secret = server.add_s3_key(str(whoami["user"]))
        admin = Keys(str(whoami["user"]), key_id, secret.reveal())
        (directory / "local-mounts").mkdir()
        boto = gateway_client(server.s3_url, key_id, admin.secret)
        yield ToolGateway(server, server.s3_url, admin, boto, directory / "local-mounts")
    finally:
        server.stop()
        empty_bucket(admin_s3, store_bucket)
        admin_s3.delete_bucket(Bucket=store_bucket)


@pytest.fixture(params=["s3", "local"])
def mount_kind(request: pytest.FixtureRequest) -> str:
    """``s3``: a bucket of the S3 root mount (SeaweedFS); ``local``: a bucket that is a local mount."""
    return str(request.param)


@pytest.fixture
def tool_bucket(tool_gateway: ToolGateway, mount_kind: str, request: pytest.FixtureRequest) -> str:
    """A new bucket of ``mount_kind`` for this test."""
    label = str(request.node.originalname).removeprefix("test_").replace("_", "-")
    return tool_gateway.new_bucket(mount_kind, label)
