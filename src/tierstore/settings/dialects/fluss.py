"""Fluss ``server.yaml``: Fluss (like Flink) mirrors Hadoop S3A's ``fs.s3a.*`` keys as ``s3.*``."""

from __future__ import annotations

from tierstore.settings import parsers as p
from tierstore.settings.keys import Dialect, Echo, FieldName, KeySpec
from tierstore.settings.model import BUFFER_MAX_KEY
from tierstore.settings.parsers import AnyParser

SSE_ALGORITHM = p.choice(
    {"SSE-KMS": "aws:kms", "aws:kms": "aws:kms", "SSE-S3": "AES256", "AES256": "AES256", "none": "none"},
    "SSE-S3 (or AES256), SSE-KMS (or aws:kms) or none",
    what="an encryption algorithm tierstore supports",
)


def _key(
    name: str,
    field: FieldName,
    parser: AnyParser,
    doc: str,
    *,
    aliases: tuple[str, ...] = (),
    echo: Echo = "value",
    default: str | None = None,
    accepts: str | None = None,
) -> KeySpec:
    # Every s3.* spelling is also accepted as the fs.s3a.* key it mirrors, as Flink does.
    spellings = (name, *aliases)
    mirrored = tuple(f"fs.s3a.{n[3:]}" for n in spellings if n.startswith("s3."))
    all_aliases = tuple(dict.fromkeys((*aliases, *mirrored)))
    return KeySpec(name, field, parser, doc, all_aliases, echo, default, accepts)


MS = 0.001

