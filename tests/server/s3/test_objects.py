"""The gateway's GetObject, HeadObject and PutObject, on the S3 root mount and on a local mount:
ranges, conditions, part numbers, response overrides, the stored object's headers; checked
bodies (Content-MD5, checksums, aws-chunked forms, bodies cut short), Expect: 100-continue,
conditional creates; every failure leaving the previous object as it was and nothing
half-written (``Mount.assert_clean``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.server.s3.conftest import Mount
from tests.server.s3.raw import error_code, send

DATA = bytes(range(256)) * 40  # 10,240 bytes
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _status(error: pytest.ExceptionInfo[ClientError]) -> int:
    return int(error.value.response["ResponseMetadata"]["HTTPStatusCode"])


def _put(mount: Mount, key: str, body: bytes = DATA, **extra: object) -> str:
    return str(mount.admin.put_object(Bucket=mount.bucket, Key=key, Body=body, **extra)["ETag"])


def _read(mount: Mount, key: str) -> bytes:
    return bytes(mount.admin.get_object(Bucket=mount.bucket, Key=key)["Body"].read())


def _presigned(mount: Mount, operation: str, key: str, **params: object) -> str:
    return str(
        mount.admin.generate_presigned_url(operation, Params={"Bucket": mount.bucket, "Key": key, **params})
    )


# -- GetObject and HeadObject ------------------------------------------------------------------


def test_get_and_head_answer_the_objects_headers(mount: Mount) -> None:
    etag = _put(mount, "dir/a.bin")
    got = mount.admin.get_object(Bucket=mount.bucket, Key="dir/a.bin")
    assert got["Body"].read() == DATA
    assert got["ETag"] == etag and got["ContentLength"] == len(DATA)
    assert got["ContentType"] == "binary/octet-stream" and got["AcceptRanges"] == "bytes"
    assert "PartsCount" not in got
    head = mount.admin.head_object(Bucket=mount.bucket, Key="dir/a.bin")
    assert head["ETag"] == etag and head["ContentLength"] == len(DATA)
    assert head["LastModified"] == got["LastModified"]
    assert abs(head["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    raw = httpx.get(_presigned(mount, "get_object", "dir/a.bin"))
    assert HTTP_DATE.fullmatch(raw.headers["last-modified"]), raw.headers["last-modified"]
    assert raw.headers["etag"] == etag and raw.content == DATA


def test_missing_keys_buckets_and_directories(mount: Mount) -> None:
    _put(mount, "dir/a.bin")
    for key in ("dir/none", "dir", "dir/a.bin/"):
        with pytest.raises(ClientError) as missing:
            mount.admin.get_object(Bucket=mount.bucket, Key=key)
        assert _code(missing) == "NoSuchKey", key
        with pytest.raises(ClientError) as missing_head:
            mount.admin.head_object(Bucket=mount.bucket, Key=key)
        assert _status(missing_head) == 404, key
    with pytest.raises(ClientError) as no_bucket:
        mount.admin.get_object(Bucket="nosuchbucket", Key="a")
    assert _code(no_bucket) == "NoSuchBucket"
    folder = mount.admin.get_object(Bucket=mount.bucket, Key="dir/")
    assert folder["Body"].read() == b"" and folder["ContentLength"] == 0
    assert mount.admin.head_object(Bucket=mount.bucket, Key="dir/")["ContentLength"] == 0


def test_single_ranges(mount: Mount) -> None:
    _put(mount, "r.bin")
    size = len(DATA)
    for header, start, end in (
        ("bytes=0-4", 0, 5),
        ("bytes=100-", 100, size),
        ("bytes=-10", size - 10, size),
        ("bytes=10000-99999", 10000, size),
        ("bytes=-99999", 0, size),
    ):
        got = mount.admin.get_object(Bucket=mount.bucket, Key="r.bin", Range=header)
        assert got["Body"].read() == DATA[start:end], header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{end - 1}/{size}", header
        assert got["ContentLength"] == end - start
        head = mount.admin.head_object(Bucket=mount.bucket, Key="r.bin", Range=header)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert head["ContentLength"] == end - start and head["ContentRange"] == got["ContentRange"]


def test_ranges_s3_ignores_are_answered_whole(mount: Mount) -> None:
    _put(mount, "r.bin")
    for header in ("bytes=0-1,5-6", "bytes=5-3", "items=0-4", "bytes=a-b", "bytes=-"):
        got = mount.admin.get_object(Bucket=mount.bucket, Key="r.bin", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200, header
        assert got["Body"].read() == DATA and "ContentRange" not in got
    _put(mount, "empty", b"")
    whole = mount.admin.get_object(Bucket=mount.bucket, Key="empty", Range="bytes=0-10")
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200 and whole["Body"].read() == b""


def test_unsatisfiable_ranges(mount: Mount) -> None:
    _put(mount, "r.bin")
    for header in (f"bytes={len(DATA)}-", "bytes=20000-30000", "bytes=-0"):
        with pytest.raises(ClientError) as refused:
            mount.admin.get_object(Bucket=mount.bucket, Key="r.bin", Range=header)
        assert _code(refused) == "InvalidRange", header
        assert _status(refused) == 416
        assert (
            refused.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"]
            == f"bytes */{len(DATA)}"
        )
        with pytest.raises(ClientError) as head:
            mount.admin.head_object(Bucket=mount.bucket, Key="r.bin", Range=header)
        assert _status(head) == 416, header


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _not_modified(mount: Mount, key: str, method: str, headers: dict[str, str]) -> httpx.Response:
    operation = "get_object" if method == "GET" else "head_object"
    return httpx.request(method, _presigned(mount, operation, key), headers=headers)


def test_conditions_and_their_precedence(mount: Mount) -> None:
    etag = _put(mount, "c.bin")
    modified = mount.admin.head_object(Bucket=mount.bucket, Key="c.bin")["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(hours=1)
    ok: list[dict[str, object]] = [
        {"IfMatch": etag},
        {"IfMatch": etag.strip('"')},
        {"IfMatch": "*"},
        {"IfNoneMatch": '"other"'},
        {"IfModifiedSince": before},
        {"IfUnmodifiedSince": after},
        {"IfMatch": etag, "IfUnmodifiedSince": before},  # If-Match true wins over If-Unmodified-Since
    ]
    for conditions in ok:
        assert mount.admin.get_object(Bucket=mount.bucket, Key="c.bin", **conditions)["Body"].read() == DATA
        mount.admin.head_object(Bucket=mount.bucket, Key="c.bin", **conditions)
    failed: list[dict[str, object]] = [
        {"IfMatch": '"other"'},
        {"IfUnmodifiedSince": before},
        {"IfMatch": '"other"', "IfNoneMatch": '"other"'},
    ]
    for conditions in failed:
        with pytest.raises(ClientError) as refused:
            mount.admin.get_object(Bucket=mount.bucket, Key="c.bin", **conditions)
        assert _code(refused) == "PreconditionFailed" and _status(refused) == 412, conditions
        with pytest.raises(ClientError) as refused_head:
            mount.admin.head_object(Bucket=mount.bucket, Key="c.bin", **conditions)
        assert _status(refused_head) == 412, conditions
    not_modified = [
        {"If-None-Match": etag},
        {"If-None-Match": "*"},
        {"If-Modified-Since": _http_date(after)},
        {"If-Modified-Since": _http_date(modified)},
        # If-None-Match false wins over If-Modified-Since true.
        {"If-None-Match": etag, "If-Modified-Since": _http_date(before)},
    ]
    for headers in not_modified:
        for method in ("GET", "HEAD"):
            answer = _not_modified(mount, "c.bin", method, headers)
            assert answer.status_code == 304, (method, headers, answer.text)
            assert answer.content == b"" and answer.headers["etag"] == etag
            assert parsedate_to_datetime(answer.headers["last-modified"]) == modified
    # A date that does not parse is ignored, as HTTP says.
    assert _not_modified(mount, "c.bin", "GET", {"If-Modified-Since": "yesterday"}).status_code == 200
    # A failed condition comes before an unsatisfiable range.
    answer = _not_modified(mount, "c.bin", "GET", {"If-Match": '"other"', "Range": "bytes=99999-"})
    assert answer.status_code == 412 and error_code(answer) == "PreconditionFailed"


def test_part_numbers(mount: Mount) -> None:
    _put(mount, "p.bin")
    got = mount.admin.get_object(Bucket=mount.bucket, Key="p.bin", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["Body"].read() == DATA
    assert got["ContentRange"] == f"bytes 0-{len(DATA) - 1}/{len(DATA)}" and "PartsCount" not in got
    head = mount.admin.head_object(Bucket=mount.bucket, Key="p.bin", PartNumber=1)
    assert head["ContentLength"] == len(DATA) and "PartsCount" not in head
    for call in (mount.admin.get_object, mount.admin.head_object):
        with pytest.raises(ClientError) as beyond:
            call(Bucket=mount.bucket, Key="p.bin", PartNumber=2)
        assert _status(beyond) == 416
    with pytest.raises(ClientError) as beyond_get:
        mount.admin.get_object(Bucket=mount.bucket, Key="p.bin", PartNumber=2)
    assert _code(beyond_get) == "InvalidPartNumber"
    with pytest.raises(ClientError) as both:
        mount.admin.get_object(Bucket=mount.bucket, Key="p.bin", PartNumber=1, Range="bytes=0-1")
    assert _code(both) == "InvalidRequest"
    for number in ("0", "10001", "x"):
        answer = send("GET", mount.url("p.bin", f"partNumber={number}"), mount.key)
        assert answer.status_code == 400 and error_code(answer) == "InvalidArgument", number


def test_part_numbers_of_an_object_stored_in_parts(make_mount: Callable[[str, str], Mount]) -> None:
    mount = make_mount("s3", "objs")  # written in parts by another client, straight to the store
    upload = mount.store.create_multipart_upload(Bucket=mount.store_bucket, Key=mount.store_key("mp.bin"))
    part = mount.store.upload_part(
        Bucket=mount.store_bucket,
        Key=mount.store_key("mp.bin"),
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=DATA,
    )
    mount.store.complete_multipart_upload(
        Bucket=mount.store_bucket,
        Key=mount.store_key("mp.bin"),
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _read(mount, "mp.bin") == DATA  # read whole or by range as ever
    with pytest.raises(ClientError) as parts:
        mount.admin.get_object(Bucket=mount.bucket, Key="mp.bin", PartNumber=1)
    assert _code(parts) == "NotImplemented"
    assert "byte ranges" in parts.value.response["Error"]["Message"]


def test_response_overrides(mount: Mount) -> None:
    _put(mount, "o.bin")
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    got = mount.admin.get_object(
        Bucket=mount.bucket,
        Key="o.bin",
        ResponseContentType="text/plain; charset=utf-8",
        ResponseContentLanguage="fr",
        ResponseExpires=expires,
        ResponseCacheControl="no-cache",
        ResponseContentDisposition='attachment; filename="x.txt"',
        ResponseContentEncoding="identity",
    )
    assert got["Body"].read() == DATA
    assert got["ContentType"] == "text/plain; charset=utf-8" and got["ContentLanguage"] == "fr"
    assert got["Expires"] == expires and got["CacheControl"] == "no-cache"
    assert (
        got["ContentDisposition"] == 'attachment; filename="x.txt"' and got["ContentEncoding"] == "identity"
    )
    head = mount.admin.head_object(Bucket=mount.bucket, Key="o.bin", ResponseContentType="text/csv")
    assert head["ContentType"] == "text/csv"
    answer = send(
        "GET", mount.url("o.bin", "response-content-type=text%2Fplain%0D%0AX-Evil%3A%201"), mount.key
    )
    assert answer.status_code == 400 and error_code(answer) == "InvalidArgument"
    assert "x-evil" not in answer.headers


def test_version_ids(mount: Mount) -> None:
    _put(mount, "v.bin")
    assert mount.admin.get_object(Bucket=mount.bucket, Key="v.bin", VersionId="null")["Body"].read() == DATA
    for call in (mount.admin.get_object, mount.admin.head_object, mount.admin.delete_object):
        with pytest.raises(ClientError) as refused:
            call(Bucket=mount.bucket, Key="v.bin", VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
        assert _status(refused) == 400
    assert _read(mount, "v.bin") == DATA  # the delete of another version removed nothing


def test_a_reader_without_the_read_bit_is_refused_before_the_store_is_asked(
    mount: Mount, s3_for: Callable[..., BaseClient]
) -> None:
    _put(mount, "private/secret.bin")
    _put(mount, "private/open.bin")
    mount.chmod("/", "0711")
    mount.chmod(f"/{mount.bucket}", "0755")
    mount.chmod(f"/{mount.bucket}/private/secret.bin", "0600")
    mount.gateway.add_user("bob")
    bob = s3_for("bob")
    assert bob.get_object(Bucket=mount.bucket, Key="private/open.bin")["Body"].read() == DATA
    for call in (bob.get_object, bob.head_object):
        with pytest.raises(ClientError) as denied:
            call(Bucket=mount.bucket, Key="private/secret.bin")
        assert _status(denied) == 403
