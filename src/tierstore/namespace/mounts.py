"""The mount table: which store serves which namespace path, and the rules for changing it.

The root mount comes from the server's config; nested mounts are added at run time with their
own options (their settings and highest-priority credentials) and saved in the metadata store,
so every server sharing that store sees them.
"""

from __future__ import annotations

import getpass
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tierstore.blocking import require_io
from tierstore.errors import ConfigError, PathTooLongError, StoreError, TierstoreError
from tierstore.lru import BoundedLRU
from tierstore.namespace import paths
from tierstore.namespace.config import ServerConfig
from tierstore.namespace.metadata import MetadataStore, MountRecord
from tierstore.namespace.permissions import MountPermissions
from tierstore.settings import settings_from_options
from tierstore.settings.model import StoreSettings, parse_location
from tierstore.storage.factory import open_backend
from tierstore.storage.interface import Store
from tierstore.storage.layers import LoggingLayer

# Credentials are resolved for S3 mounts only, when their store is opened: a command on local
# mounts never imports them.
if TYPE_CHECKING:
    from tierstore.credentials.resolve import ResolutionContext
    from tierstore.credentials.source import CredentialSource

LOGGER = logging.getLogger("tierstore.namespace")
# Directories whose effective attributes are kept (see MountTable.directory_chains).
DIRECTORY_CHAINS = 4096


class MountError(TierstoreError):
    """A mount or unmount that the rules refuse; the message says which rule and what to do."""


def storage_identity(settings: StoreSettings) -> tuple[str, str, str]:
    """Where a mount's data is: (endpoint, bucket, prefix), or ("file", "", directory/)."""
    location = settings.location
    if location.scheme == "file":
        return ("file", "", f"{str(location.path).rstrip('/')}/")
    return (settings.endpoint or "aws", location.bucket, location.prefix)


def _overlaps(first: StoreSettings, second: StoreSettings) -> bool:
    a_where, a_bucket, a_prefix = storage_identity(first)
    b_where, b_bucket, b_prefix = storage_identity(second)
    if (a_where, a_bucket) != (b_where, b_bucket):
        return False
    return a_prefix.startswith(b_prefix) or b_prefix.startswith(a_prefix)


@dataclass(frozen=True)
class _OpenStore:
    """A mount's open store and the mount record it was opened for."""

    record: MountRecord
    store: Store

    def serves(self, record: MountRecord) -> bool:
        """Whether ``record`` is still the mount this store was opened for (:func:`same_mount`)."""
        return same_mount(self.record, record)


def same_mount(opened: MountRecord, record: MountRecord) -> bool:
    """Whether ``record`` is still the mount that ``opened`` was read as (what was built from it
    — a store, vending credentials — may be kept).

    A mount's row is never changed in place: a new mount at a path (after an unmount, by
    any process sharing the database) is a new row with its own ``created_at``, which is
    therefore the mount's version. The URI and options are compared too, so nothing built from
    a mount outlives the settings it was built from.
    """
    if opened is record:  # the same record from the in-memory mount table: the common case
        return True
    if record.path == "/":
        # The root's settings come from this server's config, not from the row, which every
        # server starting on the database rewrites (with a new created_at).
        return opened.uri == record.uri
    return (
        opened.created_at == record.created_at
        and opened.uri == record.uri
        and opened.options == record.options
    )


