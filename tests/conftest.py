"""Fixtures every test may use: the session's local stack, the admin's S3 client, a fresh bucket.

One stack serves the whole session, also under pytest-xdist: the controller process starts it
in ``pytest_configure``, hands its record to each worker through ``workerinput`` and stops it
in ``pytest_unconfigure``; workers only read the record.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import obstore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from obstore.store import S3Store

from tierstore.local import StackInfo, start_stack, stop_stack

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

pytest_plugins = ["tests.servers.fixtures"]
_STACK = pytest.StashKey[StackInfo]()
_WORKER_INPUT_KEY = "tierstore_local_stack"
MAX_BUCKET_NAME = 63


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if _is_xdist_worker(config) or config.option.help or config.option.collectonly:
        return
    # Short and outside the rootdir: weed's unix sockets live in it (108-byte path limit).
    directory = Path(tempfile.mkdtemp(prefix="tierstore-stack-"))
    config.stash[_STACK] = start_stack(directory, kafka=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controller: give each worker the stack's record (keys included)."""
    info = node.config.stash.get(_STACK, None)
    if info is not None:
        node.workerinput[_WORKER_INPUT_KEY] = info.to_json()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _is_xdist_worker(config):
        return
    info = config.stash.get(_STACK, None)
    if info is not None:
        stop_stack(info.directory)
        del config.stash[_STACK]


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> StackInfo:
    """The session's running stack: SeaweedFS (S3, STS, IAM, KMS) and tansu (Kafka)."""
    workerinput: dict[str, Any] | None = getattr(pytestconfig, "workerinput", None)
    if workerinput is not None:
        return StackInfo.from_json(workerinput[_WORKER_INPUT_KEY])
    return pytestconfig.stash[_STACK]


def s3_client_config() -> Config:
    return Config(
        region_name="us-east-1",
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 3},
    )


@pytest.fixture(scope="session")
def admin_s3(stack: StackInfo) -> S3Client:
    """A boto3 S3 client signed with the stack's admin keys (path style, us-east-1)."""
    admin = stack.admin
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        config=s3_client_config(),
    )
    return client


def bucket_name_for(test_name: str) -> str:
    """``t-<test name slug>-<random>``: a valid, unique S3 bucket name of at most 63 characters."""
    suffix = secrets.token_hex(4)
    room = MAX_BUCKET_NAME - len("t--") - len(suffix)
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:room].strip("-")
    return f"t-{slug}-{suffix}" if slug else f"t-{suffix}"


def empty_bucket(client: S3Client, bucket: str) -> None:
    """Abort its in-progress multipart uploads and delete every object version and delete marker.
    Each DeleteObjects of a page goes while the next page is listed (SeaweedFS deletes a page of
    1,000 keys in about 2 s, one by one), at most four at once."""
    for uploads in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in uploads.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def delete(doomed: list[ObjectIdentifierTypeDef]) -> None:
        client.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})

    with ThreadPoolExecutor(4) as pool:
        deleting = []
        for versions in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed: list[ObjectIdentifierTypeDef] = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in versions.get("Versions", [])
            ]
            doomed += [
                {"Key": marker["Key"], "VersionId": marker["VersionId"]}
                for marker in versions.get("DeleteMarkers", [])
            ]
            if doomed:
                deleting.append(pool.submit(delete, doomed))
        for done in deleting:
            done.result()
    # An unversioned bucket lists its objects as "null" versions above; this catches any rest.
    for listing in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": entry["Key"]} for entry in listing.get("Contents", [])]
        if keys:
            delete(keys)


def put_objects(stack: StackInfo, bucket: str, objects: Iterable[tuple[str, bytes]]) -> None:
    """Writes many objects straight to SeaweedFS with obstore, 16 at a time: a test's setup of
    thousands of keys, where boto3 spends about 3 ms of CPU on each request itself."""
    admin = stack.admin
    store = S3Store(
        bucket,
        endpoint=stack.endpoint,
        access_key_id=admin.access_key_id,
        secret_access_key=admin.secret_access_key.reveal(),
        region="us-east-1",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: obstore.put(store, item[0], item[1], use_multipart=False), objects))


@pytest.fixture
def bucket(request: pytest.FixtureRequest, admin_s3: S3Client) -> Iterator[str]:
    """A new, empty bucket for this test, emptied and deleted afterwards."""
    name = bucket_name_for(request.node.name)
    admin_s3.create_bucket(Bucket=name)
    yield name
    try:
        empty_bucket(admin_s3, name)
        admin_s3.delete_bucket(Bucket=name)
    except ClientError as error:
        # The test may have deleted it itself.
        if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


@pytest.fixture
def make_bucket(request: pytest.FixtureRequest, admin_s3: S3Client) -> Iterator[Callable[[], str]]:
    """More buckets for tests that need several; each emptied and deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        name = bucket_name_for(f"{request.node.name}-{len(made)}")
        admin_s3.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        empty_bucket(admin_s3, name)
        admin_s3.delete_bucket(Bucket=name)


@pytest.fixture
def no_xattrs(tmp_path: Path) -> Iterator[Path]:
    """A ramfs mount: a file system that refuses extended attributes (ENOTSUP)."""
    mount = tmp_path / "ramfs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a ramfs needs root")
    done = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
