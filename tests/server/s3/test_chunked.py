"""aws-chunked bodies: AWS's published examples, bodies botocore sends over HTTPS (unsigned chunks
with a checksum trailer), signed-chunk bodies (head signed by botocore, chunks by the test helper
that follows AWS's algorithm), and every way a body can be wrong."""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Sequence

import anyio
import httpx
import pytest

from tests.server.s3.conftest import KEY_ID, SECRET
from tests.server.s3.endpoint import S3Endpoint
from tests.server.s3.signed_chunks import Seed, signed_chunks, signed_head, signing_key, unsigned_chunks
from tierstore.server.s3.checksums import algorithm_for
from tierstore.server.s3.chunked import MAX_LINE, decode_aws_chunked
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.signing import ChunkSigning
from tierstore.server.s3.sigv4 import Payload

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_SCOPE = "20130524/us-east-1/s3/aws4_request"
AWS_TIMESTAMP = "20130524T000000Z"
AWS_DATA = b"a" * 66560
# "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks"
AWS_SIGNED = {
    "seed": "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "chunks": [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ],
}
# "... Including Trailing Headers": the same data with an x-amz-checksum-crc32c trailer.
AWS_TRAILER = {
    "seed": "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    "chunks": [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ],
    "trailer": "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
}
AWS_CRC32C = "sOO8/Q=="


def aws_signing(seed: str) -> ChunkSigning:
    return ChunkSigning(signing_key(AWS_SECRET, "20130524"), AWS_TIMESTAMP, AWS_SCOPE, seed)


def aws_body(example: dict[str, object], *, trailer: bool) -> bytes:
    chunks = example["chunks"]
    assert isinstance(chunks, list)
    body = b""
    for data, signature in zip((AWS_DATA[:65536], AWS_DATA[65536:], b""), chunks, strict=True):
        body += f"{len(data):x};chunk-signature={signature}\r\n".encode() + data + (b"\r\n" if data else b"")
    if not trailer:
        return body + b"\r\n"
    return body + (
        f"x-amz-checksum-crc32c:{AWS_CRC32C}\r\nx-amz-trailer-signature:{example['trailer']}\r\n\r\n".encode()
    )


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def decode(
    body: bytes,
    payload: Payload,
    *,
    signing: ChunkSigning | None = None,
    trailer: str | None = None,
    length: int | None = None,
    piece: int = 65536,
    max_chunk: int = 16 * 1024 * 1024,
) -> bytes:
    async def run() -> bytes:
        decoded = decode_aws_chunked(
            pieces(body, piece),
            payload=payload,
            chunk_signing=signing,
            trailer=algorithm_for(trailer) if trailer else None,
            decoded_length=length,
            max_chunk=max_chunk,
        )
        return b"".join([data async for data in decoded])

    return anyio.run(run)


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_awss_signed_example_decodes_in_pieces_of_any_size(piece: int) -> None:
    body = aws_body(AWS_SIGNED, trailer=False)
    signing = aws_signing(AWS_SIGNED["seed"])  # type: ignore[arg-type]
    assert decode(body, Payload.STREAMING_SIGNED, signing=signing, length=66560, piece=piece) == AWS_DATA


@pytest.mark.parametrize("piece", [1, 13, 65536, 1 << 20])
def test_awss_trailer_example_decodes_and_its_crc32c_holds(piece: int) -> None:
    body = aws_body(AWS_TRAILER, trailer=True)
    signing = aws_signing(AWS_TRAILER["seed"])  # type: ignore[arg-type]
    decoded = decode(
        body,
        Payload.STREAMING_SIGNED_TRAILER,
        signing=signing,
        trailer="x-amz-checksum-crc32c",
        length=66560,
        piece=piece,
    )
    assert decoded == AWS_DATA


