"""Credential vending: short-lived credentials for one mount path, scoped to its bucket and prefix.

For ``(path, access)`` the vendor resolves the mount, checks the caller's bits (and that a write
goes to a writable mount), and returns temporary credentials with everything a client needs to
use them. With a role it calls AssumeRole with a session policy for that bucket and prefix
(:mod:`tierstore.server.policies`); without one, GetSessionToken, which cannot be narrowed: the
answer says ``scoped: false`` and a warning is logged.

Vended credentials are cached per (mount, path, access) and handed out again until
``cache.fraction`` of their lifetime; one STS call at a time per key (the others wait for it).
The STS caller is the vending identity (``tierstore.vending.access-key``) when set, else the
mount's base credentials before its role: the server's own data identity never has to be
allowed ``sts:AssumeRole``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tierstore.credentials.model import Credentials
from tierstore.credentials.resolve import ResolutionContext, build_chain
from tierstore.credentials.source import CredentialSource, StaticSource
from tierstore.credentials.sts import AssumeRoleFetcher, SessionTokenFetcher, StsTarget, sts_target
from tierstore.errors import AccessDeniedError, CredentialsError, StoreError
from tierstore.namespace import paths
from tierstore.namespace.entries import kind_of
from tierstore.namespace.filesystem import effective_attributes
from tierstore.namespace.metadata import MountRecord
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import check_access
from tierstore.server import audit
from tierstore.server.config import ApiServerOptions, VendingOptions, vending_options
from tierstore.server.metrics import ServerMetrics
from tierstore.server.policies import Access, session_policy_json
from tierstore.server.users import User
from tierstore.settings.model import AssumeRoleSettings, StoreSettings

LOGGER = logging.getLogger("tierstore.server")
ACCESS_LEVELS: tuple[Access, ...] = ("read", "write")
# Past this many cached answers, those no longer reused are dropped on the next miss.
MAX_CACHED = 4096

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Vended:
    credentials: Credentials
    prefix: str
    scoped: bool
    issued_at: datetime
    refresh_at: datetime


@dataclass(frozen=True)
class _Target:
    """Where a vend points: the mount, its settings, the key below it, and whether it is a directory."""

    record: MountRecord
    settings: StoreSettings
    key: str
    directory: bool


@dataclass(frozen=True)
class _MountVending:
    """How one mount's credentials are made: options, STS caller, target and role."""

    options: VendingOptions
    base: CredentialSource
    target: StsTarget
    role: AssumeRoleSettings | None


