"""Transfers ride through a store restart: SeaweedFS SIGKILLed mid-transfer, started again on the
same ports 3 s later (it then answers 500 for some seconds), and every transfer completes with
the same bytes and leaves no multipart upload behind. All against a SeaweedFS of this module's
own (:mod:`tests.servers.restartable`), with the default retry settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import fsspec
import pytest
from botocore.config import Config

from tests.server.harness import start_api_server
from tests.servers.restartable import RestartableStore
from tierstore.client.client import Client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
SIZE = 256 * MiB


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableStore]:
    store = RestartableStore()
    yield store
    store.close()


@pytest.fixture
def s3(restartable: RestartableStore) -> S3Client:
    return _admin_client(restartable)


def _admin_client(restartable: RestartableStore) -> S3Client:
    admin = restartable.info.admin
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=restartable.info.endpoint,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        region_name=restartable.info.region,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 10}),
    )
    return client


@pytest.fixture
def buckets(s3: S3Client) -> Iterator[list[str]]:
    made = [f"restart-{secrets.token_hex(4)}", f"restart-{secrets.token_hex(4)}"]
    for name in made:
        s3.create_bucket(Bucket=name)
    yield made


def _config(directory: Path, store: RestartableStore, bucket: str, *extra: str) -> Path:
    admin = store.info.admin
    path = directory / "server.yaml"
    path.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {store.info.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\n"
        f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: sqlite:///{directory / 'namespace.db'}\n"
        f"tierstore.secrets.key-file: {directory / 'secrets.key'}\n" + "".join(f"{line}\n" for line in extra)
    )
    return path


def _tierstore(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["XDG_STATE_HOME"] = str(config.parent / "state")
    command = [sys.executable, "-m", "tierstore.cli.main", *args[:2], "-c", str(config), *args[2:]]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, f"exit {process.returncode}: {err}"
    return out


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // (16 * MiB)):
            block = os.urandom(16 * MiB)
            digest.update(block)
            handle.write(block)
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(16 * MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def _object_sha256(s3: S3Client, bucket: str, key: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    for block in iter(lambda: body.read(16 * MiB), b""):
        digest.update(block)
    return digest.hexdigest()


def _uploads_in(s3: S3Client, bucket: str) -> list[str]:
    return [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _has_upload(s3: S3Client, bucket: str) -> bool:
    try:
        return bool(_uploads_in(s3, bucket))
    except Exception:
        return False


def _still_running(process: subprocess.Popen[str]) -> bool:
    return process.poll() is None


def test_fs_get_rides_through_a_restart(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    expected = _random_file(source, SIZE)
    s3.upload_file(str(source), buckets[0], "root/big.bin")
    config = _config(tmp_path, restartable, buckets[0])
    target = tmp_path / "copy.bin"
    partial = tmp_path / ".copy.bin.tierstore-part"
    process = _tierstore(config, "fs", "get", "/big.bin", str(target))
    with restartable.outage_when(lambda: partial.exists() and partial.stat().st_size > 8 * MiB) as killed:
        _finish(process)
    assert killed.is_set(), "the store was never killed: the transfer ended first"
    assert _sha256_of(target) == expected
    assert not partial.exists()


def test_fs_put_rides_through_a_restart(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    expected = _random_file(source, SIZE)
    config = _config(tmp_path, restartable, buckets[0])
    process = _tierstore(config, "fs", "put", str(source), "/big.bin")
    with restartable.outage_when(lambda: _has_upload(s3, buckets[0])) as killed:
        _finish(process)
    assert killed.is_set(), "the store was never killed: the transfer ended first"
    restartable.wait_serving()
    assert _object_sha256(s3, buckets[0], "root/big.bin") == expected
    assert _uploads_in(s3, buckets[0]) == []


def test_cross_mount_cp_rides_through_a_restart(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    expected = _random_file(source, SIZE)
    s3.upload_file(str(source), buckets[0], "root/big.bin")
    config = _config(tmp_path, restartable, buckets[0])
    admin = restartable.info.admin
    mounted = _tierstore(
        config,
        "fs",
        "mount",
        "--option",
        f"aws.accessKeyId={admin.access_key_id}",
        "--option",
        f"aws.secretKey={admin.secret_access_key.reveal()}",
        "--option",
        f"alluxio.underfs.s3.endpoint={restartable.info.endpoint}",
        "/other",
        f"s3://{buckets[1]}/data",
    )
    _finish(mounted)
    process = _tierstore(config, "fs", "cp", "/big.bin", "/other/big.bin")
    with restartable.outage_when(lambda: _has_upload(s3, buckets[1])) as killed:
        _finish(process)
    assert killed.is_set(), "the store was never killed: the transfer ended first"
    restartable.wait_serving()
    assert _object_sha256(s3, buckets[1], "data/big.bin") == expected
    assert _uploads_in(s3, buckets[1]) == []


@pytest.mark.parametrize("direct", [True, False], ids=["vended-credentials", "data-proxy"])
def test_a_tierstore_url_read_rides_through_a_restart(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path, direct: bool
) -> None:
    """Read with the client's store on vended credentials, or through the server's data proxy."""
    source = tmp_path / "source.bin"
    expected = _random_file(source, SIZE)
    s3.upload_file(str(source), buckets[0], "root/big.bin")
    config = _config(tmp_path, restartable, buckets[0])
    with config.open("a") as extra:
        extra.write(f"tierstore.vending.role.arn: {restartable.info.roles['ReadWriteRole']}\n")
    server = start_api_server(config)
    try:
        digest = hashlib.sha256()
        read = [0]
        with (
            Client(server.url, server.admin_token, direct=direct) as client,
            restartable.outage_when(lambda: read[0] > 8 * MiB) as killed,
            fsspec.open("tierstore:///big.bin", "rb", client=client) as handle,
        ):
            for block in iter(lambda: handle.read(4 * MiB), b""):
                digest.update(block)
                read[0] += len(block)
        assert killed.is_set(), "the store was never killed: the transfer ended first"
        assert read[0] == SIZE
        assert digest.hexdigest() == expected
    finally:
        server.stop()


def _kill_when(
    restartable: RestartableStore, ready: Callable[[], bool], process: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, "the transfer ended before the store could be killed"
        assert time.monotonic() < deadline, "the transfer never started"
        time.sleep(0.01)
    restartable.kill()


FAIL_FAST = ("s3.attempts.maximum: 2", "s3.retry.interval: 100ms", "s3.connection.timeout: 2s")


@pytest.mark.parametrize("cleaner", ["fs uploads --abort", "server start"])
def test_a_put_past_its_attempts_records_its_upload_for_the_next_clean_up(
    restartable: RestartableStore,
    buckets: list[str],
    tmp_path: Path,
    cleaner: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store goes away for good mid-upload: the put fails with the named error, its abort
    cannot reach the store either, so the upload is journaled; once the store is back, the next
    clean-up aborts it and empties the journal."""
    s3 = _admin_client(restartable)
    source = tmp_path / "source.bin"
    _random_file(source, SIZE)
    config = _config(tmp_path, restartable, buckets[0], *FAIL_FAST)
    process = _tierstore(config, "fs", "put", str(source), "/big.bin")
    try:
        _kill_when(restartable, lambda: _has_upload(s3, buckets[0]), process)
        _, err = process.communicate(timeout=120)
    finally:
        restartable.start_again()
    assert process.returncode != 0
    assert "could not be reached" in err and restartable.info.endpoint in err and "after 2 attempts" in err
    journal = tmp_path / "state" / "tierstore" / "unfinished-uploads.jsonl"
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(entry["bucket"], entry["key"]) for entry in entries] == [(buckets[0], "root/big.bin")]
    assert restartable.info.admin.secret_access_key.reveal() not in journal.read_text()
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    restartable.wait_serving()
    assert _uploads_in(s3, buckets[0]) == ["root/big.bin"]

    if cleaner == "server start":
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        server = start_api_server(config)
        try:
            assert server.built is not None and server.built.upload_cleanup is not None
            server.built.upload_cleanup.join(timeout=60)
        finally:
            server.stop()
    else:
        _finish(_tierstore(config, "fs", "uploads", "--abort", "/"))
    assert _uploads_in(s3, buckets[0]) == []
    assert journal.read_text() == ""