def test_the_test_helper_signs_as_aws_documents() -> None:
    # The helper that signs the other tests' chunks reproduces AWS's published chain.
    seed = Seed(signing_key(AWS_SECRET, "20130524"), AWS_TIMESTAMP, AWS_SCOPE, AWS_TRAILER["seed"])  # type: ignore[arg-type]
    body = signed_chunks(seed, [AWS_DATA[:65536], AWS_DATA[65536:]], [("x-amz-checksum-crc32c", AWS_CRC32C)])
    assert body == aws_body(AWS_TRAILER, trailer=True)


def test_the_crt_trailer_vector_signs_several_trailing_headers() -> None:
    # aws-crt's chunk signer test: trailer "first:1st", "second:2nd", "third:3rd" after AWS's
    # signed example's final chunk.
    signing = aws_signing(AWS_SIGNED["seed"])  # type: ignore[arg-type]
    signature = signing.trailer_signature(
        AWS_SIGNED["chunks"][2],
        b"first:1st\nsecond:2nd\nthird:3rd\n",  # type: ignore[index]
    )
    assert signature == "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"


def refused(code: str) -> pytest.RaisesExc[S3Error]:
    return pytest.raises(S3Error, match=f"^{code}:")


def test_a_tampered_chunk_is_refused() -> None:
    body = bytearray(aws_body(AWS_SIGNED, trailer=False))
    body[200] = ord("b")
    with refused("SignatureDoesNotMatch") as caught:
        decode(bytes(body), Payload.STREAMING_SIGNED, signing=aws_signing(AWS_SIGNED["seed"]))  # type: ignore[arg-type]
    assert "chunk 1" in caught.value.message


def frames(body: bytes) -> list[bytes]:
    """The chunks of an aws-chunked body, each with its header and CRLF, then the rest."""
    out: list[bytes] = []
    while True:
        header_end = body.index(b"\r\n") + 2
        size = int(body[: header_end - 2].split(b";")[0], 16)
        if not size:
            return [*out, body]
        out.append(body[: header_end + size + 2])
        body = body[header_end + size + 2 :]


def test_chunks_out_of_order_or_from_another_request_are_refused() -> None:
    seed = Seed(signing_key(AWS_SECRET, "20130524"), AWS_TIMESTAMP, AWS_SCOPE, "0" * 64)
    first, second = os.urandom(8192), os.urandom(8192)
    good = signed_chunks(seed, [first, second])
    signing = ChunkSigning(seed.key, AWS_TIMESTAMP, AWS_SCOPE, seed.signature)
    assert decode(good, Payload.STREAMING_SIGNED, signing=signing) == first + second
    one, two, end = frames(good)
    with refused("SignatureDoesNotMatch"):
        decode(two + one + end, Payload.STREAMING_SIGNED, signing=signing)
    with refused("SignatureDoesNotMatch"):
        decode(one + end, Payload.STREAMING_SIGNED, signing=signing)
    other_request = ChunkSigning(seed.key, AWS_TIMESTAMP, AWS_SCOPE, "1" * 64)
    with refused("SignatureDoesNotMatch"):
        decode(good, Payload.STREAMING_SIGNED, signing=other_request)


def test_a_missing_chunk_signature_is_refused() -> None:
    body = unsigned_chunks([b"x" * 10])
    signing = aws_signing(AWS_SIGNED["seed"])  # type: ignore[arg-type]
    with refused("SignatureDoesNotMatch"):
        decode(body, Payload.STREAMING_SIGNED, signing=signing)


