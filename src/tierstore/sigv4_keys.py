"""The keyed part of AWS Signature Version 4, for what the gateway checks and what the store
client signs itself: the signing key derived from a secret, and a string to sign's signature.

    signing key = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
    signature   = hex(HMAC(signing key, string to sign))

The derivation costs four HMACs and its inputs change once a day per key and region, so derived
keys are kept in a bounded LRU (:class:`SigningKeys`). The cache is keyed by the SHA-256 of the
secret rather than the secret itself, so that a revoked secret is not held as a key (the derived
key it maps to is useless past its date), and a rotated secret never meets its predecessor's key.
"""

from __future__ import annotations

import hashlib

from tierstore.gil_hashing import hmac_sha256
from tierstore.lru import BoundedLRU

TERMINATOR = "aws4_request"
DEFAULT_CACHED_KEYS = 4096


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The signing key for one secret, day (``YYYYMMDD``), region and service."""
    key = hmac_sha256(f"AWS4{secret}".encode(), date.encode())
    key = hmac_sha256(key, region.encode())
    key = hmac_sha256(key, service.encode())
    return hmac_sha256(key, TERMINATOR.encode())


def sign(signing_key: bytes, string_to_sign: bytes) -> str:
    """The signature of ``string_to_sign``: 64 lower-case hex digits."""
    return hmac_sha256(signing_key, string_to_sign).hex()


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
