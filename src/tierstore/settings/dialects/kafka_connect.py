"""Kafka Connect S3 sink JSON (the ``aws.*`` keys of the Aiven-style S3 sink connector)."""

from __future__ import annotations

from tierstore.settings import parsers as p
from tierstore.settings.keys import Dialect, KeySpec
from tierstore.settings.model import BUFFER_MAX_KEY

SSE_ALGORITHM = p.choice(
    {"aws:kms": "aws:kms", "AES256": "AES256"},
    "aws:kms or AES256",
    what="an encryption algorithm tierstore supports",
)

KEYS: tuple[KeySpec, ...] = (
    KeySpec("aws.s3.bucket.name", "bucket", p.BUCKET, "bucket the sink writes to"),
    KeySpec("aws.s3.prefix", "prefix", p.PREFIX, "key prefix inside the bucket (a directory)"),
    KeySpec("aws.access.key.id", "access_key_id", p.KEY_ID, "access key id", echo="key_id"),
    KeySpec("aws.secret.access.key", "secret_access_key", p.SECRET, "secret access key", echo="never"),
    KeySpec("aws.s3.region", "region", p.REGION, "region of the bucket"),
    KeySpec("aws.s3.endpoint", "endpoint", p.ENDPOINT, "S3 endpoint (HTTPS when given without a scheme)"),
    KeySpec("aws.s3.path.style.access.enabled", "path_style", p.BOOL, "path-style addressing"),
    KeySpec("aws.sts.role.arn", "role_arn", p.ROLE_ARN, "role to assume with STS"),
    KeySpec("aws.sts.role.external.id", "role_external_id", p.EXTERNAL_ID, "external id the role requires"),
    KeySpec("aws.sts.role.session.name", "role_session_name", p.SESSION_NAME, "role session name"),
    KeySpec(
        "aws.sts.role.session.duration", "role_duration", p.ROLE_DURATION, "role session length in seconds"
    ),
    KeySpec("aws.sts.config.endpoint", "role_sts_endpoint", p.ENDPOINT, "STS endpoint for the role"),
    KeySpec("aws.sts.config.region", "role_sts_region", p.REGION, "region to sign STS calls for"),
    KeySpec(
        "aws.sts.role.refresh.fraction",
        "refresh_fraction",
        p.FRACTION,
        "renew session credentials (role, session token, web identity) at this fraction of their lifetime",
    ),
    KeySpec(
        "aws.sts.role.refresh.margin",
        "refresh_margin",
        p.REFRESH_MARGIN,
        "renew session credentials at the latest this long before they expire",
    ),
    KeySpec(
        "aws.s3.part.size.bytes",
        "part_size",
        p.PART_SIZE,
        "multipart upload part size",
        accepts="bytes, 5 MiB to 5 GiB (`16MB`-style sizes are also read, binary units)",
        example="33554432",
    ),
    KeySpec(
        BUFFER_MAX_KEY,
        "upload_buffer_max",
        p.BUFFER_MAX,
        "most bytes of part buffers one file being written holds; it uploads fewer parts at once to fit",
    ),
    KeySpec("aws.s3.sse.algorithm", "sse_algorithm", SSE_ALGORITHM, "server-side encryption on every write"),
    KeySpec(
        "aws.s3.sse.kms.key.id", "sse_kms_key_id", p.KMS_KEY_ID, "KMS key for aws:kms (required with it)"
    ),
    KeySpec("aws.s3.proxy.host", "proxy_host", p.HOST, "HTTP proxy host"),
    KeySpec("aws.s3.proxy.port", "proxy_port", p.PORT, "proxy port (needs aws.s3.proxy.host)"),
    KeySpec(
        "aws.s3.checksum.calculation", "checksum_mode", p.CHECKSUM_MODE, "when request checksums are sent"
    ),
    KeySpec(
        "aws.s3.backoff.max.retries",
        "max_attempts",
        p.retries_as_attempts(),
        "retries after a failed attempt",
        default="9 (10 attempts)",
        aliases=("s3.part.retries",),
    ),
    KeySpec(
        "s3.retry.backoff.ms",
        "retry_interval",
        p.duration(plain_unit=0.001, high_seconds=600.0),
        "first wait before a request is tried again; each next wait doubles",
    ),
)

# Keys the sink connector and the Connect framework own: known, handed back untouched.
SINK_KEYS = frozenset(
    {
        "name",
        "connector.class",
        "tasks.max",
        "topics",
        "topics.regex",
        "key.converter",
        "value.converter",
        "header.converter",
        "bootstrap.servers",
        "transforms",
        "predicates",
        "config.action.reload",
        # tierstore's own sink keys (tierstore.sink.config) outside the prefixes below
        "rotate.interval.ms",
        "s3.multipart.cleanup.on.start",
    }
)
SINK_PREFIXES = (
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "file.",
    "format.",
    "errors.",
    "consumer.override.",
    "offset.",
    "transforms.",
    "predicates.",
)

DIALECT = Dialect(
    name="kafka-connect",
    title="Kafka Connect S3 sink JSON",
    suffixes=(".json",),
    keys=KEYS,
    location_keys=("aws.s3.bucket.name", "aws.s3.prefix"),
    strict_prefixes=("aws.",),
    # A connector config holds only connector keys, so a key nobody knows is worth a warning.
    other_keys="warn",
    file_format="json",
    endpoint_secure_default=True,
    extra_keys=SINK_KEYS,
    extra_prefixes=SINK_PREFIXES,
    wrapper_key="config",
)
