"""Decoding of aws-chunked request bodies as they stream in, checking every signature and checksum.

    body = decode_aws_chunked(request.stream(), payload=auth.payload,
                              chunk_signing=auth.chunk_signing, trailer=algorithm_for(name),
                              decoded_length=66560)
    async for data in body: ...       # the object's bytes

An aws-chunked body is a series of chunks, each ``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n``,
ended by a chunk of size 0, then (for the ``-TRAILER`` forms) trailer lines ``name:value\\r\\n``
and an empty line. Three forms are accepted:

- ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``: each chunk signed; a chunk's signature covers its data
  and the previous chunk's signature, the first the request's own (the seed), so nothing can
  be changed, dropped, reordered or spliced in from another request. A chunk is held until its
  signature is checked, so unsigned data never leaves the decoder.
- ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: the same, then the trailer, signed after the
  final chunk (``x-amz-trailer-signature``).
- ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (what botocore and the other current SDKs send over
  HTTPS): chunks unsigned, passed on as they arrive; the trailer's checksum vouches for them.

The checksum named by ``x-amz-trailer`` (:mod:`tierstore.server.s3.checksums`) is computed over
the decoded data and compared with the trailer's value at the end (``BadDigest``). **The body is
good only once the iterator ends without raising**: a consumer that writes as it reads must
abandon the write (abort the upload) on any error, which is what the gateway's handlers do.

**Bounds.** Memory: at most one chunk (signed forms; a chunk is at most ``max_chunk`` bytes,
16 MiB by default, checked from its header before any of it is read) plus one piece of the
source. A chunk header or trailer line is at most :data:`MAX_LINE` bytes, at most
:data:`MAX_TRAILER_LINES` trailer lines. Signed chunks other than the last must hold at least
8 KiB (S3's rule; it also bounds the HMACs a body can cost to one per 8 KiB). Time is the
source's concern (the server's paced body reader).

**Errors**, all :class:`~tierstore.server.s3.errors.S3Error`: ``IncompleteBody`` when the body
ends early or holds fewer bytes than ``x-amz-decoded-content-length``; ``SignatureDoesNotMatch``
for a chunk or trailer signature that does not hold; ``BadDigest`` for a checksum that does not
match; ``MalformedTrailerError`` for a trailer that is not as declared; ``InvalidChunkSizeError``;
``InvalidArgument`` for any other framing fault (a bad size, an over-long line, more data than
declared, bytes after the end). Each message says what was wrong and where.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import NoReturn

from tierstore.gil_hashing import update_holding_gil
from tierstore.server.s3.checksums import Checksum, ChecksumAlgorithm
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.signing import ChunkSigning, signatures_equal
from tierstore.server.s3.sigv4 import Payload

DEFAULT_MAX_CHUNK = 16 * 1024 * 1024
MIN_SIGNED_CHUNK = 8 * 1024
MAX_LINE = 4096
MAX_TRAILER_LINES = 16
TRAILER_SIGNATURE = b"x-amz-trailer-signature"

_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE_PREFIX = b"chunk-signature="


class _Source:
    """A byte-piece iterator read as lines and counted bytes, holding at most one piece ahead."""

    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = bytearray()
        self._ended = False

    async def _next(self) -> bytes | None:
        """The source's next non-empty piece; None once it has ended."""
        while not self._ended:
            try:
                piece = await anext(self._pieces)
            except StopAsyncIteration:
                self._ended = True
                return None
            if piece:
                return piece
        return None

    async def _more(self) -> bool:
        piece = await self._next()
        if piece is None:
            return False
        self._buffer += piece
        return True

    async def line(self, what: str) -> bytes | None:
        """The next line without its CRLF; None when the source ends exactly here."""
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end >= 0:
                break
            scanned = len(self._buffer)
            if scanned > MAX_LINE:
                _fail("InvalidArgument", f"the {what} is longer than {MAX_LINE} bytes")
            if not await self._more():
                if not self._buffer:
                    return None
                _fail("IncompleteBody", f"the body ended inside the {what}")
        if end > MAX_LINE:
            _fail("InvalidArgument", f"the {what} is longer than {MAX_LINE} bytes")
        if end == 0 or self._buffer[end - 1] != 0x0D:
            _fail("InvalidArgument", f"the {what} does not end with CRLF")
        line = bytes(self._buffer[: end - 1])
        del self._buffer[: end + 1]
        return line

    async def data(self, size: int) -> AsyncIterator[bytes]:
        """The next ``size`` bytes, in the pieces they arrive in."""
        left = size
        while left:
            if self._buffer:
                piece = bytes(self._buffer[:left])
                del self._buffer[:left]
            else:
                # Straight from the source, without a copy through the buffer, where it can be.
                incoming = await self._next()
                if incoming is None:
                    _fail("IncompleteBody", f"the body ended {left} bytes before the end of a chunk")
                piece = incoming if len(incoming) <= left else incoming[:left]
                if len(incoming) > left:
                    self._buffer += memoryview(incoming)[left:]
            left -= len(piece)
            yield piece

    async def at_end(self) -> bool:
        return not self._buffer and not await self._more()


