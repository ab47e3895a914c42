"""The S3 gateway's multipart uploads on a local directory: parts staged, assembled on completion.

Everything lives in ``<root>/.tierstore-uploads/`` (:data:`~tierstore.storage.local.STAGING_DIR`),
on the root's file system so that the assembled object is renamed into place, never copied
across. LocalStore never lists it and refuses any key that names it::

    .tierstore-uploads/<upload id>/manifest.json    key, initiated, content type, metadata
    .tierstore-uploads/<upload id>/part-00001       the part's bytes, then their 16-byte MD5
    .tierstore-uploads/<upload id>/.tmp-*           a part being written
    .tierstore-uploads/.gone-*                      an upload aborted or completed, being removed

- **Upload ids** are 16 hex digits of the creation time in nanoseconds then 24 random URL-safe
  characters: listing by id is listing by age, and an id is matched against that exact shape
  before it is ever put into a path (so ``../../etc`` is an unknown upload, and nothing is read).
- **A part** is written to a temporary file and renamed: a part sent again replaces the earlier
  one whole, and a reader sees one or the other. Its MD5 is kept in the same file, after the
  bytes, so that the bytes and their ETag are replaced together by the one rename.
- **Completion** holds an exclusive ``flock`` on the manifest (also taken by abort), so two
  completions or a completion and an abort never interleave, across the server's processes too.
  It checks every listed part first (order, ETags, sizes: S3's rules, S3's minimum), then copies
  the parts in order (``copy_file_range``, no bytes through Python) into a temporary file beside
  the object and renames it into place: the object is the old one or the new one, never half of
  one. Then the upload is moved aside and removed.
- **Content type and metadata** are kept in the manifest until completion, then recorded on the
  object with its ETag (:mod:`tierstore.storage.local_attrs`), as the local writer records them.
- **Clean-up**: :meth:`LocalMultipartUploads.clean_up` removes uploads older than an age (their
  id tells when they began) and the leftovers of removals; the server runs it at start for
  local mounts with ``upload_cleanup.enabled`` (:mod:`tierstore.namespace.uploads`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat as stat_kind
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from tierstore.errors import (
    EntityTooSmallError,
    InvalidArgumentError,
    InvalidPartError,
    MultipartError,
    NoSuchUploadError,
    StoreError,
)
from tierstore.storage import local_attrs
from tierstore.storage.interface import ObjectAttributes, PutResult
from tierstore.storage.local import _TEMP_PREFIX, STAGING_DIR, LocalStore
from tierstore.storage.uploads import (
    MAX_LISTED,
    MIN_PART_SIZE,
    MultipartUploads,
    UploadedPart,
    UploadInfo,
    bare_etag,
    check_completion,
    check_limit,
    check_part_length,
    check_part_number,
    multipart_etag,
    page_of_uploads,
    quoted,
)

_UPLOAD_ID = re.compile(r"[0-9a-f]{16}[A-Za-z0-9_-]{24}")
_PART_NAME = re.compile(r"part-(\d{5})")
_MANIFEST = "manifest.json"
_PART_TEMP = ".tmp-"
_GONE = ".gone-"
_DIGEST = 16  # bytes of MD5 after a part's own
_COPY_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Manifest:
    key: str
    upload_id: str
    initiated: datetime
    content_type: str | None
    metadata: dict[str, str]
    headers: dict[str, str]

    def to_json(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "upload_id": self.upload_id,
                "initiated": self.initiated.isoformat(),
                "content_type": self.content_type,
                "metadata": self.metadata,
                "headers": self.headers,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> _Manifest:
        fields = json.loads(text)
        return cls(
            key=str(fields["key"]),
            upload_id=str(fields["upload_id"]),
            initiated=datetime.fromisoformat(fields["initiated"]),
            content_type=fields.get("content_type"),
            metadata={str(name): str(value) for name, value in (fields.get("metadata") or {}).items()},
            headers={str(name): str(value) for name, value in (fields.get("headers") or {}).items()},
        )


@dataclass(frozen=True)
class _At:
    """One call on one upload: what its messages name, and where the upload's files are."""

    where: str
    key: str
    upload_id: str
    directory: Path


