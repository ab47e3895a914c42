"""Alluxio ``.properties`` files and mount options (``alluxio.underfs.s3.*`` and ``aws.*`` keys)."""

from __future__ import annotations

from tierstore.settings import parsers as p
from tierstore.settings.keys import Dialect, KeySpec
from tierstore.settings.model import BUFFER_MAX_KEY

UFS = "alluxio.underfs.s3."
ROOT_MOUNT_OPTION = "alluxio.master.mount.table.root.option."
LOCATION_KEY = "alluxio.master.mount.table.root.ufs"
MS = 0.001

KEYS: tuple[KeySpec, ...] = (
    KeySpec(LOCATION_KEY, "location", p.LOCATION, "root mount location (properties files only)"),
    KeySpec("aws.accessKeyId", "access_key_id", p.KEY_ID, "access key id", echo="key_id"),
    KeySpec("aws.secretKey", "secret_access_key", p.SECRET, "secret access key", echo="never"),
    KeySpec(
        f"{UFS}endpoint", "endpoint", p.ENDPOINT, "S3 endpoint; without a scheme, see secure.http.enabled"
    ),
    KeySpec(
        f"{UFS}secure.http.enabled",
        "endpoint_secure",
        p.BOOL,
        "HTTPS (true) or HTTP (false) for an endpoint given without a scheme",
        default="false (as in Alluxio)",
    ),
    KeySpec(f"{UFS}endpoint.region", "region", p.REGION, "region to sign for at the endpoint"),
    KeySpec(f"{UFS}region", "region", p.REGION, "region of the bucket"),
    KeySpec(
        f"{UFS}disable.dns.buckets",
        "path_style",
        p.BOOL,
        "true = path-style addressing (no bucket DNS names)",
    ),
    KeySpec(f"{UFS}proxy.host", "proxy_host", p.HOST, "HTTP proxy host"),
    KeySpec(f"{UFS}proxy.port", "proxy_port", p.PORT, "proxy port (needs proxy.host)"),
    KeySpec(
        f"{UFS}proxy.https.only",
        "proxy_https",
        p.BOOL,
        "talk HTTPS to the proxy",
        default="false (Alluxio's own default is true)",
    ),
    KeySpec(
        f"{UFS}server.side.encryption.enabled",
        "sse_enabled",
        p.BOOL,
        "SSE-S3 (AES256) on every write; with sse.kms.key.id, SSE-KMS",
    ),
    KeySpec(f"{UFS}sse.kms.key.id", "sse_kms_key_id", p.KMS_KEY_ID, "KMS key; given, writes use SSE-KMS"),
    KeySpec(
        f"{UFS}owner.id.to.username.mapping", "owner_mapping", p.ID_MAPPING, "bucket owner id → user name"
    ),
    KeySpec(f"{UFS}inherit.acl", "inherit_acl", p.BOOL, "derive permissions from the bucket ACL"),
    KeySpec(f"{UFS}default.mode", "default_mode", p.OCTAL_MODE, "mode of files and directories"),
    KeySpec(
        f"{UFS}access.probe",
        "access_probe",
        p.BOOL,
        "with inherit.acl: check the mount keys' real access at mount time (a list, and a "
        "probe object written and deleted)",
    ),
    KeySpec(
        f"{UFS}connection.timeout", "connect_timeout", p.duration(plain_unit=MS), "time to open a connection"
    ),
    KeySpec(
        f"{UFS}socket.timeout", "read_timeout", p.duration(plain_unit=MS), "time to wait for data on a socket"
    ),
    KeySpec(f"{UFS}upload.threads.max", "upload_concurrency", p.integer(1, 256, 8), "parts uploaded at once"),
    KeySpec(f"{UFS}streaming.upload.partition.size", "part_size", p.PART_SIZE, "multipart upload part size"),
    KeySpec(
        BUFFER_MAX_KEY,
        "upload_buffer_max",
        p.BUFFER_MAX,
        "most bytes of part buffers one streaming write holds; it uploads fewer parts at once to fit",
    ),
    KeySpec(
        f"{UFS}checksum.calculation", "checksum_mode", p.CHECKSUM_MODE, "when request checksums are sent"
    ),
    KeySpec(
        f"{UFS}max.error.retry",
        "max_attempts",
        p.retries_as_attempts(),
        "retries after a failed attempt",
        default="9 (10 attempts)",
    ),
    KeySpec(
        "alluxio.underfs.object.store.read.retry.base.sleep",
        "retry_interval",
        p.duration(plain_unit=MS, high_seconds=600.0),
        "first wait before a request is tried again; each next wait doubles",
    ),
    KeySpec(
        "alluxio.underfs.object.store.read.retry.max.sleep",
        "retry_max_interval",
        p.duration(plain_unit=MS, high_seconds=600.0),
        "longest wait between two tries of a request",
    ),
    KeySpec(
        "alluxio.underfs.cleanup.enabled",
        "upload_cleanup",
        p.BOOL,
        "abort multipart uploads left behind when the server starts",
    ),
    KeySpec(
        f"{UFS}intermediate.upload.clean.age",
        "upload_cleanup_age",
        p.duration(plain_unit=MS, high_seconds=365 * 86400.0),
        "only uploads started longer ago than this are aborted",
    ),
    KeySpec(f"{UFS}wire.logging", "wire_log", p.BOOL, "log every request and response (never secrets)"),
    KeySpec(f"{UFS}assumed.role.arn", "role_arn", p.ROLE_ARN, "role to assume with STS"),
    KeySpec(f"{UFS}assumed.role.sts.endpoint", "role_sts_endpoint", p.ENDPOINT, "STS endpoint for the role"),
    KeySpec(
        f"{UFS}assumed.role.sts.endpoint.region", "role_sts_region", p.REGION, "region to sign STS calls for"
    ),
    KeySpec(f"{UFS}assumed.role.session.name", "role_session_name", p.SESSION_NAME, "role session name"),
    KeySpec(f"{UFS}assumed.role.session.duration", "role_duration", p.ROLE_DURATION, "role session length"),
    KeySpec(
        f"{UFS}assumed.role.external.id", "role_external_id", p.EXTERNAL_ID, "external id the role requires"
    ),
    KeySpec(f"{UFS}assumed.role.policy", "role_policy", p.POLICY, "session policy that narrows the role"),
    KeySpec(
        f"{UFS}assumed.role.refresh.fraction",
        "refresh_fraction",
        p.FRACTION,
        "renew session credentials (role, session token, web identity) at this fraction of their lifetime",
    ),
    KeySpec(
        f"{UFS}assumed.role.refresh.margin",
        "refresh_margin",
        p.REFRESH_MARGIN,
        "renew session credentials at the latest this long before they expire",
    ),
)

_UNUSED = "an Alluxio setting tierstore does not use; it has no effect here"

DIALECT = Dialect(
    name="alluxio",
    title="Alluxio properties and mount options",
    suffixes=(".properties",),
    keys=KEYS,
    location_keys=(LOCATION_KEY,),
    strict_prefixes=(UFS, "aws."),
    # alluxio-site.properties also configures masters, workers, journals…
    other_keys="ignore_unless_close",
    file_format="properties",
    endpoint_secure_default=False,
    kms_key_implies_kms=True,
    strip_prefixes=(ROOT_MOUNT_OPTION,),
    unused_keys={
        f"{UFS}{name}": _UNUSED
        for name in (
            "admin.threads.max",
            "threads.max",
            "bulk.delete.enabled",
            "directory.suffix",
            "intermediate.upload.clean.age",
            "list.objects.v1",
            "request.timeout",
            "signer.algorithm",
            "streaming.upload.enabled",
            "connection.ttl",
        )
    },
)
