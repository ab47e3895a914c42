"""The key registry: what a setting key is called, what it sets and how its value is read.

Each dialect is a table of :class:`KeySpec`; the loader looks keys up here and the builder sees
only the dialect-neutral field names, so all three dialects fill ``StoreSettings`` the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from tierstore.settings.parsers import AnyParser, InvalidValueError
from tierstore.settings.readers import FileFormat
from tierstore.settings.secret import mask_key_id

FieldName = Literal[
    "location",
    "bucket",
    "prefix",
    "endpoint",
    "endpoint_secure",
    "region",
    "path_style",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "role_arn",
    "role_external_id",
    "role_session_name",
    "role_duration",
    "role_policy",
    "role_sts_endpoint",
    "role_sts_region",
    "refresh_fraction",
    "refresh_margin",
    "proxy_host",
    "proxy_port",
    "proxy_https",
    "proxy_username",
    "proxy_password",
    "sse_algorithm",
    "sse_enabled",
    "sse_kms_key_id",
    "checksum_mode",
    "retry_mode",
    "max_attempts",
    "retry_interval",
    "retry_max_interval",
    "connect_timeout",
    "read_timeout",
    "part_size",
    "upload_concurrency",
    "upload_buffer_max",
    "upload_active_parts",
    "upload_cleanup",
    "upload_cleanup_age",
    "wire_log",
    "owner_mapping",
    "inherit_acl",
    "default_mode",
    "access_probe",
]

# For the docs: the StoreSettings attribute each field lands in, and what applies when unset.
FIELD_DOCS: Mapping[FieldName, tuple[str, str]] = {
    "location": ("`location`", "required"),
    "bucket": ("`location.bucket`", "required"),
    "prefix": ("`location.prefix`", "none (bucket root)"),
    "endpoint": ("`endpoint`", "AWS S3 for the region"),
    "endpoint_secure": ("`endpoint` scheme when the endpoint has none", ""),
    "region": ("`region`", "none (`us-east-1` is used)"),
    "path_style": ("`path_style`", "auto: path style for IP and localhost endpoints"),
    "access_key_id": ("`keys.access_key_id`", "none (the credential chain)"),
    "secret_access_key": ("`keys.secret_access_key`", "none"),
    "session_token": ("`keys.session_token`", "none"),
    "role_arn": ("`assume_role.role_arn`", "none (no role)"),
    "role_external_id": ("`assume_role.external_id`", "none"),
    "role_session_name": ("`assume_role.session_name`", "none (generated)"),
    "role_duration": ("`assume_role.duration_seconds`", "3600"),
    "role_policy": ("`assume_role.policy`", "none"),
    "role_sts_endpoint": ("`assume_role.sts_endpoint`", "AWS STS"),
    "role_sts_region": ("`assume_role.sts_region`", "the store region"),
    "refresh_fraction": ("`refresh.fraction`", "0.75"),
    "refresh_margin": ("`refresh.margin_seconds`", "60 s"),
    "proxy_host": ("`proxy.host`", "none (no proxy)"),
    "proxy_port": ("`proxy.port`", "80 (443 with HTTPS to the proxy)"),
    "proxy_https": ("`proxy.scheme` (`https` when true)", "false"),
    "proxy_username": ("`proxy.username`", "none"),
    "proxy_password": ("`proxy.password`", "none"),
    "sse_algorithm": ("`encryption.algorithm`", "none (no SSE header)"),
    "sse_enabled": ("`encryption.algorithm` = `AES256` when true", "false"),
    "sse_kms_key_id": ("`encryption.kms_key_id`", "none"),
    "checksum_mode": ("`checksum_mode`", "`when_supported`"),
    "retry_mode": ("`retry.mode`", "`standard`"),
    "max_attempts": ("`retry.max_attempts`", "10"),
    "retry_interval": ("`retry.interval_seconds`", "500ms"),
    "retry_max_interval": ("`retry.max_interval_seconds`", "8s"),
    "connect_timeout": ("`timeouts.connect_seconds`", "10s"),
    "read_timeout": ("`timeouts.read_seconds`", "60s"),
    "part_size": ("`multipart.part_size`", "8 MiB"),
    "upload_concurrency": ("`multipart.concurrency`", "4"),
    "upload_buffer_max": ("`multipart.buffer_max`", "none: (concurrency + 1) parts"),
    "upload_active_parts": ("`multipart.active_parts`", "none: the concurrency decides"),
    "upload_cleanup": ("`upload_cleanup.enabled`", "false"),
    "upload_cleanup_age": ("`upload_cleanup.age_seconds`", "1 day"),
    "wire_log": ("`wire_log`", "false"),
    "owner_mapping": ("`permissions.owner_id_to_username`", "none"),
    "inherit_acl": ("`permissions.inherit_acl`", "true"),
    "default_mode": ("`permissions.default_mode`", "0700"),
    "access_probe": ("`permissions.access_probe`", "true"),
}

Echo = Literal["value", "key_id", "never"]


@dataclass(frozen=True)
class KeySpec:
    """One key of one dialect.

    ``echo`` says how a bad value may appear in a message: as given, cut to an access key id's
    first 4 characters, or never (secrets).
    """

    name: str
    field: FieldName
    parser: AnyParser
    doc: str
    aliases: tuple[str, ...] = ()
    echo: Echo = "value"
    default: str | None = None
    accepts: str | None = None
    example: str | None = None
    invalid_example: str | None = None

    @property
    def secret(self) -> bool:
        return self.echo == "never"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def sets(self) -> str:
        return FIELD_DOCS[self.field][0]

    @property
    def default_doc(self) -> str:
        return self.default if self.default is not None else FIELD_DOCS[self.field][1]

    @property
    def accepts_doc(self) -> str:
        return self.accepts or self.parser.accepts

    @property
    def valid_example(self) -> str:
        return self.example if self.example is not None else self.parser.example

    @property
    def bad_example(self) -> str:
        return self.invalid_example if self.invalid_example is not None else self.parser.invalid_example

    def parse(self, raw: object) -> object:
        return self.parser(raw)

    def shown(self, raw: object, error: InvalidValueError | None = None) -> str:
        """The value as it may appear in a message."""
        if self.echo == "never" or (error is not None and not error.echo):
            return "the value given"
        if self.echo == "key_id":
            return repr(mask_key_id(str(raw)))
        return repr(raw)


UnknownPolicy = Literal["warn", "ignore_unless_close"]


@dataclass(frozen=True)
class Dialect:
    """A configuration dialect: its key table and how it treats keys that are not in it.

    ``strict_prefixes``: unknown keys under these are warned about (they are meant for us).
    ``other_keys``: what happens to every other unknown key.
    ``extra_keys``/``extra_prefixes``: known keys that belong to someone else (e.g. the Kafka
    Connect sink) and are handed back untouched.
    ``unused_keys``: real keys of the host system that tierstore does not read, with why.
    ``strip_prefixes``: prefixes under which the dialect repeats its own keys (Alluxio's root
    mount options).
    """

    name: str
    title: str
    suffixes: tuple[str, ...]
    keys: tuple[KeySpec, ...]
    location_keys: tuple[str, ...]
    strict_prefixes: tuple[str, ...]
    other_keys: UnknownPolicy
    file_format: FileFormat
    endpoint_secure_default: bool
    kms_key_implies_kms: bool = False
    nested: bool = False
    extra_keys: frozenset[str] = frozenset()
    extra_prefixes: tuple[str, ...] = ()
    unused_keys: Mapping[str, str] = field(default_factory=dict)
    strip_prefixes: tuple[str, ...] = ()
    wrapper_key: str | None = None

    @cached_property
    def index(self) -> dict[str, KeySpec]:
        table: dict[str, KeySpec] = {}
        for spec in self.keys:
            for name in spec.names:
                if name in table:
                    raise AssertionError(f"{self.name}: key {name} is registered twice")
                table[name] = spec
        return table

    def key_for(self, field_name: FieldName) -> str:
        """The key that sets a field, for messages such as "set s3.encryption.key too"."""
        for spec in self.keys:
            if spec.field == field_name:
                return spec.name
        return field_name

    def lookup(self, key: str) -> KeySpec | None:
        return self.index.get(key)

    def canonical(self, key: str) -> str:
        for prefix in self.strip_prefixes:
            if key.startswith(prefix):
                return key[len(prefix) :]
        return key

    def is_extra(self, key: str) -> bool:
        return key in self.extra_keys or key.startswith(self.extra_prefixes)

    def is_strict(self, key: str) -> bool:
        return key.startswith(self.strict_prefixes)

    def closest(self, key: str, *, cutoff: float) -> str | None:
        """The known key nearest to a misspelling, or ``None`` if nothing is near enough."""
        candidates: Iterable[str] = [*self.index, *self.extra_keys]
        matches = difflib.get_close_matches(key, list(candidates), n=1, cutoff=cutoff)
        return matches[0] if matches else None
