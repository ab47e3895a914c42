"""Files written part by part (the S3 gateway's multipart uploads), with the namespace's checks.

:class:`MultipartFiles` is one user's view (:class:`~tierstore.namespace.filesystem.FileSystem`)
of the stores' multipart uploads (:mod:`tierstore.storage.uploads`): a namespace path resolves to
its mount's store and key, and every call is first checked against the namespace's bits, as
:meth:`FileSystem.write` checks a write (``FileSystem.upload_target``):

- **create** and **complete**: everything a write checks (a writable mount, search on the
  ancestors, not a directory, write on the file or its directory); again at completion, since
  the bits may have changed in between. A completion then does what a write does once its file
  is there: a new file is recorded as the caller's, and the cache forgets the path.
- **upload_part** and **copy_part**: the same check for every part. S3 authorizes every
  UploadPart too (``s3:PutObject``), and a user whose write bit was taken away must not go on
  filling an upload. It costs nothing on a server: the attributes come from the metadata store's
  memory and the path's kind from the namespace's cache, at worst one HEAD per part (of 5 MiB
  or more). A copy's source is checked for read.
- **abort** and **list_parts**: the caller's write permission only (``staged_only``): they touch
  the staged parts, never the file, so a mount made read-only since still lets them through.
- **uploads_under**: read on the directory listed; each upload is shown only where the caller
  may read and search every directory down to it, as a recursive listing descends.

An upload id is the store's. It is only ever given to the store of the path's own mount, with
the path's own key, and both backends refuse an id that is another key's (NoSuchUploadError): an
id from another mount or another key completes, aborts or lists nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tierstore.errors import ConflictError, StoreError
from tierstore.namespace import paths
from tierstore.namespace.access import lineage
from tierstore.namespace.filesystem import CHUNK, FileStatus, FileSystem
from tierstore.namespace.metadata import MountRecord
from tierstore.namespace.mounts import resolve_in
from tierstore.storage.interface import ObjectAttributes, ObjectInfo, Store
from tierstore.storage.uploads import MAX_LISTED, UploadedPart, UploadInfo


@dataclass(frozen=True)
class CopySource:
    """A readable file a part is copied from: its size, and where it lives."""

    path: str
    size: int
    store: Store
    key: str


@dataclass(frozen=True)
class Completed:
    etag: str | None  # the store's answer: S3's ``"<md5 of the parts' md5s>-<count>"``
    status: FileStatus


class MultipartFiles:
    def __init__(self, fs: FileSystem) -> None:
        self.fs = fs

    def create(self, path: str, *, attributes: ObjectAttributes | None = None) -> str:
        """Begin an upload of the file ``path``, which will have ``attributes``; the store's
        upload id."""
        target = self.fs.upload_target(path)
        given = attributes or ObjectAttributes()
        return target.store.multipart_uploads().create(
            target.key, content_type=given.content_type, metadata=given.metadata, headers=given.headers
        )

    def upload_part(
        self, path: str, upload_id: str, number: int, chunks: Iterable[bytes], length: int
    ) -> UploadedPart:
        """Part ``number`` from ``chunks`` (exactly ``length`` bytes), checked before one is taken."""
        target = self.fs.upload_target(path)
        return target.store.multipart_uploads().upload_part(target.key, upload_id, number, chunks, length)

    def copy_source(self, path: str) -> CopySource:
        """The file ``path`` as a part's source, once the caller may read it."""
        self.fs.check_read(path)
        status = self.fs.stat(path, sync=True)
        if status.is_dir:
            raise StoreError(f"{status.path}: is a directory, not a file to copy from", key=status.path)
        record, key = self.fs.table.resolve(status.path)
        return CopySource(status.path, status.size, self.fs.table.store_for(record), key)

    def copy_part(  # noqa: PLR0917 - S3's UploadPartCopy, field for field
        self, path: str, upload_id: str, number: int, source: CopySource, start: int, end: int
    ) -> UploadedPart:
        """Part ``number`` from the bytes ``[start, end)`` of ``source`` (see :meth:`copy_source`).

        Within one store the store copies (no byte through here); from another, the range is
        read there a chunk at a time and uploaded as it comes.
        """
        target = self.fs.upload_target(path)
        uploads = target.store.multipart_uploads()
        if source.store is target.store:
            return uploads.copy_part(target.key, upload_id, number, source.key, start, end)
        return uploads.upload_part(target.key, upload_id, number, _range_of(source, start, end), end - start)

    def complete(self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> Completed:
        """The file ``path`` made of ``parts`` ((number, ETag), ascending), checked anew first."""
        target = self.fs.upload_target(path, sync=True)
        try:
            result = target.store.multipart_uploads().complete(target.key, upload_id, parts)
        except StoreError:
            # The refusals (InvalidPart...) leave the file as it was; any other failure may come
            # after the store made it (an answer lost on the way).
            self.fs.forget_cached(target.path)
            raise
        return Completed(result.etag, self.fs.upload_completed(target))

    def abort(self, path: str, upload_id: str) -> None:
        target = self.fs.upload_target(path, staged_only=True)
        target.store.multipart_uploads().abort(target.key, upload_id)

    def list_parts(
        self, path: str, upload_id: str, *, after: int = 0, limit: int = MAX_LISTED
    ) -> tuple[list[UploadedPart], bool]:
        target = self.fs.upload_target(path, staged_only=True)
        return target.store.multipart_uploads().list_parts(target.key, upload_id, after=after, limit=limit)

    def uploads_under(self, directory: str, prefix: str = "") -> list[tuple[str, UploadInfo]]:
        """Every upload of a file whose path starts with ``directory/prefix``, as (path, upload),
        from each store holding such paths (the directory's mount, and mounts inside it), once
        the caller may read ``directory``; only those the caller may see, in no set order.

        Stores list uploads by store key; a key that no namespace path reaches (one hidden by a
        mount inside, one the namespace would spell otherwise) is dropped.
        """
        fs = self.fs
        fs.check_read(directory)
        directory = paths.normalize(directory)
        wanted = directory.rstrip("/") + "/" + prefix
        records = fs.table.records()
        own, _ = fs.table.resolve(directory)
        found: list[tuple[str, UploadInfo]] = []
        visible = _Visibility(fs)
        for record in [own, *fs.table.children_of(directory)]:
            root = record.path.rstrip("/") + "/"
            if wanted.startswith(root):
                store_prefix = wanted[len(root) :]
            elif root.startswith(wanted):
                store_prefix = ""
            else:
                continue
            for upload in _every_upload(fs.table.store_for(record), store_prefix):
                path = root + upload.key
                if (
                    path.startswith(wanted)
                    and _spelled(path)
                    and _resolves_to(records, path, record)
                    and visible(paths.parent(path))
                ):
                    found.append((path, upload))
        return found


class _Visibility:
    """Whether the caller may read a directory and search it and every one above it (from the
    namespace's attributes, in memory), asked once per directory."""

    def __init__(self, fs: FileSystem) -> None:
        self._fs = fs
        self._known: dict[str, bool] = {}

    def __call__(self, directory: str) -> bool:
        caller = self._fs.caller
        if caller is None:
            return True
        known = self._known.get(directory)
        if known is None:
            chain = lineage(self._fs.table, directory)
            known = chain[-1].allows(caller, "read") and all(here.allows(caller, "execute") for here in chain)
            self._known[directory] = known
        return known


def _every_upload(store: Store, prefix: str) -> Iterator[UploadInfo]:
    uploads = store.multipart_uploads()
    after_key, after_id = "", ""
    while True:
        page, more = uploads.list_uploads(prefix, after_key=after_key, after_upload_id=after_id)
        yield from page
        if not more or not page:
            return
        after_key, after_id = page[-1].key, page[-1].upload_id


def _spelled(path: str) -> bool:
    try:
        return paths.normalize(path) == path
    except paths.PathError:
        return False


def _resolves_to(records: list[MountRecord], path: str, record: MountRecord) -> bool:
    try:
        return resolve_in(records, path)[0].path == record.path
    except paths.PathError:
        return False


def _range_of(source: CopySource, start: int, end: int) -> Iterator[bytes]:
    """The bytes ``[start, end)`` of ``source``, a chunk per GET; the source must be the same
    file at the end as at the start (size and ETag or time), so that the part never mixes two
    versions of it: its last chunk is held back until that is known."""
    before = source.store.head(source.key)
    position = start
    while position < end:
        chunk = source.store.get(source.key, start=position, end=min(position + CHUNK, end))
        if not chunk:
            raise StoreError(f"{source.path}: the file became shorter while being copied", key=source.path)
        position += len(chunk)
        if position >= end and not _same(before, source.store.head(source.key)):
            raise ConflictError(
                f"{source.path}: the file changed while a part was copied from it; copy the part again",
                key=source.path,
            )
        yield chunk


def _same(before: ObjectInfo, after: ObjectInfo) -> bool:
    return (before.size, before.etag, before.last_modified) == (after.size, after.etag, after.last_modified)