def test_a_short_signed_chunk_that_is_not_the_last_is_refused() -> None:
    seed = Seed(signing_key(AWS_SECRET, "20130524"), AWS_TIMESTAMP, AWS_SCOPE, "0" * 64)
    signing = ChunkSigning(seed.key, AWS_TIMESTAMP, AWS_SCOPE, seed.signature)
    assert decode(signed_chunks(seed, [b"x" * 8192, b"y"]), Payload.STREAMING_SIGNED, signing=signing)
    with refused("InvalidChunkSizeError"):
        decode(signed_chunks(seed, [b"y", b"x" * 8192]), Payload.STREAMING_SIGNED, signing=signing)


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_a_wrong_trailer_checksum_is_bad_digest() -> None:
    data = os.urandom(100_000)
    good = unsigned_chunks([data[:65536], data[65536:]], [("x-amz-checksum-crc32", crc32(data))])
    assert decode(good, Payload.STREAMING_UNSIGNED_TRAILER, trailer="x-amz-checksum-crc32") == data
    bad = unsigned_chunks([data[:65536], data[65536:]], [("x-amz-checksum-crc32", crc32(data + b"!"))])
    with refused("BadDigest"):
        decode(bad, Payload.STREAMING_UNSIGNED_TRAILER, trailer="x-amz-checksum-crc32")


def test_a_changed_signed_trailer_is_refused() -> None:
    body = aws_body(AWS_TRAILER, trailer=True).replace(AWS_CRC32C.encode(), b"AAAAAA==")
    signing = aws_signing(AWS_TRAILER["seed"])  # type: ignore[arg-type]
    with refused("SignatureDoesNotMatch") as caught:
        decode(body, Payload.STREAMING_SIGNED_TRAILER, signing=signing, trailer="x-amz-checksum-crc32c")
    assert "trailer" in caught.value.message


@pytest.mark.parametrize(
    ("trailers", "code"),
    [
        ([], "MalformedTrailerError"),
        ([("x-amz-checksum-sha1", "AAAA")], "MalformedTrailerError"),
        ([("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-meta-evil", "1")], "MalformedTrailerError"),
        ([("not a header line", "")], "MalformedTrailerError"),
    ],
)
def test_a_trailer_not_as_declared_is_refused(trailers: Sequence[tuple[str, str]], code: str) -> None:
    body = unsigned_chunks([b"data"], trailers)
    if trailers and trailers[0][0] == "not a header line":
        body = body.replace(b"not a header line:", b"not a header line")
    with refused(code):
        decode(body, Payload.STREAMING_UNSIGNED_TRAILER, trailer="x-amz-checksum-crc32")


def test_an_undeclared_trailer_is_refused() -> None:
    body = unsigned_chunks([b"data"], [("x-amz-checksum-crc32", crc32(b"data"))])
    with refused("InvalidArgument"):
        decode(body, Payload.STREAMING_UNSIGNED_TRAILER)


def test_an_over_long_chunk_header_is_refused_without_reading_on() -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 1024
            yield b"1" * 1024

    async def run() -> None:
        decoded = decode_aws_chunked(
            endless(),
            payload=Payload.STREAMING_UNSIGNED_TRAILER,
            chunk_signing=None,
            trailer=None,
            decoded_length=None,
        )
        async for _ in decoded:
            pass

    with refused("InvalidArgument") as caught:
        anyio.run(run)
    assert f"longer than {MAX_LINE} bytes" in caught.value.message
    assert consumed <= MAX_LINE + 2048


@pytest.mark.parametrize(
    ("body", "length", "code", "words"),
    [
        (unsigned_chunks([b"x" * 100])[:-30], None, "IncompleteBody", "ended"),
        (unsigned_chunks([b"x" * 100])[:50], None, "IncompleteBody", "ended"),
        (unsigned_chunks([b"x" * 100]), 200, "IncompleteBody", "fewer than the 200"),
        (unsigned_chunks([b"x" * 100]), 50, "InvalidArgument", "goes past the 50"),
        (b"64\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n", None, "InvalidArgument", "holds more than"),
        (b"zz\r\nxx\r\n0\r\n\r\n", None, "InvalidArgument", "no hexadecimal size"),
        (b"-1\r\nxx\r\n0\r\n\r\n", None, "InvalidArgument", "no hexadecimal size"),
        (b"2\nxx\r\n0\r\n\r\n", None, "InvalidArgument", "CRLF"),
        (unsigned_chunks([b"x"]) + b"extra", None, "InvalidArgument", "follows the end"),
        (b"", None, "IncompleteBody", "before chunk 1"),
        (b"1000001\r\n", None, "InvalidArgument", "over the 16777216 accepted"),
        (b"ffffffffffffffff\r\n", None, "InvalidArgument", "over the"),
        (b"fffffffffffffffff\r\n", None, "InvalidArgument", "no hexadecimal size"),
    ],
)
def test_bodies_that_are_not_as_declared(body: bytes, length: int | None, code: str, words: str) -> None:
    with refused(code) as caught:
        decode(body, Payload.STREAMING_UNSIGNED_TRAILER, length=length, piece=17)
    assert words in caught.value.message


