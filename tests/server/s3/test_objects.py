"""The gateway's GetObject, HeadObject and PutObject, on the S3 root mount and on a local mount:
ranges, conditions, part numbers, response overrides, the stored object's headers; checked
bodies (Content-MD5, checksums, aws-chunked forms, bodies cut short), Expect: 100-continue,
conditional creates; every failure leaving the previous object as it was and nothing
half-written (``Mount.assert_clean``)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.conftest import Mount, add_local_mount
from tests.server.s3.endpoint import self_signed
from tests.server.s3.raw import UNSIGNED, Key, RawConnection, error_code, send, signed_headers
from tests.server.s3.signed_chunks import signed_chunks, signed_head, unsigned_chunks
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
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
    raw = httpx.get(_presigned(mount, "get_object", "dir/a.bin"), timeout=30)
    assert HTTP_DATE.fullmatch(raw.headers["last-modified"]), raw.headers["last-modified"]
    assert raw.headers["etag"] == etag and raw.content == DATA


def test_a_get_or_a_head_costs_one_store_request(mount: Mount, caplog: pytest.LogCaptureFixture) -> None:
    _put(mount, "one.bin", ContentType="text/csv", Metadata={"a": "1"})
    reads: list[tuple[str, dict[str, str]]] = [
        ("get_object", {}),
        ("get_object", {"Range": "bytes=5-"}),
        ("get_object", {"IfMatch": "*", "IfModifiedSince": "Sat, 01 Jan 2000 00:00:00 GMT"}),
        ("head_object", {}),
    ]
    for method, extra in reads:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tierstore.storage"):
            answer = getattr(mount.admin, method)(Bucket=mount.bucket, Key="one.bin", **extra)
            if "Body" in answer:
                answer["Body"].read()
        # The storage layer logs each store operation once (LoggingLayer).
        operations = [record.getMessage() for record in caplog.records if record.name == "tierstore.storage"]
        assert len(operations) == 1, operations


def test_a_put_asks_the_store_nothing_after_its_write(mount: Mount, caplog: pytest.LogCaptureFixture) -> None:
    # The ETag answered is the one the store answered the write with: no HEAD follows it. A
    # small body is one PUT from the event loop (Store.put_async); a larger one streams.
    _put(mount, "p.bin")
    big = bytes(range(256)) * (36 * 1024)  # 9 MiB: more than one 8 MiB part on the S3 root
    for body, write in ((DATA, "put"), (big, "open_write")):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tierstore.storage"):
            etag = _put(mount, "p.bin", body)
        operations = [
            record.getMessage().split(" ", 1)[0]
            for record in caplog.records
            if record.name == "tierstore.storage"
        ]
        assert operations[-1:] == [write], operations
        head = mount.admin.head_object(Bucket=mount.bucket, Key="p.bin")
        assert head["ETag"] == etag and head["ContentLength"] == len(body)
        assert etag == f'"{hashlib.md5(body).hexdigest()}"' or len(body) > len(DATA)
        assert _read(mount, "p.bin") == body


def test_a_put_answers_the_etag_a_head_will_on_a_file_system_without_extended_attributes(
    gateway: RunningServer, s3_for: Callable[[str], S3Client], gateway_admin: str, no_xattrs: Path
) -> None:
    # There the local store's ETags are synthetic: the write's own MD5 is not what HEAD says.
    add_local_mount(gateway, "/ram", no_xattrs / "mount")
    admin = s3_for(gateway_admin)
    etag = admin.put_object(Bucket="ram", Key="a.bin", Body=DATA)["ETag"]
    assert etag != f'"{hashlib.md5(DATA).hexdigest()}"'
    assert admin.head_object(Bucket="ram", Key="a.bin")["ETag"] == etag


def test_reads_whole_and_ranged_around_the_read_chunk(mount: Mount) -> None:
    # The first chunk is read with the open (and the end with it when it was all): every size
    # around the stores' 1 MiB read chunk comes back whole, in ranges and empty.
    for size in (0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB + 5):
        body = bytes(index % 251 for index in range(size))
        _put(mount, "sized.bin", body)
        assert _read(mount, "sized.bin") == body, size
        ranges = [("bytes=-3", body[-3:]), ("bytes=0-0", body[:1])] if size else []
        if size > 1:
            ranges.append(("bytes=1-", body[1:]))
        for header, expected in ranges:
            got = mount.admin.get_object(Bucket=mount.bucket, Key="sized.bin", Range=header)
            assert got["Body"].read() == expected, (size, header)


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
    whole = mount.admin.get_object(Bucket=mount.bucket, Key="empty", Range="bytes=0-1,5-6")
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
    # An empty object has no byte to start any range at (ceph/s3-tests'
    # test_ranged_request_empty_object).
    _put(mount, "empty", b"")
    for header in ("bytes=40-50", "bytes=0-", "bytes=-5"):
        for read in (mount.admin.get_object, mount.admin.head_object):
            with pytest.raises(ClientError) as empty:
                read(Bucket=mount.bucket, Key="empty", Range=header)
            assert _status(empty) == 416, header
        with pytest.raises(ClientError) as empty:
            mount.admin.get_object(Bucket=mount.bucket, Key="empty", Range=header)
        assert _code(empty) == "InvalidRange"
        assert empty.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */0"


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _not_modified(mount: Mount, key: str, method: str, headers: dict[str, str]) -> httpx.Response:
    operation = "get_object" if method == "GET" else "head_object"
    return httpx.request(method, _presigned(mount, operation, key), headers=headers, timeout=30)


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
    got = mount.admin.get_object(Bucket=mount.bucket, Key="mp.bin", PartNumber=1)
    assert got["Body"].read() == DATA and got["PartsCount"] == 1
    assert got["ContentRange"] == f"bytes 0-{len(DATA) - 1}/{len(DATA)}"
    with pytest.raises(ClientError) as beyond:
        mount.admin.get_object(Bucket=mount.bucket, Key="mp.bin", PartNumber=2)
    assert _code(beyond) == "InvalidPartNumber"


KEPT = {
    "CacheControl": "max-age=60",
    "ContentDisposition": 'attachment; filename="report.txt"',
    "ContentEncoding": "gzip",
    "ContentLanguage": "fr",
}


def _kept(answer: Mapping[str, object]) -> dict[str, object]:
    return {name: answer.get(name) for name in KEPT}


def test_the_standard_headers_an_object_keeps(mount: Mount) -> None:
    s3, bucket = mount.admin, mount.bucket
    body = gzip.compress(DATA)
    s3.put_object(Bucket=bucket, Key="h.gz", Body=body, **KEPT)  # type: ignore[arg-type]
    got = s3.get_object(Bucket=bucket, Key="h.gz")
    assert got["Body"].read() == body  # the bytes as stored, never decoded on the way
    assert _kept(got) == KEPT
    assert _kept(s3.head_object(Bucket=bucket, Key="h.gz")) == KEPT
    # A response-* override wins over what is kept; the rest stays.
    overridden = s3.get_object(Bucket=bucket, Key="h.gz", ResponseCacheControl="no-store")
    assert _kept(overridden) == {**KEPT, "CacheControl": "no-store"}
    # CopyObject keeps them (COPY) or takes the request's (REPLACE); a plain PUT has none.
    s3.copy_object(Bucket=bucket, Key="copy.gz", CopySource={"Bucket": bucket, "Key": "h.gz"})
    assert _kept(s3.head_object(Bucket=bucket, Key="copy.gz")) == KEPT
    s3.copy_object(
        Bucket=bucket,
        Key="replaced.gz",
        CopySource={"Bucket": bucket, "Key": "h.gz"},
        MetadataDirective="REPLACE",
        ContentLanguage="de",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced.gz")
    assert _kept(replaced) == {name: "de" if name == "ContentLanguage" else None for name in KEPT}
    _put(mount, "plain.bin")
    assert _kept(s3.head_object(Bucket=bucket, Key="plain.bin")) == dict.fromkeys(KEPT)
    # A multipart upload keeps those its Create was given.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.gz", **KEPT)["UploadId"]  # type: ignore[arg-type]
    part = s3.upload_part(Bucket=bucket, Key="parts.gz", UploadId=upload, PartNumber=1, Body=body)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="parts.gz",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _kept(s3.head_object(Bucket=bucket, Key="parts.gz")) == KEPT
    # A value that is not printable ASCII is refused, naming the header; nothing is written.
    answer = send(
        "PUT", mount.url("bad.gz"), mount.key, headers={"Cache-Control": "max-age=\u00e9"}, body=b"x"
    )
    assert answer.status_code == 400 and error_code(answer) == "InvalidArgument"
    assert "Cache-Control" in answer.text
    mount.assert_clean()


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
    mount: Mount, s3_for: Callable[[str], S3Client]
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


# -- PutObject ---------------------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# CRC-64/NVME of b"123456789": the CRC catalogue's (RevEng) check value.
CRC64NVME_CHECK = base64.b64encode(bytes.fromhex("ae8b14860a799888")).decode()


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_content_md5_is_checked_and_a_bad_body_leaves_the_previous_object(mount: Mount) -> None:
    _put(mount, "m.bin")
    _put(mount, "m.bin", b"new", ContentMD5=_md5(b"new"))
    assert _read(mount, "m.bin") == b"new"
    large = DATA * 2048  # 20 MiB: the S3 store writes it in parts, which a failure must abort
    for body in (b"changed", large):
        with pytest.raises(ClientError) as bad:
            _put(mount, "m.bin", body, ContentMD5=_md5(b"something else"))
        assert _code(bad) == "BadDigest"
        assert _read(mount, "m.bin") == b"new"
        mount.assert_clean()
    with pytest.raises(ClientError) as new_key:
        _put(mount, "never.bin", large, ContentMD5=_md5(b"x"))
    assert _code(new_key) == "BadDigest"
    with pytest.raises(ClientError) as absent:
        mount.admin.head_object(Bucket=mount.bucket, Key="never.bin")
    assert _status(absent) == 404
    answer = send(
        "PUT", mount.url("m.bin"), mount.key, headers={"Content-MD5": "not-an-md5"}, body=b"changed"
    )
    assert answer.status_code == 400 and error_code(answer) == "InvalidDigest"
    assert _read(mount, "m.bin") == b"new"
    mount.assert_clean()


def test_checksum_headers_are_checked(mount: Mount) -> None:
    _put(mount, "k.bin")
    _put(mount, "k.bin", b"new", ChecksumCRC32=_crc32(b"new"))
    with pytest.raises(ClientError) as bad:
        _put(mount, "k.bin", b"changed", ChecksumCRC32=_crc32(b"other"))
    assert _code(bad) == "BadDigest"
    bad_sha = send(
        "PUT",
        mount.url("k.bin"),
        mount.key,
        headers={"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"x").digest()).decode()},
        body=b"changed",
    )
    assert bad_sha.status_code == 400 and error_code(bad_sha) == "BadDigest"
    assert _read(mount, "k.bin") == b"new"
    # CRC64NVME, the newer AWS SDKs' default (pyarrow's C++ SDK sends it on every PUT): checked too.
    _put(mount, "k.bin", b"123456789", ChecksumCRC64NVME=CRC64NVME_CHECK)
    with pytest.raises(ClientError) as bad_crc64:
        _put(mount, "k.bin", b"changed", ChecksumCRC64NVME=CRC64NVME_CHECK)
    assert _code(bad_crc64) == "BadDigest"
    assert _read(mount, "k.bin") == b"123456789"
    mount.assert_clean()


def test_content_type_and_metadata_are_kept(mount: Mount) -> None:
    _put(mount, "m.csv", ContentType="text/csv; charset=utf-8", Metadata={"Color": "blue", "n": "1"})
    for answer in (
        mount.admin.get_object(Bucket=mount.bucket, Key="m.csv"),
        mount.admin.head_object(Bucket=mount.bucket, Key="m.csv"),
        mount.admin.get_object(Bucket=mount.bucket, Key="m.csv", Range="bytes=0-9"),
    ):
        assert answer["ContentType"] == "text/csv; charset=utf-8"
        assert answer["Metadata"] == {"color": "blue", "n": "1"}
    raw = httpx.get(_presigned(mount, "get_object", "m.csv"), timeout=30)
    assert (
        raw.headers["x-amz-meta-color"] == "blue" and raw.headers["content-type"] == "text/csv; charset=utf-8"
    )
    overridden = mount.admin.get_object(Bucket=mount.bucket, Key="m.csv", ResponseContentType="text/plain")
    assert overridden["ContentType"] == "text/plain" and overridden["Metadata"] == {"color": "blue", "n": "1"}
    # A name given twice is one field, its values joined (as HTTP joins repeated headers).
    twice = send("PUT", mount.url("twice.bin"), mount.key, headers={"x-amz-meta-a": "1"}, body=b"x")
    assert twice.status_code == 200
    _put(mount, "m.csv", b"plain")  # written again without them: gone
    head = mount.admin.head_object(Bucket=mount.bucket, Key="m.csv")
    assert head["ContentType"] == "binary/octet-stream" and head["Metadata"] == {}


def test_metadata_that_s3_refuses(mount: Mount) -> None:
    _put(mount, "meta.bin")
    with pytest.raises(ClientError) as large:
        _put(mount, "meta.bin", b"changed", Metadata={"big": "x" * 2100})
    assert _code(large) == "MetadataTooLarge"
    answer = send("PUT", mount.url("meta.bin"), mount.key, headers={"x-amz-meta-name": "caf\xe9"}, body=b"x")
    assert answer.status_code == 400 and error_code(answer) == "InvalidArgument"
    assert "x-amz-meta-name" in answer.text
    assert _read(mount, "meta.bin") == DATA
    mount.assert_clean()


def test_put_into_a_missing_bucket(mount: Mount) -> None:
    with pytest.raises(ClientError) as missing:
        mount.admin.put_object(Bucket="nosuchbucket", Key="a", Body=b"x")
    assert _code(missing) == "NoSuchBucket"
    answer = send("PUT", mount.url("a").replace(f"/{mount.bucket}/", "/nosuchbucket/"), mount.key, body=b"x")
    assert answer.status_code == 404 and error_code(answer) == "NoSuchBucket"


def test_a_body_without_a_length_is_refused(mount: Mount) -> None:
    url = mount.url("nolength.bin")
    headers = signed_headers("PUT", url, mount.key, payload="UNSIGNED-PAYLOAD")

    def body() -> Iterator[bytes]:
        yield b"some data"

    with httpx.Client() as client:
        answer = client.put(url, headers=headers, content=body())
    assert answer.status_code == 411 and error_code(answer) == "MissingContentLength"


def test_conditional_create(mount: Mount) -> None:
    _put(mount, "once.bin", b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exists:
        _put(mount, "once.bin", b"second", IfNoneMatch="*")
    assert _code(exists) == "PreconditionFailed" and _status(exists) == 412
    assert _read(mount, "once.bin") == b"first"
    mount.admin.put_object(Bucket=mount.bucket, Key="folder/", Body=b"", IfNoneMatch="*")
    with pytest.raises(ClientError) as folder:
        mount.admin.put_object(Bucket=mount.bucket, Key="folder/", Body=b"", IfNoneMatch="*")
    assert _code(folder) == "PreconditionFailed"
    answer = send("PUT", mount.url("once.bin"), mount.key, headers={"If-None-Match": '"abc"'}, body=b"third")
    assert answer.status_code == 501 and error_code(answer) == "NotImplemented"
    assert _read(mount, "once.bin") == b"first"
    mount.assert_clean()


def _put_if_match(mount: Mount, key: str, condition: str, body: bytes) -> httpx.Response:
    return send("PUT", mount.url(key), mount.key, headers={"If-Match": condition}, body=body)


def test_conditional_replace(mount: Mount) -> None:
    """``If-Match`` on a PUT (S3's conditional writes; ceph/s3-tests' test_put_object_ifmatch_*):
    the object is replaced only when it has one of the ETags given, or with ``*`` when it exists."""
    etag = _put(mount, "same.bin", b"first")
    answer = _put_if_match(mount, "same.bin", etag, b"second")
    assert answer.status_code == 200, answer.text
    answer = _put_if_match(mount, "same.bin", answer.headers["ETag"].strip('"'), b"third")
    assert answer.status_code == 200, answer.text
    assert _put_if_match(mount, "same.bin", "*", b"fourth").status_code == 200
    # An ETag it no longer has, or no object at all: 412, nothing written, nothing left over.
    for key, condition in (
        ("same.bin", etag),
        ("same.bin", '"ABCORZ"'),
        ("none.bin", "*"),
        ("none.bin", etag),
    ):
        answer = _put_if_match(mount, key, condition, b"never")
        assert answer.status_code == 412 and error_code(answer) == "PreconditionFailed", (key, condition)
        assert "<Condition>If-Match</Condition>" in answer.text
    assert _read(mount, "same.bin") == b"fourth"
    with pytest.raises(ClientError) as missing:
        mount.admin.head_object(Bucket=mount.bucket, Key="none.bin")
    assert _status(missing) == 404
    mount.admin.put_object(Bucket=mount.bucket, Key="dir/", Body=b"")
    assert _put_if_match(mount, "dir/", "*", b"").status_code == 200
    assert _put_if_match(mount, "nodir/", "*", b"").status_code == 412
    mount.assert_clean()


RACERS = 8


def _race(puts: Callable[[int], httpx.Response]) -> list[int]:
    """``puts(number)`` by RACERS threads at once; the numbers whose PUT answered 200 (every other
    answer must be S3's PreconditionFailed)."""
    start = threading.Barrier(RACERS)

    def one(number: int) -> int | None:
        start.wait()
        answer = puts(number)
        if answer.status_code == 200:
            return number
        assert answer.status_code == 412 and error_code(answer) == "PreconditionFailed", answer.text
        return None

    with ThreadPoolExecutor(RACERS) as pool:
        return [number for number in pool.map(one, range(RACERS)) if number is not None]


def test_of_conditional_writers_racing_for_one_key_exactly_one_wins(mount: Mount) -> None:
    """A table format's commit: writers race to create the next log entry (``If-None-Match: *``)
    or to replace the version they read (``If-Match``). The store judges the condition with the
    write (an S3 mount: SeaweedFS's conditional PutObject; a local one: a hard link, or the
    directory locked), so exactly one wins, whatever the timing."""
    created = _race(
        lambda number: send(
            "PUT",
            mount.url("log/00001.json"),
            mount.key,
            headers={"If-None-Match": "*"},
            body=f"entry by {number}".encode(),
        )
    )
    assert len(created) == 1
    assert _read(mount, "log/00001.json") == f"entry by {created[0]}".encode()

    base = _put(mount, "table/current", b"v0")
    replaced = _race(lambda number: _put_if_match(mount, "table/current", base, f"v1 by {number}".encode()))
    assert len(replaced) == 1
    assert _read(mount, "table/current") == f"v1 by {replaced[0]}".encode()
    mount.assert_clean()


@dataclass
class _Continued:
    asked_for_body: bool
    status: int
    headers: dict[str, str]


def _continue_put(url: str, key: Key, body: bytes, headers: dict[str, str] | None = None) -> _Continued:
    """A PUT sent with ``Expect: 100-continue``, its body sent only once the server says so."""
    signed = signed_headers(
        "PUT",
        url,
        key,
        headers={"Content-Length": str(len(body)), "Expect": "100-continue", **(headers or {})},
        payload=UNSIGNED,
    )
    connection = RawConnection(url)
    try:
        connection.send_head("PUT", urlsplit(url).path, signed)
        status, fields = connection.read_head()
        if status != 100:
            return _Continued(False, status, fields)
        connection.sock.sendall(body)
        status, fields = connection.read_head()
        return _Continued(True, status, fields)
    finally:
        connection.close()


def test_expect_100_continue(mount: Mount, s3_key_for: Callable[[str], Key]) -> None:
    done = _continue_put(mount.url("e.bin"), mount.key, DATA)
    assert done.asked_for_body and done.status == 200 and _read(mount, "e.bin") == DATA
    _put(mount, "e2.bin", IfNoneMatch="*")
    mount.chmod("/", "0711")
    mount.chmod(f"/{mount.bucket}", "0755")
    mount.gateway.add_user("bob")
    # Refused before the body is asked for: the client never sends it, the connection closes.
    missing_bucket = mount.url("e.bin").replace(f"/{mount.bucket}/", "/nosuchbucket/")
    for url, key, headers, status in (
        (missing_bucket, mount.key, {}, 404),
        (mount.url("e.bin"), s3_key_for("bob"), {}, 403),
        (mount.url("e2.bin"), mount.key, {"If-None-Match": "*"}, 412),
    ):
        refused = _continue_put(url, key, b"changed", headers)
        assert not refused.asked_for_body and refused.status == status, (url, refused)
        assert refused.headers.get("connection") == "close"
    assert _read(mount, "e.bin") == DATA and _read(mount, "e2.bin") == DATA
    mount.assert_clean()


def test_a_body_cut_short_writes_nothing(mount: Mount) -> None:
    _put(mount, "short.bin")
    for declared, sent in ((len(DATA), 100), (20 * 1024 * 1024, 10 * 1024 * 1024)):
        url = mount.url("short.bin")
        headers = signed_headers(
            "PUT", url, mount.key, headers={"Content-Length": str(declared)}, payload=UNSIGNED
        )
        connection = RawConnection(url)
        connection.send_head("PUT", urlsplit(url).path, headers)
        connection.sock.sendall(b"x" * sent)
        connection.sock.shutdown(socket.SHUT_WR)
        while connection.recv(65536):  # until the server has given up on it and closed
            pass
        connection.close()
        assert _read(mount, "short.bin") == DATA
        mount.assert_clean()


def test_a_body_longer_than_declared(mount: Mount) -> None:
    """HTTP frames a body by its Content-Length: what follows is the connection's next request
    (here not one: the server answers 400 and closes), never part of the object; with the whole
    body's MD5, the bytes taken do not match it and nothing is written. (aws-chunked bodies that
    hold more than they declare: test_aws_chunked_bodies.)"""
    _put(mount, "long.bin")
    url = mount.url("long.bin")
    headers = signed_headers(
        "PUT",
        url,
        mount.key,
        headers={"Content-Length": "5", "Content-MD5": _md5(b"helloEXTRA")},
        payload=UNSIGNED,
    )
    connection = RawConnection(url)
    connection.send_head("PUT", urlsplit(url).path, headers)
    connection.sock.sendall(b"helloEXTRA")
    status, _ = connection.read_head()
    while connection.recv(65536):
        pass
    connection.close()
    assert status == 400
    assert _read(mount, "long.bin") == DATA
    mount.assert_clean()


def _chunked_put(  # noqa: PLR0917
    mount: Mount, key: str, content_sha256: str, body: bytes, decoded_length: int, trailer: str | None = None
) -> httpx.Response:
    url = mount.url(key)
    headers, _ = signed_head(
        url,
        mount.key.access_key_id,
        mount.key.secret.reveal(),
        content_sha256=content_sha256,
        decoded_length=decoded_length,
        trailer=trailer,
    )
    with httpx.Client(timeout=60) as client:
        return client.put(url, headers=headers, content=body)


def test_aws_chunked_bodies(mount: Mount) -> None:
    pieces = [DATA[:8192], DATA[8192:]]
    trailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    good = _chunked_put(
        mount,
        "t.bin",
        trailer,
        unsigned_chunks(pieces, [("x-amz-checksum-crc32", _crc32(DATA))]),
        len(DATA),
        trailer="x-amz-checksum-crc32",
    )
    assert good.status_code == 200, good.text
    assert _read(mount, "t.bin") == DATA
    # aws-chunked is the request's framing, not the object's encoding: not kept (as S3 drops it).
    assert "ContentEncoding" not in mount.admin.head_object(Bucket=mount.bucket, Key="t.bin")
    failures = {
        "BadDigest": (unsigned_chunks(pieces, [("x-amz-checksum-crc32", _crc32(b"other"))]), len(DATA)),
        "IncompleteBody": (
            unsigned_chunks(pieces[:1], [("x-amz-checksum-crc32", _crc32(DATA[:8192]))]),
            len(DATA),
        ),
        "InvalidArgument": (unsigned_chunks(pieces, [("x-amz-checksum-crc32", _crc32(DATA))]), 8192),
        "MalformedTrailerError": (unsigned_chunks(pieces, [("x-amz-checksum-sha1", "AAAA")]), len(DATA)),
    }
    for code, (body, length) in failures.items():
        answer = _chunked_put(mount, "t.bin", trailer, body, length, trailer="x-amz-checksum-crc32")
        assert answer.status_code in (400, 403) and error_code(answer) == code, (code, answer.text)
        assert _read(mount, "t.bin") == DATA, code
    signed = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    url = mount.url("s.bin")
    headers, seed = signed_head(
        url,
        mount.key.access_key_id,
        mount.key.secret.reveal(),
        content_sha256=signed,
        decoded_length=len(DATA),
    )
    with httpx.Client(timeout=60) as client:
        answer = client.put(url, headers=headers, content=signed_chunks(seed, pieces))
    assert answer.status_code == 200, answer.text
    assert _read(mount, "s.bin") == DATA
    mount.assert_clean()


@pytest.fixture
def tls_gateway(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    """The gateway over HTTPS: botocore sends its aws-chunked bodies with checksum trailers only
    over HTTPS."""
    certificate, key = self_signed(tmp_path)
    config = write_server_config(
        tmp_path / "server.yaml",
        stack,
        bucket,
        extra={"tierstore.server.tls.cert": certificate, "tierstore.server.tls.key": key},
    )
    server = start_api_server(config)
    yield server
    server.stop()


def test_botocore_sends_a_crc32_trailer_over_https(tls_gateway: RunningServer, tmp_path: Path) -> None:
    whoami = httpx.get(
        f"{tls_gateway.url}/v1/whoami", headers=tls_gateway.auth(), verify=False, timeout=30
    ).json()
    key_id, secret = tls_gateway.add_s3_key(str(whoami["user"]))
    client = boto3.client(
        "s3",
        endpoint_url=tls_gateway.s3_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret.reveal(),
        region_name="us-east-1",
        verify=str(tmp_path / "endpoint.crt"),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation="when_supported",
        ),
    )
    sent: list[dict[str, str]] = []

    def seen(request: AWSPreparedRequest, **_: object) -> None:
        sent.append(
            {
                name: value.decode() if isinstance(value, bytes) else value
                for name, value in request.headers.items()
            }
        )

    client.meta.events.register("before-send.s3.PutObject", seen)
    client.create_bucket(Bucket="tls")
    body = DATA * 200  # 2 MB, in several chunks
    client.put_object(Bucket="tls", Key="t.bin", Body=body)
    assert sent[-1]["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent[-1]["X-Amz-Trailer"] == "x-amz-checksum-crc32"
    assert client.get_object(Bucket="tls", Key="t.bin")["Body"].read() == body


def test_a_key_in_the_way_of_another_is_named(mount: Mount) -> None:
    """The namespace is a directory tree: ``d`` cannot be written beside ``d/e``, and on a local
    mount ``a/b`` not beside the file ``a`` (the S3 root mount keeps both). S3 has no error for
    it (ceph/s3-tests' listings of ``foo/bar`` beside ``foo/bar/xyzzy`` meet it): InvalidRequest
    naming the keys, never the store's own path."""
    _put(mount, "a", b"file")
    _put(mount, "d/e", b"below")
    for key in ("a/b", "d"):
        if mount.kind == "s3" and key == "a/b":
            _put(mount, key, b"both")
            continue
        with pytest.raises(ClientError) as refused:
            _put(mount, key, b"never")
        assert _code(refused) == "InvalidRequest" and _status(refused) == 400
        message = refused.value.response["Error"]["Message"]
        assert repr(key) in message and "file://" not in message, message
        source = {"Bucket": mount.bucket, "Key": "a" if key == "d" else "d/e"}
        with pytest.raises(ClientError) as copied:
            mount.admin.copy_object(Bucket=mount.bucket, Key=key, CopySource=source)
        assert _code(copied) == "InvalidRequest" and repr(key) in copied.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as folder:
        mount.admin.put_object(Bucket=mount.bucket, Key="a/", Body=b"")
    assert _code(folder) == "InvalidRequest" and "'a/'" in folder.value.response["Error"]["Message"]
    assert _read(mount, "a") == (b"file")
    mount.assert_clean()
