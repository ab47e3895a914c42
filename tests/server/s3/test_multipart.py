"""The S3 gateway's multipart uploads, driven by boto3 (and the AWS CLI) over a bucket of the root
mount (SeaweedFS) and a bucket that is a local mount: parts, completions and their refusals,
listings, copies across mount kinds, permissions, and s3transfer's and the CLI's uploads.

Parts are S3's smallest, 5 MiB: every part but the last must hold that much on both kinds."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server.harness import RunningServer
from tests.tools import run_aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedMultipartUploadTypeDef

MIB = 1024 * 1024
PART = 5 * MIB
ROOT_BUCKET = "rootb"
LOCAL_BUCKET = "localb"


@dataclass(frozen=True)
class Buckets:
    """A bucket of the root mount (a prefix of the SeaweedFS bucket) and one that is a local mount."""

    store_bucket: str  # the SeaweedFS bucket under the root mount
    store: S3Client  # SeaweedFS itself
    local_root: Path
    admin: S3Client  # the gateway's admin

    def name(self, kind: str) -> str:
        return ROOT_BUCKET if kind == "s3" else LOCAL_BUCKET


@pytest.fixture
def buckets(
    *,
    gateway: RunningServer,
    gateway_admin: str,
    s3_for: Callable[[str], S3Client],
    bucket: str,
    admin_s3: S3Client,
    tmp_path: Path,
) -> Buckets:
    admin = s3_for(gateway_admin)
    admin.create_bucket(Bucket=ROOT_BUCKET)
    local = tmp_path / "local-mount"
    local.mkdir()
    added = httpx.post(
        f"{gateway.url}/v1/mounts",
        json={"path": f"/{LOCAL_BUCKET}", "uri": local.as_uri()},
        headers=gateway.auth(),
        timeout=30,
    )
    assert added.status_code == 201, added.text
    return Buckets(bucket, admin_s3, local, admin)


KINDS = pytest.mark.parametrize("kind", ["s3", "local"])


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(part, usedforsecurity=False).digest() for part in parts)
    return f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"'


def _body(client: S3Client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _put_part(client: S3Client, where: tuple[str, str, str], number: int, data: bytes) -> str:
    """Part ``number`` of the upload ``where`` (bucket, key, upload id); its ETag."""
    bucket, key, upload_id = where
    answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
    return answer["ETag"]


@KINDS
def test_three_parts_out_of_order_one_sent_again(buckets: Buckets, kind: str) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    first, second, tail = secrets.token_bytes(PART), secrets.token_bytes(PART), secrets.token_bytes(1000)
    created = s3.create_multipart_upload(
        Bucket=name, Key="dir/big.bin", ContentType="application/x-test", Metadata={"colour": "blue"}
    )
    assert created["Bucket"] == name and created["Key"] == "dir/big.bin"
    upload = created["UploadId"]
    etags = {3: _put_part(s3, (name, "dir/big.bin", upload), 3, tail)}
    stale = _put_part(s3, (name, "dir/big.bin", upload), 1, secrets.token_bytes(PART))
    etags[2] = _put_part(s3, (name, "dir/big.bin", upload), 2, second)
    # SeaweedFS keeps a part sent again beside the first and dates both to the second: ListParts
    # can only tell the later one when they were sent in different seconds.
    time.sleep(1.1)
    etags[1] = _put_part(s3, (name, "dir/big.bin", upload), 1, first)  # sent again: replaces the first
    assert stale != etags[1]
    assert etags[2] == f'"{hashlib.md5(second, usedforsecurity=False).hexdigest()}"'
    parts = s3.list_parts(Bucket=name, Key="dir/big.bin", UploadId=upload)["Parts"]
    assert [(part["PartNumber"], part["ETag"], part["Size"]) for part in parts] == [
        (1, etags[1], PART),
        (2, etags[2], PART),
        (3, etags[3], 1000),
    ]
    done = s3.complete_multipart_upload(
        Bucket=name,
        Key="dir/big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    assert done["ETag"] == _multipart_etag(first, second, tail)
    assert done["Key"] == "dir/big.bin" and done["Bucket"] == name
    assert _body(s3, name, "dir/big.bin") == first + second + tail
    assert s3.head_object(Bucket=name, Key="dir/big.bin")["ContentLength"] == 2 * PART + 1000
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    # Completed again (ceph/s3-tests' test_multipart_upload_small): answered as the first time
    # while the key holds what those parts made; other parts, or another object, NoSuchUpload.
    listed = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]
    again = s3.complete_multipart_upload(
        Bucket=name, Key="dir/big.bin", UploadId=upload, MultipartUpload={"Parts": listed}
    )
    assert again["ETag"] == done["ETag"]
    if kind == "local":  # (SeaweedFS keeps a completed upload's parts: it completes it again itself)
        with pytest.raises(ClientError) as other_parts:
            s3.complete_multipart_upload(
                Bucket=name, Key="dir/big.bin", UploadId=upload, MultipartUpload={"Parts": listed[:2]}
            )
        assert _code(other_parts) == "NoSuchUpload"
    if kind == "s3":  # an S3 mount keeps the type and metadata given at the start
        stored = buckets.store.head_object(Bucket=buckets.store_bucket, Key=f"root/{ROOT_BUCKET}/dir/big.bin")
        assert stored["ContentType"] == "application/x-test"
        assert stored["Metadata"] == {"colour": "blue"}
        assert stored["ETag"] == done["ETag"]
    if kind == "local":
        s3.put_object(Bucket=name, Key="dir/big.bin", Body=b"replaced")
        with pytest.raises(ClientError) as replaced:
            s3.complete_multipart_upload(
                Bucket=name, Key="dir/big.bin", UploadId=upload, MultipartUpload={"Parts": listed}
            )
        assert _code(replaced) == "NoSuchUpload"


@KINDS
def test_list_parts_pages_and_an_aborted_upload_is_gone(
    buckets: Buckets, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tierstore.audit")
    s3, name = buckets.admin, buckets.name(kind)
    upload = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    etags = [_put_part(s3, (name, "k", upload), number, bytes([number]) * 100) for number in (1, 2, 3)]
    first = s3.list_parts(Bucket=name, Key="k", UploadId=upload, MaxParts=2)
    assert [part["PartNumber"] for part in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] and first["NextPartNumberMarker"] == 2 and first["MaxParts"] == 2
    rest = s3.list_parts(Bucket=name, Key="k", UploadId=upload, PartNumberMarker=2, MaxParts=2)
    assert [(part["PartNumber"], part["ETag"]) for part in rest["Parts"]] == [(3, etags[2])]
    assert not rest["IsTruncated"] and rest["PartNumberMarker"] == 2
    paged = s3.get_paginator("list_parts").paginate(
        Bucket=name, Key="k", UploadId=upload, PaginationConfig={"PageSize": 1}
    )
    assert [part["PartNumber"] for page in paged for part in page.get("Parts", [])] == [1, 2, 3]
    s3.abort_multipart_upload(Bucket=name, Key="k", UploadId=upload)
    for attempt in (
        lambda: s3.upload_part(Bucket=name, Key="k", UploadId=upload, PartNumber=4, Body=b"x"),
        lambda: s3.list_parts(Bucket=name, Key="k", UploadId=upload),
        lambda: s3.complete_multipart_upload(
            Bucket=name,
            Key="k",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[0]}]},
        ),
    ):
        with pytest.raises(ClientError) as gone:
            attempt()
        assert _code(gone) == "NoSuchUpload", gone.value.response
    with pytest.raises(ClientError) as bad_number:
        s3.upload_part(Bucket=name, Key="k", UploadId=upload, PartNumber=10001, Body=b"x")
    assert _code(bad_number) == "InvalidArgument"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="k")
    # One audit line per request that changes something, listings none.
    audited = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tierstore.audit"]
    assert [(line["operation"], line["outcome"]) for line in audited if line["event"] == "s3"] == [
        ("CreateMultipartUpload", "ok"),
        *[("UploadPart", "ok")] * 3,
        ("AbortMultipartUpload", "ok"),
        ("UploadPart", "NoSuchUpload"),
        ("CompleteMultipartUpload", "NoSuchUpload"),
        ("UploadPart", "InvalidArgument"),
    ]
    assert {(line["bucket"], line["object"]) for line in audited} == {(name, "k")}


@KINDS
def test_list_multipart_uploads_by_prefix_delimiter_and_page(buckets: Buckets, kind: str) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    other = buckets.name("local" if kind == "s3" else "s3")
    s3.create_bucket(Bucket="otherb")
    ids = {
        key: s3.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
        for key in ("a/one", "a/two", "b/x", "c")
    }
    elsewhere = [
        (bucket, s3.create_multipart_upload(Bucket=bucket, Key="a/one")["UploadId"])
        for bucket in (other, "otherb")
    ]
    # A second upload of one key, listed after the first: SeaweedFS dates uploads to the second.
    time.sleep(1.1)
    again = s3.create_multipart_upload(Bucket=name, Key="a/one")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=name)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
        ("a/one", ids["a/one"]),
        ("a/one", again),
        ("a/two", ids["a/two"]),
        ("b/x", ids["b/x"]),
        ("c", ids["c"]),
    ]
    assert not listed["IsTruncated"]
    under_a = s3.list_multipart_uploads(Bucket=name, Prefix="a/")
    assert [u["Key"] for u in under_a["Uploads"]] == ["a/one", "a/one", "a/two"]
    assert under_a["Prefix"] == "a/"
    grouped = s3.list_multipart_uploads(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "b/"]
    assert [u["Key"] for u in grouped["Uploads"]] == ["c"]
    first = s3.list_multipart_uploads(Bucket=name, MaxUploads=2)
    assert first["IsTruncated"] and [u["UploadId"] for u in first["Uploads"]] == [ids["a/one"], again]
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == ("a/one", again)
    second = s3.list_multipart_uploads(
        Bucket=name,
        MaxUploads=2,
        KeyMarker=first["NextKeyMarker"],
        UploadIdMarker=first["NextUploadIdMarker"],
    )
    assert [u["Key"] for u in second["Uploads"]] == ["a/two", "b/x"]
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=name, PaginationConfig={"PageSize": 1})
    assert [u["Key"] for page in pages for u in page.get("Uploads", [])] == [
        "a/one",
        "a/one",
        "a/two",
        "b/x",
        "c",
    ]
    for key, upload in [*ids.items(), ("a/one", again)]:
        s3.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload)
    for bucket, upload in elsewhere:
        s3.abort_multipart_upload(Bucket=bucket, Key="a/one", UploadId=upload)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_uploads_of_a_mount_inside_a_bucket_are_listed_with_it(
    gateway: RunningServer, buckets: Buckets, tmp_path: Path
) -> None:
    (tmp_path / "inner").mkdir()
    added = httpx.post(
        f"{gateway.url}/v1/mounts",
        json={"path": f"/{ROOT_BUCKET}/inner", "uri": (tmp_path / "inner").as_uri()},
        headers=gateway.auth(),
        timeout=30,
    )
    assert added.status_code == 201, added.text
    s3 = buckets.admin
    inner = s3.create_multipart_upload(Bucket=ROOT_BUCKET, Key="inner/x")["UploadId"]
    outer = s3.create_multipart_upload(Bucket=ROOT_BUCKET, Key="a")["UploadId"]
    assert [p.name for p in (tmp_path / "inner" / ".tierstore-uploads").iterdir()] == [inner]
    listed = s3.list_multipart_uploads(Bucket=ROOT_BUCKET)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("a", outer), ("inner/x", inner)]
    for prefix, keys in (("inner/", ["inner/x"]), ("in", ["inner/x"]), ("a", ["a"]), ("inner/y", [])):
        found = s3.list_multipart_uploads(Bucket=ROOT_BUCKET, Prefix=prefix).get("Uploads", [])
        assert [u["Key"] for u in found] == keys, prefix
    s3.abort_multipart_upload(Bucket=ROOT_BUCKET, Key="inner/x", UploadId=inner)
    s3.abort_multipart_upload(Bucket=ROOT_BUCKET, Key="a", UploadId=outer)


@KINDS
def test_refused_completions_leave_the_object_and_the_upload(
    gateway: RunningServer, gateway_admin: str, buckets: Buckets, kind: str
) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    s3.put_object(Bucket=name, Key="k", Body=b"the old object")
    upload = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    one, small, tail = secrets.token_bytes(PART), b"too small", b"tail"
    etags = [_put_part(s3, (name, "k", upload), n, data) for n, data in ((1, one), (2, small), (3, tail))]

    def complete(parts: list[tuple[int, str]]) -> str:
        with pytest.raises(ClientError) as refused:
            s3.complete_multipart_upload(
                Bucket=name,
                Key="k",
                UploadId=upload,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        assert _body(s3, name, "k") == b"the old object"
        return _code(refused)

    wrong = '"' + "0" * 32 + '"'
    assert complete([(1, wrong), (2, etags[1]), (3, etags[2])]) == "InvalidPart"
    assert complete([(1, etags[0]), (4, etags[2])]) == "InvalidPart"  # never uploaded
    assert complete([(2, etags[1]), (1, etags[0])]) == "InvalidPartOrder"
    assert complete([(1, etags[0]), (2, etags[1]), (3, etags[2])]) == "EntityTooSmall"
    malformed = _signed(
        gateway, gateway_admin, "POST", f"/{name}/k?uploadId={upload}", b"<CompleteMultipartUpload><Part>"
    )
    assert malformed.status_code == 400 and b"<Code>MalformedXML</Code>" in malformed.content
    assert _body(s3, name, "k") == b"the old object"
    # Still usable: part 2 sent again, big enough this time.
    two = secrets.token_bytes(PART)
    etags[1] = _put_part(s3, (name, "k", upload), 2, two)
    done = s3.complete_multipart_upload(
        Bucket=name,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]},
    )
    assert done["ETag"] == _multipart_etag(one, two, tail)
    assert _body(s3, name, "k") == one + two + tail
    # A refused upload can also just be dropped.
    dropped = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    small_etag = _put_part(s3, (name, "k", dropped), 1, b"x")
    big_etag = _put_part(s3, (name, "k", dropped), 2, b"y")
    with pytest.raises(ClientError) as too_small:
        s3.complete_multipart_upload(
            Bucket=name,
            Key="k",
            UploadId=dropped,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": small_etag}, {"PartNumber": 2, "ETag": big_etag}]
            },
        )
    assert _code(too_small) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=name, Key="k", UploadId=dropped)
    assert _body(s3, name, "k") == one + two + tail


def _signed(gateway: RunningServer, user: str, method: str, path: str, body: bytes) -> httpx.Response:
    """A request signed (SigV4, its payload's SHA-256) with a new key of ``user``, body as given."""
    assert gateway.s3_url is not None
    key_id, secret = gateway.add_s3_key(user)
    request = AWSRequest(method=method, url=gateway.s3_url + path, data=body)
    S3SigV4Auth(Credentials(key_id, secret.reveal()), "s3", "us-east-1").add_auth(request)
    return httpx.request(
        method, gateway.s3_url + path, content=body, headers=dict(request.headers.items()), timeout=30
    )


@KINDS
def test_a_part_that_fails_its_digest_is_not_kept(buckets: Buckets, kind: str) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    upload = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    data = secrets.token_bytes(PART)
    with pytest.raises(ClientError) as bad:
        s3.upload_part(
            Bucket=name,
            Key="k",
            UploadId=upload,
            PartNumber=1,
            Body=data,
            ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==",  # the MD5 of nothing
        )
    assert _code(bad) == "BadDigest"
    with pytest.raises(ClientError) as bad_crc64:  # as pyarrow's C++ SDK sends every part
        s3.upload_part(
            Bucket=name, Key="k", UploadId=upload, PartNumber=1, Body=data, ChecksumCRC64NVME="AAAAAAAAAAA="
        )
    assert _code(bad_crc64) == "BadDigest"
    assert s3.list_parts(Bucket=name, Key="k", UploadId=upload).get("Parts", []) == []
    etag = _put_part(s3, (name, "k", upload), 1, data)
    s3.complete_multipart_upload(
        Bucket=name, Key="k", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert _body(s3, name, "k") == data


def test_upload_ids_never_reach_another_key_or_mount(buckets: Buckets) -> None:
    s3 = buckets.admin
    on_s3 = s3.create_multipart_upload(Bucket=ROOT_BUCKET, Key="k")["UploadId"]
    on_local = s3.create_multipart_upload(Bucket=LOCAL_BUCKET, Key="k")["UploadId"]
    etags = {
        ROOT_BUCKET: _put_part(s3, (ROOT_BUCKET, "k", on_s3), 1, b"s3 part"),
        LOCAL_BUCKET: _put_part(s3, (LOCAL_BUCKET, "k", on_local), 1, b"local part"),
    }
    for bucket, key, upload, etag in (
        (ROOT_BUCKET, "k", on_local, etags[LOCAL_BUCKET]),  # another mount's id, the same key
        (LOCAL_BUCKET, "k", on_s3, etags[ROOT_BUCKET]),
        (ROOT_BUCKET, "other", on_s3, etags[ROOT_BUCKET]),  # the same mount, another key
        (LOCAL_BUCKET, "other", on_local, etags[LOCAL_BUCKET]),
    ):
        calls = _upload_calls(s3, bucket, key, upload, etag)
        for call in calls:
            with pytest.raises(ClientError) as refused:
                call()
            assert _code(refused) == "NoSuchUpload", (bucket, key, refused.value.response)
            assert refused.value.response["Error"].get("UploadId") == upload
    # Both uploads are as they were.
    for bucket, upload in ((ROOT_BUCKET, on_s3), (LOCAL_BUCKET, on_local)):
        parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["Parts"]
        assert [(part["PartNumber"], part["ETag"]) for part in parts] == [(1, etags[bucket])]
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[bucket]}]},
        )
    assert _body(s3, ROOT_BUCKET, "k") == b"s3 part"
    assert _body(s3, LOCAL_BUCKET, "k") == b"local part"


