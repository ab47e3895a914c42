"""The API server's own keys, read from the same file as the root mount (beside ``tierstore.metadata.*``).

- ``tierstore.server.host`` / ``tierstore.server.port``: where to listen (127.0.0.1:9870).
- ``tierstore.server.tls.cert`` / ``tierstore.server.tls.key``: PEM files; TLS when both are set.
- ``tierstore.s3.enabled`` (default true) / ``tierstore.s3.port`` (default 9871): the S3-compatible
  gateway, on a port of its own at the same host (and with the same TLS) as the JSON API.
- ``tierstore.s3.region``: the region S3 clients must sign for (default ``us-east-1``).
- ``tierstore.s3.domain``: host names (comma-separated) under which buckets are addressed
  virtual-host style (``BUCKET.DOMAIN``); without it, path style only.
- ``tierstore.server.limits.*``: request heads, bodies, connections and uploads (each key,
  its default and its meaning: :mod:`tierstore.server.limits`).
- ``tierstore.vending.access-key`` / ``tierstore.vending.secret-key``: the identity that calls STS
  for clients (default: the mount's own base credentials, before its role), so that the
  identity the server reads its data with never needs ``sts:AssumeRole``.
- ``tierstore.vending.role.arn``: the role clients get (default: the mount's role).
- ``tierstore.vending.sts.endpoint``: where those STS calls go (default: as for the mount).
- ``tierstore.vending.duration``: seconds the vended credentials live (900..43200, default 3600).
- ``tierstore.vending.cache.fraction``: vended credentials are reused until this fraction of
  their lifetime (default 0.5); clients are told to come back then.
- ``tierstore.vending.endpoint``: the S3 endpoint clients are told, when it differs from the
  server's (a public name); default the mount's endpoint.

A nested mount may carry the ``tierstore.vending.*`` keys among its options; they override the
server's for that mount.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.namespace.config import CACHE_TTL, EMBEDDED_HOME, METADATA_URL, SECRETS_KEY_FILE
from tierstore.namespace.config import read_tierstore_keys as read_own_keys
from tierstore.server.limits import (
    DEFAULT_BODY_MIN_RATE,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_JSON_BODY,
    DEFAULT_UPLOADS,
    DEFAULT_UPLOADS_PER_USER,
    ServerLimits,
    default_connections,
)
from tierstore.settings.model import AccessKeys
from tierstore.settings.secret import Secret

HOST = "tierstore.server.host"
PORT = "tierstore.server.port"
TLS_CERT = "tierstore.server.tls.cert"
TLS_KEY = "tierstore.server.tls.key"
S3_ENABLED = "tierstore.s3.enabled"
S3_PORT = "tierstore.s3.port"
S3_REGION = "tierstore.s3.region"
S3_DOMAIN = "tierstore.s3.domain"
S3_KEYS = (S3_ENABLED, S3_PORT, S3_REGION, S3_DOMAIN)
VENDING_ACCESS_KEY = "tierstore.vending.access-key"
VENDING_SECRET_KEY = "tierstore.vending.secret-key"
VENDING_ROLE_ARN = "tierstore.vending.role.arn"
VENDING_STS_ENDPOINT = "tierstore.vending.sts.endpoint"
VENDING_DURATION = "tierstore.vending.duration"
VENDING_CACHE_FRACTION = "tierstore.vending.cache.fraction"
VENDING_ENDPOINT = "tierstore.vending.endpoint"

LIMIT_JSON_BODY = "tierstore.server.limits.json-body"
LIMIT_HEADER_TIMEOUT = "tierstore.server.limits.header-timeout"
LIMIT_IDLE_TIMEOUT = "tierstore.server.limits.idle-timeout"
LIMIT_CONNECTIONS = "tierstore.server.limits.connections"
LIMIT_BODY_TIMEOUT = "tierstore.server.limits.body-timeout"
LIMIT_BODY_MIN_RATE = "tierstore.server.limits.body-min-rate"
LIMIT_UPLOADS_PER_USER = "tierstore.server.limits.uploads-per-user"
LIMIT_UPLOADS = "tierstore.server.limits.uploads"
LIMIT_KEYS = (
    LIMIT_JSON_BODY,
    LIMIT_HEADER_TIMEOUT,
    LIMIT_IDLE_TIMEOUT,
    LIMIT_CONNECTIONS,
    LIMIT_BODY_TIMEOUT,
    LIMIT_BODY_MIN_RATE,
    LIMIT_UPLOADS_PER_USER,
    LIMIT_UPLOADS,
)

SERVER_KEYS = (HOST, PORT, TLS_CERT, TLS_KEY, *LIMIT_KEYS)
VENDING_KEYS = (
    VENDING_ACCESS_KEY,
    VENDING_SECRET_KEY,
    VENDING_ROLE_ARN,
    VENDING_STS_ENDPOINT,
    VENDING_DURATION,
    VENDING_CACHE_FRACTION,
    VENDING_ENDPOINT,
)
KNOWN_KEYS = (METADATA_URL, CACHE_TTL, SECRETS_KEY_FILE, *SERVER_KEYS, *VENDING_KEYS, *S3_KEYS)
# An unknown key under these is a mistake worth an error (other parts own other tierstore.* keys).
OWN_PREFIXES = ("tierstore.server.", "tierstore.vending.", "tierstore.secrets.", "tierstore.s3.")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9870
DEFAULT_S3_PORT = 9871
DEFAULT_S3_REGION = "us-east-1"
DEFAULT_DURATION = 3600
DEFAULT_CACHE_FRACTION = 0.5
MIN_DURATION = 900
MAX_DURATION = 43200


@dataclass(frozen=True)
class VendingOptions:
    """How credentials are vended for one mount (the server's keys, or a mount's overrides)."""

    keys: AccessKeys | None = None
    role_arn: str | None = None
    sts_endpoint: str | None = None
    duration_seconds: int = DEFAULT_DURATION
    cache_fraction: float = DEFAULT_CACHE_FRACTION
    endpoint: str | None = None

    def __repr__(self) -> str:
        return (
            f"VendingOptions(keys={self.keys!r}, role_arn={self.role_arn!r}, "
            f"sts_endpoint={self.sts_endpoint!r}, duration_seconds={self.duration_seconds}, "
            f"cache_fraction={self.cache_fraction}, endpoint={self.endpoint!r})"
        )


@dataclass(frozen=True)
class S3GatewayOptions:
    """The S3-compatible gateway: on or off, its port, the region clients sign for, and the
    domains whose sub-domains name buckets (virtual-host addressing)."""

    enabled: bool = True
    port: int = DEFAULT_S3_PORT
    region: str = DEFAULT_S3_REGION
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiServerOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    vending: VendingOptions = VendingOptions()
    # Where the first admin's token is written: beside the config, or ~/.tierstore.
    home: Path = EMBEDDED_HOME
    source: str = "embedded default"
    limits: ServerLimits = field(default_factory=ServerLimits)
    s3: S3GatewayOptions = S3GatewayOptions()

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def load_api_options(path: Path | None) -> ApiServerOptions:
    """The server's own keys from ``path`` (None: the embedded default, all defaults)."""
    if path is None:
        return ApiServerOptions()
    values = read_tierstore_keys(path)
    source = str(path)
    host = str(values.get(HOST) or DEFAULT_HOST)
    port = _integer(values, PORT, DEFAULT_PORT, 0, 65535, source=source)
    cert = _path(values, TLS_CERT, path)
    key = _path(values, TLS_KEY, path)
    if (cert is None) != (key is None):
        missing = TLS_KEY if key is None else TLS_CERT
        raise ConfigError(f"{source}: {missing} is missing: TLS needs both {TLS_CERT} and {TLS_KEY}")
    for name, file in ((TLS_CERT, cert), (TLS_KEY, key)):
        if file is not None and not file.is_file():
            raise ConfigError(f"{source}: {name}: {file} does not exist or is not a file")
    return ApiServerOptions(
        host=host,
        port=port,
        tls_cert=cert,
        tls_key=key,
        vending=vending_options(values, VendingOptions(), source),
        home=path.resolve().parent,
        source=source,
        limits=_limits(values, source),
        s3=_s3_options(values, source),
    )


