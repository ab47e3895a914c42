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

Every memo here is a :class:`~tierstore.lru.BoundedLRU` of at most ``max_cached`` entries, so
memory does not grow with the number of distinct users and paths vended; an answer evicted
early costs one more STS call, never a wrong answer.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tierstore.blocking import require_io
from tierstore.credentials.model import Credentials
from tierstore.credentials.resolve import ResolutionContext, build_chain
from tierstore.credentials.source import CredentialSource, StaticSource
from tierstore.credentials.sts import AssumeRoleFetcher, SessionTokenFetcher, StsTarget, sts_target
from tierstore.errors import AccessDeniedError, CredentialsError, PathTooLongError, StoreError
from tierstore.lru import BoundedLRU
from tierstore.namespace import paths
from tierstore.namespace.access import STICKY, Attributes, attributes_below, check_search, lineage
from tierstore.namespace.metadata import MountRecord
from tierstore.namespace.mounts import MountTable, path_error, same_mount, storage_identity
from tierstore.server import audit
from tierstore.server.config import ApiServerOptions, VendingOptions, vending_options
from tierstore.server.metrics import ServerMetrics
from tierstore.server.policies import (
    MAX_POLICY_BYTES,
    POLICY_SPECIAL,
    Access,
    Restrictions,
    session_policy_json,
)
from tierstore.server.users import User
from tierstore.settings.model import AssumeRoleSettings, StoreSettings, parse_location

LOGGER = logging.getLogger("tierstore.server")
ACCESS_LEVELS: tuple[Access, ...] = ("read", "write")
# Each memo holds at most this many entries, the least recently used going first: about 12 MB
# for the vends and their answers (about 3 KB each, measured with an 800-character session
# token: the credentials, the key and the JSON answer, which shares the credentials' strings).
MAX_CACHED = 4096
# Mounts whose vending set-up is kept (one per mount path; unmounted ones age out).
MAX_MOUNTS = 1024

Clock = Callable[[], datetime]
# (user, mount path, mount URI, vended path, access, what is denied below): one user's answer
# never serves another, and a chmod below that changes what is denied makes a new entry.
# (user, mount path, mount URI, mount version, path, access, restrictions)
CacheKey = tuple[str, str, str, datetime, str, str, Restrictions]


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
class _Decided:
    """A vend's outcome, reusable while ``stamp`` holds and ``vended`` is the cache's fresh entry."""

    stamp: tuple[int, int]
    cache_key: CacheKey
    vended: _Vended
    answer: dict[str, Any]
    mount: str
    restricted: int


@dataclass(frozen=True)
class _Target:
    """Where a vend points: the mount, its settings, the key below it, and whether it is a directory."""

    record: MountRecord
    settings: StoreSettings
    key: str
    directory: bool


@dataclass(frozen=True)
class _Grant:
    """What one vend asks STS for: whose, which access, which prefix, less which keys."""

    user: User
    access: Access
    prefix: str
    restrictions: Restrictions


@dataclass(frozen=True)
class _MountVending:
    """How one mount's credentials are made: options, STS caller, target and role."""

    options: VendingOptions
    base: CredentialSource
    target: StsTarget
    role: AssumeRoleSettings | None