def _upload_calls(s3: S3Client, bucket: str, key: str, upload: str, etag: str) -> list[Callable[[], object]]:
    """Every call naming an upload: complete, list its parts, upload a part, abort."""
    parts: CompletedMultipartUploadTypeDef = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    return [
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts),
        lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=upload),
        lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2, Body=b"x"),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload),
    ]


@KINDS
def test_upload_part_copy_from_both_mount_kinds(buckets: Buckets, kind: str) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    other = buckets.name("local" if kind == "s3" else "s3")
    source = secrets.token_bytes(PART + 3000)
    s3.put_object(Bucket=other, Key="src/a b.bin", Body=source)  # on the other kind of mount
    s3.put_object(Bucket=name, Key="same.bin", Body=source)  # on this one: the store copies
    upload = s3.create_multipart_upload(Bucket=name, Key="copied")["UploadId"]
    across = s3.upload_part_copy(
        Bucket=name,
        Key="copied",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": other, "Key": "src/a b.bin"},
        CopySourceRange=f"bytes=1000-{1000 + PART - 1}",
    )["CopyPartResult"]
    assert across["ETag"] == f'"{hashlib.md5(source[1000 : 1000 + PART], usedforsecurity=False).hexdigest()}"'
    within = s3.upload_part_copy(
        Bucket=name,
        Key="copied",
        UploadId=upload,
        PartNumber=3,
        CopySource=f"{name}/same.bin",
        CopySourceRange="bytes=10-2009",
    )["CopyPartResult"]
    whole = s3.upload_part_copy(
        Bucket=name,
        Key="copied",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": other, "Key": "src/a b.bin"},
    )["CopyPartResult"]
    for wanted, code in (
        ("bytes=0-99999999", "InvalidRange"),  # past the source's end
        ("bytes=5-4", "InvalidArgument"),
        ("items=0-1", "InvalidArgument"),
        ("0-2", "InvalidArgument"),
        ("bytes=0", "InvalidArgument"),
        ("bytes=0-2,3-5", "InvalidArgument"),
    ):
        with pytest.raises(ClientError) as bad_range:
            s3.upload_part_copy(
                Bucket=name,
                Key="copied",
                UploadId=upload,
                PartNumber=4,
                CopySource={"Bucket": other, "Key": "src/a b.bin"},
                CopySourceRange=wanted,
            )
        assert _code(bad_range) == code, wanted
    with pytest.raises(ClientError) as missing:
        s3.upload_part_copy(
            Bucket=name,
            Key="copied",
            UploadId=upload,
            PartNumber=4,
            CopySource={"Bucket": other, "Key": "nothing"},
        )
    assert _code(missing) == "NoSuchKey"
    parts = [
        {"PartNumber": n, "ETag": result["ETag"]} for n, result in ((1, across), (2, whole), (3, within))
    ]
    s3.complete_multipart_upload(Bucket=name, Key="copied", UploadId=upload, MultipartUpload={"Parts": parts})
    assert _body(s3, name, "copied") == source[1000 : 1000 + PART] + source + source[10:2010]


