"""Buckets through the gateway as S3 (and ceph/s3-tests) expect them: names, making one that
exists (by its owner and by another user), deleting, listing with creation times.

One gateway serves the module: ``main`` is its admin (in tierstore only admins make buckets),
``alt`` a plain user, as the conformance suite's two users.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.server.harness import RunningServer
from tests.server.s3.conftest import admin_of
from tests.server.s3.raw import Key, error_code, send

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="module")
def main(module_gateway: RunningServer, module_s3_for: Callable[[str], S3Client]) -> S3Client:
    return module_s3_for(admin_of(module_gateway))


@pytest.fixture(scope="module")
def alt(module_gateway: RunningServer, module_s3_for: Callable[[str], S3Client]) -> S3Client:
    module_gateway.add_user("alt")
    return module_s3_for("alt")


@pytest.fixture(scope="module")
def main_key(module_gateway: RunningServer) -> Key:
    return Key(*module_gateway.add_s3_key(admin_of(module_gateway)))


def _name() -> str:
    return f"b-{secrets.token_hex(4)}"


def _error(error: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = error.value.response
    return int(response["ResponseMetadata"]["HTTPStatusCode"]), str(response["Error"]["Code"])


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "aa",
        "_" + "abc",
        "foo_bar",
        "foo-",
        "foo..bar",
        "foo.-bar",
        "foo-.bar",
        "-foo",
        "Upper",
        "192.168.5.123",
        "xn--abc",
        "sthree-abc",
        "abc-s3alias",
        "abc--ol-s3",
        "a" * 64,
        "a" * 256,
        "alpha!soup",
    ],
)
def test_names_s3_refuses(module_gateway: RunningServer, main_key: Key, name: str) -> None:
    # Sent by hand: boto3 checks some names itself before sending them.
    answer = send("PUT", f"{module_gateway.s3_url}/{quote(name, safe='')}", main_key)
    assert (answer.status_code, error_code(answer)) == (400, "InvalidBucketName"), name
    assert name[:60] in answer.text


@pytest.mark.parametrize("name", ["aaa.111", "aaa-111", "0abc", "a" * 63, "a.b-c.d"])
def test_names_s3_takes(main: S3Client, name: str) -> None:
    unique = f"{name[: 63 - 9]}{secrets.token_hex(4)}" if len(name) < 54 else name
    assert main.create_bucket(Bucket=unique)["ResponseMetadata"]["HTTPStatusCode"] == 200
    main.delete_bucket(Bucket=unique)


def test_an_empty_name_is_no_bucket(module_gateway: RunningServer, main_key: Key) -> None:
    answer = send("PUT", f"{module_gateway.s3_url}/", main_key)
    assert (answer.status_code, error_code(answer)) == (405, "MethodNotAllowed")


def test_making_a_bucket_that_exists(main: S3Client, alt: S3Client) -> None:
    name = _name()
    main.create_bucket(Bucket=name)
    main.put_object(Bucket=name, Key="kept", Body=b"x")
    # Its owner again, in us-east-1: 200, and nothing in it changes (s3-tests'
    # test_bucket_create_exists and test_bucket_recreate_not_overriding).
    assert main.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [item["Key"] for item in main.list_objects(Bucket=name)["Contents"]] == ["kept"]
    # Another user, who may not make buckets at all, is told the name is taken.
    with pytest.raises(ClientError) as taken:
        alt.create_bucket(Bucket=name)
    assert _error(taken) == (409, "BucketAlreadyExists")
    with pytest.raises(ClientError) as not_admin:
        alt.create_bucket(Bucket=_name())
    assert _error(not_admin) == (403, "AccessDenied")


def test_deleting_buckets(main: S3Client) -> None:
    name = _name()
    main.create_bucket(Bucket=name)
    main.put_object(Bucket=name, Key="dir/a", Body=b"x")
    with pytest.raises(ClientError) as full:
        main.delete_bucket(Bucket=name)
    assert _error(full) == (409, "BucketNotEmpty")
    main.delete_object(Bucket=name, Key="dir/a")
    assert main.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (main.delete_bucket, main.head_bucket, main.list_objects):
        with pytest.raises(ClientError) as gone:
            call(Bucket=name)
        assert _error(gone)[0] == 404
    with pytest.raises(ClientError) as no_key:
        main.put_object(Bucket=name, Key="foo", Body=b"foo")
    assert _error(no_key) == (404, "NoSuchBucket")