class LocalMultipartUploads(MultipartUploads):
    def __init__(self, store: LocalStore, *, min_part_size: int = MIN_PART_SIZE) -> None:
        # min_part_size is S3's 5 MiB; only tests lower it.
        self._store = store
        self._staging = store.root / STAGING_DIR
        self._min_part_size = min_part_size

    # -- uploads ------------------------------------------------------------------------------

    def create(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        where = f"CREATE multipart upload {self._store.description}/{key}"
        self._store._path(key)  # refuses what a write of the key would refuse, before anything
        if key.endswith("/"):
            raise InvalidArgumentError(f"{where}: a key ending in '/' names a directory", key=key)
        now = time.time_ns()
        upload_id = f"{now:016x}{secrets.token_urlsafe(18)}"
        manifest = _Manifest(
            key=key,
            upload_id=upload_id,
            initiated=datetime.fromtimestamp(now / 1e9, tz=UTC),
            content_type=content_type,
            metadata=dict(metadata or {}),
            headers=dict(headers or {}),
        )
        try:
            self._staging_dir().mkdir(mode=0o700, exist_ok=True)
            directory = self._staging / upload_id
            directory.mkdir(mode=0o700)
            # Written aside and renamed: a listing never reads half a manifest.
            descriptor, temp = tempfile.mkstemp(prefix=_PART_TEMP, dir=directory)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(manifest.to_json())
            os.replace(temp, directory / _MANIFEST)
        except OSError as error:
            raise self._os_error(where, key, error) from None
        return upload_id

    def upload_part(
        self, key: str, upload_id: str, number: int, chunks: Iterable[bytes], length: int
    ) -> UploadedPart:
        where = self._where(f"PUT part {number} of", key, upload_id)
        check_part_number(number, where)
        check_part_length(length, where)
        directory = self._upload_dir(where, key, upload_id)
        try:
            descriptor, temp_name = tempfile.mkstemp(prefix=_PART_TEMP, dir=directory)
        except FileNotFoundError:
            raise self._no_such_upload(where, key, upload_id) from None
        except OSError as error:
            raise self._os_error(where, key, error) from None
        temp = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                digest = _write_exactly(handle, chunks, length, where)
                handle.write(digest)
            target = directory / _part_name(number)
            try:
                os.replace(temp, target)
            except FileNotFoundError:
                # Aborted or completed while the part came in: its directory is gone.
                raise self._no_such_upload(where, key, upload_id) from None
            found = target.lstat()
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return UploadedPart(number=number, etag=f'"{digest.hex()}"', size=length, last_modified=_mtime(found))

    def copy_part(  # noqa: PLR0917 - the gateway's API, field for field as S3's request
        self, key: str, upload_id: str, number: int, source_key: str, start: int | None, end: int | None
    ) -> UploadedPart:
        where = self._where(f"COPY part {number} from {source_key!r} to", key, upload_id)
        check_part_number(number, where)
        self._upload_dir(where, key, upload_id)  # an unknown upload is said before the source
        with self._store._open_read("COPY", source_key) as source:
            size = os.fstat(source.fileno()).st_size
            first = 0 if start is None else start
            last = size if end is None else end
            if first < 0 or last > size or (last <= first and (start is not None or end is not None)):
                raise InvalidArgumentError(
                    f"{where}: the range [{start}, {end}) is not within the {size} bytes of {source_key!r}",
                    key=key,
                )
            source.seek(first)
            # One open file read to the end of the range: the copy is of one version of the source.
            return self.upload_part(key, upload_id, number, _read_range(source, last - first), last - first)

    def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> PutResult:
        where = self._where("COMPLETE multipart upload", key, upload_id)
        check_completion(parts, where, key=key, upload_id=upload_id)
        directory = self._upload_dir(where, key, upload_id)
        at = _At(where, key, upload_id, directory)
        with self._locked(where, key, upload_id, directory):
            digests, sizes = self._checked_parts(at, parts)
            etag = multipart_etag(digests)
            manifest = self._manifest_of(upload_id)
            attributes = None
            if manifest is not None:
                attributes = ObjectAttributes(manifest.content_type, manifest.metadata, manifest.headers)
            self._assemble(at, parts, digests, sizes=sizes, etag=etag, attributes=attributes)
            self._remove(directory)
        return PutResult(key=key, etag=etag)

    def abort(self, key: str, upload_id: str) -> None:
        where = self._where("ABORT multipart upload", key, upload_id)
        directory = self._upload_dir(where, key, upload_id)
        with self._locked(where, key, upload_id, directory):
            self._remove(directory)

    def list_parts(
        self, key: str, upload_id: str, *, after: int = 0, limit: int = MAX_LISTED
    ) -> tuple[list[UploadedPart], bool]:
        where = self._where("LIST parts of", key, upload_id)
        check_limit(limit, where)
        directory = self._upload_dir(where, key, upload_id)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            raise self._no_such_upload(where, key, upload_id) from None
        numbers = sorted(
            number
            for name in names
            if (matched := _PART_NAME.fullmatch(name)) and (number := int(matched.group(1))) > after
        )
        listed: list[UploadedPart] = []
        for number in numbers:
            if len(listed) == limit:
                return listed, True
            part = self._read_part(directory, number)
            if part is not None:
                listed.append(part[0])
        return listed, False

    def list_uploads(
        self, prefix: str = "", *, after_key: str = "", after_upload_id: str = "", limit: int = MAX_LISTED
    ) -> tuple[list[UploadInfo], bool]:
        check_limit(limit, f"LIST multipart uploads {self._store.description}/{prefix}")
        found = [
            UploadInfo(key=manifest.key, upload_id=manifest.upload_id, initiated=manifest.initiated)
            for manifest in self._manifests()
            if manifest.key.startswith(prefix)
        ]
        return page_of_uploads(found, after_key=after_key, after_upload_id=after_upload_id, limit=limit)

    # -- clean-up -----------------------------------------------------------------------------

    def clean_up(self, older_than: timedelta) -> list[UploadInfo]:
        """Remove the uploads begun more than ``older_than`` ago, and what earlier removals left.

        Returns the uploads removed (an upload whose manifest was never written has the key ``""``).
        """
        cutoff = time.time_ns() - int(older_than.total_seconds() * 1e9)
        removed: list[UploadInfo] = []
        for name in self._staged_names():
            path = self._staging / name
            if name.startswith(_GONE):
                shutil.rmtree(path, ignore_errors=True)
                continue
            if not _UPLOAD_ID.fullmatch(name) or int(name[:16], 16) > cutoff:
                continue
            manifest = self._manifest_of(name)
            self._remove(path)
            removed.append(
                UploadInfo(
                    key=manifest.key if manifest else "",
                    upload_id=name,
                    initiated=datetime.fromtimestamp(int(name[:16], 16) / 1e9, tz=UTC),
                )
            )
        return removed

    # -- the staging directory ----------------------------------------------------------------

    def _staging_dir(self) -> Path:
        # The root is the store's own; a link planted in it under the staging name is not followed.
        if self._staging.is_symlink():
            raise StoreError(
                f"{self._store.description}/{STAGING_DIR} is a symbolic link; tierstore never follows links "
                "in a local mount"
            )
        return self._staging

    def _staged_names(self) -> list[str]:
        try:
            return sorted(os.listdir(self._staging_dir()))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _upload_dir(self, where: str, key: str, upload_id: str) -> Path:
        """The upload's directory, once its id has the exact shape of ours and its manifest names
        ``key``. A malformed id (``../../etc``) is an unknown upload: no path is made from it."""
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise self._no_such_upload(where, key, upload_id)
        manifest = self._manifest_of(upload_id)
        if manifest is None or manifest.key != key:
            raise self._no_such_upload(where, key, upload_id)
        return self._staging / upload_id

    def _manifest_of(self, upload_id: str) -> _Manifest | None:
        path = self._staging_dir() / upload_id / _MANIFEST
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            with os.fdopen(descriptor, "r", encoding="utf-8") as handle:
                return _Manifest.from_json(handle.read())
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: treated as no upload, and removed by the age clean-up

    def _manifests(self) -> Iterator[_Manifest]:
        for name in self._staged_names():
            if _UPLOAD_ID.fullmatch(name) and (manifest := self._manifest_of(name)) is not None:
                yield manifest

    @contextlib.contextmanager
    def _locked(self, where: str, key: str, upload_id: str, directory: Path) -> Iterator[None]:
        """The upload held against other completions and aborts, in any process of this host."""
        try:
            descriptor = os.open(directory / _MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise self._no_such_upload(where, key, upload_id) from None
        except OSError as error:
            raise self._os_error(where, key, error) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            # The holder before us may have completed or aborted it: moved aside, then removed.
            try:
                current = os.stat(directory / _MANIFEST, follow_symlinks=False)
            except FileNotFoundError:
                raise self._no_such_upload(where, key, upload_id) from None
            if current.st_ino != os.fstat(descriptor).st_ino:
                raise self._no_such_upload(where, key, upload_id)
            yield
        finally:
            os.close(descriptor)

    def _remove(self, directory: Path) -> None:
        """Move the upload aside in one rename (it is gone for every other call from that moment),
        then delete it. A part still being written into it may make the delete fail: what it
        leaves is removed by the next clean-up."""
        gone = self._staging / f"{_GONE}{directory.name}-{secrets.token_hex(4)}"
        try:
            os.rename(directory, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    # -- parts --------------------------------------------------------------------------------

    def _read_part(self, directory: Path, number: int) -> tuple[UploadedPart, bytes] | None:
        """A part as listed, and its MD5; None when it is not there."""
        try:
            descriptor = os.open(directory / _part_name(number), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            found = os.fstat(descriptor)
            if not stat_kind.S_ISREG(found.st_mode) or found.st_size < _DIGEST:
                return None
            digest = os.pread(descriptor, _DIGEST, found.st_size - _DIGEST)
        finally:
            os.close(descriptor)
        part = UploadedPart(
            number=number,
            etag=f'"{digest.hex()}"',
            size=found.st_size - _DIGEST,
            last_modified=_mtime(found),
        )
        return part, digest

    def _checked_parts(self, at: _At, parts: Sequence[tuple[int, str]]) -> tuple[list[bytes], list[int]]:
        """Every listed part is there with the ETag given (InvalidPart), then every one but the
        last is big enough (EntityTooSmall): S3's checks in S3's order. Their MD5s and sizes."""
        digests: list[bytes] = []
        sizes: list[int] = []
        for number, etag in parts:
            found = self._read_part(at.directory, number)
            if found is None:
                raise _part_error(InvalidPartError, at, number, "was never uploaded")
            part, digest = found
            if bare_etag(etag) != digest.hex():
                raise _part_error(
                    InvalidPartError, at, number, f"has the ETag {part.etag}, not {quoted(etag)}"
                )
            digests.append(digest)
            sizes.append(part.size)
        for (number, _etag), size in zip(parts[:-1], sizes, strict=False):
            if size < self._min_part_size:
                reason = (
                    f"holds {size} bytes: every part but the last must hold at least {self._min_part_size}"
                )
                raise _part_error(EntityTooSmallError, at, number, reason)
        return digests, sizes

    def _assemble(
        self,
        at: _At,
        parts: Sequence[tuple[int, str]],
        digests: list[bytes],
        *,
        sizes: list[int],
        etag: str,
        attributes: ObjectAttributes | None,
    ) -> None:
        """The parts, in order, into a temporary file beside the object, renamed into place with
        its ETag and attributes recorded (as the local writer records them): HEAD and listings
        then answer the ETag ``complete`` did, and the content type and metadata given at create;
        the parts' sizes too, so that a read of one part (``partNumber``) finds its bytes."""
        target = self._store._path(at.key)
        made = _missing_parents(target.parent, self._store.root)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
        except OSError as error:
            raise self._os_error(at.where, at.key, error) from None
        temp = Path(temp_name)
        try:
            try:
                for (number, _etag), digest in zip(parts, digests, strict=True):
                    _append_part(at, number, digest, descriptor)
                record = local_attrs.encode(attributes, parts=sizes)
                local_attrs.record(descriptor, etag.strip('"'), record, where=at.where)
            finally:
                os.close(descriptor)
            os.replace(temp, target)
        except BaseException as error:
            temp.unlink(missing_ok=True)
            for parent in made:  # the directories made for it, emptied again: nothing left behind
                with contextlib.suppress(OSError):
                    parent.rmdir()
            if isinstance(error, OSError):
                raise self._os_error(at.where, at.key, error) from None
            raise

    # -- messages -----------------------------------------------------------------------------

    def _where(self, operation: str, key: str, upload_id: str) -> str:
        return f"{operation} {self._store.description}/{key} upload {upload_id!r}"

    @staticmethod
    def _no_such_upload(where: str, key: str, upload_id: str) -> NoSuchUploadError:
        return NoSuchUploadError(
            f"{where}: no such upload (unknown, aborted, completed, or begun for another key)",
            key=key,
            upload_id=upload_id,
        )

    @staticmethod
    def _os_error(where: str, key: str, error: OSError) -> StoreError:
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        return StoreError(f"{where} failed: {reason}", key=key)


def _part_name(number: int) -> str:
    return f"part-{number:05d}"


def _part_error(kind: type[MultipartError], at: _At, number: int, reason: str) -> MultipartError:
    return kind(f"{at.where}: part {number} {reason}", key=at.key, upload_id=at.upload_id, part_number=number)


def _append_part(at: _At, number: int, digest: bytes, output: int) -> None:
    part = os.open(at.directory / _part_name(number), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(part).st_size - _DIGEST
        # Sent again since it was checked: the part listed is no longer the one stored.
        if size < 0 or os.pread(part, _DIGEST, size) != digest:
            raise _part_error(
                InvalidPartError, at, number, "was replaced while the upload was being completed"
            )
        _copy(part, output, size)
    finally:
        os.close(part)


def _write_exactly(handle: IO[bytes], chunks: Iterable[bytes], length: int, where: str) -> bytes:
    """Write ``chunks`` (exactly ``length`` bytes, one chunk held at a time); their MD5."""
    md5 = hashlib.md5(usedforsecurity=False)
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > length:
            raise InvalidArgumentError(
                f"{where}: the part's body holds more than the {length} bytes declared"
            )
        md5.update(chunk)
        handle.write(chunk)
    if written < length:
        raise InvalidArgumentError(
            f"{where}: the part's body ended after {written} of the {length} bytes declared"
        )
    return md5.digest()


def _read_range(source: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        chunk = source.read(min(_COPY_CHUNK, left))
        if not chunk:
            return  # the source shrank: upload_part says the part came short
        left -= len(chunk)
        yield chunk


def _copy(source: int, output: int, size: int) -> None:
    """``size`` bytes from the start of ``source`` appended to ``output`` (descriptors, at its
    offset), in the kernel where it can: no byte through Python, no page copied twice."""
    offset = 0
    try:
        while offset < size:
            copied = os.copy_file_range(source, output, size - offset, offset)
            if copied == 0:
                break
            offset += copied
    except OSError as error:
        # Not every file system or kernel copies between files (EXDEV, ENOSYS, EINVAL...).
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while offset < size:
        chunk = os.pread(source, min(_COPY_CHUNK, size - offset), offset)
        if not chunk:
            raise OSError(errno.EIO, "a staged part is shorter than when it was checked")
        view = memoryview(chunk)
        while view:
            view = view[os.write(output, view) :]
        offset += len(chunk)


def _missing_parents(directory: Path, root: Path) -> list[Path]:
    """The directories between ``root`` and ``directory`` that do not exist yet, deepest first."""
    missing: list[Path] = []
    while directory != root and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    return missing


def _mtime(found: os.stat_result) -> datetime:
    return datetime.fromtimestamp(found.st_mtime, tz=UTC)
