"""``tierstore.Client`` against the real API server over SeaweedFS.

What each test proves, and who enforces it: round trips of every call (server API + SeaweedFS);
data really goes straight to the store (the server's ``/v1/data`` request counter does not move);
vended credentials are cached per scope (the server's vend counter); a read-only mount refuses
write credentials (the server); vended read-only credentials cannot write (SeaweedFS enforces the
session policy); a wrong token and a missing URL are clear errors (client and server).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.client.conftest import data_proxy_requests, metric
from tests.server.harness import RunningServer
from tierstore import Client as LazyClient
from tierstore.client import Client
from tierstore.client.errors import ServerUnreachableError, UnauthorizedError
from tierstore.client.fsspec_fs import TierstoreFileSystem
from tierstore.credentials.source import StaticSource
from tierstore.errors import AccessDeniedError, ConfigError, NotFoundError
from tierstore.local import StackInfo
from tierstore.settings.model import MultipartSettings
from tierstore.storage.factory import open_backend

MiB = 1024 * 1024


def test_metadata_and_data_round_trip(client: Client, workdir: str) -> None:
    assert client.whoami()["admin"] is True
    client.mkdir(f"{workdir}/sub/deeper", parents=True)
    payload = os.urandom(300_000)
    client.write(f"{workdir}/sub/a.bin", payload)
    assert client.read(f"{workdir}/sub/a.bin") == payload
    assert client.read(f"{workdir}/sub/a.bin", start=1000, end=1010) == payload[1000:1010]
    assert client.read(f"{workdir}/sub/a.bin", start=299_990) == payload[299_990:]
    assert b"".join(client.iter_read(f"{workdir}/sub/a.bin", chunk_size=65536)) == payload

    status = client.stat(f"{workdir}/sub/a.bin")
    assert (status["type"], status["size"]) == ("file", len(payload))
    names = {entry["path"]: entry["type"] for entry in client.ls(f"{workdir}/sub")}
    assert names == {f"{workdir}/sub/a.bin": "file", f"{workdir}/sub/deeper": "directory"}

    client.mv(f"{workdir}/sub/a.bin", f"{workdir}/b.bin")
    assert client.read(f"{workdir}/b.bin") == payload
    assert not client.exists(f"{workdir}/sub/a.bin")
    client.chmod(f"{workdir}/b.bin", "0640")
    assert client.stat(f"{workdir}/b.bin")["mode"] == "0640"
    assert client.rm(workdir, recursive=True) >= 1
    with pytest.raises(NotFoundError, match=workdir):
        client.stat(workdir)


def test_streaming_write_is_multipart_straight_to_the_store(api: RunningServer, workdir: str) -> None:
    parts = MultipartSettings(part_size=5 * MiB, concurrency=2)
    blob = os.urandom(13 * MiB)
    before = data_proxy_requests(api)
    with Client(api.url, api.admin_token, multipart=parts) as client:
        with client.open_write(f"{workdir}/big.bin") as writer:
            for start in range(0, len(blob), MiB):
                writer.write(blob[start : start + MiB])
        assert client.read(f"{workdir}/big.bin") == blob
        assert client.stat(f"{workdir}/big.bin")["size"] == len(blob)
        assert client.uses_proxy("/") is False
    assert data_proxy_requests(api) == before  # nothing went through the server's data proxy


def test_vended_credentials_are_cached_per_scope(api: RunningServer, client: Client, workdir: str) -> None:
    for name in ("one", "two", "three"):
        client.write(f"{workdir}/data/{name}", name.encode())
    for name in ("one", "two", "three"):
        assert client.read(f"{workdir}/data/{name}") == name.encode()
    # One vend for the directory (write; reads reuse write credentials), none per file.
    assert client.vend_calls == 1
    scopes = client.scopes()
    assert len(scopes) == 1
    assert scopes[0].info.prefix.endswith(f"{workdir.lstrip('/')}/data/")
    assert metric(api, "tierstore_vended_credentials", access="write") >= 1


def test_vend_answer_is_scoped_and_never_shows_secrets(client: Client, workdir: str) -> None:
    client.write(f"{workdir}/f.txt", b"x")
    vended = client.vend(f"{workdir}/f.txt", "read")
    assert vended.mode == "direct" and vended.scoped and vended.access == "read"
    assert vended.store is not None and vended.credentials is not None
    assert vended.store.prefix.endswith(f"{workdir.lstrip('/')}/f.txt")
    secret = vended.credentials.secret_access_key.reveal()
    token = vended.credentials.session_token.reveal() if vended.credentials.session_token else ""
    for text in (repr(vended), str(vended.credentials), repr(client)):
        assert secret not in text and (not token or token not in text)


def test_read_only_vended_credentials_cannot_write(stack: StackInfo, client: Client, workdir: str) -> None:
    """SeaweedFS enforces the session policy the server attached: read credentials cannot PUT."""
    client.write(f"{workdir}/ro.txt", b"before")
    vended = client.vend(f"{workdir}/ro.txt", "read")
    assert vended.store is not None and vended.credentials is not None
    store = open_backend(vended.store.settings(), StaticSource(vended.credentials))
    assert store.get(vended.store.prefix) == b"before"
    with pytest.raises(AccessDeniedError) as caught:
        store.put(vended.store.prefix, b"after")
    assert vended.store.prefix in str(caught.value)
    # Nor may they read outside their prefix (a sibling directory's file exists there).
    client.write(f"{workdir}-other/secret.txt", b"not yours")
    with pytest.raises(AccessDeniedError):
        store.get(
            vended.store.prefix.replace(workdir.lstrip("/"), f"{workdir.lstrip('/')}-other", 1).replace(
                "ro.txt", "secret.txt"
            )
        )
    client.rm(f"{workdir}-other", recursive=True)
    assert client.read(f"{workdir}/ro.txt") == b"before"


def test_write_to_a_read_only_mount_is_a_403_naming_the_path(
    api: RunningServer, stack: StackInfo, session_bucket: str, client: Client, workdir: str
) -> None:
    client.write(f"{workdir}/seed.txt", b"seed")
    mount = f"/ro-{workdir.strip('/')}"
    admin = stack.admin
    options = {
        "alluxio.underfs.s3.endpoint": stack.endpoint,
        "aws.accessKeyId": admin.access_key_id,
        "aws.secretKey": admin.secret_access_key.reveal(),
        "alluxio.underfs.s3.disable.dns.buckets": "true",
    }
    made = client.add_mount(
        mount, f"s3://{session_bucket}/root{workdir}", options, readonly=True, shared=True
    )
    assert made["readonly"] is True and made["path"] == mount
    assert admin.secret_access_key.reveal() not in str(made)
    assert any(m["path"] == mount for m in client.mounts())
    try:
        with Client(api.url, api.admin_token) as fresh:
            assert fresh.read(f"{mount}/seed.txt") == b"seed"
            with pytest.raises(AccessDeniedError) as caught:
                fresh.write(f"{mount}/new.txt", b"no")
            message = str(caught.value)
            assert f"{mount}" in message and "read-only" in message
    finally:
        client.remove_mount(mount)
    assert all(m["path"] != mount for m in client.mounts())


def test_wrong_token_and_missing_settings_are_clear_errors(
    api: RunningServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Client(api.url, "not-a-token") as bad, pytest.raises(UnauthorizedError) as caught:
        bad.whoami()
    assert "TIERSTORE_TOKEN" in str(caught.value) and "not-a-token" not in str(caught.value)

    monkeypatch.delenv("TIERSTORE_URL", raising=False)
    monkeypatch.delenv("TIERSTORE_TOKEN", raising=False)
    with pytest.raises(ConfigError) as missing:
        Client()
    assert "TIERSTORE_URL" in str(missing.value) and "TIERSTORE_TOKEN" in str(missing.value)
    with pytest.raises(ConfigError, match="needs a scheme"):
        Client("127.0.0.1:1", "t")

    monkeypatch.setenv("TIERSTORE_URL", api.url)
    monkeypatch.setenv("TIERSTORE_TOKEN", api.admin_token)
    with LazyClient() as from_env:  # tierstore.Client, loaded lazily
        assert from_env.whoami()["user"]

    with (
        Client("http://127.0.0.1:9", "t") as nowhere,
        pytest.raises(ServerUnreachableError, match=r"127\.0\.0\.1:9"),
    ):
        nowhere.whoami()


def test_another_user_is_refused_by_the_server_permissions(
    api: RunningServer, client: Client, workdir: str
) -> None:
    """The root mount is 0700 admin's: a plain user gets neither stats nor credentials."""
    client.write(f"{workdir}/private.txt", b"admin only")
    token = api.add_user(f"user-{workdir.strip('/')[-6:]}", ["staff"])
    with Client(api.url, token) as other:
        with pytest.raises(AccessDeniedError) as caught:
            other.read(f"{workdir}/private.txt")
        assert f"{workdir}/private.txt" in str(caught.value)
        assert other.vend_calls == 0 or other.scopes() == []
    fs = TierstoreFileSystem(server=api.url, token=token, skip_instance_cache=True)
    with pytest.raises(PermissionError, match=re.escape(f"{workdir}/private.txt")):
        fs.cat_file(f"{workdir}/private.txt")
    with pytest.raises(PermissionError):
        fs.pipe_file(f"{workdir}/theirs.txt", b"no")
    assert not client.exists(f"{workdir}/theirs.txt")
