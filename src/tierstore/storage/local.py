"""The local-directory backend: keys are files under a root directory.

Writes go to a hidden temporary file beside the target and are renamed into place on close,
so a reader never sees half an object and a failed write leaves nothing behind.

Nothing here ever touches a file outside the root: symbolic links are never followed, whether
they point inside the root or out of it. A link is not an object: listings leave it out (a link
loop cannot make one fail or hang), and a key that names a link or passes through one is refused
with a StoreError saying so, for reads and writes alike. Every component of a key is checked
with ``lstat`` and files are opened with ``O_NOFOLLOW``; a removal deletes what the listing
showed and never follows a link. An operating-system error (a name too long, a loop) is a
StoreError naming the key, never an unexpected exception.

ETags, content types and user metadata live in the files' extended attributes
(:mod:`.local_attrs`).
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import hashlib
import os
import shutil
import stat as stat_kind
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tierstore.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidPartNumberError,
    NotFoundError,
    PathTooLongError,
    RangeNotSatisfiableError,
    StoreError,
    UnsupportedError,
)
from tierstore.lru import BoundedLRU
from tierstore.storage import local_attrs
from tierstore.storage.chunks import ReaderChunks
from tierstore.storage.interface import (
    HttpMethod,
    ListPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectWriter,
    OpenedRead,
    PartSpan,
    PutResult,
    Store,
    WriteCondition,
)
from tierstore.storage.ranges import ByteRange

if TYPE_CHECKING:
    from tierstore.storage.uploads import MultipartUploads

_TEMP_PREFIX = ".tierstore-tmp-"
# Marks a directory made on purpose (an S3 "prefix/" marker), so it outlives its last file.
_MARKER = ".tierstore-dir"
# The S3 gateway's staged multipart uploads, in the root (on its file system, so that a completed
# upload is renamed into place): never listed, and no key may name it (see local_uploads).
STAGING_DIR = ".tierstore-uploads"
# Names of directories being paged, kept between pages (about 80 bytes a name: 40 MB at most).
_MAX_KEPT_NAMES = 500_000
_SETTLED_NS = 2_000_000_000


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._sorted_names: BoundedLRU[tuple[str, int, int], list[str]] = BoundedLRU(_MAX_KEPT_NAMES)

    @property
    def description(self) -> str:
        return f"file://{self.root}"

    @property
    def kinds_are_requests(self) -> bool:
        return False

    def put_directory_marker(self, prefix: str) -> None:
        directory = self._path(prefix)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a link planted under the marker's name is never written through.
            os.close(
                os.open(directory / _MARKER, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            )
        except OSError as error:
            raise self._os_error("MKDIR", prefix, error) from None

    def _path(self, key: str) -> Path:
        parts = [part for part in key.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            raise StoreError(f"invalid key {key!r} in {self.description}: use a relative path without '..'")
        if parts[0] == STAGING_DIR:
            raise StoreError(f"invalid key {key!r} in {self.description}: {STAGING_DIR} is reserved", key=key)
        current = self.root
        for part in parts:
            current = current / part
            try:
                if current.is_symlink():
                    raise StoreError(
                        f"{self._where(key)}: {current.relative_to(self.root)} is a symbolic link; tierstore "
                        "never follows links in a local mount",
                        key=key,
                    )
            except OSError as error:
                raise self._os_error("OPEN", key, error) from None
        return current

    def _os_error(self, operation: str, key: str, error: OSError) -> StoreError:
        if error.errno == errno.ENAMETOOLONG:
            return PathTooLongError(f"{operation} {self._where(key)} failed: the name is too long", key=key)
        if error.errno == errno.ELOOP:
            return StoreError(
                f"{operation} {self._where(key)} failed: it is a symbolic link; tierstore never follows "
                "links in a local mount",
                key=key,
            )
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        return StoreError(f"{operation} {self._where(key)} failed: {reason}", key=key)

    def _open_read(self, operation: str, key: str) -> IO[bytes]:
        path = self._path(key)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(operation, key) from None
        except PermissionError:
            raise AccessDeniedError(
                f"{operation} {self._where(key)} failed: permission denied", key=key
            ) from None
        except OSError as error:
            raise self._os_error(operation, key, error) from None
        # Checked before fdopen, which refuses a directory with IsADirectoryError of its own and
        # leaves the descriptor open: a directory is no object, NotFoundError as for a missing one.
        if not stat_kind.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise self._missing(operation, key)
        return os.fdopen(descriptor, "rb")

    def _where(self, key: str) -> str:
        return f"{self.description}/{key}"

    def _missing(self, operation: str, key: str) -> NotFoundError:
        return NotFoundError(f"{operation} {self._where(key)} failed: no such object", key=key)

    def _regular_file(self, key: str) -> tuple[Path, os.stat_result]:
        """The file ``key`` names (a folder's marker for a key ending in ``/``) and its stat, never
        following a link; NotFoundError for anything but a regular file."""
        path = self._path(key) / _MARKER if key.endswith("/") else self._path(key)
        try:
            found = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing("HEAD", key) from None
        except OSError as error:
            raise self._os_error("HEAD", key, error) from None
        if not stat_kind.S_ISREG(found.st_mode):
            raise self._missing("HEAD", key)
        return path, found

    def head(self, key: str) -> ObjectInfo:
        path, found = self._regular_file(key)
        return _described(key, found, str(path))

    def part_span(self, key: str, number: int) -> PartSpan:
        """From the part sizes recorded when a multipart upload was completed here
        (:func:`local_attrs.part_sizes`); any other file is one part."""
        path, found = self._regular_file(key)
        sizes = local_attrs.part_sizes(str(path), found)
        if number > len(sizes):
            raise InvalidPartNumberError(
                f"HEAD {self._where(key)} part {number}: the object has {len(sizes)} part(s)", key=key
            )
        start = sum(sizes[: number - 1])
        info = _described(key, found, str(path))
        return PartSpan(
            number=number, start=start, end=start + sizes[number - 1], count=len(sizes), info=info
        )

    def open_read(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> OpenedRead:
        wanted = ByteRange(start, end, suffix)
        handle = self._open_read("GET", key)
        try:
            # Everything from the open file: a rename over the key meanwhile changes nothing here.
            descriptor = handle.fileno()
            info = _described(key, os.fstat(descriptor), descriptor)
            assert info.etag is not None
            if if_match is not None and not local_attrs.matches(if_match, info.etag):
                raise ConflictError(
                    f"GET {self._where(key)} failed: its ETag is {info.etag}, not {if_match} (If-Match)",
                    key=key,
                )
            served = wanted.resolve(info.size)
            if served is None:
                raise RangeNotSatisfiableError(
                    f"GET {self._where(key)} failed: the range starts at {start}, at or past the "
                    f"end of its {info.size} bytes",
                    size=info.size,
                    key=key,
                )
            handle.seek(served[0])
        except BaseException:
            handle.close()
            raise
        first, last = served
        chunks = ReaderChunks(
            handle,
            last - first,
            chunk_size,
            short=lambda: StoreError(
                f"GET {self._where(key)} failed: the file shrank while it was read", key=key
            ),
            failed=lambda error: self._os_error("GET", key, error),
            errors=(OSError,),
        )
        return OpenedRead(info=info, start=first, end=last, chunks=chunks)

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        first = start or 0
        with self._open_read("GET", key) as handle:
            handle.seek(first)
            if end is None:
                return handle.read()
            return handle.read(max(0, end - first))

    def iter_read(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        handle = self._open_read("GET", key)
        with handle:
            yield from iter(lambda: handle.read(chunk_size), b"")

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        with self._writer(key, local_attrs.encode(attributes), condition) as writer:
            writer.write(data)
        return writer.close()

    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        return self._writer(key, local_attrs.encode(attributes))

    def _writer(
        self, key: str, attributes: bytes | None, condition: WriteCondition | None = None
    ) -> _LocalWriter:
        path = self._path(key)
        try:
            return _LocalWriter(
                path,
                key,
                attributes,
                self._where(key),
                lambda error: self._os_error("PUT", key, error),
                condition=condition,
            )
        except OSError as error:
            raise self._os_error("PUT", key, error) from None

    def copy(self, source_key: str, dest_key: str, *, attributes: ObjectAttributes | None = None) -> None:
        with self._open_read("COPY", source_key) as reader:
            # None keeps the source's attributes as they are stored (S3's MetadataDirective COPY).
            kept = local_attrs.attributes_blob(reader.fileno())
            given = kept if attributes is None else local_attrs.encode(attributes)
            with self._writer(dest_key, given) as writer:
                shutil.copyfileobj(reader, _WriterAdapter(writer), 8 * 1024 * 1024)

    def delete(self, key: str) -> None:
        if key.endswith("/"):
            directory = self._path(key)
            (directory / _MARKER).unlink(missing_ok=True)
            self._prune_empty_parents(directory)
            return
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise StoreError(f"DELETE {self._where(key)} failed: it is a directory", key=key) from None
        except OSError as error:
            raise self._os_error("DELETE", key, error) from None
        self._prune_empty_parents(path.parent)

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.delete(key)

    def _prune_empty_parents(self, directory: Path) -> None:
        # S3 has no empty directories; removing emptied ones keeps listings the same on both.
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
        etags: bool = False,
    ) -> Iterator[ListPage]:
        base = prefix.strip("/")
        lead = f"{base}/" if base else ""
        try:
            directory = self._path(base) if base else self.root
        except StoreError:
            return  # under a link, or a name no directory can have: nothing is listed there
        if delimiter is not None:
            if delimiter != "/":
                raise ValueError(f"delimiter {delimiter!r} is not supported: use '/' or none")
            yield from self._directory_pages(
                directory, lead, start_after, page_size, resume=resume, etags=etags
            )
            return
        page: list[ObjectInfo] = []
        for key, path in self._walk(directory, lead):
            if start_after is not None and key <= start_after:
                continue
            found = path.lstat()
            page.append(_info(key, found, local_attrs.etag_of(str(path), found) if etags else None))
            if len(page) == page_size:
                yield ListPage(objects=page)
                page = []
        if page:
            yield ListPage(objects=page)

    def _directory_pages(
        self,
        directory: Path,
        lead: str,
        start_after: str | None,
        page_size: int,
        *,
        resume: str | None,
        etags: bool,
    ) -> Iterator[ListPage]:
        """One directory level by name, as SeaweedFS orders a folder (``a`` before ``a-b``), in
        pages whose ``resume`` token is the last key given.

        Only names and kinds are held for the whole directory (what ``scandir`` gives without a
        stat each); a file is stat'ed when its page is made, so a directory of 200,000 files
        costs names, not 200,000 ``ObjectInfo``s, and a later page stats only its own files.
        """
        try:
            seen = directory.lstat()
        except OSError:
            return
        if not stat_kind.S_ISDIR(seen.st_mode):
            return
        # A page after the first would scan and sort the whole directory again (O(n) a page,
        # O(n²) a listing): its sorted names are kept while the directory's mtime, which every
        # entry added, removed or renamed in it changes, stays the same (an NFS readdir cookie
        # verifier does the same). Sizes come from each page's own stats.
        # A directory changed within the last seconds is not kept: on a file system with coarse
        # timestamps a change in the same tick would leave the mtime as it was (git's "racy" rule).
        version = (str(directory), seen.st_ino, seen.st_mtime_ns)
        keys = self._sorted_names.get(version)
        if keys is None:
            keys = self._scan(directory, lead)
            settled = time.time_ns() - seen.st_mtime_ns > _SETTLED_NS
            if settled and len(keys) <= _MAX_KEPT_NAMES:
                self._sorted_names.put(version, keys, weight=max(1, len(keys)))
        position = resume or start_after
        first = 0 if position is None else bisect.bisect_right(keys, _by_name(position), key=_by_name)
        size = max(1, page_size)
        skip = len(lead)
        # getxattr takes no directory descriptor: an ETag is read by the file's path.
        where = f"{directory}/"
        for start in range(first, len(keys), size):
            objects: list[ObjectInfo] = []
            prefixes: list[str] = []
            chunk = keys[start : start + size]
            # Stat'ed by name relative to the directory's descriptor: no path walked per file.
            descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                for key in chunk:
                    if key.endswith("/"):
                        prefixes.append(key)
                        continue
                    try:
                        found = os.stat(key[skip:], dir_fd=descriptor, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed since the scan: it is simply not listed
                    etag = local_attrs.etag_of(where + key[skip:], found) if etags else None
                    objects.append(_info(key, found, etag))
            finally:
                os.close(descriptor)
            last = start + size >= len(keys)
            yield ListPage(objects=objects, prefixes=prefixes, resume=None if last else chunk[-1])

    @staticmethod
    def _scan(directory: Path, lead: str) -> list[str]:
        keys: list[str] = []
        with os.scandir(directory) as scanned:
            for entry in scanned:
                if entry.name.startswith(_TEMP_PREFIX) or entry.name == _MARKER or entry.is_symlink():
                    continue  # a link is no object: never shown, never followed
                if not lead and entry.name == STAGING_DIR:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    keys.append(f"{lead}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    keys.append(f"{lead}{entry.name}")
        keys.sort(key=_by_name)
        return keys

    def _walk(self, directory: Path, lead: str) -> Iterator[tuple[str, Path]]:
        """Files in S3 key order: sorting by the key text, as S3 does, not by directory walk."""
        if not directory.is_dir() or directory.is_symlink():
            return
        found: list[tuple[str, Path]] = []
        # os.walk never descends into a linked directory (followlinks is False); linked files
        # are left out below, so a walk never leaves the root and a link loop ends nothing.
        for current, dirs, files in os.walk(directory):
            relative = Path(current).relative_to(directory).as_posix()
            head = "" if relative == "." else f"{relative}/"
            dirs[:] = sorted(name for name in dirs if lead or head or name != STAGING_DIR)
            found.extend(
                (f"{lead}{head}{name}", Path(current) / name)
                for name in files
                if not name.startswith(_TEMP_PREFIX)
                and name != _MARKER
                and stat_kind.S_ISREG((Path(current) / name).lstat().st_mode)
            )
            if _MARKER in files and head:
                found.append((f"{lead}{head}", Path(current) / _MARKER))
        yield from sorted(found)

    def multipart_uploads(self) -> MultipartUploads:
        """S3-style uploads staged under the root and assembled on completion (:mod:`.local_uploads`)."""
        from tierstore.storage.local_uploads import LocalMultipartUploads

        return LocalMultipartUploads(self)

    def presign(self, method: HttpMethod, key: str, *, expires_seconds: int = 3600) -> str:
        raise UnsupportedError(
            f"PRESIGN {self._where(key)}: a local directory cannot issue presigned URLs", key=key
        )

    def __repr__(self) -> str:
        return f"LocalStore({self.root})"


class _LocalWriter(ObjectWriter):
    def __init__(
        self,
        target: Path,
        key: str,
        attributes: bytes | None,
        where: str,
        failed: Callable[[OSError], StoreError],
        *,
        condition: WriteCondition | None = None,
    ) -> None:
        self._condition = condition
        self._target = target
        self._key = key
        self._attributes = attributes
        self._where = where
        self._failed = failed
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
        self._temp = Path(temp_name)
        self._handle: IO[bytes] | None = os.fdopen(descriptor, "wb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._result: PutResult | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._handle is None:
            raise ValueError("write to a closed object writer")
        self._md5.update(data)
        return self._handle.write(data)

    def close(self) -> PutResult:
        if self._result is not None:
            return self._result
        if self._handle is None:
            raise ValueError("the object writer was aborted")
        handle, self._handle = self._handle, None
        digest = self._md5.hexdigest()
        try:
            # Recorded on the written file before it is visible; the mtime recorded is final, as
            # neither setting extended attributes nor the rename changes it.
            handle.flush()
            kept = local_attrs.record(handle.fileno(), digest, self._attributes, where=self._where)
            handle.close()
            self._commit()
        except ConflictError:
            self._temp.unlink(missing_ok=True)
            raise
        except OSError as error:  # a directory of that name, say: nothing may stay behind
            handle.close()
            self._temp.unlink(missing_ok=True)
            raise self._failed(error) from None
        self._result = PutResult(key=self._key, etag=f'"{digest}"', etag_kept=kept)
        return self._result

    def _commit(self) -> None:
        """The written file takes the key's name: over what is there, or as ``condition`` says.

        ``absent``: a hard link, which the file system refuses when the name exists, so of two
        writers one wins. An ETag: the key's ETag is compared and the file renamed over it with
        the directory locked (``flock``), which every conditional writer of that directory
        takes, in this process or another; an unconditional write does not wait for it."""
        condition = self._condition
        if condition is None:
            os.replace(self._temp, self._target)
            return
        if condition.absent:
            try:
                os.link(self._temp, self._target)
            except FileExistsError:
                raise ConflictError(
                    f"PUT {self._where} failed: it exists (If-None-Match: *)", key=self._key
                ) from None
            self._temp.unlink()
            return
        directory = os.open(self._target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            try:
                found = os.stat(self._target, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            else:
                current = (
                    local_attrs.etag_of(str(self._target), found)
                    if stat_kind.S_ISREG(found.st_mode)
                    else None
                )
            wanted = condition.etag or ""
            if current is None or current.strip('"') != wanted.strip('"'):
                raise ConflictError(
                    f"PUT {self._where} failed: its ETag is {current or '(no object)'}, "
                    f"not {wanted} (If-Match)",
                    key=self._key,
                )
            os.replace(self._temp, self._target)
        finally:
            os.close(directory)  # the lock goes with its descriptor

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._temp.unlink(missing_ok=True)


class _WriterAdapter:
    def __init__(self, writer: ObjectWriter) -> None:
        self.write = writer.write


def _by_name(key: str) -> tuple[str, bool]:
    """A directory sorts by its name, before a file whose name extends it (``a/`` < ``a-b``)."""
    return key.rstrip("/"), key.endswith("/")


def _info(key: str, stat: os.stat_result, etag: str | None = None) -> ObjectInfo:
    return ObjectInfo(
        key=key, size=stat.st_size, etag=etag, last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC)
    )


def _described(key: str, stat: os.stat_result, target: local_attrs.Target) -> ObjectInfo:
    """Everything ``head`` gives: the ETag and the stored attributes besides the stat's."""
    kept = local_attrs.described(target, stat)
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        etag=kept.etag,
        last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        content_type=kept.content_type,
        metadata=kept.metadata,
        headers=kept.headers,
    )