def _s3_options(values: Mapping[str, object], source: str) -> S3GatewayOptions:
    enabled_text = str(values.get(S3_ENABLED, "true")).strip().lower()
    if enabled_text not in ("true", "false"):
        raise ConfigError(f"{source}: {S3_ENABLED}: {enabled_text!r} is not true or false")
    region = str(values.get(S3_REGION) or DEFAULT_S3_REGION).strip()
    if not region or not all(part.isalnum() for part in region.split("-")):
        raise ConfigError(f"{source}: {S3_REGION}: {region!r} is not a region name such as us-east-1")
    domains = tuple(
        name.strip().lower().rstrip(".")
        for name in str(values.get(S3_DOMAIN) or "").split(",")
        if name.strip()
    )
    for name in domains:
        if ":" in name or "/" in name:
            raise ConfigError(
                f"{source}: {S3_DOMAIN}: {name!r} is not a host name; write the domain only (s3.example.com)"
            )
    return S3GatewayOptions(
        enabled=enabled_text == "true",
        port=_integer(values, S3_PORT, DEFAULT_S3_PORT, 0, 65535, source=source),
        region=region,
        domains=domains,
    )


def _limits(values: Mapping[str, object], source: str) -> ServerLimits:
    def number(key: str, default: int, low: int, high: int) -> int:
        return _integer(values, key, default, low, high, source=source)

    return ServerLimits(
        json_body=number(LIMIT_JSON_BODY, DEFAULT_JSON_BODY, 1024, 64 * 1024 * 1024),
        header_timeout=number(LIMIT_HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT, 1, 3600),
        idle_timeout=number(LIMIT_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, 1, 3600),
        connections=number(LIMIT_CONNECTIONS, default_connections(), 1, 1_000_000),
        body_timeout=number(LIMIT_BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT, 1, 3600),
        body_min_rate=number(LIMIT_BODY_MIN_RATE, DEFAULT_BODY_MIN_RATE, 0, 1024 * 1024 * 1024),
        uploads_per_user=number(LIMIT_UPLOADS_PER_USER, DEFAULT_UPLOADS_PER_USER, 1, 10_000),
        uploads=number(LIMIT_UPLOADS, DEFAULT_UPLOADS, 1, 10_000),
    )