class CredentialVendor:
    def __init__(
        self, table: MountTable, options: ApiServerOptions, metrics: ServerMetrics, *, clock: Clock = _now
    ) -> None:
        self.table = table
        self.options = options
        self.metrics = metrics
        self._clock = clock
        self._cache: dict[tuple[str, str, str, str], _Vended] = {}
        self._key_locks: dict[tuple[str, str, str, str], threading.Lock] = {}
        self._mounts: dict[tuple[str, str], _MountVending] = {}
        self._lock = threading.Lock()

    # -- the request ---------------------------------------------------------------------

    def vend(self, user: User, raw_path: str, access: Access) -> dict[str, Any]:
        if access not in ACCESS_LEVELS:
            raise StoreError(f"access {access!r} is not one of: read, write", key=raw_path)
        try:
            path = paths.normalize(raw_path)
        except ValueError as error:
            raise StoreError(str(error), key=raw_path) from None
        record, key = self.table.resolve(path)
        directory = raw_path.endswith("/") or key == ""
        if directory and path != "/":
            path += "/"  # answered as asked: a directory keeps its slash
        self._check(user, path.rstrip("/") or "/", record, access)
        settings = self.table.settings_for(record)
        if settings.location.scheme == "file":
            audit.vend_line(
                user=user.name, path=path, access=access, mount=record.path, mode="proxy",
                scoped=False, access_key_id=None, expires_at=None, cache="-",
            )  # fmt: skip
            self.metrics.vends.labels(access=access, cache="proxy").inc()
            return _answer(path, record, access, mode="proxy")
        cache_key = (record.path, record.uri, path, access)
        target = _Target(record, settings, key, directory)
        vended, cache = self._cached_or_new(cache_key, target, access)
        self.metrics.vends.labels(access=access, cache=cache).inc()
        credentials = vended.credentials
        audit.vend_line(
            user=user.name, path=path, access=access, mount=record.path, mode="direct",
            scoped=vended.scoped, access_key_id=credentials.access_key_id,
            expires_at=credentials.expires_at, cache=cache,
        )  # fmt: skip
        mount_options = self._mount_vending(record, settings).options
        answer = _answer(path, record, access, mode="direct")
        encryption = settings.encryption
        answer.update(
            scoped=vended.scoped,
            store={
                "scheme": "s3",
                "bucket": settings.location.bucket,
                "prefix": vended.prefix,
                "endpoint": mount_options.endpoint or settings.endpoint,
                "region": settings.effective_region,
                "path_style": settings.uses_path_style,
                "checksum_mode": settings.checksum_mode,
                "sse": (
                    {"algorithm": encryption.algorithm, "kms_key_id": encryption.kms_key_id}
                    if encryption
                    else None
                ),
            },
            credentials={
                "access_key_id": credentials.access_key_id,
                "secret_access_key": credentials.secret_access_key.reveal(),
                "session_token": credentials.session_token.reveal() if credentials.session_token else None,
                "expiration": _iso(credentials.expires_at),
            },
            expires_at=_iso(credentials.expires_at),
            refresh_at=_iso(vended.refresh_at),
        )
        return answer

    # -- permission ----------------------------------------------------------------------

    def _check(self, user: User, path: str, record: MountRecord, access: Access) -> None:
        if access == "write" and record.readonly:
            raise AccessDeniedError(
                f"write credentials for {path}: the mount {record.path} ({record.uri}) is read-only",
                key=path,
            )
        owner, group, mode = effective_attributes(self.table.metadata, path, record)
        check_access(user.caller(), owner=owner, group=group, mode=mode, want=access, path=path)

    # -- the cache and STS ---------------------------------------------------------------

    def _cached_or_new(
        self, cache_key: tuple[str, str, str, str], target: _Target, access: Access
    ) -> tuple[_Vended, str]:
        found = self._fresh(cache_key)
        if found is not None:
            return found, "hit"
        with self._lock:
            key_lock = self._key_locks.setdefault(cache_key, threading.Lock())
        with key_lock:  # single flight: the others wait here, then find the fresh entry
            found = self._fresh(cache_key)
            if found is not None:
                return found, "hit"
            prefix = self._prefix(target)
            vended = self._call_sts(target.record, target.settings, prefix, access)
            with self._lock:
                self._cache[cache_key] = vended
                if len(self._cache) > MAX_CACHED:
                    self._prune()
            return vended, "miss"

    def _prune(self) -> None:
        """Forget answers past their reuse time (with the lock held), so the cache stays bounded."""
        now = self._clock()
        for stale in [key for key, vended in self._cache.items() if vended.refresh_at <= now]:
            del self._cache[stale]
            self._key_locks.pop(stale, None)

    def _fresh(self, cache_key: tuple[str, str, str, str]) -> _Vended | None:
        with self._lock:
            found = self._cache.get(cache_key)
        if found is not None and self._clock() < found.refresh_at:
            return found
        return None

    def _prefix(self, target: _Target) -> str:
        """The key prefix the credentials cover: a directory ends in "/", a file is its own key."""
        base, key, directory = target.settings.location.prefix, target.key, target.directory
        if key == "":
            return base
        if not directory:
            found = kind_of(self.table.store_for(target.record), key)
            directory = found is not None and found[0] == "dir"
        return f"{base}{key}/" if directory else f"{base}{key}"

    def _call_sts(self, record: MountRecord, settings: StoreSettings, prefix: str, access: Access) -> _Vended:
        vending = self._mount_vending(record, settings)
        bucket = settings.location.bucket
        if vending.role is not None:
            role = AssumeRoleSettings(
                role_arn=vending.role.role_arn,
                external_id=vending.role.external_id,
                session_name=f"tierstore-vend-{access}",
                duration_seconds=vending.options.duration_seconds,
                policy=session_policy_json(bucket, prefix, access),
                sts_endpoint=vending.target.endpoint,
                sts_region=vending.target.region,
            )
            fetch: Callable[[], Credentials] = AssumeRoleFetcher(vending.base, role, vending.target, settings)
            call, scoped = "AssumeRole", True
        else:
            fetch = SessionTokenFetcher(
                vending.base, vending.target, settings, duration_seconds=vending.options.duration_seconds
            )
            call, scoped = "GetSessionToken", False
            LOGGER.warning(
                "vending for %s (s3://%s/%s) uses GetSessionToken: no role is set "
                "(tierstore.vending.role.arn), so the credentials are NOT scoped to the prefix and "
                "allow whatever the vending identity may do",
                record.path,
                bucket,
                prefix,
            )
        self.metrics.sts_calls.labels(call=call).inc()
        try:
            credentials = fetch()
        except CredentialsError as error:
            self.metrics.sts_failures.labels(call=call).inc()
            if scoped:
                raise
            raise CredentialsError(
                f"vending for {record.path}: {error}; set tierstore.vending.role.arn (or a role for "
                "the mount) to vend scoped credentials with AssumeRole",
                retryable=error.retryable,
            ) from None
        issued = self._clock()
        expires = credentials.expires_at or issued
        refresh_at = issued + (expires - issued) * vending.options.cache_fraction
        return _Vended(credentials, prefix, scoped, issued, refresh_at)

    def _mount_vending(self, record: MountRecord, settings: StoreSettings) -> _MountVending:
        cache_key = (record.path, record.uri)
        with self._lock:
            found = self._mounts.get(cache_key)
        if found is not None:
            return found
        options = self.options.vending
        if record.path != "/":
            options = vending_options(record.options, options, f"mount {record.path}")
        if options.keys is not None:
            base: CredentialSource = StaticSource(
                Credentials(
                    access_key_id=options.keys.access_key_id,
                    secret_access_key=options.keys.secret_access_key,
                    session_token=options.keys.session_token,
                    source="tierstore.vending.access-key",
                )
            )
        else:
            context = ResolutionContext(site_keys=self.table.config.root.keys)
            base = build_chain(settings, context).resolve()[0]
        default_target = sts_target(settings)
        target = StsTarget(
            endpoint=options.sts_endpoint or default_target.endpoint,
            region=default_target.region,
            region_source=default_target.region_source,
        )
        own_role = settings.assume_role
        role: AssumeRoleSettings | None = None
        if options.role_arn:
            same = own_role is not None and own_role.role_arn == options.role_arn
            role = AssumeRoleSettings(
                role_arn=options.role_arn, external_id=own_role.external_id if same and own_role else None
            )
        elif own_role is not None:
            role = own_role
        vending = _MountVending(options=options, base=base, target=target, role=role)
        with self._lock:
            self._mounts[cache_key] = vending
        return vending

    def forget_mount(self, path: str) -> None:
        """Drop what was cached for a mount that was removed."""
        with self._lock:
            for cache_key in [k for k in self._cache if k[0] == path]:
                del self._cache[cache_key]
            for mount_key in [k for k in self._mounts if k[0] == path]:
                del self._mounts[mount_key]


def _answer(path: str, record: MountRecord, access: str, *, mode: str) -> dict[str, Any]:
    return {
        "path": path,
        "mount": record.path,
        "access": access,
        "mode": mode,
        "scoped": False,
        "store": None,
        "credentials": None,
        "expires_at": None,
        "refresh_at": None,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None
