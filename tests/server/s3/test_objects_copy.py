"""The gateway's CopyObject: within a mount (the store's own copy) and across mounts and stores
(streamed through the gateway), the metadata directive, the source's conditions, the source as
S3 names it (URL-encoded, ``?versionId=``), the caller's bits on both ends; every failure
leaving the destination as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.server.s3.conftest import Mount
from tests.server.s3.raw import error_code, send

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DATA = bytes(range(256)) * 40


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _read(mount: Mount, key: str) -> bytes:
    return bytes(mount.admin.get_object(Bucket=mount.bucket, Key=key)["Body"].read())


def _copy(client: S3Client, source: Mount, key: str, dest: Mount, dest_key: str, **extra: object) -> dict:
    return dict(
        client.copy_object(
            Bucket=dest.bucket, Key=dest_key, CopySource={"Bucket": source.bucket, "Key": key}, **extra
        )
    )


def test_copy_within_a_mount(mount: Mount) -> None:
    key = "dir/a b+ü?&=%.txt"  # sent URL-encoded in x-amz-copy-source
    etag = mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=DATA)["ETag"]
    result = _copy(mount.admin, mount, key, mount, "copies/one.bin")
    assert abs(result["CopyObjectResult"]["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    head = mount.admin.head_object(Bucket=mount.bucket, Key="copies/one.bin")
    assert result["CopyObjectResult"]["ETag"] == head["ETag"] == etag
    assert _read(mount, "copies/one.bin") == DATA
    # Onto an existing object: replaced.
    mount.admin.put_object(Bucket=mount.bucket, Key="copies/two.bin", Body=b"old")
    _copy(mount.admin, mount, key, mount, "copies/two.bin")
    assert _read(mount, "copies/two.bin") == DATA
    # The one version an object of an unversioned bucket has.
    mount.admin.copy_object(
        Bucket=mount.bucket,
        Key="copies/three.bin",
        CopySource={"Bucket": mount.bucket, "Key": key, "VersionId": "null"},
    )
    assert _read(mount, "copies/three.bin") == DATA
    mount.assert_clean()


def _attributes(mount: Mount, key: str) -> tuple[str, dict[str, str]]:
    head = mount.admin.head_object(Bucket=mount.bucket, Key=key)
    return head["ContentType"], dict(head["Metadata"])


def test_the_metadata_directive(mount: Mount) -> None:
    mount.admin.put_object(
        Bucket=mount.bucket, Key="src.csv", Body=DATA, ContentType="text/csv", Metadata={"a": "1"}
    )
    _copy(mount.admin, mount, "src.csv", mount, "copied.csv")
    assert _attributes(mount, "copied.csv") == ("text/csv", {"a": "1"})
    replaced = {"ContentType": "application/json", "Metadata": {"b": "2"}}
    _copy(mount.admin, mount, "src.csv", mount, "replaced.json", MetadataDirective="REPLACE", **replaced)
    assert _attributes(mount, "replaced.json") == ("application/json", {"b": "2"})
    _copy(mount.admin, mount, "src.csv", mount, "bare.bin", MetadataDirective="REPLACE")
    assert _attributes(mount, "bare.bin") == ("binary/octet-stream", {})
    # COPY ignores the request's own attributes, as S3 does.
    _copy(mount.admin, mount, "src.csv", mount, "ignored.csv", ContentType="text/plain", Metadata={"c": "3"})
    assert _attributes(mount, "ignored.csv") == ("text/csv", {"a": "1"})
    assert _read(mount, "replaced.json") == DATA


def test_copying_an_object_onto_itself(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="self.bin", Body=DATA, Metadata={"v": "1"})
    with pytest.raises(ClientError) as refused:
        _copy(mount.admin, mount, "self.bin", mount, "self.bin")
    assert _code(refused) == "InvalidRequest"
    assert "copy an object to itself" in refused.value.response["Error"]["Message"]
    assert _attributes(mount, "self.bin") == ("binary/octet-stream", {"v": "1"})
    _copy(mount.admin, mount, "self.bin", mount, "self.bin", MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert _read(mount, "self.bin") == DATA
    assert _attributes(mount, "self.bin") == ("binary/octet-stream", {"v": "2"})


def test_copy_requests_s3_refuses(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="src.bin", Body=DATA)
    mount.admin.put_object(Bucket=mount.bucket, Key="dst.bin", Body=b"before")
    cases: list[tuple[dict[str, object], str]] = [
        ({"CopySource": {"Bucket": mount.bucket, "Key": "none.bin"}}, "NoSuchKey"),
        ({"CopySource": {"Bucket": "nosuchbucket", "Key": "src.bin"}}, "NoSuchBucket"),
        (
            {"CopySource": {"Bucket": mount.bucket, "Key": "src.bin", "VersionId": "3/L4kqtJl"}},
            "InvalidArgument",
        ),
        (
            {"CopySource": {"Bucket": mount.bucket, "Key": "src.bin"}, "MetadataDirective": "MERGE"},
            "InvalidArgument",
        ),
        ({"CopySource": {"Bucket": mount.bucket, "Key": "a//b"}}, "InvalidArgument"),
    ]
    for extra, code in cases:
        with pytest.raises(ClientError) as refused:
            mount.admin.copy_object(Bucket=mount.bucket, Key="dst.bin", **extra)
        assert _code(refused) == code, extra
    with pytest.raises(ClientError) as no_dest_bucket:
        mount.admin.copy_object(
            Bucket="nosuchbucket", Key="x", CopySource={"Bucket": mount.bucket, "Key": "src.bin"}
        )
    assert _code(no_dest_bucket) == "NoSuchBucket"
    for source in (mount.bucket, f"/{mount.bucket}/", "/"):
        answer = send("PUT", mount.url("dst.bin"), mount.key, headers={"x-amz-copy-source": source})
        assert answer.status_code == 400 and error_code(answer) == "InvalidArgument", source
        assert "sourcebucket/sourcekey" in answer.text
    assert _read(mount, "dst.bin") == b"before"
    mount.assert_clean()


def test_directory_keys(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="d/", Body=b"")
    mount.admin.put_object(Bucket=mount.bucket, Key="file.bin", Body=DATA)
    _copy(mount.admin, mount, "d/", mount, "e/")
    assert mount.admin.head_object(Bucket=mount.bucket, Key="e/")["ContentLength"] == 0
    for source, dest in (("d/", "f.bin"), ("file.bin", "g/")):
        with pytest.raises(ClientError) as refused:
            _copy(mount.admin, mount, source, mount, dest)
        assert _code(refused) == "InvalidRequest", (source, dest)


def test_copy_source_conditions(mount: Mount) -> None:
    etag = mount.admin.put_object(Bucket=mount.bucket, Key="c.bin", Body=DATA)["ETag"]
    modified = mount.admin.head_object(Bucket=mount.bucket, Key="c.bin")["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(hours=1)
    held: list[dict[str, object]] = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"other"'},
        {"CopySourceIfModifiedSince": before},
        {"CopySourceIfUnmodifiedSince": after},
        # If-Match true wins over If-Unmodified-Since false, as on a GET.
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": before},
    ]
    for number, conditions in enumerate(held):
        _copy(mount.admin, mount, "c.bin", mount, f"ok{number}.bin", **conditions)
        assert _read(mount, f"ok{number}.bin") == DATA
    failed: list[dict[str, object]] = [
        {"CopySourceIfMatch": '"other"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": after},
        {"CopySourceIfUnmodifiedSince": before},
        # If-None-Match false wins over If-Modified-Since true; a copy answers it 412, not 304.
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": before},
    ]
    mount.admin.put_object(Bucket=mount.bucket, Key="dst.bin", Body=b"before")
    for conditions in failed:
        with pytest.raises(ClientError) as refused:
            _copy(mount.admin, mount, "c.bin", mount, "dst.bin", **conditions)
        assert _code(refused) == "PreconditionFailed", conditions
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert _read(mount, "dst.bin") == b"before"
    mount.assert_clean()


def test_copy_across_mounts_and_stores(make_mount: Callable[[str, str], Mount]) -> None:
    remote, local = make_mount("s3", "objs"), make_mount("local", "locb")
    body = DATA * 1000  # 10 MB: the S3 store writes it in parts
    attributes = {"ContentType": "text/csv", "Metadata": {"a": "1"}}
    remote_etag = remote.admin.put_object(Bucket=remote.bucket, Key="r.bin", Body=body, **attributes)["ETag"]
    local.admin.put_object(Bucket=local.bucket, Key="l.bin", Body=body, **attributes)
    to_local = _copy(remote.admin, remote, "r.bin", local, "from-s3/r.bin", CopySourceIfMatch=remote_etag)
    assert _read(local, "from-s3/r.bin") == body
    assert (
        to_local["CopyObjectResult"]["ETag"]
        == local.admin.head_object(Bucket=local.bucket, Key="from-s3/r.bin")["ETag"]
    )
    _copy(local.admin, local, "l.bin", remote, "from-local/l.bin")
    assert _read(remote, "from-local/l.bin") == body
    assert (
        _attributes(local, "from-s3/r.bin")
        == _attributes(remote, "from-local/l.bin")
        == ("text/csv", {"a": "1"})
    )
    _copy(
        local.admin, local, "l.bin", remote, "replaced.bin", MetadataDirective="REPLACE", Metadata={"b": "2"}
    )
    assert _attributes(remote, "replaced.bin") == ("binary/octet-stream", {"b": "2"})
    remote.admin.put_object(Bucket=remote.bucket, Key="kept.bin", Body=b"before")
    with pytest.raises(ClientError) as refused:
        _copy(local.admin, local, "l.bin", remote, "kept.bin", CopySourceIfMatch='"other"')
    assert _code(refused) == "PreconditionFailed"
    with pytest.raises(ClientError) as missing:
        _copy(local.admin, local, "none.bin", remote, "kept.bin")
    assert _code(missing) == "NoSuchKey"
    assert _read(remote, "kept.bin") == b"before"
    remote.assert_clean()
    local.assert_clean()


def test_copy_needs_read_on_the_source_and_write_on_the_destination(
    mount: Mount, s3_for: Callable[[str], S3Client]
) -> None:
    for key in ("open/src.bin", "private/src.bin", "readonly/dst.bin", "mine/dst.bin"):
        mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=key.encode())
    mount.chmod("/", "0711")
    mount.chmod(f"/{mount.bucket}", "0755")
    for directory, mode in (("open", "0755"), ("private", "0700"), ("readonly", "0755"), ("mine", "0777")):
        mount.chmod(f"/{mount.bucket}/{directory}", mode)
    mount.chmod(f"/{mount.bucket}/mine/dst.bin", "0666")
    mount.gateway.add_user("bob")
    bob = s3_for("bob")
    _copy(bob, mount, "open/src.bin", mount, "mine/dst.bin")
    assert _read(mount, "mine/dst.bin") == b"open/src.bin"
    _copy(bob, mount, "open/src.bin", mount, "mine/new.bin")
    for source, dest in (
        ("private/src.bin", "mine/other.bin"),
        ("open/src.bin", "readonly/dst.bin"),
        ("open/src.bin", "readonly/new.bin"),
    ):
        with pytest.raises(ClientError) as denied:
            _copy(bob, mount, source, mount, dest)
        assert _code(denied) == "AccessDenied", (source, dest)
    assert _read(mount, "readonly/dst.bin") == b"readonly/dst.bin"
    with pytest.raises(ClientError) as absent:
        mount.admin.head_object(Bucket=mount.bucket, Key="mine/other.bin")
    assert absent.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