def test_a_read_only_mount_refuses_to_begin_an_upload(
    gateway: RunningServer, buckets: Buckets, tmp_path: Path
) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "there.txt").write_bytes(b"x")
    added = httpx.post(
        f"{gateway.url}/v1/mounts",
        json={"path": "/rob", "uri": (tmp_path / "ro").as_uri(), "readonly": True},
        headers=gateway.auth(),
        timeout=30,
    )
    assert added.status_code == 201, added.text
    with pytest.raises(ClientError) as refused:
        buckets.admin.create_multipart_upload(Bucket="rob", Key="new.bin")
    assert _code(refused) == "AccessDenied"
    assert "read-only" in refused.value.response["Error"]["Message"]
    assert not (tmp_path / "ro" / ".tierstore-uploads").exists()
    # The mount is still readable, and a read-only source still copies.
    assert _body(buckets.admin, "rob", "there.txt") == b"x"


@KINDS
def test_write_permission_is_checked_at_every_step(
    gateway: RunningServer, buckets: Buckets, s3_for: Callable[[str], S3Client], kind: str
) -> None:
    name = buckets.name(kind)
    admin = httpx.Client(base_url=gateway.url, headers=gateway.auth())
    gateway.add_user("bob")
    bob = s3_for("bob")
    assert admin.post("/v1/fs/chmod", json={"path": "/", "mode": "0711"}).status_code == 200
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}", "mode": "0755"}).status_code == 200
    with pytest.raises(ClientError) as refused:
        bob.create_multipart_upload(Bucket=name, Key="mine.bin")
    assert _code(refused) == "AccessDenied"
    assert buckets.admin.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    # Given write on the bucket, bob begins an upload; taken away, bob can go no further.
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}", "mode": "0777"}).status_code == 200
    upload = bob.create_multipart_upload(Bucket=name, Key="mine.bin")["UploadId"]
    etag = _put_part(bob, (name, "mine.bin", upload), 1, b"first")
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}", "mode": "0755"}).status_code == 200
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    for attempt in (
        lambda: bob.upload_part(Bucket=name, Key="mine.bin", UploadId=upload, PartNumber=2, Body=b"more"),
        lambda: bob.complete_multipart_upload(
            Bucket=name, Key="mine.bin", UploadId=upload, MultipartUpload=parts
        ),
        lambda: bob.abort_multipart_upload(Bucket=name, Key="mine.bin", UploadId=upload),
    ):
        with pytest.raises(ClientError) as denied:
            attempt()
        assert _code(denied) == "AccessDenied"
    # Given back, bob completes: the new file is bob's, as a write would make it.
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}", "mode": "0777"}).status_code == 200
    bob.complete_multipart_upload(Bucket=name, Key="mine.bin", UploadId=upload, MultipartUpload=parts)
    status = admin.get("/v1/fs/stat", params={"path": f"/{name}/mine.bin"}).json()
    assert (status["owner"], status["mode"], status["size"]) == ("bob", "0644", 5)
    # A file bob may not write (0644, not his) cannot be replaced by bob's upload, in a directory he may.
    buckets.admin.put_object(Bucket=name, Key="admins.bin", Body=b"admin's")
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}/admins.bin", "mode": "0644"}).status_code == 200
    with pytest.raises(ClientError) as not_his:
        bob.create_multipart_upload(Bucket=name, Key="admins.bin")
    assert _code(not_his) == "AccessDenied"
    # Uploads are listed only below directories the caller may read and search, ...
    buckets.admin.put_object(Bucket=name, Key="hidden/", Body=b"")
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}/hidden", "mode": "0700"}).status_code == 200
    hidden = buckets.admin.create_multipart_upload(Bucket=name, Key="hidden/x.bin")["UploadId"]
    shown = buckets.admin.create_multipart_upload(Bucket=name, Key="shown.bin")["UploadId"]
    assert [u["Key"] for u in bob.list_multipart_uploads(Bucket=name)["Uploads"]] == ["shown.bin"]
    listed = buckets.admin.list_multipart_uploads(Bucket=name)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("hidden/x.bin", hidden), ("shown.bin", shown)]
    # ... and only to those who may read the bucket.
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}", "mode": "0700"}).status_code == 200
    with pytest.raises(ClientError) as unlisted:
        bob.list_multipart_uploads(Bucket=name)
    assert _code(unlisted) == "AccessDenied"


