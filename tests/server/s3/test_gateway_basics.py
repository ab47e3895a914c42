"""The S3 gateway in `tierstore serve`, driven by boto3: buckets, objects, errors, permissions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.server.harness import RunningServer
from tests.server.s3.conftest import add_local_mount, gateway_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_buckets_objects_and_errors(gateway_admin: str, s3_for: Callable[[str], S3Client]) -> None:
    admin = s3_for(gateway_admin)
    admin.create_bucket(Bucket="alpha")
    assert "alpha" in [bucket["Name"] for bucket in admin.list_buckets()["Buckets"]]
    admin.head_bucket(Bucket="alpha")
    admin.put_object(Bucket="alpha", Key="dir/a.txt", Body=b"hello world")
    got = admin.get_object(Bucket="alpha", Key="dir/a.txt")
    assert got["Body"].read() == b"hello world"
    assert admin.head_object(Bucket="alpha", Key="dir/a.txt")["ContentLength"] == 11
    part = admin.get_object(Bucket="alpha", Key="dir/a.txt", Range="bytes=6-")
    assert part["Body"].read() == b"world" and part["ContentRange"] == "bytes 6-10/11"
    with pytest.raises(ClientError) as missing_key:
        admin.get_object(Bucket="alpha", Key="dir/none.txt")
    assert _code(missing_key) == "NoSuchKey"
    with pytest.raises(ClientError) as missing_bucket:
        admin.get_object(Bucket="nosuch", Key="a")
    assert _code(missing_bucket) == "NoSuchBucket"
    with pytest.raises(ClientError) as bad_range:
        admin.get_object(Bucket="alpha", Key="dir/a.txt", Range="bytes=50-60")
    assert _code(bad_range) == "InvalidRange"
    with pytest.raises(ClientError) as not_empty:
        admin.delete_bucket(Bucket="alpha")
    assert _code(not_empty) == "BucketNotEmpty", not_empty.value.response
    with pytest.raises(ClientError) as acl:
        admin.get_bucket_acl(Bucket="alpha")
    assert _code(acl) == "NotImplemented"
    admin.delete_object(Bucket="alpha", Key="dir/a.txt")
    admin.delete_object(Bucket="alpha", Key="dir/a.txt")  # again: S3 answers done
    with pytest.raises(ClientError):
        admin.head_object(Bucket="alpha", Key="dir/a.txt")


def test_a_user_without_the_read_bit_is_refused(
    gateway: RunningServer, gateway_admin: str, s3_for: Callable[[str], S3Client]
) -> None:
    admin = s3_for(gateway_admin)
    for name in ("private", "public"):
        admin.create_bucket(Bucket=name)
        admin.put_object(Bucket=name, Key="secret.txt", Body=b"x")
    client = httpx.Client(base_url=gateway.url, headers=gateway.auth())
    for path, mode in (("/", "0711"), ("/private", "0700"), ("/public", "0755")):
        assert client.post("/v1/fs/chmod", json={"path": path, "mode": mode}).status_code == 200
    gateway.add_user("bob")
    bob = s3_for("bob")
    with pytest.raises(ClientError) as denied:
        bob.get_object(Bucket="private", Key="secret.txt")
    assert _code(denied) == "AccessDenied"
    with pytest.raises(ClientError) as create:
        bob.create_bucket(Bucket="bobs")
    assert _code(create) == "AccessDenied"
    assert [bucket["Name"] for bucket in bob.list_buckets()["Buckets"]] == ["public"]
    assert bob.get_object(Bucket="public", Key="secret.txt")["Body"].read() == b"x"
    with pytest.raises(ClientError) as write:
        bob.put_object(Bucket="public", Key="mine.txt", Body=b"y")
    assert _code(write) == "AccessDenied"


def test_unknown_keys_and_bad_signatures(gateway: RunningServer, s3_for: Callable[[str], S3Client]) -> None:
    assert gateway.s3_url is not None
    stranger = boto3.client(
        "s3",
        endpoint_url=gateway.s3_url,
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="x" * 40,
        region_name="us-east-1",
    )
    with pytest.raises(ClientError) as unknown:
        stranger.list_buckets()
    assert _code(unknown) == "InvalidAccessKeyId"
    anonymous = httpx.get(gateway.s3_url + "/", timeout=30)
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    assert anonymous.headers["x-amz-request-id"]
    gateway.add_user("carol")
    key_id, secret = gateway.add_s3_key("carol")
    assert gateway.s3_url is not None
    real = secret.reveal()
    # Its last character changed (to "x", or to "y" when it is an "x": else 1 run in 64 signs right).
    wrong = gateway_client(gateway.s3_url, key_id, real[:-1] + ("y" if real.endswith("x") else "x"))
    with pytest.raises(ClientError) as mismatch:
        wrong.list_buckets()
    assert _code(mismatch) == "SignatureDoesNotMatch"
    carol = gateway_client(gateway.s3_url, key_id, secret.reveal())
    carol.list_buckets()
    gateway.state.s3_keys.revoke(key_id)
    with pytest.raises(ClientError) as revoked:
        carol.list_buckets()
    assert _code(revoked) == "InvalidAccessKeyId"
    second_id, second_secret = gateway.add_s3_key("carol")
    gateway.state.users.remove("carol")  # the user's keys go with the user
    with pytest.raises(ClientError) as removed:
        gateway_client(gateway.s3_url, second_id, second_secret.reveal()).list_buckets()
    assert _code(removed) == "InvalidAccessKeyId"


def test_delete_bucket_refusals(
    gateway: RunningServer, gateway_admin: str, s3_for: Callable[[str], S3Client], tmp_path: Path
) -> None:
    admin = s3_for(gateway_admin)
    add_local_mount(gateway, "/mounted", tmp_path / "mounted")
    with pytest.raises(ClientError) as mount_point:
        admin.delete_bucket(Bucket="mounted")
    assert _code(mount_point) == "AccessDenied" and "mount point" in str(mount_point.value)
    admin.head_bucket(Bucket="mounted")
    # rmdir at the top level needs write on /, which only an admin has there.
    admin.create_bucket(Bucket="kept")
    gateway.add_user("dave")
    with pytest.raises(ClientError) as not_admin:
        s3_for("dave").delete_bucket(Bucket="kept")
    assert _code(not_admin) == "AccessDenied"
    admin.head_bucket(Bucket="kept")