def test_a_get_past_its_attempts_leaves_no_partial_file(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    _random_file(source, SIZE)
    s3.upload_file(str(source), buckets[0], "root/big.bin")
    config = _config(tmp_path, restartable, buckets[0], *FAIL_FAST)
    target = tmp_path / "copy.bin"
    partial = tmp_path / ".copy.bin.tierstore-part"
    process = _tierstore(config, "fs", "get", "/big.bin", str(target))
    try:
        _kill_when(restartable, lambda: partial.exists() and partial.stat().st_size > 8 * MiB, process)
        _, err = process.communicate(timeout=120)
    finally:
        restartable.start_again()
        restartable.wait_serving()
    assert process.returncode != 0
    assert "could not be reached" in err and restartable.info.endpoint in err
    assert not target.exists() and not partial.exists()


@pytest.mark.parametrize("direct", [True, False], ids=["vended-credentials", "data-proxy"])
def test_a_tierstore_url_write_rides_through_a_restart(
    restartable: RestartableStore, s3: S3Client, buckets: list[str], tmp_path: Path, direct: bool
) -> None:
    config = _config(tmp_path, restartable, buckets[0])
    with config.open("a") as extra:
        extra.write(f"tierstore.vending.role.arn: {restartable.info.roles['ReadWriteRole']}\n")
    server = start_api_server(config)
    digest = hashlib.sha256()
    try:
        with (
            Client(server.url, server.admin_token, direct=direct) as client,
            restartable.outage_when(lambda: _has_upload(s3, buckets[0])) as killed,
            fsspec.open("tierstore:///written.bin", "wb", client=client) as handle,
        ):
            for _ in range(SIZE // (4 * MiB)):
                block = os.urandom(4 * MiB)
                digest.update(block)
                handle.write(block)
        assert killed.is_set(), "the store was never killed: the transfer ended first"
    finally:
        server.stop()
    restartable.wait_serving()
    assert _object_sha256(s3, buckets[0], "root/written.bin") == digest.hexdigest()
    assert _uploads_in(s3, buckets[0]) == []