@KINDS
def test_upload_file_of_s3transfer_in_parts(buckets: Buckets, kind: str, tmp_path: Path) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    data = secrets.token_bytes(20 * MIB)
    (tmp_path / "up.bin").write_bytes(data)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)
    s3.upload_file(str(tmp_path / "up.bin"), name, "transfer/up.bin", Config=config)
    assert s3.head_object(Bucket=name, Key="transfer/up.bin")["ContentLength"] == len(data)
    s3.download_file(name, "transfer/up.bin", str(tmp_path / "down.bin"), Config=config)
    assert (tmp_path / "down.bin").read_bytes() == data


def test_aws_cli_copies_100_mib_up_and_down_in_parts(
    gateway: RunningServer, gateway_admin: str, buckets: Buckets, tmp_path: Path
) -> None:
    assert gateway.s3_url is not None
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as handle:
        for _ in range(100):
            chunk = secrets.token_bytes(MIB)
            digest.update(chunk)
            handle.write(chunk)
    key_id, secret = gateway.add_s3_key(gateway_admin)
    # Fewer requests at once than the gateway's uploads per user (8).
    config = "[default]\ns3 =\n  max_concurrent_requests = 4\n  multipart_chunksize = 16MB\n"
    up = run_aws(
        gateway.s3_url,
        key_id,
        secret.reveal(),
        "s3",
        "cp",
        "--no-progress",
        str(source),
        f"s3://{ROOT_BUCKET}/cli/big.bin",
        config=config,
    )
    assert up.returncode == 0, up.stderr
    head = buckets.admin.head_object(Bucket=ROOT_BUCKET, Key="cli/big.bin")
    assert head["ContentLength"] == 100 * MIB and head["ETag"].endswith('-7"')
    down = run_aws(
        gateway.s3_url,
        key_id,
        secret.reveal(),
        "s3",
        "cp",
        "--no-progress",
        f"s3://{ROOT_BUCKET}/cli/big.bin",
        str(tmp_path / "back.bin"),
        config=config,
    )
    assert down.returncode == 0, down.stderr
    back = hashlib.sha256()
    with (tmp_path / "back.bin").open("rb") as handle:
        for chunk in iter(lambda: handle.read(MIB), b""):
            back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()