def _fail(code: str, message: str) -> NoReturn:
    raise S3Error(code, f"aws-chunked body: {message}.")


async def decode_aws_chunked(
    source: AsyncIterator[bytes],
    *,
    payload: Payload,
    chunk_signing: ChunkSigning | None,
    trailer: ChecksumAlgorithm | None,
    decoded_length: int | None,
    max_chunk: int = DEFAULT_MAX_CHUNK,
) -> AsyncIterator[bytes]:
    """The decoded data of an aws-chunked body, checked as described in the module's docstring.

    ``trailer`` is the checksum ``x-amz-trailer`` declares (None: no trailer is expected);
    ``decoded_length`` the ``x-amz-decoded-content-length`` (None: not declared).
    """
    if not payload.chunked:
        raise ValueError(f"{payload.name} is not an aws-chunked payload")
    if payload.signed_chunks and chunk_signing is None:
        raise ValueError("a signed aws-chunked body needs the request's chunk signing")
    if trailer is not None and not payload.trailer:
        raise ValueError(f"{payload.name} has no trailer to carry {trailer.header}")
    reader = _Source(source)
    checksum = trailer.new() if trailer is not None else None
    previous = chunk_signing.seed_signature if chunk_signing is not None else ""
    received = 0
    number = 0
    short_chunk: int | None = None
    while True:
        number += 1
        header = await reader.line(f"header of chunk {number}")
        if header is None:
            _fail("IncompleteBody", f"the body ended before chunk {number} (no final chunk of size 0)")
        size, signature = _chunk_header(header, number, signed=chunk_signing is not None)
        if size > max_chunk:
            _fail("InvalidArgument", f"chunk {number} is {size} bytes, over the {max_chunk} accepted")
        if decoded_length is not None and received + size > decoded_length:
            _fail(
                "InvalidArgument",
                f"chunk {number} goes past the {decoded_length} bytes x-amz-decoded-content-length declares",
            )
        if chunk_signing is not None and size and short_chunk is not None:
            raise S3Error(
                "InvalidChunkSizeError",
                f"Only the last chunk is allowed to have a size less than {MIN_SIGNED_CHUNK} bytes "
                f"(chunk {short_chunk} is shorter and is not the last).",
            )
        digest = hashlib.sha256() if chunk_signing is not None else None
        held: list[bytes] = []
        async for piece in reader.data(size):
            if checksum is not None:
                update_holding_gil(checksum, piece)
            if digest is None:
                yield piece
            else:
                update_holding_gil(digest, piece)
                held.append(piece)
        received += size
        if size:
            end = await reader.line(f"end of chunk {number}")
            if end is None:
                _fail("IncompleteBody", f"the body ended after the data of chunk {number}")
            if end:
                _fail(
                    "InvalidArgument", f"chunk {number} holds more than the {size} bytes its header declares"
                )
        if chunk_signing is not None and digest is not None:
            expected = chunk_signing.chunk_signature(previous, digest.hexdigest())
            if signature is None or not signatures_equal(expected, signature):
                raise S3Error(
                    "SignatureDoesNotMatch",
                    f"The signature of chunk {number} of the aws-chunked body does not match its data.",
                )
            previous = expected
            if 0 < size < MIN_SIGNED_CHUNK:
                short_chunk = number
            for piece in held:
                yield piece
        if not size:
            break
    if decoded_length is not None and received < decoded_length:
        _fail(
            "IncompleteBody",
            f"the chunks hold {received} bytes, fewer than the {decoded_length} "
            "x-amz-decoded-content-length declares",
        )
    if trailer is not None and checksum is not None:
        await _check_trailer(reader, trailer, checksum, chunk_signing, previous)
    else:
        end = await reader.line("end of the body")
        if end is None:
            _fail("IncompleteBody", "the body ended without the empty line after its final chunk")
        if end:
            _fail("InvalidArgument", "a trailer follows the final chunk, but x-amz-trailer declares none")
    if not await reader.at_end():
        _fail("InvalidArgument", "data follows the end of the body")