def test_an_empty_line_before_the_trailer_and_none_after_it_are_tolerated() -> None:
    # Both seen from SDKs in the wild (the SDKs and servers disagree on the framing of the end).
    data = b"payload"
    end = f"x-amz-checksum-crc32:{crc32(data)}\r\n".encode()
    for tail in (b"\r\n" + end + b"\r\n", end):
        body = b"7\r\npayload\r\n0\r\n" + tail
        assert decode(body, Payload.STREAMING_UNSIGNED_TRAILER, trailer="x-amz-checksum-crc32") == data


def test_memory_stays_within_a_chunk_for_a_large_body() -> None:
    chunk = 1024 * 1024
    total = 24 * chunk
    seed = Seed(signing_key(AWS_SECRET, "20130524"), AWS_TIMESTAMP, AWS_SCOPE, "0" * 64)
    signing = ChunkSigning(seed.key, AWS_TIMESTAMP, AWS_SCOPE, seed.signature)
    block = os.urandom(chunk)

    async def body() -> AsyncIterator[bytes]:
        previous = seed.signature
        for _ in range(total // chunk):
            previous = seed.next_signature(previous, block)
            yield f"{chunk:x};chunk-signature={previous}\r\n".encode()
            for start in range(0, chunk, 65536):
                yield block[start : start + 65536]
            yield b"\r\n"
        previous = seed.next_signature(previous, b"")
        yield f"0;chunk-signature={previous}\r\n\r\n".encode()

    async def run() -> int:
        received = 0
        decoded = decode_aws_chunked(
            body(),
            payload=Payload.STREAMING_SIGNED,
            chunk_signing=signing,
            trailer=None,
            decoded_length=total,
        )
        async for data in decoded:
            received += len(data)
        return received

    tracemalloc.start()
    try:
        assert anyio.run(run) == total
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One chunk held for its signature, the piece in hand and the hashing's own small state.
    assert peak < chunk + 512 * 1024, peak


# Bodies sent by real clients.


def test_botocore_over_https_sends_unsigned_chunks_with_a_crc32_trailer(tls_endpoint: S3Endpoint) -> None:
    client = tls_endpoint.client(KEY_ID, SECRET)
    data = os.urandom(3 * 1024 * 1024 + 17)
    client.put_object(Bucket="data", Key="big.bin", Body=data)
    seen = tls_endpoint.seen[-1]
    assert seen.auth is not None and seen.auth.payload is Payload.STREAMING_UNSIGNED_TRAILER
    assert seen.headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert seen.headers["content-encoding"] == "aws-chunked"
    assert tls_endpoint.objects["data", "big.bin"] == data


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "CRC32"])
def test_botocore_trailers_of_each_algorithm_it_computes(tls_endpoint: S3Endpoint, algorithm: str) -> None:
    client = tls_endpoint.client(KEY_ID, SECRET)
    data = os.urandom(200_000)
    client.put_object(Bucket="data", Key="k", Body=data, ChecksumAlgorithm=algorithm)  # type: ignore[arg-type]
    assert tls_endpoint.seen[-1].headers["x-amz-trailer"] == f"x-amz-checksum-{algorithm.lower()}"
    assert tls_endpoint.objects["data", "k"] == data