class MountTable:
    def __init__(self, config: ServerConfig, metadata: MetadataStore) -> None:
        self.config = config
        self.metadata = metadata
        # By mount path: the store opened for the mount there, replaced when the mount changes.
        self._stores: dict[str, _OpenStore] = {}
        self._lock = threading.Lock()
        self._context: ResolutionContext | None = None  # made on first use
        # Directories' effective attributes from / down, as tierstore.namespace.access.lineage
        # made them, each with the metadata's generations (mounts, attributes) it made them under.
        self.directory_chains: BoundedLRU[str, tuple[tuple[int, int], tuple[Any, ...]]] = BoundedLRU(
            DIRECTORY_CHAINS
        )

    # -- records and settings ------------------------------------------------------------

    def sync_root(self) -> MountRecord:
        """(Re)write the root mount from the config, deriving its owner and mode."""
        permissions = self._permissions(self.config.root, shared=False)
        record = _record("/", self.config.root.location.uri, {}, permissions, readonly=False, shared=False)
        self.metadata.replace_mount(record)
        return record

    def records(self) -> list[MountRecord]:
        records = self.metadata.mounts()
        if not any(record.path == "/" for record in records):
            return [self.sync_root(), *records]
        return records

    def settings_for(self, record: MountRecord) -> StoreSettings:
        if record.path == "/":
            return self.config.root
        return settings_from_options(record.options, location=record.uri).settings

    def store_for(self, record: MountRecord) -> Store:
        """The mount's store, opened once per mount and kept while the mount stays the same.

        Another process sharing the metadata database may unmount and mount the path again with
        other options; ``record`` (from :meth:`records`) then is the new mount, and its store
        is opened anew. The old one is not closed here: requests that began on it may still be
        reading or writing, and it goes when they drop it.
        """
        opened = self._stores.get(record.path)
        if opened is not None and opened.serves(record):
            return opened.store
        # Opening may resolve credentials (even call STS) under the lock: never on the event loop.
        require_io(f"opening the store of mount {record.path}")
        with self._lock:
            opened = self._stores.get(record.path)
            if opened is None or not opened.serves(record):
                settings = self.settings_for(record)
                backend = open_backend(settings, self._credentials(settings))
                opened = self._stores[record.path] = _OpenStore(record, LoggingLayer(backend))
            return opened.store

    def _credentials(self, settings: StoreSettings) -> CredentialSource | None:
        if settings.location.scheme == "file":
            return None
        from tierstore.credentials.resolve import ResolutionContext, credential_source_for

        if self._context is None:
            self._context = ResolutionContext(site_keys=self.config.root.keys)
        return credential_source_for(settings, self._context)

    def resolve(self, path: str) -> tuple[MountRecord, str]:
        """The mount with the longest matching path, and the key below it.

        Raises :class:`paths.PathError` for a path no store of that kind can hold safely (see
        :func:`check_key`), so no door reaches a store with one.
        """
        return resolve_in(self.records(), paths.normalize(path))

    def children_of(self, path: str) -> list[MountRecord]:
        """Mounts whose mount point lies below ``path`` (at any depth)."""
        return [r for r in self.records() if r.path not in (path, "/") and paths.is_within(r.path, path)]

    # -- changing the table --------------------------------------------------------------

    def add(
        self,
        path: str,
        uri: str,
        options: Mapping[str, str] | None = None,
        *,
        readonly: bool = False,
        shared: bool = False,
        owner: str | None = None,
    ) -> MountRecord:
        """Mount ``uri`` at ``path``; ``owner`` (a tierstore user: the admin who mounts, or one
        named) owns it unless the mount's explicit owner mapping names another."""
        try:
            path = paths.normalize(path)
            location = parse_location(uri)
        except ValueError as error:
            raise MountError(f"mount {path} {uri}: {error}") from None
        if path == "/":
            raise MountError("mount /: the root mount comes from the server's config (remote.data.dir)")
        options = dict(options or {})
        settings = self._settings_of(path, location.uri, options)
        parent, key = self.resolve(path)
        if self.metadata.mount(path) is not None:
            raise MountError(f"mount {path}: a mount already exists there; unmount it first")
        if parent.readonly:
            raise MountError(f"mount {path}: it lies inside the read-only mount {parent.path}")
        self._refuse_existing_path(path, parent, key)
        self._refuse_overlap(path, settings, shared)
        store = self._check_reachable(path, settings)
        permissions = self._permissions(settings, shared=shared, store=store, owner=owner, readonly=readonly)
        record = _record(path, location.uri, options, permissions, readonly=readonly, shared=shared)
        self.metadata.add_mount(record)
        with self._lock:
            self._stores[path] = _OpenStore(record, LoggingLayer(store))
        LOGGER.info("mounted %s at %s (%s)", record.uri, path, permissions.source)
        return record

    def remove(self, path: str) -> MountRecord:
        path = paths.normalize(path)
        if path == "/":
            raise MountError("unmount /: the root mount cannot be removed")
        record = self.metadata.mount(path)
        if record is None:
            raise MountError(f"unmount {path}: nothing is mounted there (see: tierstore fs mounts)")
        nested = self.children_of(path)
        if nested:
            raise MountError(f"unmount {path}: {nested[0].path} is mounted inside it; unmount that first")
        self.metadata.remove_mount(path)
        with self._lock:
            opened = self._stores.pop(path, None)
        if opened is not None:
            opened.store.close()
        return record

    def _settings_of(self, path: str, uri: str, options: Mapping[str, str]) -> StoreSettings:
        try:
            return settings_from_options(options, location=uri).settings
        except ConfigError as error:
            raise MountError(f"mount {path} {uri}: {error}") from None

    def _refuse_existing_path(self, path: str, parent: MountRecord, key: str) -> None:
        if self.store_for(parent).kind(key) is not None:
            raise MountError(
                f"mount {path}: {path} already exists in the mount {parent.path} ({parent.uri}); "
                "choose a path that does not exist yet"
            )

    def _refuse_overlap(self, path: str, settings: StoreSettings, shared: bool) -> None:
        if shared:
            return
        for record in self.records():
            if _overlaps(settings, self.settings_for(record)):
                raise MountError(
                    f"mount {path} {settings.location.uri}: it overlaps {record.uri}, "
                    f"mounted at {record.path}; "
                    "pass --shared to mount the same storage twice"
                )

    def _check_reachable(self, path: str, settings: StoreSettings) -> Store:
        try:
            store = open_backend(settings, self._credentials(settings))
            next(iter(store.list_pages("", delimiter="/", page_size=1)), None)
        except TierstoreError as error:
            raise MountError(
                f"mount {path} {settings.location.uri}: the location cannot be reached: {error}"
            ) from None
        return store

    def _permissions(
        self,
        settings: StoreSettings,
        *,
        shared: bool,
        store: Store | None = None,
        owner: str | None = None,
        readonly: bool = False,
    ) -> MountPermissions:
        from tierstore.namespace.permissions import mount_permissions

        defaults = settings.permissions
        if settings.location.scheme == "s3":
            from tierstore.namespace.acl import permissions_for
            from tierstore.storage.s3.store import S3Store

            backend = store or open_backend(settings, self._credentials(settings))
            if isinstance(backend, S3Store):
                # A read-only mount is never written to, not even by the access probe.
                return permissions_for(
                    backend, defaults, shared=shared, owner=owner, write_probe=not readonly
                )
        # Never the server's OS user: a tierstore user named "root" would own every local mount.
        return mount_permissions(
            None, defaults, shared=shared, acl_error="a local directory has no ACL", owner=owner
        )

    def close(self) -> None:
        with self._lock:
            for opened in self._stores.values():
                opened.store.close()
            self._stores.clear()
        self.metadata.close()


