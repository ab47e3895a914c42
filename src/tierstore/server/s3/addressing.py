"""Which bucket and key a request names: path style (``/bucket/key``) or virtual-host style
(``Host: bucket.DOMAIN``, path ``/key``), and the namespace path they stand for.

Buckets are the namespace's top-level directories; a key is the path below one. The path is
decoded from the bytes the client sent (``raw_path``), as UTF-8: S3 keys are UTF-8, and a key
that is not is refused rather than guessed at.

**No aliases.** The namespace spells a path one way (single slashes, no ``.`` or ``..``); a key
that the namespace would spell differently (``a//b``, ``./a``, ``a/../b``) is refused with
``InvalidArgument`` naming it, never quietly mapped onto another key: two names for one object
would let a policy on one name be walked around through the other. A key may end in ``/``: a
directory (an S3 "folder" marker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from tierstore.namespace import paths
from tierstore.server.s3.errors import S3Error

# S3's own limit on a key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class Addressed:
    """A request's bucket (None: the service, as ListBuckets) and key (None: the bucket itself)."""

    bucket: str | None
    key: str | None

    @property
    def bucket_path(self) -> str:
        """The bucket's namespace directory."""
        assert self.bucket is not None
        return "/" + self.bucket

    @property
    def path(self) -> str:
        """The key's namespace path (a trailing ``/`` dropped: the directory itself)."""
        assert self.bucket is not None and self.key is not None
        return f"/{self.bucket}/{self.key.rstrip('/')}"

    @property
    def resource(self) -> str:
        """``/bucket/key`` as S3's error documents name it."""
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" if self.key is None else f"/{self.bucket}/{self.key}"


def address(scope: Mapping[str, Any], domains: Sequence[str]) -> Addressed:
    """The bucket and key of an ASGI request; raises :class:`S3Error` for a path that names none."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode("utf-8", "surrogateescape")
    try:
        path = unquote_to_bytes(bytes(raw)).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error(
            "InvalidURI", "The request's path is not UTF-8 once decoded: S3 keys are UTF-8."
        ) from None
    bucket = _virtual_host_bucket(scope, domains)
    if bucket is None:
        name, slash, rest = path.lstrip("/").partition("/") if path.startswith("/") else ("", "", "")
        if not path.startswith("/"):
            raise S3Error("InvalidURI", "The request's path does not start with '/'.")
        if not name:
            return Addressed(None, None)
        return Addressed(_bucket(name), _key(name, rest) if slash and rest else None)
    rest = path[1:] if path.startswith("/") else path
    return Addressed(_bucket(bucket), _key(bucket, rest) if rest else None)


def named(bucket: str, key: str) -> Addressed:
    """A bucket and key given by name (a copy's source, a key of a DeleteObjects request),
    refused as a request's path would be (``InvalidBucketName``, ``InvalidArgument``,
    ``KeyTooLongError``, each naming it)."""
    name = _bucket(bucket)
    return Addressed(name, _key(name, key))


def _virtual_host_bucket(scope: Mapping[str, Any], domains: Sequence[str]) -> str | None:
    if not domains:
        return None
    host = b""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value
            break
    text = host.decode("latin-1").lower()
    if text.startswith("["):  # an IPv6 literal never names a bucket
        return None
    text = text.rpartition(":")[0] if ":" in text else text
    for domain in domains:
        if text.endswith("." + domain) and len(text) > len(domain) + 1:
            return text[: -len(domain) - 1]
    return None


def _bucket(name: str) -> str:
    # Any top-level name the namespace holds may be addressed (CreateBucket checks S3's rules
    # for new ones); only what could not be one directory's name is refused here.
    if name in (".", "..") or "\x00" in name or not name.isprintable():
        raise S3Error("InvalidBucketName", f"{paths.shown(name)} cannot be a bucket's name.")
    return name


def _key(bucket: str, key: str) -> str:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", f"The key is longer than {MAX_KEY_BYTES} bytes.")
    body = key[:-1] if key.endswith("/") else key
    try:
        spelled = paths.normalize(f"/{bucket}/{body}")
    except paths.PathError as error:
        raise S3Error(
            "InvalidArgument", f"Key {paths.shown(key)}: {error}", details=[("ArgumentName", "key")]
        ) from None
    if spelled != f"/{bucket}/{body}":
        raise S3Error(
            "InvalidArgument",
            f"Key {paths.shown(key)} is not a path the namespace can hold as it is spelled (empty, '.' "
            "or '..' segments, or '//'): use single slashes between names.",
            details=[("ArgumentName", "key")],
        )
    return key
