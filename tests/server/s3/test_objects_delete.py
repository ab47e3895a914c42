"""The gateway's DeleteObjects and DeleteObject on the S3 root mount and a local mount: keys
deleted or reported one by one (a missing key is deleted, a key the caller may not delete is its
own AccessDenied), quiet mode, S3's rules on the request (Content-MD5 or a checksum, 1,000 keys
at most), directory keys, the namespace's bits (write and search on the parent, sticky
directories), and one audit line counting what was deleted and what failed."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.server.s3.conftest import Mount
from tests.server.s3.raw import error_code, send

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DATA = b"some bytes"


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _exists(mount: Mount, key: str) -> bool:
    try:
        mount.admin.head_object(Bucket=mount.bucket, Key=key)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False
    return True


def _delete(client: S3Client, mount: Mount, keys: list[str], quiet: bool = False) -> dict:
    objects = [{"Key": key} for key in keys]
    return dict(client.delete_objects(Bucket=mount.bucket, Delete={"Objects": objects, "Quiet": quiet}))


def _body(keys: list[str]) -> bytes:
    objects = "".join(f"<Object><Key>{key}</Key></Object>" for key in keys)
    return f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{objects}</Delete>'.encode()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_delete_objects(mount: Mount) -> None:
    for key in ("a.bin", "b.bin", "dir/c.bin", "keep.bin"):
        mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=DATA)
    mount.admin.put_object(Bucket=mount.bucket, Key="empty/", Body=b"")
    answer = _delete(mount.admin, mount, ["a.bin", "missing.bin", "dir/c.bin", "empty/", "b.bin"])
    assert sorted(entry["Key"] for entry in answer["Deleted"]) == [
        "a.bin", "b.bin", "dir/c.bin", "empty/", "missing.bin"
    ]  # fmt: skip
    assert "Errors" not in answer
    for key in ("a.bin", "b.bin", "dir/c.bin", "empty/"):
        assert not _exists(mount, key), key
    assert _exists(mount, "keep.bin")
    mount.admin.put_object(Bucket=mount.bucket, Key="q.bin", Body=DATA)
    quiet = _delete(mount.admin, mount, ["q.bin", "none.bin"], quiet=True)
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert not _exists(mount, "q.bin")


def test_per_key_errors_and_the_audit_line(
    mount: Mount, s3_for: Callable[[str], S3Client], caplog: pytest.LogCaptureFixture
) -> None:
    for key in ("bobs/x.bin", "bobs/y.bin", "admins/z.bin"):
        mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=DATA)
    mount.chmod("/", "0711")
    mount.chmod(f"/{mount.bucket}", "0755")
    mount.chmod(f"/{mount.bucket}/bobs", "0777")
    mount.chmod(f"/{mount.bucket}/admins", "0755")
    mount.gateway.add_user("bob")
    bob = s3_for("bob")
    keys = ["bobs/x.bin", "admins/z.bin", "bobs/missing.bin", "bobs//double", "bobs/y.bin"]
    objects = [{"Key": key} for key in keys] + [{"Key": "bobs/y.bin", "VersionId": "3/L4kqtJl"}]
    with caplog.at_level(logging.INFO, logger="tierstore.audit"):
        answer = bob.delete_objects(Bucket=mount.bucket, Delete={"Objects": objects})
    assert sorted(entry["Key"] for entry in answer["Deleted"]) == [
        "bobs/missing.bin",
        "bobs/x.bin",
        "bobs/y.bin",
    ]
    errors = {(entry["Key"], entry["Code"]) for entry in answer["Errors"]}
    assert errors == {
        ("admins/z.bin", "AccessDenied"),
        ("bobs//double", "InvalidArgument"),
        ("bobs/y.bin", "InvalidArgument"),  # the version named is not the object's one (null)
    }
    assert all(entry["Message"] for entry in answer["Errors"])
    assert _exists(mount, "admins/z.bin") and not _exists(mount, "bobs/x.bin")
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "tierstore.audit"]
    deletes = [line for line in lines if line["operation"] == "DeleteObjects"]
    assert len(deletes) == 1
    assert deletes[0]["deleted"] == 3 and deletes[0]["failed"] == 3 and deletes[0]["user"] == "bob"
    assert deletes[0]["outcome"] == "ok"


def test_a_delete_needs_its_body_checked(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="a.bin", Body=DATA)
    body = _body(["a.bin"])
    unchecked = send("POST", mount.url(query="delete="), mount.key, body=body)
    assert unchecked.status_code == 400 and error_code(unchecked) == "InvalidRequest"
    assert "Content-MD5" in unchecked.text
    wrong = send(
        "POST", mount.url(query="delete="), mount.key, headers={"Content-MD5": _md5(b"x")}, body=body
    )
    assert wrong.status_code == 400 and error_code(wrong) == "BadDigest"
    assert _exists(mount, "a.bin")
    done = send("POST", mount.url(query="delete="), mount.key, headers={"Content-MD5": _md5(body)}, body=body)
    assert done.status_code == 200 and "<Deleted><Key>a.bin</Key></Deleted>" in done.text
    assert not _exists(mount, "a.bin")


def test_delete_requests_s3_refuses(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="a.bin", Body=DATA)
    with pytest.raises(ClientError) as too_many:
        _delete(mount.admin, mount, ["a.bin"] + [f"k{number}" for number in range(1000)])
    assert _code(too_many) == "MalformedXML"
    assert "1000" in too_many.value.response["Error"]["Message"]
    for body in (b"<Delete><Object><Key>a.bin</Key></Object>", b"<Delete></Delete>", b"<Other/>"):
        answer = send(
            "POST", mount.url(query="delete="), mount.key, headers={"Content-MD5": _md5(body)}, body=body
        )
        assert answer.status_code == 400 and error_code(answer) == "MalformedXML", body
    assert _exists(mount, "a.bin")
    with pytest.raises(ClientError) as no_bucket:
        mount.admin.delete_objects(Bucket="nosuchbucket", Delete={"Objects": [{"Key": "a.bin"}]})
    assert _code(no_bucket) == "NoSuchBucket"


def test_delete_object(mount: Mount) -> None:
    mount.admin.put_object(Bucket=mount.bucket, Key="dir/a.bin", Body=DATA)
    mount.admin.put_object(Bucket=mount.bucket, Key="empty/", Body=b"")
    for key in ("missing.bin", "dir", "dir/", "empty"):  # nothing of that kind: done, nothing removed
        answer = mount.admin.delete_object(Bucket=mount.bucket, Key=key)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204, key
    assert _exists(mount, "dir/a.bin") and _exists(mount, "empty/")
    mount.admin.delete_object(Bucket=mount.bucket, Key="empty/")
    assert not _exists(mount, "empty/")
    mount.admin.delete_object(Bucket=mount.bucket, Key="dir/a.bin")
    assert not _exists(mount, "dir/a.bin")
    with pytest.raises(ClientError) as no_bucket:
        mount.admin.delete_object(Bucket="nosuchbucket", Key="a.bin")
    assert _code(no_bucket) == "NoSuchBucket"


def test_delete_object_goes_by_the_parents_bits(mount: Mount, s3_for: Callable[[str], S3Client]) -> None:
    for key in ("locked/a.bin", "open/a.bin", "sticky/admins.bin"):
        mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=DATA)
    mount.chmod("/", "0711")
    mount.chmod(f"/{mount.bucket}", "0755")
    mount.chmod(f"/{mount.bucket}/locked", "0755")
    mount.chmod(f"/{mount.bucket}/locked/a.bin", "0666")  # the file's own bits do not matter
    mount.chmod(f"/{mount.bucket}/open", "0777")
    mount.chmod(f"/{mount.bucket}/open/a.bin", "0600")
    mount.chmod(f"/{mount.bucket}/sticky", "1777")
    mount.gateway.add_user("bob")
    bob = s3_for("bob")
    bob.put_object(Bucket=mount.bucket, Key="sticky/bobs.bin", Body=DATA)
    for key in ("locked/a.bin", "locked/missing.bin", "sticky/admins.bin"):
        with pytest.raises(ClientError) as denied:
            bob.delete_object(Bucket=mount.bucket, Key=key)
        assert _code(denied) == "AccessDenied", key
    bob.delete_object(Bucket=mount.bucket, Key="open/a.bin")
    bob.delete_object(Bucket=mount.bucket, Key="sticky/bobs.bin")
    assert _exists(mount, "locked/a.bin") and _exists(mount, "sticky/admins.bin")
    assert not _exists(mount, "open/a.bin") and not _exists(mount, "sticky/bobs.bin")