def vending_options(values: Mapping[str, object], base: VendingOptions, source: str) -> VendingOptions:
    """``base`` with the ``tierstore.vending.*`` keys found in ``values`` put over it."""
    access = values.get(VENDING_ACCESS_KEY)
    secret = values.get(VENDING_SECRET_KEY)
    keys = base.keys
    if access or secret:
        if not access or not secret:
            missing = VENDING_SECRET_KEY if access else VENDING_ACCESS_KEY
            raise ConfigError(
                f"{source}: {missing} is missing: the vending identity needs both "
                f"{VENDING_ACCESS_KEY} and {VENDING_SECRET_KEY}"
            )
        keys = AccessKeys(access_key_id=str(access), secret_access_key=Secret(str(secret)))
    role = values.get(VENDING_ROLE_ARN)
    if role is not None and not str(role).startswith("arn:"):
        raise ConfigError(
            f"{source}: {VENDING_ROLE_ARN}: {role!r} is not a role ARN; write arn:aws:iam::ACCOUNT:role/NAME"
        )
    fraction_text = values.get(VENDING_CACHE_FRACTION, base.cache_fraction)
    try:
        fraction = float(str(fraction_text))
    except ValueError:
        fraction = -1.0
    if not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"{source}: {VENDING_CACHE_FRACTION}: {fraction_text!r} must be a number between 0 and 1 "
            "(exclusive), e.g. 0.5"
        )
    options = replace(
        base,
        keys=keys,
        role_arn=str(role) if role else base.role_arn,
        sts_endpoint=_url(values, VENDING_STS_ENDPOINT, source) or base.sts_endpoint,
        duration_seconds=_integer(
            values, VENDING_DURATION, base.duration_seconds, MIN_DURATION, MAX_DURATION, source=source
        ),
        cache_fraction=fraction,
        endpoint=_url(values, VENDING_ENDPOINT, source) or base.endpoint,
    )
    return options


def read_tierstore_keys(path: Path) -> dict[str, object]:
    """Every ``tierstore.*`` key of the file; an unknown server or vending key is an error."""
    found = read_own_keys(path, KNOWN_KEYS)
    for key in found:
        if key.startswith(OWN_PREFIXES) and key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
            raise ConfigError(f"{path}: {key}: unknown tierstore key; {hint}")
    return found


def _integer(
    values: Mapping[str, object], key: str, default: int, low: int, high: int, *, source: str
) -> int:
    raw = values.get(key, default)
    try:
        number = int(str(raw))
    except ValueError:
        raise ConfigError(f"{source}: {key}: {raw!r} is not a whole number; use {low} to {high}") from None
    if not low <= number <= high:
        raise ConfigError(f"{source}: {key}: {number} is out of range; use {low} to {high}")
    return number


def _path(values: Mapping[str, object], key: str, config: Path) -> Path | None:
    raw = values.get(key)
    if not raw:
        return None
    file = Path(str(raw)).expanduser()
    return file if file.is_absolute() else config.resolve().parent / file


def _url(values: Mapping[str, object], key: str, source: str) -> str | None:
    raw = values.get(key)
    if not raw:
        return None
    text = str(raw)
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: {key}: {text!r} is not a URL; write http(s)://host[:port]")
    return text.rstrip("/")