class CredentialVendor:
    def __init__(
        self,
        table: MountTable,
        options: ApiServerOptions,
        metrics: ServerMetrics,
        *,
        clock: Clock = _now,
        max_cached: int = MAX_CACHED,
        max_mounts: int = MAX_MOUNTS,
    ) -> None:
        self.table = table
        self.options = options
        self.metrics = metrics
        self._clock = clock
        self._cache: BoundedLRU[CacheKey, _Vended] = BoundedLRU(max_cached)
        # The last decision for (user, path as asked, access): its permission checks, deny list
        # and answer are a function of the caller (name, groups, admin) and of the mounts and
        # attributes, so they are reused only while both generations stand (a chmod, chown or
        # mount change here, or by another server within tierstore.metadata.sync.interval,
        # moves one) and while the vended credentials are the cache's fresh ones.
        self._decided: BoundedLRU[tuple[User, str, str], _Decided] = BoundedLRU(max_cached)
        # The answer built for each cached vend, beside the vend it was built from.
        self._answers: BoundedLRU[CacheKey, tuple[_Vended, dict[str, Any]]] = BoundedLRU(max_cached)
        # One lock per key being vended (single flight). Evicting one that is held only lets a
        # second STS call for that key through, never a wrong answer.
        self._key_locks: BoundedLRU[CacheKey, threading.Lock] = BoundedLRU(max_cached)
        # By mount path: the mount as read and its vending set-up, rebuilt when the mount changes
        # (a remount by any server sharing the database: see mounts.same_mount).
        self._mounts: BoundedLRU[str, tuple[MountRecord, _MountVending]] = BoundedLRU(max_mounts)

    def cache_sizes(self) -> dict[str, int]:
        """How many entries each memo holds now, and how many each evicted since start."""
        memos: dict[str, BoundedLRU[Any, Any]] = {
            "vends": self._cache,
            "decisions": self._decided,
            "answers": self._answers,
            "key_locks": self._key_locks,
            "mounts": self._mounts,
        }
        sizes = {name: len(memo) for name, memo in memos.items()}
        sizes.update({f"{name}_evicted": memo.evictions for name, memo in memos.items()})
        return sizes

    # -- the request ---------------------------------------------------------------------

    def vend(self, user: User, raw_path: str, access: Access) -> dict[str, Any]:
        if access not in ACCESS_LEVELS:
            raise StoreError(f"access {access!r} is not one of: read, write", key=raw_path)
        stamp = self._stamp()
        decided = self._decided.get((user, raw_path, access))
        if (
            decided is not None
            and decided.stamp == stamp
            and self._fresh(decided.cache_key) is decided.vended
        ):
            self._emit(user, decided, "hit")
            return decided.answer
        try:
            path = paths.normalize(raw_path)
            record, key = self.table.resolve(path)
        except paths.PathError as error:
            raise path_error(error, raw_path) from None
        directory = raw_path.endswith("/") or key == ""
        if directory and path != "/":
            path += "/"  # answered as asked: a directory keeps its slash
        top = self._check(user, path.rstrip("/") or "/", record, access)
        settings = self.table.settings_for(record)
        # Without a role the only credentials to hand out are GetSessionToken's, which carry all
        # of the vending identity's rights: only an admin gets those; others use the data proxy.
        unscoped_only = (
            settings.location.scheme == "s3" and self._mount_vending(record, settings).role is None
        )
        if settings.location.scheme == "file" or (unscoped_only and not user.admin):
            audit.vend_line(
                user=user.name, path=path, access=access, mount=record.path, mode="proxy",
                scoped=False, access_key_id=None, expires_at=None, cache="-", restricted=0,
            )  # fmt: skip
            self.metrics.vended(access, "proxy").inc()
            return _answer(path, record, access, mode="proxy")
        _refuse_policy_specials(path, f"{settings.location.prefix}{key}")
        target = _Target(record, settings, key, directory)
        prefix = self._prefix(target)
        restrictions = self._restrictions(user, top, target, prefix, access)
        # created_at: a remount (maybe with another role or vending keys) never reuses answers.
        cache_key = (user.name, record.path, record.uri, record.created_at, path, access, restrictions)
        vended, cache = self._cached_or_new(cache_key, target, _Grant(user, access, prefix, restrictions))
        answer = self._direct_answer(cache_key, vended, target, restrictions)
        decided = _Decided(
            stamp=stamp,
            cache_key=cache_key,
            vended=vended,
            answer=answer,
            mount=record.path,
            restricted=len(restrictions.denied) + len(restrictions.write_denied),
        )
        self._decided.put((user, raw_path, access), decided)
        # Last: on the event loop, whatever comes before may still move the vend to a thread.
        self._emit(user, decided, cache)
        return answer

    def _stamp(self) -> tuple[int, int]:
        """What a vend's decision was derived from: the mounts' and the attributes' generation."""
        metadata = self.table.metadata
        return metadata.generation("mounts"), metadata.generation("attributes")

    def _emit(self, user: User, decided: _Decided, cache: str) -> None:
        """The metrics and the audit line of one vend, from the cache or not."""
        _, _, _, _, path, access, _ = decided.cache_key
        self.metrics.vended(access, cache).inc()
        credentials = decided.vended.credentials
        audit.vend_line(
            user=user.name, path=path, access=access, mount=decided.mount, mode="direct",
            scoped=decided.vended.scoped, access_key_id=credentials.access_key_id,
            expires_at=credentials.expires_at, cache=cache, restricted=decided.restricted,
        )  # fmt: skip

    def _direct_answer(
        self, cache_key: CacheKey, vended: _Vended, target: _Target, restrictions: Restrictions
    ) -> dict[str, Any]:
        """The answer for a vend: built once per cached vend (it depends on nothing else), then
        handed out again while the cache hands out the same credentials. Not to be modified."""
        found = self._answers.get(cache_key)
        if found is not None and found[0] is vended:
            return found[1]
        record, settings = target.record, target.settings
        path, access = cache_key[4], cache_key[5]
        credentials = vended.credentials
        mount_options = self._mount_vending(record, settings).options
        answer = _answer(path, record, access, mode="direct")
        encryption = settings.encryption
        answer.update(
            scoped=vended.scoped,
            store={
                "scheme": "s3",
                "bucket": settings.location.bucket,
                "prefix": vended.prefix,
                # False when stricter paths lie below: list through the API then.
                "list": vended.scoped and not restrictions,
                "restricted": sorted(
                    {*restrictions.denied, *restrictions.write_denied} if vended.scoped else ()
                ),
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
        self._answers.put(cache_key, (vended, answer))
        return answer

    # -- permission ----------------------------------------------------------------------

    def _check(self, user: User, path: str, record: MountRecord, access: Access) -> Attributes:
        """What the API would ask for the same access: search on every ancestor, the bit on the path."""
        if access == "write" and record.readonly:
            raise AccessDeniedError(
                f"write credentials for {path}: the mount {record.path} ({record.uri}) is read-only",
                key=path,
            )
        chain = lineage(self.table, path)
        caller = user.caller()
        check_search(caller, chain)
        chain[-1].check(caller, access)
        return chain[-1]

    def _restrictions(
        self, user: User, top: Attributes, target: _Target, prefix: str, access: Access
    ) -> Restrictions:
        """What lies inside ``prefix`` that ``user`` may not reach through the API, as keys to deny.

        - a path below with attributes of its own (chmod/chown/creation; the only paths whose
          bits can differ from the vended directory's) that the caller may not read, or may not
          search (for a directory), is denied wholly; one they may not write, for writing;
        - a sticky directory below that is not the caller's is denied for writing;
        - other mounts whose data lies inside the prefix (nested on the same bucket, or shared
          views of it), and the keys a nested mount point hides, are denied wholly: they are
          reached through their own mount, with its own bits and read-only flag.
        """
        if not prefix.endswith("/") and prefix != "":
            return Restrictions()  # one file's key: nothing lies below it
        caller = user.caller()
        record, settings = target.record, target.settings
        vended_path = top.path
        base = settings.location.prefix

        def key_of(path: str) -> str:
            return f"{base}{paths.relative(path, record.path)}"

        denied: list[str] = []
        write_denied: list[str] = []
        if access == "write" and top.mode & STICKY and not caller.superuser and caller.user != top.owner:
            raise AccessDeniedError(
                f"write credentials for {vended_path}: it is a sticky directory (mode {top.mode:04o}) "
                f"owned by {top.owner or '(none)'}, and store credentials cannot tell one user's files "
                "there from another's; vend a directory of your own below it, or write through the API",
                key=vended_path,
            )
        if not caller.superuser:
            closed: list[str] = []  # namespace paths whose whole subtree is denied already
            for here, _ in attributes_below(self.table.metadata, top):
                below = here.path
                if any(paths.is_within(below, done) for done in closed):
                    continue
                if not here.allows(caller, "read"):
                    denied.append(key_of(below))
                    closed.append(below)
                elif not here.allows(caller, "execute"):
                    # A file without x is still readable; what lies below a directory without it is not.
                    denied.append(f"{key_of(below)}/")
                    closed.append(below)
                elif access == "write" and (
                    not here.allows(caller, "write") or (here.mode & STICKY and caller.user != here.owner)
                ):
                    write_denied.append(key_of(below))
        for other in self.table.records():
            if other.path == record.path:
                continue
            if paths.is_within(other.path, vended_path) and paths.is_within(other.path, record.path):
                denied.append(key_of(other.path))  # the keys its mount point hides
            # The URI rules out most mounts before their settings are built (the same store:
            # the endpoint and bucket that decide overlapping mounts).
            location = parse_location(other.uri)
            same_bucket = location.bucket == settings.location.bucket
            if location.scheme != "s3" or not same_bucket or not location.prefix.startswith(prefix):
                continue
            if storage_identity(self.table.settings_for(other))[0] == storage_identity(settings)[0]:
                denied.append(location.prefix.rstrip("/") or location.prefix)
        return Restrictions(denied=tuple(sorted(set(denied))), write_denied=tuple(sorted(set(write_denied))))

    # -- the cache and STS ---------------------------------------------------------------

    def _cached_or_new(self, cache_key: CacheKey, target: _Target, grant: _Grant) -> tuple[_Vended, str]:
        found = self._fresh(cache_key)
        if found is not None:
            return found, "hit"
        # Before the lock: on the event loop, waiting for another thread's STS call is blocking too.
        require_io("an STS call")
        key_lock = self._key_locks.setdefault(cache_key, threading.Lock)
        with key_lock:  # single flight: the others wait here, then find the fresh entry
            found = self._fresh(cache_key)
            if found is not None:
                return found, "hit"
            vended = self._call_sts(target.record, target.settings, grant)
            self._cache.put(cache_key, vended)
            return vended, "miss"

    def _fresh(self, cache_key: CacheKey) -> _Vended | None:
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
            found = self.table.store_for(target.record).kind(key)
            directory = found is not None and found[0] == "dir"
        return f"{base}{key}/" if directory else f"{base}{key}"

    def _call_sts(self, record: MountRecord, settings: StoreSettings, grant: _Grant) -> _Vended:
        prefix, access = grant.prefix, grant.access
        vending = self._mount_vending(record, settings)
        bucket = settings.location.bucket
        if vending.role is not None:
            policy = session_policy_json(bucket, prefix, access, grant.restrictions)
            _refuse_oversized(policy, prefix, grant.restrictions)
            role = AssumeRoleSettings(
                role_arn=vending.role.role_arn,
                external_id=vending.role.external_id,
                session_name=session_name(grant.user.name, access),
                duration_seconds=vending.options.duration_seconds,
                policy=policy,
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
        found = self._mounts.get(record.path)
        if found is not None and same_mount(found[0], record):
            return found[1]
        require_io(f"resolving the vending credentials of mount {record.path}")
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
        self._mounts.put(record.path, (record, vending))
        return vending

    def forget_mount(self, path: str) -> None:
        """Drop what was cached for a mount that was removed."""
        for cache_key in self._cache.held_keys():
            if cache_key[1] == path:
                self._cache.pop(cache_key)
                self._answers.pop(cache_key)
                self._key_locks.pop(cache_key)
        self._decided.clear()
        self._mounts.pop(path)


def session_name(user: str, access: str) -> str:
    """``ts-<user>-<access>``: the role session name S3 and CloudTrail logs show, so they name
    the user. STS allows 2 to 64 of ``[A-Za-z0-9+=,.@_-]``; anything else in a user name is ``_``."""
    safe = re.sub(r"[^A-Za-z0-9+=,.@_-]", "_", user)
    suffix = f"-{access}"
    return f"ts-{safe}"[: 64 - len(suffix)] + suffix


def _refuse_policy_specials(path: str, key: str) -> None:
    for character in POLICY_SPECIAL:
        if character in key:
            raise StoreError(
                f"vend {path}: the character {character!r} is not allowed in a vended path, because IAM "
                "policies read '*' and '?' as wildcards and '${' as a variable, which would widen the "
                "grant; vend its directory, or read it through the API",
                key=path,
            )


def _refuse_oversized(policy: str, prefix: str, restrictions: Restrictions) -> None:
    size = len(policy.encode())
    if size <= MAX_POLICY_BYTES:
        return
    if restrictions:
        first = (restrictions.denied or restrictions.write_denied)[0]
        count = len(restrictions.denied) + len(restrictions.write_denied)
        raise AccessDeniedError(
            f"vend {prefix}: {count} stricter paths lie below it (the first is the key {first}), and "
            f"denying them all takes a session policy of {size} bytes, over STS's limit of "
            f"{MAX_POLICY_BYTES}; vend a narrower path",
            key=prefix,
        )
    raise PathTooLongError(
        f"vend {prefix[:64]}...: its session policy would be {size} bytes, over STS's limit of "
        f"{MAX_POLICY_BYTES}; vend a shorter path (its directory)",
        key=prefix,
    )


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
