"""Multipart uploads left in the namespace's stores: listed, aborted, cleaned up when a server starts.

An upload is left behind when a writer dies mid-object (a crash, a SIGKILL) or when its abort
could not reach the store (those are also in the journal, :mod:`tierstore.storage.s3.upload_journal`).
Its parts are stored, and billed, until someone aborts it; readers never see it.

- :func:`unfinished` lists the uploads at or below a namespace path, in every mount there;
- :func:`abort` aborts them (and drops them from the journal);
- :func:`clean_up_stores` is what a server runs when it starts: every journaled upload of its
  mounts' stores, and, for mounts with ``upload_cleanup.enabled`` (Alluxio's
  ``alluxio.underfs.cleanup.enabled``), every upload older than ``upload_cleanup.age_seconds``;
  on local mounts, the S3 gateway's staged uploads older than that age
  (:mod:`tierstore.storage.local_uploads`).

The S3 gateway's uploads (:mod:`tierstore.storage.uploads`) are the client's, in progress for as
long as it likes: they are never journaled (nothing aborts them behind the client's back, so no
abort can fail), so only the age rule, which the mount's owner chose, ever removes one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tierstore.errors import NotFoundError, TierstoreError
from tierstore.namespace import paths
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata.records import MountRecord
from tierstore.namespace.mounts import MountTable
from tierstore.settings.model import UploadCleanup
from tierstore.storage.interface import Store
from tierstore.storage.layers import StoreLayer
from tierstore.storage.local import LocalStore
from tierstore.storage.local_uploads import LocalMultipartUploads
from tierstore.storage.s3.store import S3Store, UploadInfo

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """One upload as the namespace sees it: the path it would create, and where it lives."""

    path: str
    mount: str
    key: str  # relative to the mount's store
    upload_id: str
    initiated: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "mount": self.mount,
            "upload_id": self.upload_id,
            "initiated": self.initiated.isoformat() if self.initiated else None,
        }


def s3_backend(store: Store) -> S3Store | None:
    inner = _backend(store)
    return inner if isinstance(inner, S3Store) else None


def local_backend(store: Store) -> LocalStore | None:
    inner = _backend(store)
    return inner if isinstance(inner, LocalStore) else None


def _backend(store: Store) -> Store:
    inner = store
    while isinstance(inner, StoreLayer):
        inner = inner.inner
    return inner


def unfinished(fs: FileSystem, path: str, *, older_than: timedelta | None = None) -> list[Upload]:
    """Uploads at or below ``path`` (the caller must be able to read it), oldest first."""
    path = paths.normalize(path)
    fs.check_read(path)
    table = fs.table
    record, key = table.resolve(path)
    scopes = [(record, key), *((child, "") for child in table.children_of(path))]
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    found: list[Upload] = []
    for mount, below in scopes:
        store = s3_backend(table.store_for(mount))
        if store is None:
            continue  # a local directory has no multipart uploads
        for info in store.unfinished_uploads(below):
            if below and info.key != below and not info.key.startswith(f"{below.rstrip('/')}/"):
                continue
            if cutoff is not None and (info.initiated is None or info.initiated > cutoff):
                continue
            found.append(_upload(mount, info))
    latest = datetime.max.replace(tzinfo=UTC)
    return sorted(found, key=lambda upload: (upload.initiated or latest, upload.path))


def abort(fs: FileSystem, uploads: Iterable[Upload]) -> list[Upload]:
    """Abort ``uploads`` (the caller must be able to write where each would land); those aborted."""
    aborted: list[Upload] = []
    records = {record.path: record for record in fs.table.records()}
    for upload in uploads:
        fs.check_writable(upload.path)
        store = s3_backend(fs.table.store_for(records[upload.mount]))
        if store is None:
            continue
        _abort_one(store, upload.key, upload.upload_id)
        aborted.append(upload)
    return aborted


def clean_up_stores(table: MountTable) -> int:
    """The server's start-up clean-up; the number of uploads aborted. Failures are logged."""
    aborted = 0
    seen: set[tuple[str, str, str]] = set()
    for record in table.records():
        try:
            opened = table.store_for(record)
        except TierstoreError as error:  # a store that cannot be opened: no credentials, bad settings
            LOGGER.warning("upload clean-up skipped %s: %s", record.path, error)
            continue
        store = s3_backend(opened)
        if store is None:
            local = local_backend(opened)
            if local is not None:
                aborted += _clean_local(local, record, table.settings_for(record).upload_cleanup)
            continue
        try:
            aborted += _abort_journaled(store, seen)
            cleanup = table.settings_for(record).upload_cleanup
            if cleanup.enabled:
                aborted += _abort_older(store, record, timedelta(seconds=cleanup.age_seconds))
        except TierstoreError as error:
            LOGGER.warning("upload clean-up of %s (%s) stopped: %s", record.path, record.uri, error)
    return aborted


def _abort_journaled(store: S3Store, seen: set[tuple[str, str, str]]) -> int:
    journal = store.journal
    mine = [
        entry
        for entry in journal.entries()
        if entry.bucket == store.bucket
        and entry.endpoint == store.retry_endpoint
        and entry.key.startswith(store.base_prefix)
        and (entry.bucket, entry.key, entry.upload_id) not in seen
    ]
    done = []
    for entry in mine:
        seen.add((entry.bucket, entry.key, entry.upload_id))
        _abort_one(store, entry.key[len(store.base_prefix) :], entry.upload_id)
        LOGGER.info("aborted journaled upload %s of s3://%s/%s", entry.upload_id, entry.bucket, entry.key)
        done.append(entry)
    journal.forget(done)
    return len(done)


def _abort_older(store: S3Store, record: MountRecord, age: timedelta) -> int:
    cutoff = datetime.now(UTC) - age
    count = 0
    for info in store.unfinished_uploads(""):
        if info.initiated is not None and info.initiated <= cutoff:
            _abort_one(store, info.key, info.upload_id)
            LOGGER.info(
                "aborted upload %s of %s started %s (older than %s)",
                info.upload_id,
                paths.join(record.path, info.key),
                info.initiated.isoformat(),
                age,
            )
            count += 1
    return count


def _clean_local(store: LocalStore, record: MountRecord, cleanup: UploadCleanup) -> int:
    """The gateway's staged uploads older than the age, where the mount asks for it."""
    if not cleanup.enabled:
        return 0
    age = timedelta(seconds=cleanup.age_seconds)
    try:
        removed = LocalMultipartUploads(store).clean_up(age)
    except (TierstoreError, OSError) as error:
        LOGGER.warning("upload clean-up of %s (%s) stopped: %s", record.path, record.uri, error)
        return 0
    for upload in removed:
        LOGGER.info(
            "removed staged upload %s of %s started %s (older than %s)",
            upload.upload_id,
            paths.join(record.path, upload.key) if upload.key else record.path,
            upload.initiated.isoformat(),
            age,
        )
    return len(removed)


def _abort_one(store: S3Store, key: str, upload_id: str) -> None:
    with contextlib.suppress(NotFoundError):  # gone already (aborted or completed elsewhere)
        store.abort_multipart_upload(key, upload_id)
    journal = store.journal
    full = store.full_key(key)
    journal.forget(entry for entry in journal.entries() if entry.upload_id == upload_id and entry.key == full)


def _upload(mount: MountRecord, info: UploadInfo) -> Upload:
    return Upload(
        path=paths.join(mount.path, info.key),
        mount=mount.path,
        key=info.key,
        upload_id=info.upload_id,
        initiated=info.initiated,
    )