def _completed(s3: S3Client, name: str, key: str, parts: list[bytes]) -> str:
    """``parts`` uploaded and completed as ``key``; the object's ETag."""
    upload = s3.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    etags = [_put_part(s3, (name, key, upload), number, data) for number, data in enumerate(parts, 1)]
    listed = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, 1)]
    done = s3.complete_multipart_upload(
        Bucket=name, Key=key, UploadId=upload, MultipartUpload={"Parts": listed}
    )
    return done["ETag"]


@KINDS
def test_reads_by_part_number_of_an_object_completed_from_parts(
    gateway: RunningServer, buckets: Buckets, s3_for: Callable[[str], S3Client], kind: str
) -> None:
    s3, name = buckets.admin, buckets.name(kind)
    parts = [secrets.token_bytes(PART), secrets.token_bytes(PART + 3), secrets.token_bytes(1000)]
    etag = _completed(s3, name, "mp/three.bin", parts)
    total, start = sum(len(part) for part in parts), 0
    for number, data in enumerate(parts, 1):
        end = start + len(data)
        got = s3.get_object(Bucket=name, Key="mp/three.bin", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == data, number
        assert got["ContentRange"] == f"bytes {start}-{end - 1}/{total}"
        assert (got["ContentLength"], got["PartsCount"], got["ETag"]) == (len(data), 3, etag)
        head = s3.head_object(Bucket=name, Key="mp/three.bin", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (head["ContentLength"], head["ContentRange"], head["PartsCount"]) == (
            len(data),
            f"bytes {start}-{end - 1}/{total}",
            3,
        )
        start = end
    # Past the last part: InvalidPartNumber (416), as S3 answers; conditions judged on the object.
    with pytest.raises(ClientError) as beyond:
        s3.get_object(Bucket=name, Key="mp/three.bin", PartNumber=4)
    assert _code(beyond) == "InvalidPartNumber"
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as beyond_head:
        s3.head_object(Bucket=name, Key="mp/three.bin", PartNumber=4)
    assert beyond_head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as failed:
        s3.get_object(
            Bucket=name, Key="mp/three.bin", PartNumber=2, IfMatch='"0123456789abcdef0123456789abcdef"'
        )
    assert _code(failed) == "PreconditionFailed"
    assert (
        s3.get_object(Bucket=name, Key="mp/three.bin", PartNumber=2, IfMatch=etag)["Body"].read() == parts[1]
    )
    # Replaced by an object written in one piece: one part, the whole of it, no parts count.
    s3.put_object(Bucket=name, Key="mp/three.bin", Body=b"now one piece")
    whole = s3.get_object(Bucket=name, Key="mp/three.bin", PartNumber=1)
    assert whole["Body"].read() == b"now one piece" and "PartsCount" not in whole
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket=name, Key="mp/three.bin", PartNumber=2)
    assert _code(gone) == "InvalidPartNumber"
    # A copy's parts are what its store made of it: a local mount writes it in one piece;
    # SeaweedFS keeps the source's parts (its ETag says so), and the gateway answers them.
    _completed(s3, name, "mp/two.bin", parts[:2])
    s3.copy_object(Bucket=name, Key="mp/copy.bin", CopySource={"Bucket": name, "Key": "mp/two.bin"})
    copied = s3.head_object(Bucket=name, Key="mp/copy.bin", PartNumber=1)
    if copied["ETag"].endswith('-2"'):
        assert kind == "s3" and (copied["ContentLength"], copied["PartsCount"]) == (PART, 2)
    else:
        assert copied["ContentLength"] == 2 * PART + 3 and "PartsCount" not in copied
    assert kind == "s3" or not copied["ETag"].endswith('-2"')
    # The caller's read bit is checked before the store is asked, as for any read.
    admin = httpx.Client(base_url=gateway.url, headers=gateway.auth())
    gateway.add_user("carol")
    carol = s3_for("carol")
    assert admin.post("/v1/fs/chmod", json={"path": f"/{name}/mp/two.bin", "mode": "0600"}).status_code == 200
    for call in (carol.get_object, carol.head_object):
        with pytest.raises(ClientError) as denied:
            call(Bucket=name, Key="mp/two.bin", PartNumber=1)
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