def test_botocore_over_http_sends_a_checksum_header_and_a_signed_payload(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    client.put_object(Bucket="data", Key="k", Body=b"over plain http")
    seen = endpoint.seen[-1]
    assert seen.auth is not None and seen.auth.payload is Payload.SHA256
    assert seen.headers["x-amz-checksum-crc32"] == crc32(b"over plain http")


def test_a_signed_chunk_body_through_http(endpoint: S3Endpoint) -> None:
    data = os.urandom(3 * 65536 + 100)
    url = f"{endpoint.url}/data/signed.bin"
    headers, seed = signed_head(
        url, KEY_ID, SECRET, content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", decoded_length=len(data)
    )
    body = signed_chunks(seed, [data[i : i + 65536] for i in range(0, len(data), 65536)])
    answer = httpx.put(url, content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert endpoint.seen[-1].auth is not None and endpoint.seen[-1].auth.payload is Payload.STREAMING_SIGNED
    assert endpoint.objects["data", "signed.bin"] == data


def test_a_signed_chunk_body_with_a_signed_trailer_through_http(endpoint: S3Endpoint) -> None:
    data = os.urandom(100_000)
    url = f"{endpoint.url}/data/trailer.bin"
    headers, seed = signed_head(
        url,
        KEY_ID,
        SECRET,
        content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        decoded_length=len(data),
        trailer="x-amz-checksum-sha256",
    )
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    body = signed_chunks(seed, [data[:65536], data[65536:]], [("x-amz-checksum-sha256", digest)])
    assert httpx.put(url, content=body, headers=headers, timeout=30).status_code == 200
    assert endpoint.objects["data", "trailer.bin"] == data
    wrong = signed_chunks(seed, [data[:65536], data[65536:]], [("x-amz-checksum-sha256", "A" * 43 + "=")])
    answer = httpx.put(url, content=wrong, headers=headers, timeout=30)
    assert answer.status_code == 400 and b"<Code>BadDigest</Code>" in answer.content


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        ("tamper", "SignatureDoesNotMatch"),
        ("short", "IncompleteBody"),
        ("long-header", "InvalidArgument"),
    ],
)
def test_damaged_signed_chunk_bodies_through_http(endpoint: S3Endpoint, damage: str, code: str) -> None:
    data = os.urandom(2 * 65536)
    url = f"{endpoint.url}/data/damaged.bin"
    headers, seed = signed_head(
        url, KEY_ID, SECRET, content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", decoded_length=len(data)
    )
    body = signed_chunks(seed, [data[:65536], data[65536:]])
    if damage == "tamper":
        body = body[:1000] + bytes([body[1000] ^ 1]) + body[1001:]
    elif damage == "short":
        # A body that stops before its last chunk, sent whole (Content-Length is what was sent).
        body = body[:-400]
    else:
        body = b"1" * (MAX_LINE + 100) + b"\r\n" + body
    answer = httpx.put(url, content=body, headers=headers, timeout=30)
    assert answer.status_code == 400 if code != "SignatureDoesNotMatch" else answer.status_code == 403
    assert f"<Code>{code}</Code>".encode() in answer.content
    assert ("data", "damaged.bin") not in endpoint.objects


def test_a_body_shorter_than_declared_is_incomplete(endpoint: S3Endpoint) -> None:
    data = os.urandom(65536)
    url = f"{endpoint.url}/data/short.bin"
    headers, seed = signed_head(
        url, KEY_ID, SECRET, content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", decoded_length=len(data) + 1
    )
    answer = httpx.put(url, content=signed_chunks(seed, [data]), headers=headers, timeout=30)
    assert answer.status_code == 400 and b"<Code>IncompleteBody</Code>" in answer.content
    assert ("data", "short.bin") not in endpoint.objects
