"""Request headers that ask for an S3 feature tierstore does not have, refused as S3 refuses a
feature it lacks: ``NotImplemented`` (501), naming the header, before anything is read or written.

Quietly ignoring one would store something other than what was asked: an object meant to be
encrypted with the client's key (SSE-C) kept in the clear and readable without it, a public-read
ACL or a grant that nothing enforces, a retention that does not hold, tags that are lost. So:

- **ACLs**: ``x-amz-acl`` other than ``private`` (S3's default, which tools such as rclone send
  on every write, and which the namespace's owner-only writes already are), any
  ``x-amz-grant-*``, and ``x-amz-object-ownership`` other than ``BucketOwnerEnforced`` (S3's
  default: ACLs off). Access is decided by the namespace's owner, group and mode bits.
- **Encryption**: every ``x-amz-server-side-encryption*`` header, SSE-C's
  ``x-amz-copy-source-server-side-encryption-customer-*`` too. (Stores may encrypt at rest by
  their own configuration; the gateway takes no per-request encryption.)
- **Tagging**: ``x-amz-tagging``, and ``x-amz-tagging-directive: REPLACE`` on a copy.
- **Object lock**: ``x-amz-object-lock-*`` and ``x-amz-bucket-object-lock-enabled: true``.
  ``x-amz-bypass-governance-retention`` is accepted: with no lock there is nothing to bypass,
  and clients that empty buckets send it on every DeleteObjects.
- **Storage classes** other than ``STANDARD``, **website redirects**
  (``x-amz-website-redirect-location``) and **appends** (``x-amz-write-offset-bytes``).

Sub-resources of the same features (``?acl``, ``?tagging``, ``?encryption``, ...) are refused
by :mod:`tierstore.server.s3.routing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tierstore.server.s3.errors import S3Error

# Header -> the values that ask for nothing tierstore lacks (compared case-insensitively);
# an empty tuple: any value is refused.
_ALLOWED_VALUES: Mapping[str, tuple[str, ...]] = {
    "x-amz-acl": ("private",),
    "x-amz-object-ownership": ("bucketownerenforced",),
    "x-amz-tagging": (),
    "x-amz-tagging-directive": ("copy",),
    "x-amz-bucket-object-lock-enabled": ("false",),
    "x-amz-storage-class": ("standard",),
    "x-amz-website-redirect-location": (),
    "x-amz-write-offset-bytes": (),
}
_PREFIXES = (
    ("x-amz-grant-", "ACL grants"),
    ("x-amz-server-side-encryption", "server-side encryption"),
    ("x-amz-copy-source-server-side-encryption", "server-side encryption"),
    ("x-amz-object-lock-", "object lock"),
)
_FEATURES = {
    "x-amz-acl": "ACLs",
    "x-amz-object-ownership": "ACLs (object ownership)",
    "x-amz-tagging": "object tagging",
    "x-amz-tagging-directive": "object tagging",
    "x-amz-bucket-object-lock-enabled": "object lock",
    "x-amz-storage-class": "storage classes",
    "x-amz-website-redirect-location": "website redirects",
    "x-amz-write-offset-bytes": "appends",
}
_WHY = {
    "ACLs": "the namespace's owner, group and mode bits decide who may read and write",
    "ACL grants": "the namespace's owner, group and mode bits decide who may read and write",
    "ACLs (object ownership)": "the namespace's owner, group and mode bits decide who may read and write",
}


def check_headers(headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Raise ``NotImplemented`` for the first header (in the order given: the request's raw
    fields) that asks for a feature the gateway lacks."""
    for raw_name, raw_value in headers:
        if raw_name in _NEVER_REFUSED or not raw_name.lower().startswith(b"x-amz-"):
            continue
        lowered, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        feature = _feature_refused(lowered, value)
        if feature is not None:
            why = _WHY.get(feature, "tierstore has no such feature")
            raise S3Error(
                "NotImplemented",
                f"{lowered}: {value[:80]!r} asks for {feature}, which tierstore's S3 gateway does not "
                f"implement ({why}).",
                details=[("Header", lowered)],
            )


def _never_refused(name: str) -> bool:
    """Whether no value of header ``name`` (lower case) asks for a feature tierstore lacks."""
    return name not in _ALLOWED_VALUES and not any(name.startswith(prefix) for prefix, _ in _PREFIXES)


# The x-amz-* headers every SDK sends (signing, checksums, framing), as they arrive: passed
# without decoding them. Which ones may pass is decided by the tables above, not listed apart.
_NEVER_REFUSED = frozenset(
    name.encode("latin-1")
    for name in (
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-security-token",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
        "x-amz-user-agent",
    )
    if _never_refused(name)
)


def _feature_refused(name: str, value: str) -> str | None:
    allowed = _ALLOWED_VALUES.get(name)
    if allowed is not None:
        return None if value.strip().lower() in allowed else _FEATURES[name]
    for prefix, feature in _PREFIXES:
        if name.startswith(prefix):
            return feature
    return None
