"""Bodies in the signed aws-chunked form (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``), for tests.

No client installed here produces them: botocore sends only the unsigned-trailer form, and
awscrt's Python binding signs requests but not chunks (and installing it would switch botocore
to the CRT signer for the whole test run). So the request head is signed by botocore's own
``S3SigV4Auth`` (told only that the payload line is the streaming literal, as a streaming
signer tells it), and the chunks by this helper, written from AWS's description of the algorithm
("Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks"
and "... Including Trailing Headers") and independently of the gateway's code. That it follows
the description is checked against AWS's published example (``test_chunked``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

EMPTY = hashlib.sha256(b"").hexdigest()


def signing_key(secret: str, date: str, region: str = "us-east-1") -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class Seed:
    key: bytes
    timestamp: str
    scope: str
    signature: str

    def next_signature(self, previous: str, data: bytes) -> str:
        text = f"AWS4-HMAC-SHA256-PAYLOAD\n{self.timestamp}\n{self.scope}\n{previous}\n{EMPTY}\n"
        text += hashlib.sha256(data).hexdigest()
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, trailers: Sequence[tuple[str, str]]) -> str:
        lines = "".join(f"{name}:{value}\n" for name, value in sorted(trailers))
        text = f"AWS4-HMAC-SHA256-TRAILER\n{self.timestamp}\n{self.scope}\n{previous}\n"
        text += hashlib.sha256(lines.encode()).hexdigest()
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()


def signed_chunks(
    seed: Seed, pieces: Sequence[bytes], trailers: Sequence[tuple[str, str]] | None = None
) -> bytes:
    """The body: each piece a chunk, then the final empty chunk and, if given, the trailer."""
    out = bytearray()
    previous = seed.signature
    for data in [*pieces, b""]:
        previous = seed.next_signature(previous, data)
        out += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data
        if data:
            out += b"\r\n"
    if trailers is None:
        return bytes(out + b"\r\n")
    for name, value in trailers:
        out += f"{name}:{value}\r\n".encode()
    out += f"x-amz-trailer-signature:{seed.trailer_signature(previous, trailers)}\r\n\r\n".encode()
    return bytes(out)


def unsigned_chunks(pieces: Sequence[bytes], trailers: Sequence[tuple[str, str]] = ()) -> bytes:
    """An unsigned aws-chunked body, framed as botocore frames it."""
    out = bytearray()
    for data in pieces:
        out += f"{len(data):x}\r\n".encode() + data + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers:
        out += f"{name}:{value}\r\n".encode()
    return bytes(out + b"\r\n")


class _StreamingSigner(S3SigV4Auth):
    """botocore's S3 signer, with the payload line a streaming upload signs."""

    def __init__(self, credentials: Credentials, region: str, literal: str) -> None:
        super().__init__(credentials, "s3", region)
        self._literal = literal

    def payload(self, request: AWSRequest) -> str:
        return self._literal


def signed_head(
    url: str,
    access_key_id: str,
    secret: str,
    *,
    content_sha256: str,
    decoded_length: int,
    trailer: str | None = None,
    region: str = "us-east-1",
) -> tuple[dict[str, str], Seed]:
    """A PUT's headers, signed by botocore for an aws-chunked body, and the chain's seed."""
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(decoded_length)}
    if trailer is not None:
        headers["X-Amz-Trailer"] = trailer
    request = AWSRequest(method="PUT", url=url, headers=headers)
    _StreamingSigner(Credentials(access_key_id, secret), region, content_sha256).add_auth(request)
    signed = {name: str(value) for name, value in request.headers.items()}
    authorization = signed["Authorization"]
    credential = authorization.split("Credential=")[1].split(",")[0]
    date = credential.split("/")[1]
    seed = Seed(
        key=signing_key(secret, date, region),
        timestamp=signed["X-Amz-Date"],
        scope="/".join(credential.split("/")[1:]),
        signature=authorization.rsplit("Signature=", 1)[1],
    )
    return signed, seed
