"""One builder: from dialect-neutral fields to a ``StoreSettings``, with the checks across keys.

The loader has already parsed each value; here we check what only shows when keys are seen
together (keys without their secret, SSE-KMS without a key id, a proxy port without a host…)
and apply the defaults. Every problem is collected; ``None`` comes back if any is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar, cast, get_args

from tierstore.settings.keys import Dialect, FieldName
from tierstore.settings.model import (
    AccessKeys,
    AssumeRoleSettings,
    ChecksumMode,
    CredentialRefresh,
    Encryption,
    MultipartSettings,
    PermissionDefaults,
    ProxySettings,
    RetryMode,
    RetrySettings,
    SseAlgorithm,
    StoreLocation,
    StoreSettings,
    Timeouts,
    UploadCleanup,
    format_size,
    parse_location,
    smallest_buffer_max,
    too_small_reason,
)
from tierstore.settings.problems import Level, Problem
from tierstore.settings.secret import Secret

T = TypeVar("T")

KEY_FIELDS: tuple[FieldName, ...] = ("access_key_id", "secret_access_key", "session_token")
ROLE_FIELDS: tuple[FieldName, ...] = (
    "role_arn",
    "role_external_id",
    "role_session_name",
    "role_duration",
    "role_policy",
    "role_sts_endpoint",
    "role_sts_region",
)
PROXY_FIELDS: tuple[FieldName, ...] = (
    "proxy_host",
    "proxy_port",
    "proxy_https",
    "proxy_username",
    "proxy_password",
)
SSE_FIELDS: tuple[FieldName, ...] = ("sse_algorithm", "sse_enabled", "sse_kms_key_id")

# When a layer (mount options) sets any of these, the whole group of the base is replaced rather
# than mixed: a new key id with the base's secret, or a new role with the base's external id,
# would be a different identity nobody asked for.
REPLACING: Mapping[FieldName, tuple[FieldName, ...]] = {
    **dict.fromkeys(KEY_FIELDS, KEY_FIELDS),
    **dict.fromkeys(SSE_FIELDS, SSE_FIELDS),
    "role_arn": ROLE_FIELDS,
    "proxy_host": PROXY_FIELDS,
}


@dataclass(frozen=True)
class Given:
    value: object
    key: str | None  # None: inherited from base settings, not written by the user
    line: int | None = None


class ParsedFields:
    """Parsed values by field, remembering which key (and line) set each one."""

    def __init__(self, given: Mapping[FieldName, Given] | None = None) -> None:
        self._given: dict[FieldName, Given] = dict(given or {})
        # Fields whose key was written with a value that did not parse: already reported, so
        # the checks across keys treat them as present instead of piling on "X without Y".
        self.rejected: set[FieldName] = set()

    def mentioned(self, name: FieldName) -> bool:
        return name in self._given or name in self.rejected

    def __contains__(self, name: FieldName) -> bool:
        return name in self._given

    def names(self) -> list[FieldName]:
        return list(self._given)

    def given(self, name: FieldName) -> Given | None:
        return self._given.get(name)

    def put(self, name: FieldName, given: Given) -> None:
        self._given[name] = given

    def drop(self, name: FieldName) -> None:
        self._given.pop(name, None)

    def _typed(self, name: FieldName, kind: type[T]) -> T | None:
        given = self._given.get(name)
        if given is None:
            return None
        if not isinstance(given.value, kind):
            raise TypeError(f"field {name} holds {type(given.value).__name__}, not {kind.__name__}")
        return given.value

    def text(self, name: FieldName) -> str | None:
        return self._typed(name, str)

    def flag(self, name: FieldName) -> bool | None:
        return self._typed(name, bool)

    def number(self, name: FieldName) -> int | None:
        return self._typed(name, int)

    def seconds(self, name: FieldName) -> float | None:
        return self._typed(name, float)

    def fraction(self, name: FieldName) -> float | None:
        return self._typed(name, float)

    def secret(self, name: FieldName) -> Secret | None:
        return self._typed(name, Secret)

    def location(self, name: FieldName) -> StoreLocation | None:
        return self._typed(name, StoreLocation)

    def mapping(self, name: FieldName) -> dict[str, str] | None:
        return self._typed(name, dict)


def fields_from_settings(settings: StoreSettings) -> ParsedFields:
    """A ``StoreSettings`` as fields, so a layer of options can be put over it."""
    values: dict[FieldName, object] = {
        "endpoint": settings.endpoint,
        "region": settings.region,
        "path_style": settings.path_style,
        "checksum_mode": settings.checksum_mode,
        "retry_mode": settings.retry.mode,
        "max_attempts": settings.retry.max_attempts,
        "retry_interval": settings.retry.interval_seconds,
        "retry_max_interval": settings.retry.max_interval_seconds,
        "upload_cleanup": settings.upload_cleanup.enabled,
        "upload_cleanup_age": settings.upload_cleanup.age_seconds,
        "connect_timeout": settings.timeouts.connect_seconds,
        "read_timeout": settings.timeouts.read_seconds,
        "part_size": settings.multipart.part_size,
        "upload_concurrency": settings.multipart.concurrency,
        "upload_buffer_max": settings.multipart.buffer_max,
        "upload_active_parts": settings.multipart.active_parts,
        "wire_log": settings.wire_log,
        "refresh_fraction": settings.refresh.fraction,
        "refresh_margin": settings.refresh.margin_seconds,
        "owner_mapping": dict(settings.permissions.owner_id_to_username),
        "inherit_acl": settings.permissions.inherit_acl,
        "default_mode": settings.permissions.default_mode,
        "access_probe": settings.permissions.access_probe,
    }
    if settings.keys:
        values["access_key_id"] = settings.keys.access_key_id
        values["secret_access_key"] = settings.keys.secret_access_key
        values["session_token"] = settings.keys.session_token
    if role := settings.assume_role:
        values["role_arn"] = role.role_arn
        values["role_external_id"] = role.external_id
        values["role_session_name"] = role.session_name
        values["role_duration"] = role.duration_seconds
        values["role_policy"] = role.policy
        values["role_sts_endpoint"] = role.sts_endpoint
        values["role_sts_region"] = role.sts_region
    if proxy := settings.proxy:
        values["proxy_host"] = proxy.host
        values["proxy_port"] = proxy.port
        values["proxy_https"] = proxy.scheme == "https"
        values["proxy_username"] = proxy.username
        values["proxy_password"] = proxy.password
    if settings.encryption:
        values["sse_algorithm"] = settings.encryption.algorithm
        values["sse_kms_key_id"] = settings.encryption.kms_key_id
    # A base built by hand may say 30 where the parsers would give 30.0 seconds.
    floats: tuple[FieldName, ...] = (
        "connect_timeout",
        "read_timeout",
        "refresh_margin",
        "retry_interval",
        "retry_max_interval",
        "upload_cleanup_age",
    )
    for name in floats:
        if isinstance(values[name], int):
            values[name] = float(cast(int, values[name]))
    fields = ParsedFields()
    for name, value in values.items():
        if value is not None:
            fields.put(name, Given(value, None))
    return fields


def layer(base: ParsedFields, top: ParsedFields) -> ParsedFields:
    merged = ParsedFields({name: given for name in base.names() if (given := base.given(name))})
    merged.rejected = set(top.rejected)
    for name in top.names():
        for replaced in REPLACING.get(name, ()):
            merged.drop(replaced)
    for name in top.names():
        given = top.given(name)
        if given is not None:
            merged.put(name, given)
    return merged


class _Builder:
    def __init__(self, dialect: Dialect, source: str) -> None:
        self.dialect = dialect
        self.source = source
        self.problems: list[Problem] = []

    def report(self, level: Level, given: Given | None, message: str, *, key: str | None = None) -> None:
        where = given.key if given is not None and given.key is not None else key
        line = given.line if given is not None else None
        self.problems.append(Problem(level, where, message, self.source, line))

    def key(self, name: FieldName) -> str:
        return self.dialect.key_for(name)

    # --- checks on what one layer wrote ----------------------------------------------

    def check_pairs(self, fields: ParsedFields) -> None:
        has_id, has_secret = fields.mentioned("access_key_id"), fields.mentioned("secret_access_key")
        if has_id != has_secret:
            pair: tuple[FieldName, FieldName] = ("access_key_id", "secret_access_key")
            present, missing = pair if has_id else (pair[1], pair[0])
            self.report(
                "error",
                fields.given(present),
                f"is given without {self.key(missing)}; give both or neither",
            )
        if "session_token" in fields and not has_id:
            self.report(
                "error",
                fields.given("session_token"),
                f"is given without {self.key('access_key_id')} and {self.key('secret_access_key')}; "
                "a session token belongs to a key pair",
            )

    def check_retry(self, given: ParsedFields, fields: ParsedFields) -> None:
        """Retry keys that cannot all take effect, said where the file gives them."""
        interval, ceiling = fields.seconds("retry_interval"), fields.seconds("retry_max_interval")
        if interval is not None and ceiling is not None and interval > ceiling:
            self.report(
                "error",
                given.given("retry_interval") or given.given("retry_max_interval"),
                f"is {interval:g} s, more than {self.key('retry_max_interval')} ({ceiling:g} s); "
                "the first wait must not be longer than the longest",
            )
        mode = given.given("retry_mode")
        if mode is not None and mode.value != "standard":
            self.report(
                "warning",
                mode,
                f"= {mode.value} applies to botocore's control calls (STS, ACLs, upload listings) "
                "only; data calls (obstore, part uploads) retry with tierstore's backoff from "
                f"{self.key('retry_interval')}",
            )

    def check_buffer_max(self, fields: ParsedFields) -> None:
        """A buffer cap must hold the parts of the size in use: one uploading, one being filled."""
        cap = fields.number("upload_buffer_max")
        if cap is None:
            return
        part = _or(fields.number("part_size"), MultipartSettings().part_size)
        if cap < smallest_buffer_max(part):
            self.report(
                "error",
                fields.given("upload_buffer_max"),
                f"{format_size(cap)} {too_small_reason(part, self.key('part_size'))}",
                key=self.key("upload_buffer_max"),
            )

    # --- the groups --------------------------------------------------------------------

    def location(self, fields: ParsedFields, override: StoreLocation | None) -> StoreLocation | None:
        if override is not None:
            return override
        if location := fields.location("location"):
            return location
        bucket, prefix = fields.text("bucket"), fields.text("prefix")
        if bucket is not None:
            try:
                return parse_location(f"s3://{bucket}/{prefix or ''}")
            except ValueError as error:
                self.report("error", fields.given("prefix"), f"does not form a location: {error}")
                return None
        if fields.mentioned("location") or fields.mentioned("bucket"):
            return None  # given, but with a value already reported as wrong
        if any(spec.field == "location" for spec in self.dialect.keys):
            key = self.key("location")
            message = (
                f"no store location: set {key} to s3://BUCKET/PREFIX, s3a://BUCKET/PREFIX or file:///DIR"
            )
        else:
            key = self.key("bucket")
            message = f"no store location: set {key} (and {self.key('prefix')} for a prefix inside it)"
        self.problems.append(Problem("error", key, message, self.source))
        return None

    def endpoint(self, fields: ParsedFields) -> str | None:
        endpoint = fields.text("endpoint")
        secure = fields.flag("endpoint_secure")
        if endpoint is None:
            return None
        if "://" in endpoint:
            scheme_secure = endpoint.lower().startswith("https://")
            if secure is not None and secure != scheme_secure:
                self.report(
                    "warning",
                    fields.given("endpoint_secure"),
                    f"is ignored: {self.key('endpoint')} names its scheme",
                )
            return endpoint
        if secure is None:
            secure = self.dialect.endpoint_secure_default
        return f"{'https' if secure else 'http'}://{endpoint}"

    def keys(self, fields: ParsedFields) -> AccessKeys | None:
        key_id, secret = fields.text("access_key_id"), fields.secret("secret_access_key")
        if key_id is None or secret is None:
            return None
        return AccessKeys(key_id, secret, fields.secret("session_token"))

    def role(self, fields: ParsedFields) -> AssumeRoleSettings | None:
        arn = fields.text("role_arn")
        if arn is None:
            if fields.mentioned("role_arn"):
                return None
            for name in ROLE_FIELDS[1:]:
                if name in fields:
                    self.report(
                        "error",
                        fields.given(name),
                        f"applies only to an assumed role; set {self.key('role_arn')} too",
                    )
            return None
        sts_endpoint = fields.text("role_sts_endpoint")
        if sts_endpoint and "://" not in sts_endpoint:
            sts_endpoint = f"https://{sts_endpoint}"
        return AssumeRoleSettings(
            role_arn=arn,
            external_id=fields.text("role_external_id"),
            session_name=fields.text("role_session_name"),
            duration_seconds=fields.number("role_duration") or 3600,
            policy=fields.text("role_policy"),
            sts_endpoint=sts_endpoint,
            sts_region=fields.text("role_sts_region"),
        )

    def proxy(self, fields: ParsedFields) -> ProxySettings | None:
        host = fields.text("proxy_host")
        if host is None:
            if fields.mentioned("proxy_host"):
                return None
            for name in PROXY_FIELDS[1:]:
                if name in fields:
                    self.report(
                        "error",
                        fields.given(name),
                        f"is given without {self.key('proxy_host')}; set the proxy host too",
                    )
            return None
        https = bool(fields.flag("proxy_https"))
        port = fields.number("proxy_port")
        if port is None:
            port = 443 if https else 80
            self.report(
                "warning",
                fields.given("proxy_host"),
                f"has no port ({self.key('proxy_port')}); using {port}",
            )
        username, password = fields.text("proxy_username"), fields.secret("proxy_password")
        if password is not None and username is None:
            self.report(
                "error",
                fields.given("proxy_password"),
                f"is given without {self.key('proxy_username')}; a proxy password belongs to a user",
            )
        return ProxySettings(host, port, "https" if https else "http", username, password)

    def encryption(self, fields: ParsedFields) -> Encryption | None:
        algorithm = fields.text("sse_algorithm")
        enabled = fields.flag("sse_enabled")
        kms_key = fields.text("sse_kms_key_id")
        if kms_key and algorithm is None and self.dialect.kms_key_implies_kms:
            if enabled is False:
                self.report(
                    "error",
                    fields.given("sse_kms_key_id"),
                    f"asks for SSE-KMS but {self.key('sse_enabled')} is false; remove one of them",
                )
                return None
            algorithm = "aws:kms"
        if algorithm is None and enabled:
            algorithm = "AES256"
        if algorithm in (None, "none"):
            if kms_key:
                self.report(
                    "error",
                    fields.given("sse_kms_key_id"),
                    f"is given but {self.key('sse_algorithm')} does not ask for SSE-KMS; "
                    "set it to SSE-KMS (aws:kms) or remove the key id",
                )
            return None
        if algorithm == "aws:kms" and not kms_key:
            if fields.mentioned("sse_kms_key_id"):
                return None
            self.report(
                "error",
                fields.given("sse_algorithm") or fields.given("sse_enabled"),
                f"SSE-KMS needs a KMS key id: set {self.key('sse_kms_key_id')} "
                "(SeaweedFS and many other stores fail writes without one)",
                key=self.key("sse_algorithm"),
            )
            return None
        if algorithm == "AES256" and kms_key:
            self.report(
                "error",
                fields.given("sse_kms_key_id"),
                f"applies only to SSE-KMS, but {self.key('sse_algorithm')} asks for SSE-S3 (AES256)",
            )
            return None
        if algorithm not in get_args(SseAlgorithm):
            raise AssertionError(f"parser let through encryption algorithm {algorithm!r}")
        return Encryption(cast(SseAlgorithm, algorithm), kms_key if algorithm == "aws:kms" else None)


def build_settings(
    given: ParsedFields,
    dialect: Dialect,
    source: str,
    *,
    base: StoreSettings | None = None,
    location: StoreLocation | None = None,
) -> tuple[StoreSettings | None, list[Problem]]:
    """Assemble ``StoreSettings`` from one layer of parsed fields, over ``base`` when given."""
    builder = _Builder(dialect, source)
    builder.check_pairs(given)
    fields = layer(fields_from_settings(base), given) if base is not None else given

    where = builder.location(fields, location)
    endpoint = builder.endpoint(fields)
    keys = builder.keys(fields)
    role = builder.role(fields)
    proxy = builder.proxy(fields)
    encryption = builder.encryption(fields)
    builder.check_retry(given, fields)
    builder.check_buffer_max(fields)

    if where is None or any(problem.is_error for problem in builder.problems):
        return None, builder.problems

    defaults = StoreSettings(location=where)
    settings = StoreSettings(
        location=where,
        endpoint=endpoint,
        region=fields.text("region"),
        path_style=fields.flag("path_style"),
        proxy=proxy,
        encryption=encryption,
        checksum_mode=cast(ChecksumMode, fields.text("checksum_mode") or defaults.checksum_mode),
        retry=RetrySettings(
            mode=cast(RetryMode, fields.text("retry_mode") or defaults.retry.mode),
            max_attempts=_or(fields.number("max_attempts"), defaults.retry.max_attempts),
            interval_seconds=_or(fields.seconds("retry_interval"), defaults.retry.interval_seconds),
            max_interval_seconds=_or(
                fields.seconds("retry_max_interval"), defaults.retry.max_interval_seconds
            ),
        ),
        timeouts=Timeouts(
            connect_seconds=_or(fields.seconds("connect_timeout"), defaults.timeouts.connect_seconds),
            read_seconds=_or(fields.seconds("read_timeout"), defaults.timeouts.read_seconds),
        ),
        multipart=MultipartSettings(
            part_size=_or(fields.number("part_size"), defaults.multipart.part_size),
            concurrency=_or(fields.number("upload_concurrency"), defaults.multipart.concurrency),
            buffer_max=fields.number("upload_buffer_max"),
            active_parts=fields.number("upload_active_parts"),
        ),
        upload_cleanup=UploadCleanup(
            enabled=_or(fields.flag("upload_cleanup"), defaults.upload_cleanup.enabled),
            age_seconds=_or(fields.seconds("upload_cleanup_age"), defaults.upload_cleanup.age_seconds),
        ),
        wire_log=_or(fields.flag("wire_log"), defaults.wire_log),
        keys=keys,
        assume_role=role,
        refresh=CredentialRefresh(
            fraction=_or(fields.fraction("refresh_fraction"), defaults.refresh.fraction),
            margin_seconds=_or(fields.seconds("refresh_margin"), defaults.refresh.margin_seconds),
        ),
        permissions=PermissionDefaults(
            owner_id_to_username=_or(
                fields.mapping("owner_mapping"), dict(defaults.permissions.owner_id_to_username)
            ),
            inherit_acl=_or(fields.flag("inherit_acl"), defaults.permissions.inherit_acl),
            default_mode=_or(fields.number("default_mode"), defaults.permissions.default_mode),
            access_probe=_or(fields.flag("access_probe"), defaults.permissions.access_probe),
        ),
    )
    return settings, builder.problems


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
