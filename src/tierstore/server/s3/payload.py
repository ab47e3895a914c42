"""A request's body as its signature and headers vouch for it: decoded, and checked as it streams.

    body = request_body(auth, header_fields(request.scope["headers"]), paced_body(request, limits))
    body.length            # the object's size when the request declares it, else None
    async for data in body: ...

What the body must be comes from the verified signature (:class:`~.sigv4.Authenticated`) and
the request's headers; every check that can be made before reading is made when
:func:`request_body` is called (a bad header is refused before a byte is read), the rest as the
body streams, with the verdict at its end:

- ``x-amz-content-sha256`` as a hex SHA-256: the body must hash to it
  (``XAmzContentSHA256Mismatch``);
- the aws-chunked forms: decoded and checked by :mod:`~.chunked`, with ``x-amz-trailer`` naming
  the trailer's checksum and ``x-amz-decoded-content-length`` the decoded size;
- ``Content-MD5``: base64 of 16 bytes (else ``InvalidDigest``), the MD5 of the (decoded) body
  (else ``BadDigest``);
- ``x-amz-checksum-<algorithm>`` headers (botocore sends one over plain HTTP instead of a
  trailer): the checksum of the body (else ``BadDigest``).

As with :func:`~.chunked.decode_aws_chunked`, the body is good only once iteration ends
without an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tierstore.gil_hashing import update_holding_gil
from tierstore.server.s3.canonical import Fields
from tierstore.server.s3.checksums import ALGORITHMS, Checksum, ChecksumAlgorithm, algorithm_for
from tierstore.server.s3.chunked import DEFAULT_MAX_CHUNK, decode_aws_chunked
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.sigv4 import Authenticated, Payload

# Headers under x-amz-checksum- that carry no checksum.
_NOT_CHECKSUMS = (b"x-amz-checksum-type", b"x-amz-checksum-mode", b"x-amz-checksum-algorithm")


@dataclass(frozen=True)
class BodyChecks:
    """What a plain (not aws-chunked) body must hash to: its ``x-amz-content-sha256``, its
    ``Content-MD5`` and its ``x-amz-checksum-*`` headers (any of them may be absent)."""

    sha256: str | None = None
    content_md5: bytes | None = None
    header_checksums: Sequence[tuple[ChecksumAlgorithm, str]] = ()

    @property
    def any(self) -> bool:
        return self.sha256 is not None or self.content_md5 is not None or bool(self.header_checksums)

    def running(self) -> RunningChecks:
        return RunningChecks(self)

    def verify(self, data: bytes) -> None:
        """The verdict on a body read whole: :class:`S3Error` when a check fails."""
        running = self.running()
        running.update(data)
        running.finish()


class RunningChecks:
    """:class:`BodyChecks` over a body fed to it piece by piece; the verdict at :meth:`finish`."""

    def __init__(self, checks: BodyChecks) -> None:
        self._checks = checks
        self._sha256 = hashlib.sha256() if checks.sha256 is not None else None
        self._md5 = hashlib.md5(usedforsecurity=False) if checks.content_md5 is not None else None
        self._running: list[tuple[ChecksumAlgorithm, str, Checksum]] = [
            (algorithm, stated, algorithm.new()) for algorithm, stated in checks.header_checksums
        ]

    def update(self, piece: bytes) -> None:
        if self._sha256 is not None:
            update_holding_gil(self._sha256, piece)
        if self._md5 is not None:
            update_holding_gil(self._md5, piece)
        for _, _, checksum in self._running:
            update_holding_gil(checksum, piece)

    def finish(self) -> None:
        if self._sha256 is not None and self._sha256.hexdigest() != self._checks.sha256:
            raise S3Error("XAmzContentSHA256Mismatch")
        if self._md5 is not None and self._md5.digest() != self._checks.content_md5:
            raise S3Error("BadDigest")
        for algorithm, stated, checksum in self._running:
            if algorithm.encode(checksum) != stated:
                raise S3Error(
                    "BadDigest", f"The {algorithm.name} you specified did not match the calculated checksum."
                )


@dataclass
class RequestBody:
    """The checked body, to iterate once; ``length`` is the object's size when declared.

    ``plain``: a body that is not aws-chunked, with the checks it must pass. A reader may then
    take it whole instead of iterating (``S3Call.whole_body``) and judge it with
    ``plain.verify``; the chunks of an aws-chunked body carry their own checks (None)."""

    length: int | None
    chunks: AsyncIterator[bytes]
    plain: BodyChecks | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks


def request_body(
    auth: Authenticated,
    fields: Fields,
    source: AsyncIterator[bytes],
    *,
    max_chunk: int = DEFAULT_MAX_CHUNK,
) -> RequestBody:
    """The body of a verified request (see the module's docstring); raises :class:`S3Error` for
    a header that makes it unreadable. ``fields``: the request's header fields by name
    (:func:`~.canonical.header_fields`)."""
    trailer = _trailer(auth.payload, _single(fields, b"x-amz-trailer"))
    content_md5 = _content_md5(_single(fields, b"content-md5"))
    header_checksums = _header_checksums(fields)
    if auth.payload.chunked:
        length = _length(_single(fields, b"x-amz-decoded-content-length"), "x-amz-decoded-content-length")
        chunks = decode_aws_chunked(
            source,
            payload=auth.payload,
            chunk_signing=auth.chunk_signing,
            trailer=trailer,
            decoded_length=length,
            max_chunk=max_chunk,
        )
    else:
        length = _length(_single(fields, b"content-length"), "Content-Length")
        chunks = source
    sha256 = auth.payload_sha256 if auth.payload is Payload.SHA256 else None
    checks = BodyChecks(sha256, content_md5, header_checksums)
    plain = None if auth.payload.chunked else checks
    if not checks.any:
        return RequestBody(length, chunks, plain)
    return RequestBody(length, _checked(chunks, checks), plain)


async def _checked(chunks: AsyncIterator[bytes], checks: BodyChecks) -> AsyncIterator[bytes]:
    running = checks.running()
    async for piece in chunks:
        running.update(piece)
        yield piece
    running.finish()


def _single(fields: Fields, name: bytes) -> str | None:
    values = fields.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise _invalid(name.decode(), "is given more than once")
    return values[0].decode("latin-1").strip()


def _invalid(name: str, why: str) -> S3Error:
    return S3Error("InvalidArgument", f"{name} {why}.", details=[("ArgumentName", name)])


def _trailer(payload: Payload, declared: str | None) -> ChecksumAlgorithm | None:
    if declared is None:
        return None
    if not payload.trailer:
        raise _invalid(
            "x-amz-trailer", f"needs an x-amz-content-sha256 that carries a trailer, not {payload.value}"
        )
    algorithm = algorithm_for(declared)
    if algorithm is None:
        raise _invalid("x-amz-trailer", f"must name one of {', '.join(sorted(ALGORITHMS))}")
    return algorithm


def _length(declared: str | None, name: str) -> int | None:
    if declared is None:
        return None
    if not (declared.isascii() and declared.isdigit()) or len(declared) > 18:
        raise _invalid(name, "must be a number of bytes")
    return int(declared)


def _content_md5(declared: str | None) -> bytes | None:
    if declared is None:
        return None
    try:
        digest = base64.b64decode(declared, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error("InvalidDigest")
    return digest


def _header_checksums(fields: Fields) -> list[tuple[ChecksumAlgorithm, str]]:
    found: list[tuple[ChecksumAlgorithm, str]] = []
    for name in fields:
        if not name.startswith(b"x-amz-checksum-") or name in (
            b"x-amz-checksum-type",
            b"x-amz-checksum-mode",
        ):
            continue
        text = name.decode("latin-1")
        algorithm = algorithm_for(text)
        if algorithm is None:
            raise _invalid(text, "is not a checksum S3 defines")
        stated = _single(fields, name)
        assert stated is not None
        found.append((algorithm, stated))
    return found
