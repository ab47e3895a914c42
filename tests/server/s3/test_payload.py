"""A verified request's body, checked as its headers say: the signed SHA-256, Content-MD5, checksum
headers; refused headers before a byte is read. Bodies and headers come from botocore."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

import anyio
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ClientError

from tests.server.s3.conftest import KEY_ID, SECRET
from tests.server.s3.endpoint import S3Endpoint
from tierstore.server.s3.canonical import header_fields
from tierstore.server.s3.checksums import algorithm_for
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.payload import request_body
from tierstore.server.s3.sigv4 import Authenticated, Payload


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_a_body_other_than_the_signed_one_is_refused(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)

    def swap_body(request: AWSPreparedRequest, **_: object) -> None:
        request.body = b"HELLO"  # same length, signed as "hello"

    client.meta.events.register_last("before-send.s3.PutObject", swap_body)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"hello", ChecksumAlgorithm="SHA256")
    assert code_of(caught.value) == "XAmzContentSHA256Mismatch"
    assert ("data", "k") not in endpoint.objects


def test_content_md5(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    good = base64.b64encode(hashlib.md5(b"body", usedforsecurity=False).digest()).decode()
    client.put_object(Bucket="data", Key="k", Body=b"body", ContentMD5=good)
    assert endpoint.objects["data", "k"] == b"body"
    wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"body2", ContentMD5=wrong)
    assert code_of(caught.value) == "BadDigest"
    with pytest.raises(ClientError) as malformed:
        client.put_object(Bucket="data", Key="k", Body=b"body2", ContentMD5="not base64 of 16 bytes")
    assert code_of(malformed.value) == "InvalidDigest"
    assert endpoint.objects["data", "k"] == b"body"


def test_a_wrong_checksum_header_is_bad_digest(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"body", ChecksumCRC32="AAAAAA==")
    assert code_of(caught.value) == "BadDigest"
    assert "CRC32" in caught.value.response["Error"]["Message"]


# CRC-64/NVME of b"123456789", the check value of the CRC catalogue (RevEng): the newer AWS SDKs'
# default checksum, which pyarrow's C++ SDK sends on every PUT.
CRC64NVME_CHECK = base64.b64encode(bytes.fromhex("ae8b14860a799888")).decode()


def test_crc64nvme_headers_are_checked(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    client.put_object(Bucket="data", Key="k", Body=b"123456789", ChecksumCRC64NVME=CRC64NVME_CHECK)
    assert endpoint.objects["data", "k"] == b"123456789"
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"123456780", ChecksumCRC64NVME=CRC64NVME_CHECK)
    assert code_of(caught.value) == "BadDigest"
    assert "CRC64NVME" in caught.value.response["Error"]["Message"]
    assert endpoint.objects["data", "k"] == b"123456789"


def test_crc64nvme_of_nothing_and_of_pieces() -> None:
    algorithm = algorithm_for("X-Amz-Checksum-Crc64Nvme")
    assert algorithm is not None
    empty = algorithm.new()
    assert empty.digest() == bytes(8)
    pieces = algorithm.new()
    for piece in (b"1", b"2345", b"", b"6789"):
        pieces.update(piece)
    assert algorithm.encode(pieces) == CRC64NVME_CHECK


def auth(payload: Payload) -> Authenticated:
    return Authenticated(access_key_id="TSKX", region="us-east-1", presigned=False, payload=payload)


@pytest.mark.parametrize(
    ("payload", "headers", "name"),
    [
        (Payload.UNSIGNED, [(b"x-amz-trailer", b"x-amz-checksum-crc32")], "x-amz-trailer"),
        (Payload.STREAMING_UNSIGNED_TRAILER, [(b"x-amz-trailer", b"x-amz-checksum-md5")], "x-amz-trailer"),
        (
            Payload.STREAMING_UNSIGNED_TRAILER,
            [(b"x-amz-decoded-content-length", b"12x")],
            "x-amz-decoded-content-length",
        ),
        (
            Payload.STREAMING_UNSIGNED_TRAILER,
            [(b"x-amz-decoded-content-length", b"-1")],
            "x-amz-decoded-content-length",
        ),
        (Payload.UNSIGNED, [(b"content-length", b"1"), (b"content-length", b"2")], "content-length"),
        (Payload.UNSIGNED, [(b"x-amz-checksum-md5", b"x")], "x-amz-checksum-md5"),
    ],
)
def test_headers_that_make_a_body_unreadable_are_refused_before_it_is_read(
    payload: Payload, headers: list[tuple[bytes, bytes]], name: str
) -> None:
    read = 0

    async def source() -> AsyncIterator[bytes]:
        nonlocal read
        read += 1
        yield b"never"

    with pytest.raises(S3Error, match=r"^InvalidArgument:") as caught:
        request_body(auth(payload), header_fields(headers), source())
    assert dict(caught.value.details)["ArgumentName"] == name
    assert read == 0


def test_the_declared_length_is_given() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"12345"

    body = request_body(auth(Payload.UNSIGNED), header_fields([(b"content-length", b"5")]), source())
    assert body.length == 5

    async def read() -> bytes:
        return b"".join([piece async for piece in body])

    assert anyio.run(read) == b"12345"