def resolve_in(records: Iterable[MountRecord], path: str) -> tuple[MountRecord, str]:
    """:meth:`MountTable.resolve` over mounts already read: ``path`` must be normalized.

    Tree operations resolve thousands of paths against one reading of the mount table.
    """
    best: MountRecord | None = None
    for record in records:
        if paths.is_within(path, record.path) and (best is None or len(record.path) > len(best.path)):
            best = record
    assert best is not None  # the root matches everything
    key = paths.relative(path, best.path)
    check_key(path, best, key)
    return best, key


# S3's limit on an object key, in UTF-8 bytes.
S3_MAX_KEY_BYTES = 1024


def check_key(path: str, record: MountRecord, key: str) -> None:
    """Refuse what a mount's store would read differently from the namespace's bits.

    - S3 mounts: a backslash. SeaweedFS (and other stores) turn ``\\`` into ``/`` in keys, so
      ``/shared/alice\\secret.txt`` would reach ``/shared/alice/secret.txt`` past the bits of
      ``/shared/alice``. Also a key over S3's 1024 bytes.
    - Local mounts: a name over NAME_MAX bytes.
    """
    if record.uri.startswith("file:"):
        paths.check_name_lengths(path)
        return
    if "\\" in key:
        raise paths.PathError(
            f"{paths.shown(path)}: a backslash is not allowed in a path on the S3 mount {record.path} "
            "(S3-compatible stores such as SeaweedFS read it as '/'); use '/' to separate names"
        )
    prefix = record.uri.split("://", 1)[-1].partition("/")[2].strip("/")
    size = len(f"{prefix}/{key}".encode())
    if size > S3_MAX_KEY_BYTES:
        raise paths.PathError(
            f"{paths.shown(path[:64])}...: its object key is {size} bytes long, over S3's limit of "
            f"{S3_MAX_KEY_BYTES} on the mount {record.path}",
            too_long=True,
        )


def path_error(error: paths.PathError, path: str) -> StoreError:
    """The store error a refused path becomes (414 for a size limit, else 400)."""
    kind = PathTooLongError if error.too_long else StoreError
    return kind(str(error), key=path)


def _record(
    path: str,
    uri: str,
    options: Mapping[str, str],
    permissions: MountPermissions,
    *,
    readonly: bool,
    shared: bool,
) -> MountRecord:
    return MountRecord(
        path=path,
        uri=uri,
        options=options,
        readonly=readonly,
        shared=shared,
        owner=permissions.owner,
        group=permissions.group,
        mode=permissions.mode,
        created_at=datetime.now(UTC),
    )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "tierstore"
