"""The file system's callbacks, as mfusepy calls them (path-based, libfuse's high-level API).

Paths are the mount's (``/a/b``); ``--path`` maps them under a namespace directory. Every
callback runs on one of libfuse's worker threads; each turns tierstore's errors into an errno
(``errors.errno_for``). Metadata goes through the server's API, file data through the client's
data path (straight to the store with vended credentials, or the server's data proxy).

This module does not import the binding: ``mount`` hands an instance to ``mfusepy.FUSE``, which
looks its methods up by name (one it lacks is left to libfuse's default).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import logging
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tierstore.change_log import ChangeLog
from tierstore.client import Client
from tierstore.errors import NotFoundError
from tierstore.fuse.attributes import Identity, new_file, public, to_stat
from tierstore.fuse.cache import AttributeCache, DirectoryNames
from tierstore.fuse.errors import FuseError, errno_for
from tierstore.fuse.memory import release_free_memory
from tierstore.fuse.prefetch import BufferPool, FetchPool, SequentialReader
from tierstore.fuse.writes import SequentialWriter

LOGGER = logging.getLogger("tierstore.fuse")
T = TypeVar("T")

# statfs: the store has no size; say it is large and empty, as s3fs-fuse and mountpoint-s3 do.
_BLOCK = 4096
_BLOCKS = 2**40 // _BLOCK * 256  # 256 TiB
_FILES = 2**32
NAME_MAX = 255
# chown(2)'s "leave it as it is" (-1 as an unsigned 32-bit id).
_UNCHANGED = {-1, 2**32 - 1}


@dataclass(frozen=True)
class MountOptions:
    root: str = "/"
    attr_timeout: float = 5.0
    read_only: bool = False
    read_buffer: int = 64 * 1024 * 1024
    prefetch_threads: int = 16
    io_timeout: float = 120.0
    # The kernel's read-ahead for this mount (its backing device's read_ahead_kb); 0 keeps the
    # kernel's 128 KiB. See TierstoreOperations.init_with_config.
    kernel_read_ahead_kib: int = 8192
    mountpoint: str = ""


class _Reading:
    def __init__(self, reader: SequentialReader) -> None:
        self.reader = reader


class TierstoreOperations:
    """One mount's callbacks. Thread-safe."""

    use_ns = True  # times in nanoseconds (mfusepy)

    def __init__(
        self,
        client: Client,
        identity: Identity,
        options: MountOptions,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self._on_ready = on_ready
        self.identity = identity
        self.options = options
        # What this mount changed, so that an answer asked for before a change is not kept after it.
        self._changes = ChangeLog()
        self.cache = AttributeCache(options.attr_timeout, self._changes)
        self.names = DirectoryNames(options.attr_timeout, self._changes)
        self._relisting: dict[str, threading.Lock] = {}
        self.pool = BufferPool(options.read_buffer, on_idle=release_free_memory)
        self._executor = FetchPool(options.prefetch_threads, "tierstore-fuse-read")
        self._lock = threading.Lock()
        self._handles: dict[int, _Reading | SequentialWriter] = {}
        self._writing: dict[str, SequentialWriter] = {}
        # chmod and chown of a file still being written: the server knows it only once committed.
        self._after_commit: dict[str, list[Callable[[], object]]] = {}
        self._numbers = itertools.count(1)
        self._started_ns = time.time_ns()
        self._mounts: list[dict[str, Any]] = []
        self._mounts_at = 0.0

    # -- helpers ----------------------------------------------------------------------------

    def ns(self, path: str) -> str:
        """The namespace path behind the mount's ``path``."""
        root = self.options.root
        if path == "/":
            return root
        return f"{root.rstrip('/')}{path}"

    def _do(self, verb: str, path: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except FuseError:
            raise
        except Exception as error:
            code = errno_for(error, verb, self.ns(path))
            raise FuseError(code, f"{verb} {path}") from None

    def _refuse_read_only(self, path: str) -> None:
        if self.options.read_only:
            raise FuseError(errno.EROFS, f"{path}: mounted with --read-only")
        mount = self._mount_of(self.ns(path))
        if mount is not None and mount.get("readonly"):
            raise FuseError(errno.EROFS, f"{path}: the namespace mount {mount['path']} is read-only")

    def _namespace_mounts(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        if not self._mounts or now - self._mounts_at > 30:
            mounts = sorted(self.client.mounts(), key=lambda m: len(str(m["path"])), reverse=True)
            self._mounts, self._mounts_at = mounts, now
        return self._mounts

    def _mount_of(self, namespace_path: str) -> dict[str, Any] | None:
        for mount in self._namespace_mounts():
            where = str(mount["path"])
            if where in ("/", namespace_path) or namespace_path.startswith(f"{where}/"):
                return mount
        return None

    def _is_mount_point(self, namespace_path: str) -> bool:
        return any(str(m["path"]) == namespace_path for m in self._namespace_mounts())

    def attributes(self, path: str) -> dict[str, Any]:
        """The path's attributes from the files being written here, the cache or the server."""
        writer = self._writing.get(path)
        if writer is not None:
            return new_file(self.identity, writer.mode, writer.size)
        found, attrs = self.cache.get(path)
        if not found and path != "/" and self._listed_again(_parent(path)):
            found, attrs = self.cache.get(path)
        if found:
            if attrs is None:
                raise FuseError(errno.ENOENT, path)
            return attrs
        if self.names.missing(path):
            self.cache.put(path, None)
            raise FuseError(errno.ENOENT, path)
        ticket = self._changes.ticket()
        try:
            answer = self.client.stat(self.ns(path))
        except NotFoundError:
            self.cache.put(path, None, since=ticket)
            raise FuseError(errno.ENOENT, path) from None
        attrs = to_stat(answer, self.identity, started_ns=self._started_ns)
        self.cache.put(path, attrs, since=ticket)
        return attrs

    def _listed_again(self, directory: str) -> bool:
        """Lists ``directory`` again when it was listed whole a little while ago and its names
        have expired: one page refreshes every entry's stat, where each file opened after an
        ``ls`` (or a glob) would otherwise cost a stat of its own. True when it was listed."""
        if self.names.names(directory) is not None:
            return False  # known and fresh: a miss there is a name that is not in it
        if self.names.names(directory, stale=True) is None:
            return False
        with self._lock:
            lock = self._relisting.setdefault(directory, threading.Lock())
        try:
            with lock:
                # Another thread's listing may have come while this one waited for it.
                if self.names.names(directory) is None:
                    for _ in self._list(directory):
                        pass
        except Exception as error:
            # The stat that follows says what is wrong, if anything is.
            LOGGER.debug("listing %s again failed: %s", directory, error)
            self.names.forget(directory)
            return False
        finally:
            with self._lock:
                self._relisting.pop(directory, None)
        return True

    def _list(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The directory's entries from the server's pages as they come, each one's attributes
        put in the cache; once all came, the names too (DirectoryNames)."""
        seen: set[str] = set()
        ticket = self._changes.ticket()
        entries = self.client.iter_dir(self.ns(path))
        while True:
            try:
                entry = self._do("readdir", path, lambda: next(entries, None))
            except FuseError as error:
                # A directory emptied here is kept for a while though the store dropped it.
                if error.errno == errno.ENOENT and not seen and self.cache.get(path)[1] is not None:
                    break
                raise
            if entry is None:
                break
            name = posixpath.basename(str(entry["path"]).rstrip("/"))
            if not name:
                continue
            attrs = to_stat(entry, self.identity, started_ns=self._started_ns)
            self.cache.put(f"{path.rstrip('/')}/{name}", attrs, since=ticket)
            seen.add(name)
            yield name, attrs
        # Files being written here that the store does not list yet.
        prefix = f"{path.rstrip('/')}/"
        for pending in list(self._writing):
            name = pending[len(prefix) :]
            if pending.startswith(prefix) and "/" not in name and name not in seen:
                seen.add(name)
                yield name, new_file(self.identity, 0o644, 0)
        self.names.fill(path, seen, since=ticket)

    def _changed(self, path: str, *, below: bool = False) -> None:
        """Call once the change is done: recorded first, so that an answer on its way now is
        either refused by the caches or forgotten after it was kept."""
        self._changes.record(path)
        self.cache.forget(path, below=below)

    def _new_handle(self, handle: _Reading | SequentialWriter) -> int:
        number = next(self._numbers)
        with self._lock:
            self._handles[number] = handle
        return number

    def _handle(self, fh: int) -> _Reading | SequentialWriter:
        found = self._handles.get(fh)
        if found is None:
            raise FuseError(errno.EBADF, f"file handle {fh}")
        return found

    # -- attributes and directories ------------------------------------------------------------

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        return public(self._do("stat", path, lambda: self.attributes(path)))

    def access(self, path: str, amode: int) -> int:
        attrs = self._do("access", path, lambda: self.attributes(path))
        if amode == os.F_OK:
            return 0
        if amode & os.W_OK and self.options.read_only:
            raise FuseError(errno.EROFS, path)
        if not self.identity.may(attrs, amode):
            raise FuseError(errno.EACCES, path)
        return 0

    def opendir(self, path: str) -> int:
        attrs = self._do("opendir", path, lambda: self.attributes(path))
        if not attrs["st_mode"] & 0o040000:
            raise FuseError(errno.ENOTDIR, path)
        return 0

    def readdir(self, path: str, fh: int) -> Iterator[str | tuple[str, dict[str, Any], int]]:
        """The server's pages as they come; every entry's attributes go into the cache, so that
        the ``stat`` of each name (``ls -l``) is answered here."""
        yield "."
        yield ".."
        for name, attrs in self._list(path):
            yield name, {"st_mode": attrs["st_mode"]}, 0

    def statfs(self, path: str) -> dict[str, int]:
        return {
            "f_bsize": _BLOCK,
            "f_frsize": _BLOCK,
            "f_blocks": _BLOCKS,
            "f_bfree": _BLOCKS,
            "f_bavail": _BLOCKS,
            "f_files": _FILES,
            "f_ffree": _FILES,
            "f_favail": _FILES,
            "f_namemax": NAME_MAX,
        }

    # -- reading ---------------------------------------------------------------------------

    def open(self, path: str, fi: Any) -> int:
        flags = int(fi.flags)
        access = flags & os.O_ACCMODE
        attrs = self._do("open", path, lambda: self.attributes(path))
        if attrs["st_mode"] & 0o040000:
            raise FuseError(errno.EISDIR, path)
        if access == os.O_RDONLY:
            if not self.identity.may(attrs, os.R_OK):
                raise FuseError(errno.EACCES, path)
            namespace_path = self.ns(path)
            reader = SequentialReader(
                lambda start, end: self.client.read_view(namespace_path, start=start, end=end),
                int(attrs["st_size"]),
                pool=self.pool,
                executor=self._executor,
                timeout=self.options.io_timeout,
                name=namespace_path,
            )
            fi.fh = self._new_handle(_Reading(reader))
            return 0
        self._refuse_read_only(path)
        fresh = bool(flags & os.O_TRUNC) or int(attrs["st_size"]) == 0
        if flags & os.O_APPEND and not fresh:
            LOGGER.warning(
                "%s: EOPNOTSUPP: append to an existing file (files are written once)", self.ns(path)
            )
            raise FuseError(errno.EOPNOTSUPP, path)
        fi.fh = self._start_writing(path, fresh=fresh, mode=attrs["st_mode"])
        return 0

    def _reader(self, path: str, fi: Any) -> SequentialReader:
        handle = self._handle(int(fi.fh))
        if not isinstance(handle, _Reading):
            LOGGER.warning("%s: EOPNOTSUPP: read from a file opened for writing", self.ns(path))
            raise FuseError(errno.EOPNOTSUPP, path)
        return handle.reader

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        reader = self._reader(path, fi)
        return self._do("read", path, lambda: reader.read(offset, size))

    def read_into(self, path: str, buffer: int, size: int, offset: int, fi: Any) -> int:
        """``read`` straight into libfuse's buffer at address ``buffer``: the read-ahead's blocks
        are copied once, where ``read``'s bytes would be sliced out and copied again."""
        reader = self._reader(path, fi)
        pieces = self._do("read", path, lambda: reader.pieces(offset, size))
        copied = 0
        for piece in pieces:
            # ``piece`` keeps the block's buffer alive while it is copied.
            ctypes.memmove(buffer + copied, buffer_address(piece.data) + piece.start, len(piece))
            copied += len(piece)
        return copied

    # -- writing ---------------------------------------------------------------------------

    def _start_writing(self, path: str, *, fresh: bool, mode: int) -> int:
        namespace_path = self.ns(path)
        pid = _caller_pid()

        def make() -> SequentialWriter:
            return SequentialWriter(
                namespace_path, lambda: self.client.open_write(namespace_path), fresh=fresh, opener_pid=pid
            )

        writer = self._do("open", path, make)
        with self._lock:
            if path in self._writing:
                writer.abort()
                LOGGER.warning("%s: EBUSY: it is already open for writing through this mount", namespace_path)
                raise FuseError(errno.EBUSY, path)
            self._writing[path] = writer
        self._changed(path)
        self.names.added(path)
        return self._new_handle(writer)

    def create(self, path: str, mode: int, fi: Any) -> int:
        self._refuse_read_only(path)
        fi.fh = self._start_writing(path, fresh=True, mode=mode)
        return 0

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        handle = self._handle(int(fi.fh))
        if not isinstance(handle, SequentialWriter):
            raise FuseError(errno.EBADF, path)
        return self._do("write", path, lambda: handle.write(data, offset))

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        self._refuse_read_only(path)
        writer = self._writing.get(path)
        if writer is not None:
            self._do("truncate", path, lambda: writer.truncate(length))
            return 0
        attrs = self._do("truncate", path, lambda: self.attributes(path))
        if length == int(attrs["st_size"]):
            return 0
        if length != 0:
            LOGGER.warning(
                "%s: EOPNOTSUPP: truncate to %d bytes (only to 0: files are written once)",
                self.ns(path),
                length,
            )
            raise FuseError(errno.EOPNOTSUPP, path)
        self._do("truncate", path, lambda: self.client.write(self.ns(path), b""))
        self._changed(path)
        return 0

    def _commit(self, path: str, writer: SequentialWriter) -> None:
        """Completes the upload (the opener's close, or fsync; release again does nothing), then
        the chmod and chown that waited for it."""
        if self._do("close", path, writer.commit):
            self._changed(path)
        if writer.done:
            with self._lock:
                pending = self._after_commit.pop(path, [])
            for action in pending:
                self._do("chmod", path, action)

    def flush(self, path: str, fi: Any) -> int:
        handle = self._handles.get(int(fi.fh))
        if not isinstance(handle, SequentialWriter) or _caller_pid() != handle.opener_pid:
            return 0  # a copy of the descriptor closed elsewhere (a child's): the file goes on
        if handle.size:
            # The opener's close completes the upload, so close(2) reports its failure.
            self._commit(path, handle)
        elif handle.fresh and not handle.placeheld:
            # Nothing written yet: the file must exist after close (touch, then rename by
            # rsync), yet writes may still come through a copy of the descriptor (dd moves it
            # onto stdout and closes the first): an empty object now, the upload stays open.
            self._do("close", path, lambda: self.client.write(self.ns(path), b""))
            handle.placeheld = True
            self._changed(path)
        return 0

    def fsync(self, path: str, datasync: int, fi: Any) -> int:
        handle = self._handles.get(int(fi.fh))
        if isinstance(handle, SequentialWriter):
            self._commit(path, handle)
        return 0

    def release(self, path: str, fi: Any) -> int:
        with self._lock:
            handle = self._handles.pop(int(fi.fh), None)
            if isinstance(handle, SequentialWriter) and self._writing.get(path) is handle:
                del self._writing[path]
        if isinstance(handle, _Reading):
            handle.reader.close()
        elif isinstance(handle, SequentialWriter):
            try:
                self._commit(path, handle)
            finally:
                self._changed(path)
        return 0

    # -- the namespace's own changes -----------------------------------------------------------

    def unlink(self, path: str) -> int:
        self._refuse_read_only(path)
        parent = path.rsplit("/", 1)[0] or "/"
        found, parent_attrs = self.cache.get(parent)
        self._do("unlink", path, lambda: self.client.rm(self.ns(path)))
        self._changed(path)
        self.names.removed(path)
        if found and parent_attrs is not None:
            # A directory with no marker goes from the store with its last file; to POSIX tools
            # (mv, rm -r) it stays until rmdir: keep it here for the cache's time.
            self.cache.put(parent, parent_attrs)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        self._refuse_read_only(path)
        self._do("mkdir", path, lambda: self.client.mkdir(self.ns(path)))
        self._changed(path)
        self.names.added(path)
        self.names.fill(path, set())  # new, so empty: lookups of names to create there are free
        return 0

    def rmdir(self, path: str) -> int:
        self._refuse_read_only(path)
        namespace_path = self.ns(path)
        if self._is_mount_point(namespace_path) or path == "/":
            raise FuseError(errno.EBUSY, path)
        try:
            attrs = self._do("rmdir", path, lambda: self.attributes(path))
            if not attrs["st_mode"] & 0o040000:
                raise FuseError(errno.ENOTDIR, path)
            page = self._do("rmdir", path, lambda: self.client.ls_page(namespace_path, limit=1, sync=True))
            if page["entries"]:
                raise FuseError(errno.ENOTEMPTY, path)
            self._do("rmdir", path, lambda: self.client.rm(namespace_path, recursive=True))
        except FuseError as error:
            # A directory that existed only through its files (no marker) went with the last of
            # them: what rmdir asked for is done.
            if error.errno != errno.ENOENT:
                raise
        self._changed(path, below=True)
        self.names.removed(path)
        self.names.forget(path, below=True)
        return 0

    def rename(self, old: str, new: str) -> int:
        """rename(2) through the server's mv: a file is copied and deleted (server-side within a
        mount); a directory moves as the server moves it, within one mount only (EXDEV across
        mounts, so that ``mv`` copies it file by file itself)."""
        self._refuse_read_only(old)
        self._refuse_read_only(new)
        source, dest = self.ns(old), self.ns(new)
        if self._is_mount_point(source) or self._is_mount_point(dest):
            raise FuseError(errno.EBUSY, old)
        moving = self._do("rename", old, lambda: self.attributes(old))
        is_dir = bool(moving["st_mode"] & 0o040000)
        try:
            there: dict[str, Any] | None = self.attributes(new)
        except FuseError as error:
            if error.errno != errno.ENOENT:
                raise
            there = None
        if is_dir:
            source_mount, dest_mount = self._mount_of(source), self._mount_of(dest)
            if source_mount is None or dest_mount is None or source_mount["path"] != dest_mount["path"]:
                raise FuseError(errno.EXDEV, old)
        if there is not None:
            if bool(there["st_mode"] & 0o040000) != is_dir:
                raise FuseError(errno.EISDIR if not is_dir else errno.ENOTDIR, new)
            if is_dir:
                # rename(2) replaces an empty directory only.
                page = self._do("rename", new, lambda: self.client.ls_page(dest, limit=1, sync=True))
                if page["entries"]:
                    raise FuseError(errno.ENOTEMPTY, new)
                self._do("rename", new, lambda: self.client.rm(dest, recursive=True))
        self._do("rename", old, lambda: self.client.mv(source, dest))
        self._changed(old, below=is_dir)
        self._changed(new, below=is_dir)
        self.names.removed(old)
        self.names.added(new)
        if is_dir:
            self.names.forget(old, below=True)
            self.names.forget(new, below=True)
        return 0

    def _later(self, path: str, action: Callable[[], object]) -> bool:
        """Runs ``action`` once the file being written at ``path`` is committed; False when there
        is none to wait for: none is being written, or its upload completed already (close(2)
        completes it, and the kernel's release, which ends the write here, comes after close
        returns: a chmod in between waited for a commit that had passed, and was lost)."""
        with self._lock:
            writer = self._writing.get(path)
            if writer is None or writer.done:
                return False
            self._after_commit.setdefault(path, []).append(action)
            return True

    def chmod(self, path: str, mode: int) -> int:
        self._refuse_read_only(path)
        namespace_path, text = self.ns(path), f"{mode & 0o7777:04o}"
        writer = self._writing.get(path)
        if writer is not None:
            writer.mode = mode & 0o7777
        if not self._later(path, lambda: self.client.chmod(namespace_path, text)):
            self._do("chmod", path, lambda: self.client.chmod(namespace_path, text))
        self._changed(path)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        """The owner and group as tierstore names: the mounting user's own ids stand for the
        token's user (and their group); other ids go by the OS account's name."""
        self._refuse_read_only(path)
        owner = None if uid in _UNCHANGED else self._user_name(uid)
        group = None if gid in _UNCHANGED else self._group_name(gid)
        if owner is None and group is None:
            return 0
        attrs = self._do("chown", path, lambda: self.attributes(path))
        if owner is not None and attrs["st_uid"] == uid and attrs.get("owned"):
            owner = None  # unchanged: keep chgrp within the owner's rights
        if owner is None and group is not None and attrs["st_gid"] == gid and attrs.get("grouped"):
            return 0
        namespace_path = self.ns(path)
        action: Callable[[], object]
        if owner is not None:
            action = functools.partial(self.client.chown, namespace_path, owner, group)
        elif group is not None:
            action = functools.partial(self.client.chgrp, namespace_path, group)
        else:
            return 0
        if not self._later(path, action):
            self._do("chown", path, action)
        self._changed(path)
        return 0

    def _user_name(self, uid: int) -> str:
        if uid == self.identity.uid:
            return self.identity.user
        import pwd

        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            raise FuseError(errno.EINVAL, f"uid {uid} has no name to give tierstore") from None

    def _group_name(self, gid: int) -> str:
        if gid == self.identity.gid:
            return self.identity.user  # the user's own-name group, which every owner may choose
        import grp

        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            raise FuseError(errno.EINVAL, f"gid {gid} has no name to give tierstore") from None

    def utimens(self, path: str, times: Any = None) -> int:
        """Accepted and not kept: a file's times are its object's last-modified time, and the
        namespace keeps no times of its own (``touch``, ``cp -p`` and ``rsync -a`` go on)."""
        self._do("utimens", path, lambda: self.attributes(path))
        return 0

    # -- the start and the end -----------------------------------------------------------------

    def init_with_config(self, conn: Any, config: Any) -> None:
        """libfuse's INIT: the kernel has the mount. Raises the kernel's read-ahead for it.

        The kernel reads a FUSE file through the page cache in requests no larger than its
        read-ahead window, 128 KiB by default, whatever the reader asks: a ``dd bs=1M`` becomes
        eight requests, each a call into Python. The window is the mount's backing device's
        ``read_ahead_kb`` (root may write it), and the kernel keeps the smaller of it and the
        ``max_readahead`` INIT answers with, so both are raised here, before the answer goes.
        With 8 MiB, requests are 1 MiB (the kernel's largest) and several are in flight at once.
        """
        wanted = self.options.kernel_read_ahead_kib
        if wanted > 0 and conn is not None and set_read_ahead(self.options.mountpoint, wanted):
            conn.max_readahead = wanted * 1024
        if self._on_ready is not None:
            self._on_ready()

    def destroy(self, path: str) -> None:
        """The mount ends (unmount, SIGTERM, Ctrl-C): every file still open for writing is
        completed, never left as an upload in the store."""
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
            self._writing.clear()
            self._after_commit.clear()
        for handle in handles:
            if isinstance(handle, SequentialWriter):
                try:
                    if handle.commit():
                        LOGGER.info("%s: completed at unmount (%d bytes)", handle.path, handle.size)
                except Exception as error:
                    LOGGER.error("%s: completing the upload at unmount failed: %s", handle.path, error)
                    handle.abort()
            else:
                handle.reader.close()
        self._executor.shutdown()


class _PyBuffer(ctypes.Structure):
    """CPython's ``Py_buffer``."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


def buffer_address(view: memoryview) -> int:
    """Where ``view``'s bytes are in memory (valid while ``view`` lives: its buffer is read-only).

    ctypes takes a bytes object's address but not a read-only buffer's (``from_buffer`` wants a
    writable one), and the read-ahead's blocks are obstore's buffers, read-only and not copied.
    """
    found = _PyBuffer()
    if _get_buffer(view, ctypes.byref(found), 0) != 0:  # PyBUF_SIMPLE: contiguous bytes
        raise BufferError("no contiguous buffer")
    try:
        return int(found.buf or 0)
    finally:
        _release_buffer(ctypes.byref(found))


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def backing_device(mountpoint: str) -> str | None:
    """``major:minor`` of the file system mounted on ``mountpoint`` (from /proc/self/mountinfo)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    found = None
    for line in lines:
        fields = line.split()
        # Octal escapes (\040 for a space) as the kernel writes them; the last match is on top.
        if len(fields) > 4 and fields[4].encode().decode("unicode_escape") == mountpoint:
            found = fields[2]
    return found


def set_read_ahead(mountpoint: str, kib: int) -> bool:
    """Sets the kernel's read-ahead for the mount on ``mountpoint``; False (and a log line)
    when it cannot be set: not root, or a read-only /sys in a container."""
    device = backing_device(mountpoint)
    if device is None:
        LOGGER.warning("%s: not in /proc/self/mountinfo: the kernel's read-ahead stays 128 KiB", mountpoint)
        return False
    try:
        Path(f"/sys/class/bdi/{device}/read_ahead_kb").write_text(f"{kib}\n")
    except OSError as error:
        LOGGER.info(
            "the kernel's read-ahead stays 128 KiB (reads come in smaller requests): "
            "/sys/class/bdi/%s/read_ahead_kb: %s",
            device,
            error.strerror,
        )
        return False
    return True


def _caller_pid() -> int:
    """The pid of the process whose request this thread serves (0 outside a request)."""
    try:
        import mfusepy

        return int(mfusepy.fuse_get_context()[2])
    except Exception:
        return 0
