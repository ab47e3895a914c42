"""The client's fixtures: a real API server over a SeaweedFS bucket, and clients of it.

One server per xdist worker serves most tests (its root mount is ``s3://BUCKET/root``); tests
that need other server settings (short credential lifetimes, a dead store endpoint, a local
directory root) start their own through :func:`serve`. Every test works under a directory of
its own (``workdir``), so tests never see each other's files.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import bucket_name_for, empty_bucket
from tests.server.harness import RunningServer, start_api_server
from tierstore.client import Client
from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT_PREFIX = "root"


def server_config(directory: Path, stack: StackInfo, bucket: str, **extra: object) -> Path:
    """A Fluss ``server.yaml``: the root mount on ``s3://bucket/root`` with the stack's admin
    keys; vending through the stack's ReadWriteRole, narrowed per path by a session policy."""
    admin = stack.admin
    values: dict[str, object] = {
        "remote.data.dir": f"s3://{bucket}/{ROOT_PREFIX}",
        "s3.endpoint": stack.endpoint,
        "s3.region": stack.region,
        "s3.path-style-access": "true",
        "s3.access-key": admin.access_key_id,
        "s3.secret-key": admin.secret_access_key.reveal(),
        "tierstore.vending.role.arn": stack.roles["ReadWriteRole"],
        "tierstore.vending.duration": 900,
        "tierstore.metadata.url": f"sqlite:///{directory / 'namespace.db'}",
    }
    values.update(extra)
    path = directory / "server.yaml"
    path.write_text("".join(f"{key}: {_yaml(value)}\n" for key, value in values.items()))
    return path


def _yaml(value: object) -> str:
    text = str(value)
    return f"'{text}'" if re.search(r"[:#\s]", text) else text


def serve_in(
    directory: Path, stack: StackInfo, bucket: str, *, process: bool = False, **extra: object
) -> RunningServer:
    directory.mkdir(parents=True, exist_ok=True)
    return start_api_server(server_config(directory, stack, bucket, **extra), process=process)


@pytest.fixture(scope="session")
def session_bucket(stack: StackInfo, admin_s3: S3Client) -> Iterator[str]:
    name = bucket_name_for(f"client-{secrets.token_hex(2)}")
    admin_s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(admin_s3, name)
    admin_s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def api(
    stack: StackInfo, session_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The worker's API server over ``s3://session_bucket/root``, in a child process: the many
    small requests of the fsspec suite then run on the other core instead of this one's GIL."""
    server = serve_in(tmp_path_factory.mktemp("api"), stack, session_bucket, process=True)
    yield server
    server.stop()


@pytest.fixture
def client(api: RunningServer) -> Iterator[Client]:
    with Client(api.url, api.admin_token) as made:
        yield made


@pytest.fixture
def workdir(request: pytest.FixtureRequest, client: Client) -> str:
    """An empty directory of this test's own at the top of the namespace."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    path = f"/{slug}-{secrets.token_hex(3)}"
    client.mkdir(path)
    return path


def metric(server: RunningServer, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples matching ``labels``, read from ``/metrics``."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            sample, _, rest = head.partition("{")
            found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        else:
            sample, found = head, {}
        if sample not in (name, f"{name}_total"):
            continue
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def data_proxy_requests(server: RunningServer) -> float:
    return metric(server, "tierstore_http_requests", route="/v1/data")


MakeServer = Callable[..., RunningServer]
