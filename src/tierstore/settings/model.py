"""The one settings model for a store, whatever dialect it was written in."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from tierstore.errors import ConfigError
from tierstore.settings.secret import Secret

MiB = 1024 * 1024
GiB = 1024 * MiB

ChecksumMode = Literal["when_supported", "when_required"]
RetryMode = Literal["standard", "adaptive", "legacy"]
SseAlgorithm = Literal["AES256", "aws:kms"]
ProxyScheme = Literal["http", "https"]

S3_SCHEMES = ("s3", "s3a")


@dataclass(frozen=True)
class StoreLocation:
    """Where the data lives: an S3 bucket and prefix, or a local directory (``file://``)."""

    scheme: Literal["s3", "file"]
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class AccessKeys:
    """Long-term or session keys given explicitly for a store."""

    access_key_id: str
    secret_access_key: Secret
    session_token: Secret | None = None

    def __repr__(self) -> str:
        return f"AccessKeys(access_key_id={self.access_key_id[:4]}…, secret_access_key=****)"


@dataclass(frozen=True)
class ProxySettings:
    host: str
    port: int
    scheme: ProxyScheme = "http"
    username: str | None = None
    password: Secret | None = None

    def url(self, *, with_credentials: bool = True) -> str:
        auth = ""
        if with_credentials and self.username:
            secret = f":{self.password.reveal()}" if self.password else ""
            auth = f"{self.username}{secret}@"
        return f"{self.scheme}://{auth}{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"ProxySettings({self.url(with_credentials=False)})"


@dataclass(frozen=True)
class Encryption:
    """Server-side encryption sent on every write path (put, multipart, copy)."""

    algorithm: SseAlgorithm
    kms_key_id: str | None = None


@dataclass(frozen=True)
class RetrySettings:
    """How often one request is tried, and how long to wait between tries.

    The waits double from ``interval_seconds`` up to ``max_interval_seconds``, each cut by a
    random part of up to half (so that clients restarted together do not retry together). With
    the defaults the last of 10 attempts starts 24 to 48 s after the first: enough to ride
    through a store restart. ``mode`` is botocore's and applies to control calls only.
    """

    mode: RetryMode = "standard"
    max_attempts: int = 10
    interval_seconds: float = 0.5
    max_interval_seconds: float = 8.0


@dataclass(frozen=True)
class UploadCleanup:
    """Aborting multipart uploads left behind (by a crash or a failed abort) when a server starts."""

    enabled: bool = False
    age_seconds: float = 86400.0


@dataclass(frozen=True)
class Timeouts:
    connect_seconds: float = 10.0
    read_seconds: float = 60.0


# The part buffer a streaming write holds beside those uploading: the part being filled. (Its
# pieces and their joined copy exist together only once its upload slot is reserved, so at that
# moment one fewer part is in flight: see tierstore.storage.s3.parts.)
FILLING_BUFFERS = 1
BUFFER_MAX_KEY = "tierstore.upload.buffer.max"

LimitedBy = Literal["concurrency", "buffer_max", "active_parts"]


@dataclass(frozen=True)
class UploadPlan:
    """How one streaming write runs: parts uploaded at once and the part buffers it may hold.

    ``limited_by`` names what set the concurrency: ``concurrency`` (the setting itself),
    ``buffer_max`` or ``active_parts`` (a cap that lowered it).
    """

    part_size: int
    concurrency: int
    limited_by: LimitedBy

    @property
    def buffers(self) -> int:
        return self.concurrency + FILLING_BUFFERS

    @property
    def buffer_bytes(self) -> int:
        """The most bytes of part buffers one write holds."""
        return self.buffers * self.part_size


@dataclass(frozen=True)
class MultipartSettings:
    """A streaming write holds at most ``part_size x (concurrency + 1)`` bytes of part buffers:
    the parts in flight and the one being filled (see :meth:`plan`).

    ``buffer_max`` (bytes) and ``active_parts`` (Hadoop S3A's ``fast.upload.active.blocks``: parts
    uploading at once) cap one write's buffers; the write uploads fewer parts at once to fit.
    """

    part_size: int = 8 * MiB
    concurrency: int = 4
    buffer_max: int | None = None
    active_parts: int | None = None

    def plan(self) -> UploadPlan:
        """The concurrency a write uses under the caps; ConfigError when a part cannot fit."""
        least = smallest_buffer_max(self.part_size)
        if self.buffer_max is not None and self.buffer_max < least:
            raise ConfigError(
                f"{BUFFER_MAX_KEY} (multipart.buffer_max): {format_size(self.buffer_max)} "
                f"{too_small_reason(self.part_size)}"
            )
        concurrency = self.concurrency
        limited_by: LimitedBy = "concurrency"
        if self.active_parts is not None and self.active_parts < concurrency:
            concurrency, limited_by = self.active_parts, "active_parts"
        if self.buffer_max is not None:
            fits = self.buffer_max // self.part_size - FILLING_BUFFERS
            if fits < concurrency:
                concurrency, limited_by = fits, "buffer_max"
        return UploadPlan(self.part_size, concurrency, limited_by)


def smallest_buffer_max(part_size: int) -> int:
    """The least a write's buffers may be capped at: one part uploading, one being filled."""
    return (1 + FILLING_BUFFERS) * part_size


def too_small_reason(part_size: int, part_key: str = "multipart.part_size") -> str:
    """Why a buffer cap below :func:`smallest_buffer_max` cannot work, and the value that can."""
    least = smallest_buffer_max(part_size)
    return (
        f"is below the {1 + FILLING_BUFFERS} parts of {format_size(part_size)} ({part_key}) a "
        f"streaming write needs (one uploading, one being filled); use at least "
        f"{format_size(least)} ({least} bytes) or smaller parts"
    )


def format_size(size: int) -> str:
    """Bytes in the largest binary unit that divides them: ``64 MiB``, ``1536 KiB``."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class AssumeRoleSettings:
    role_arn: str
    external_id: str | None = None
    session_name: str | None = None
    duration_seconds: int = 3600
    policy: str | None = None
    sts_endpoint: str | None = None
    sts_region: str | None = None


@dataclass(frozen=True)
class CredentialRefresh:
    """When session credentials are renewed: at ``fraction`` of their lifetime, and never later
    than ``margin_seconds`` before they expire."""

    fraction: float = 0.75
    margin_seconds: float = 60.0


@dataclass(frozen=True)
class PermissionDefaults:
    """How a mount's owner and mode are derived (Alluxio's ``alluxio.underfs.s3.*`` keys)."""

    owner_id_to_username: Mapping[str, str] = field(default_factory=dict)
    inherit_acl: bool = True
    default_mode: int = 0o700
    # Ask the store what the mount's identity may do (list, and write a probe object) at mount
    # time; see tierstore.namespace.probe. Only with inherit_acl.
    access_probe: bool = True


@dataclass(frozen=True)
class StoreSettings:
    location: StoreLocation
    endpoint: str | None = None
    region: str | None = None
    path_style: bool | None = None
    proxy: ProxySettings | None = None
    encryption: Encryption | None = None
    checksum_mode: ChecksumMode = "when_supported"
    retry: RetrySettings = field(default_factory=RetrySettings)
    timeouts: Timeouts = field(default_factory=Timeouts)
    multipart: MultipartSettings = field(default_factory=MultipartSettings)
    upload_cleanup: UploadCleanup = field(default_factory=UploadCleanup)
    wire_log: bool = False
    keys: AccessKeys | None = None
    assume_role: AssumeRoleSettings | None = None
    refresh: CredentialRefresh = field(default_factory=CredentialRefresh)
    permissions: PermissionDefaults = field(default_factory=PermissionDefaults)

    @property
    def uses_path_style(self) -> bool:
        """Path-style unless told otherwise when the endpoint is an IP address or localhost.

        Virtual-host addressing needs a DNS name per bucket, which an IP or ``localhost``
        endpoint can never give, so guessing virtual-host there only produces odd failures.
        """
        if self.path_style is not None:
            return self.path_style
        if not self.endpoint:
            return False
        host = urlsplit(self.endpoint).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    @property
    def effective_region(self) -> str:
        return self.region or "us-east-1"


def parse_location(uri: str) -> StoreLocation:
    """Parse ``s3://bucket/prefix``, ``s3a://…`` or ``file:///dir`` (or a plain absolute path)."""
    text = uri.strip()
    if text.startswith("/"):
        return StoreLocation(scheme="file", path=Path(text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"a file:// URI names no host: write file:///{parts.netloc}{parts.path}")
        if not parts.path.startswith("/"):
            raise ValueError("a file:// URI needs an absolute path, such as file:///data/store")
        return StoreLocation(scheme="file", path=Path(parts.path))
    if scheme in S3_SCHEMES:
        bucket = parts.netloc
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}: write {scheme}://BUCKET/optional/prefix")
        validate_bucket_name(bucket)
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return StoreLocation(scheme="s3", bucket=bucket, prefix=prefix)
    raise ValueError(f"unsupported scheme in {uri!r}: use s3://, s3a:// or file://")


def validate_bucket_name(bucket: str) -> None:
    if not 3 <= len(bucket) <= 63:
        raise ValueError(f"bucket name {bucket!r} must be 3 to 63 characters long")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-")
    if not set(bucket) <= allowed or not bucket[0].isalnum() or not bucket[-1].isalnum():
        raise ValueError(
            f"bucket name {bucket!r} may hold only lower-case letters, digits, '.' and '-', "
            "and must start and end with a letter or digit"
        )
