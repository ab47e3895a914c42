"""The hostile set-up every security test starts from, on a real ``tierstore serve`` over SeaweedFS.

- users ``alice`` and ``bob`` (no admin), groups of their own;
- ``/``: mode 0711 (set by the admin); ``/shared``: the admin's, mode 0777;
- ``/shared/alice``: alice's, mode 0700, holding
  ``secret.txt`` (written through the API, so its bytes are in SeaweedFS under the root mount);
- ``/mnt/local``: a shared local-directory mount (its backing directory is ``local_dir``).

The server runs in a thread of this process (``server.state`` reaches its insides); vending goes
through the stack's ReadWriteRole, narrowed per vend by a session policy, so the keys a test is
handed are exactly what a hostile user would be handed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from tests.conftest import s3_client_config
from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SECRET = b"alice's secret\n"
ROOT_PREFIX = "root"


@dataclass
class Hostile:
    server: RunningServer
    stack: StackInfo
    bucket: str
    local_dir: Path
    admin: httpx.Client
    alice: httpx.Client
    bob: httpx.Client
    tokens: dict[str, str]

    def key_of(self, path: str) -> str:
        """The object key in ``bucket`` behind a namespace path on the root mount."""
        return f"{ROOT_PREFIX}/{path.lstrip('/')}"

    def vend(self, who: httpx.Client, path: str, access: str = "read") -> httpx.Response:
        return who.post("/v1/credentials", json={"path": path, "access": access})

    def vended_s3(self, answer: dict[str, Any]) -> S3Client:
        """A boto3 client with the keys of a vend answer, straight to SeaweedFS."""
        creds = answer["credentials"]
        return boto3.client(
            "s3",
            endpoint_url=answer["store"]["endpoint"],
            aws_access_key_id=creds["access_key_id"],
            aws_secret_access_key=creds["secret_access_key"],
            aws_session_token=creds["session_token"],
            config=s3_client_config(),
        )


def _client(server: RunningServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.auth(token), timeout=60)


def _ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, response.text
    return response


@pytest.fixture
def hostile(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[Hostile]:
    config = write_server_config(
        tmp_path / "server.yaml",
        stack,
        bucket,
        extra={"tierstore.vending.role.arn": stack.roles["ReadWriteRole"]},
        root_prefix=ROOT_PREFIX,
    )
    server = start_api_server(config)
    tokens = {"alice": server.add_user("alice", ["alice"]), "bob": server.add_user("bob", ["bob"])}
    admin = _client(server, server.admin_token)
    alice = _client(server, tokens["alice"])
    bob = _client(server, tokens["bob"])
    local_dir = tmp_path / "local-mount"
    local_dir.mkdir()
    try:
        # The root mount comes out 0700 with no owner (its ACL's owner is no tierstore user): an
        # admin opens the search bit, as on a POSIX root.
        _ok(admin.post("/v1/fs/chmod", json={"path": "/", "mode": "0711"}))
        _ok(admin.post("/v1/fs/mkdir", json={"path": "/shared"}))
        _ok(admin.post("/v1/fs/chmod", json={"path": "/shared", "mode": "0777"}))
        _ok(alice.post("/v1/fs/mkdir", json={"path": "/shared/alice"}))
        _ok(alice.post("/v1/fs/chmod", json={"path": "/shared/alice", "mode": "0700"}))
        _ok(alice.put("/v1/data", params={"path": "/shared/alice/secret.txt"}, content=SECRET))
        _ok(
            admin.post(
                "/v1/mounts", json={"path": "/mnt/local", "uri": f"file://{local_dir}", "shared": True}
            )
        )
        yield Hostile(server, stack, bucket, local_dir, admin, alice, bob, tokens)
    finally:
        for http in (admin, alice, bob):
            http.close()
        server.stop()
