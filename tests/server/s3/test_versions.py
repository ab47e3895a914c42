"""The versions of an unversioned bucket through the gateway, with boto3: GetBucketVersioning,
ListObjectVersions (every object its one ``null`` version) and ``versionId=null`` on object
operations, on a bucket of the S3 root mount and on a local mount; and the way conformance
suites empty buckets (list versions, delete each with its version id, delete the bucket).

One gateway serves the module: each test makes buckets of its own names.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.server.harness import RunningServer
from tests.server.s3.conftest import add_local_mount, admin_of
from tests.server.s3.raw import Key, error_code, send

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# In S3's order "a-b" < "a/b" < "a0" (and no key both a file and a directory: a local mount
# cannot hold that).
KEYS = ("a-b", "a/b", "a/c/d", "a0", "b b", "c+d", "dir/", "z")


@pytest.fixture(scope="module")
def admin(module_gateway: RunningServer, module_s3_for: Callable[[str], S3Client]) -> S3Client:
    return module_s3_for(admin_of(module_gateway))


@pytest.fixture(scope="module")
def alt(module_gateway: RunningServer, module_s3_for: Callable[[str], S3Client]) -> S3Client:
    """A user who is no admin."""
    module_gateway.add_user("alt")
    return module_s3_for("alt")


@pytest.fixture(params=["s3", "local"])
def bucket_of(
    request: pytest.FixtureRequest,
    module_gateway: RunningServer,
    admin: S3Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], str]]:
    """``bucket_of()``: a new bucket on the S3 root mount, then on a local mount of its own."""

    def make() -> str:
        name = f"v-{secrets.token_hex(4)}"
        if request.param == "s3":
            admin.create_bucket(Bucket=name)
        else:
            add_local_mount(module_gateway, f"/{name}", tmp_path_factory.mktemp("local") / name)
        return name

    yield make


def _put(client: S3Client, bucket: str, keys: tuple[str, ...] = KEYS) -> None:
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"" if key.endswith("/") else key.encode())


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _status(error: pytest.ExceptionInfo[ClientError]) -> int:
    return int(error.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_an_unversioned_bucket_says_so(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    answer = admin.get_bucket_versioning(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in answer
    assert "MFADelete" not in answer


def test_every_object_is_its_one_null_version(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    _put(admin, bucket)
    answer = admin.list_object_versions(Bucket=bucket)
    versions = answer["Versions"]
    assert [version["Key"] for version in versions] == sorted(KEYS)
    assert "DeleteMarkers" not in answer
    assert answer["IsTruncated"] is False
    for version in versions:
        head = admin.head_object(Bucket=bucket, Key=version["Key"])
        assert version["VersionId"] == "null"
        assert version["IsLatest"] is True
        assert version["ETag"] == head["ETag"]
        assert version["Size"] == head["ContentLength"]
        if "LastModified" in head:  # a directory's marker has one where the store keeps a time
            assert version["LastModified"].replace(microsecond=0) == head["LastModified"]
        assert version["StorageClass"] == "STANDARD"
        assert "Owner" in version  # the namespace owner of the file


def test_prefix_delimiter_and_url_encoding(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    _put(admin, bucket)
    top = admin.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [version["Key"] for version in top["Versions"]] == ["a-b", "a0", "b b", "c+d", "z"]
    assert [prefix["Prefix"] for prefix in top["CommonPrefixes"]] == ["a/", "dir/"]
    assert top["Delimiter"] == "/"
    inside = admin.list_object_versions(Bucket=bucket, Prefix="a/")
    assert [version["Key"] for version in inside["Versions"]] == ["a/b", "a/c/d"]
    assert inside["Prefix"] == "a/"
    # boto3 asks for encoding-type=url and decodes: keys with '+' and ' ' come back as written.
    spaced = admin.list_object_versions(Bucket=bucket, Prefix="b b")
    assert [version["Key"] for version in spaced["Versions"]] == ["b b"]


def test_pages_resume_after_the_key_marker(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    _put(admin, bucket)
    # As conformance suites page it: empty markers first, then the Next* they were given.
    found: list[str] = []
    key_marker, version_marker, pages = "", "", 0
    while True:
        page = admin.list_object_versions(
            Bucket=bucket, KeyMarker=key_marker, VersionIdMarker=version_marker, MaxKeys=3
        )
        pages += 1
        found += [version["Key"] for version in page.get("Versions", [])]
        assert len(page.get("Versions", [])) <= 3
        if not page["IsTruncated"]:
            assert "NextKeyMarker" not in page
            break
        key_marker, version_marker = page["NextKeyMarker"], page["NextVersionIdMarker"]
        assert version_marker == "null"
    assert found == sorted(KEYS)
    assert pages == 3
    # boto3's paginator, and a key marker alone (every version of that key is behind it).
    paginator = admin.get_paginator("list_object_versions")
    pages_of_two = paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    paged = [version["Key"] for page in pages_of_two for version in page.get("Versions", [])]
    assert paged == sorted(KEYS)
    after = admin.list_object_versions(Bucket=bucket, KeyMarker="a/b")
    assert [version["Key"] for version in after["Versions"]] == sorted(KEYS)[2:]
    # A common prefix ending a page: the next resumes after everything under it.
    first = admin.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [prefix["Prefix"] for prefix in first["CommonPrefixes"]] == ["a/"]
    assert first["NextKeyMarker"] == "a/"
    rest = admin.list_object_versions(
        Bucket=bucket, Delimiter="/", KeyMarker=first["NextKeyMarker"], VersionIdMarker="null"
    )
    assert [version["Key"] for version in rest["Versions"]] == ["a0", "b b", "c+d", "z"]
    assert [prefix["Prefix"] for prefix in rest["CommonPrefixes"]] == ["dir/"]


@pytest.mark.parametrize("keys", [KEYS, ("one",)], ids=["nested", "flat"])
def test_a_bucket_emptied_version_by_version(admin: S3Client, keys: tuple[str, ...]) -> None:
    """On the S3 root mount, where CreateBucket makes buckets (a local mount's bucket is the
    mount itself, which only removing the mount removes)."""
    bucket = f"v-{secrets.token_hex(4)}"
    admin.create_bucket(Bucket=bucket)
    _put(admin, bucket, keys)
    # ceph/s3-tests' teardown: one pass over the listed versions, pages of 128 deleted by id
    # (with the bypass header object lock needs), then the bucket.
    key_marker, version_marker = "", ""
    while True:
        page = admin.list_object_versions(
            Bucket=bucket, KeyMarker=key_marker, VersionIdMarker=version_marker, MaxKeys=128
        )
        doomed: list[Any] = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        if doomed:
            answer = admin.delete_objects(
                Bucket=bucket, Delete={"Objects": doomed, "Quiet": True}, BypassGovernanceRetention=True
            )
            assert "Errors" not in answer
        if not page["IsTruncated"]:
            break
        key_marker, version_marker = page["NextKeyMarker"], page["NextVersionIdMarker"]
    admin.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as missing:
        admin.head_bucket(Bucket=bucket)
    assert _status(missing) == 404


def test_null_names_the_object_itself(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    admin.put_object(Bucket=bucket, Key="k", Body=b"body")
    assert admin.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"body"
    assert admin.head_object(Bucket=bucket, Key="k", VersionId="null")["ContentLength"] == 4
    answer = admin.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Versions" not in admin.list_object_versions(Bucket=bucket)
    with pytest.raises(ClientError) as other:
        admin.get_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert _code(other) == "InvalidArgument"


def test_refusals(
    module_gateway: RunningServer, admin: S3Client, alt: S3Client, bucket_of: Callable[[], str]
) -> None:
    bucket = bucket_of()
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as alone:
        admin.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert _code(alone) == "InvalidArgument"
    assert "without a key marker" in alone.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unknown:
        admin.list_object_versions(Bucket=bucket, KeyMarker="k", VersionIdMarker="3HL4kqtJ")
    assert _code(unknown) == "InvalidArgument"
    with pytest.raises(ClientError) as put:
        admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert (_code(put), _status(put)) == ("NotImplemented", 501)
    assert "Status" not in admin.get_bucket_versioning(Bucket=bucket)
    for operation in (admin.list_object_versions, admin.get_bucket_versioning):
        with pytest.raises(ClientError) as nowhere:
            operation(Bucket=f"{bucket}-missing")
        assert _code(nowhere) == "NoSuchBucket"
    # The bucket's directory readable by its owner alone: another user may list nothing.
    answer = httpx.post(
        f"{module_gateway.url}/v1/fs/chmod",
        json={"path": f"/{bucket}", "mode": "700"},
        headers=module_gateway.auth(),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    for operation in (alt.list_object_versions, alt.get_bucket_versioning):
        with pytest.raises(ClientError) as denied:
            operation(Bucket=bucket)
        assert _code(denied) == "AccessDenied"


def test_versions_sub_resources_never_reach_plain_operations(
    module_gateway: RunningServer, admin: S3Client, bucket_of: Callable[[], str]
) -> None:
    """A DELETE of ``?versioning`` is no DeleteBucket, a GET of an object's ``?versions`` no
    GetObject: each is NotImplemented and leaves everything as it was."""
    bucket = bucket_of()
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    key = Key(*module_gateway.add_s3_key(admin_of(module_gateway)))
    for method, path in (("DELETE", f"/{bucket}?versioning"), ("GET", f"/{bucket}/k?versions")):
        answer = send(method, f"{module_gateway.s3_url}{path}", key)
        assert answer.status_code == 501, answer.text
        assert error_code(answer) == "NotImplemented"
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_the_empty_bucket_lists_no_versions(admin: S3Client, bucket_of: Callable[[], str]) -> None:
    bucket = bucket_of()
    answer = admin.list_object_versions(Bucket=bucket)
    assert "Versions" not in answer and "DeleteMarkers" not in answer
    assert answer["KeyMarker"] == "" and answer["VersionIdMarker"] == ""
    assert answer["MaxKeys"] == 1000
