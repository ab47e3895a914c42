"""What the gateway signs and checks with AWS Signature Version 4's keys: the signing key and
signatures (:mod:`tierstore.sigv4_keys`, shared with the store client, which signs its own
listings), constant-time comparison, and what a signed aws-chunked body is checked with.

Chunk and trailer signatures chain: each signs the previous one's signature, the first the
request's ("seed") signature, so chunks cannot be dropped, reordered or moved to another request.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from tierstore.gil_hashing import hmac_sha256
from tierstore.sigv4_keys import TERMINATOR, SigningKeys, derive_signing_key, sign

__all__ = [
    "TERMINATOR",
    "ChunkSigning",
    "SigningKeys",
    "derive_signing_key",
    "hmac_sha256",
    "sign",
    "signatures_equal",
]

ALGORITHM = "AWS4-HMAC-SHA256"
CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signatures_equal(computed: str, given: str) -> bool:
    """Whether two signatures are the same, in time that does not depend on where they differ
    (a byte-by-byte comparison would let a client learn a valid signature a byte at a time)."""
    return hmac.compare_digest(computed.encode("latin-1", "replace"), given.encode("latin-1", "replace"))


@dataclass(frozen=True)
class ChunkSigning:
    """What the chunks and trailer of a signed aws-chunked body are checked with: the request's
    signing key, timestamp and scope, and its signature (the seed of the chain)."""

    signing_key: bytes = field(repr=False)
    timestamp: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        """The signature of a chunk whose data has the SHA-256 ``chunk_sha256`` (hex), following
        the chunk signed ``previous``."""
        string_to_sign = "\n".join(
            (CHUNK_ALGORITHM, self.timestamp, self.scope, previous, EMPTY_SHA256, chunk_sha256)
        )
        return sign(self.signing_key, string_to_sign.encode())

    def trailer_signature(self, previous: str, trailer_lines: bytes) -> str:
        """The signature of the trailer whose canonical lines (``name:value\\n`` each) are
        ``trailer_lines``, following the final chunk signed ``previous``."""
        string_to_sign = "\n".join(
            (
                TRAILER_ALGORITHM,
                self.timestamp,
                self.scope,
                previous,
                hashlib.sha256(trailer_lines).hexdigest(),
            )
        )
        return sign(self.signing_key, string_to_sign.encode())