KEYS: tuple[KeySpec, ...] = (
    KeySpec("remote.data.dir", "location", p.LOCATION, "where the data lives"),
    _key(
        "s3.access-key",
        "access_key_id",
        p.KEY_ID,
        "access key id",
        aliases=("s3.access.key",),
        echo="key_id",
    ),
    _key(
        "s3.secret-key",
        "secret_access_key",
        p.SECRET,
        "secret access key",
        aliases=("s3.secret.key",),
        echo="never",
    ),
    _key(
        "s3.session-token",
        "session_token",
        p.SECRET,
        "session token for temporary keys",
        aliases=("s3.session.token",),
        echo="never",
    ),
    _key("s3.region", "region", p.REGION, "region of the bucket", aliases=("s3.endpoint.region",)),
    _key(
        "s3.endpoint",
        "endpoint",
        p.ENDPOINT,
        "S3 endpoint; without a scheme, see `s3.connection.ssl.enabled`",
    ),
    _key(
        "s3.connection.ssl.enabled",
        "endpoint_secure",
        p.BOOL,
        "HTTPS (true) or HTTP (false) for an endpoint given without a scheme",
        default="true",
    ),
    _key(
        "s3.path-style-access",
        "path_style",
        p.BOOL,
        "path-style addressing",
        aliases=("s3.path.style.access",),
    ),
    _key("s3.assumed.role.arn", "role_arn", p.ROLE_ARN, "role to assume with STS"),
    _key("s3.assumed.role.sts.endpoint", "role_sts_endpoint", p.ENDPOINT, "STS endpoint for the role"),
    _key("s3.assumed.role.sts.endpoint.region", "role_sts_region", p.REGION, "region to sign STS calls for"),
    _key("s3.assumed.role.session.name", "role_session_name", p.SESSION_NAME, "role session name"),
    _key("s3.assumed.role.session.duration", "role_duration", p.ROLE_DURATION, "role session length"),
    _key("s3.assumed.role.external.id", "role_external_id", p.EXTERNAL_ID, "external id the role requires"),
    _key("s3.assumed.role.policy", "role_policy", p.POLICY, "session policy that narrows the role"),
    _key(
        "s3.assumed.role.refresh.fraction",
        "refresh_fraction",
        p.FRACTION,
        "renew session credentials (role, session token, web identity) at this fraction of their lifetime",
    ),
    _key(
        "s3.assumed.role.refresh.margin",
        "refresh_margin",
        p.REFRESH_MARGIN,
        "renew session credentials at the latest this long before they expire",
    ),
    _key("s3.proxy.host", "proxy_host", p.HOST, "HTTP proxy host"),
    _key("s3.proxy.port", "proxy_port", p.PORT, "proxy port (needs `s3.proxy.host`)"),
    _key("s3.proxy.ssl.enabled", "proxy_https", p.BOOL, "talk HTTPS to the proxy"),
    _key("s3.proxy.username", "proxy_username", p.USERNAME, "proxy user"),
    _key("s3.proxy.password", "proxy_password", p.SECRET, "proxy password", echo="never"),
    _key(
        "s3.encryption.algorithm",
        "sse_algorithm",
        SSE_ALGORITHM,
        "server-side encryption on every write",
        aliases=("s3.server-side-encryption-algorithm",),
    ),
    _key(
        "s3.encryption.key",
        "sse_kms_key_id",
        p.KMS_KEY_ID,
        "KMS key for SSE-KMS (required with it)",
        aliases=("s3.server-side-encryption.key",),
    ),
    _key("s3.checksum.calculation", "checksum_mode", p.CHECKSUM_MODE, "when request checksums are sent"),
    _key("s3.retry.mode", "retry_mode", p.RETRY_MODE, "retry strategy"),
    _key(
        "s3.attempts.maximum",
        "max_attempts",
        p.integer(1, 100, 5),
        "attempts per request, the first included",
    ),
    _key(
        "s3.retry.interval",
        "retry_interval",
        p.duration(plain_unit=MS, high_seconds=600.0),
        "first wait before a request is tried again; each next wait doubles",
    ),
    _key(
        "s3.retry.interval.max",
        "retry_max_interval",
        p.duration(plain_unit=MS, high_seconds=600.0),
        "longest wait between two tries of a request",
    ),
    _key(
        "s3.connection.establish.timeout",
        "connect_timeout",
        p.duration(plain_unit=MS),
        "time to open a connection",
    ),
    _key(
        "s3.connection.timeout",
        "read_timeout",
        p.duration(plain_unit=MS),
        "time to wait for data on a socket",
    ),
    _key("s3.multipart.size", "part_size", p.PART_SIZE, "multipart upload part size"),
    _key("s3.multipart.concurrency", "upload_concurrency", p.integer(1, 256, 8), "parts uploaded at once"),
    _key(
        "s3.fast.upload.active.blocks",
        "upload_active_parts",
        p.integer(1, 256, 4),
        "parts one streaming write uploads at once, at most (S3A's per-stream cap); the write "
        "holds this many part buffers plus the one being filled",
    ),
    _key(
        BUFFER_MAX_KEY,
        "upload_buffer_max",
        p.BUFFER_MAX,
        "most bytes of part buffers one streaming write holds; it uploads fewer parts at once to fit",
    ),
    _key(
        "s3.multipart.purge",
        "upload_cleanup",
        p.BOOL,
        "abort multipart uploads left behind when the server starts",
    ),
    _key(
        "s3.multipart.purge.age",
        "upload_cleanup_age",
        p.duration(plain_unit=1.0, high_seconds=365 * 86400.0),
        "only uploads started longer ago than this are aborted",
    ),
    _key("s3.wire.logging", "wire_log", p.BOOL, "log every request and response (never secrets)"),
)

_OWN_CHAIN = "not read: tierstore uses the keys given here, or else its own credential chain"
_IN_MEMORY = (
    "not read: tierstore keeps parts in memory, never on disk; cap them with "
    f"s3.fast.upload.active.blocks or {BUFFER_MAX_KEY}"
)

DIALECT = Dialect(
    name="fluss",
    title="Fluss server.yaml",
    suffixes=(".yaml", ".yml"),
    keys=KEYS,
    location_keys=("remote.data.dir",),
    strict_prefixes=("s3.", "fs.s3a."),
    # server.yaml is shared with the rest of Fluss (bind.listeners, zookeeper.address, …).
    other_keys="ignore_unless_close",
    file_format="yaml",
    endpoint_secure_default=True,
    nested=True,
    unused_keys={
        "remote.data.dirs": "tierstore reads one location, from remote.data.dir",
        "s3.aws.credentials.provider": _OWN_CHAIN,
        "fs.s3a.aws.credentials.provider": _OWN_CHAIN,
        "s3.fast.upload.buffer": _IN_MEMORY,
        "fs.s3a.fast.upload.buffer": _IN_MEMORY,
        "s3.retry.limit": "not read: tierstore has one retry level, s3.attempts.maximum tries "
        "per request with waits from s3.retry.interval (S3A retries again around its SDK's)",
    },
)
