"""The keyed part of AWS Signature Version 4: the signing key derived from a secret, and the
signatures of the strings to sign (a request's, each aws-chunked chunk's, a trailer's).

    signing key = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
    signature   = hex(HMAC(signing key, string to sign))

The derivation costs four HMACs and its inputs change once a day per key and region, so derived
keys are kept in a bounded LRU (:class:`SigningKeys`). The cache is keyed by the SHA-256 of the
secret rather than the secret itself, so that a revoked secret is not held as a key (the derived
key it maps to is useless past its date), and a rotated secret never meets its predecessor's key.

Chunk and trailer signatures chain: each signs the previous one's signature, the first the
request's ("seed") signature, so chunks cannot be dropped, reordered or moved to another request.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from tierstore.lru import BoundedLRU

ALGORITHM = "AWS4-HMAC-SHA256"
CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_CACHED_KEYS = 4096


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The signing key for one secret, day (``YYYYMMDD``), region and service."""
    key = hmac_sha256(f"AWS4{secret}".encode(), date.encode())
    key = hmac_sha256(key, region.encode())
    key = hmac_sha256(key, service.encode())
    return hmac_sha256(key, TERMINATOR.encode())


def sign(signing_key: bytes, string_to_sign: bytes) -> str:
    """The signature of ``string_to_sign``: 64 lower-case hex digits."""
    return hmac.digest(signing_key, string_to_sign, "sha256").hex()


def signatures_equal(computed: str, given: str) -> bool:
    """Whether two signatures are the same, in time that does not depend on where they differ
    (a byte-by-byte comparison would let a client learn a valid signature a byte at a time)."""
    return hmac.compare_digest(computed.encode("latin-1", "replace"), given.encode("latin-1", "replace"))


class SigningKeys:
    """Derived signing keys, at most ``capacity`` of them, least recently used out first."""

    def __init__(self, capacity: int = DEFAULT_CACHED_KEYS) -> None:
        self._keys: BoundedLRU[tuple[bytes, str, str, str], bytes] = BoundedLRU(capacity)

    def __repr__(self) -> str:
        return f"SigningKeys({len(self._keys)} held)"

    def get(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (hashlib.sha256(secret.encode()).digest(), date, region, service)
        found = self._keys.get(cache_key)
        if found is None:
            found = derive_signing_key(secret, date, region, service)
            self._keys.put(cache_key, found)
        return found


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