def _chunk_header(line: bytes, number: int, *, signed: bool) -> tuple[int, str | None]:
    size_field, _, extensions = line.partition(b";")
    if not _SIZE.fullmatch(size_field):
        _fail("InvalidArgument", f"chunk {number} has no hexadecimal size ({size_field[:20]!r})")
    signature: str | None = None
    if signed and extensions.startswith(_SIGNATURE_PREFIX):
        signature = extensions[len(_SIGNATURE_PREFIX) :].decode("latin-1")
    return int(size_field, 16), signature


async def _check_trailer(
    reader: _Source,
    trailer: ChecksumAlgorithm,
    checksum: Checksum,
    chunk_signing: ChunkSigning | None,
    previous: str,
) -> None:
    lines: dict[bytes, bytes] = {}
    skipped_blank = False
    while True:
        line = await reader.line("trailer")
        if line is None:
            # Some clients end the trailer without the final empty line.
            break
        if not line:
            if lines or skipped_blank:
                break
            # Some clients put an empty line between the final chunk and the trailer.
            skipped_blank = True
            continue
        if len(lines) >= MAX_TRAILER_LINES:
            _fail("MalformedTrailerError", f"the trailer has more than {MAX_TRAILER_LINES} lines")
        name, colon, value = line.partition(b":")
        name = name.strip().lower()
        if not colon or not name or name in lines:
            raise S3Error(
                "MalformedTrailerError", f"aws-chunked body: the trailer line {line[:60]!r} is malformed."
            )
        lines[name] = value.strip()
    given_signature = lines.pop(TRAILER_SIGNATURE, None)
    if chunk_signing is not None:
        canonical = b"".join(name + b":" + value + b"\n" for name, value in sorted(lines.items()))
        expected = chunk_signing.trailer_signature(previous, canonical)
        if given_signature is None or not signatures_equal(expected, given_signature.decode("latin-1")):
            raise S3Error(
                "SignatureDoesNotMatch", "The signature of the aws-chunked body's trailer does not match it."
            )
    header = trailer.header.encode()
    unexpected = sorted(name.decode("latin-1") for name in lines if name != header)
    if unexpected:
        raise S3Error(
            "MalformedTrailerError",
            f"aws-chunked body: the trailer holds {', '.join(unexpected)}, "
            "which x-amz-trailer does not declare.",
        )
    stated = lines.get(header)
    if stated is None:
        raise S3Error(
            "MalformedTrailerError",
            f"aws-chunked body: the trailer lacks {trailer.header}, which x-amz-trailer declares.",
        )
    if stated.decode("latin-1") != trailer.encode(checksum):
        raise S3Error(
            "BadDigest",
            f"The {trailer.name} you specified did not match the calculated checksum.",
        )
