"""File-system operations over the mount table: the Python API behind ``tierstore fs``.

Paths resolve to the mount with the longest matching prefix. Directories are prefixes, with
zero-byte ``/`` markers for empty ones. Copies and moves stream chunk by chunk, also across
mounts, so memory stays bounded whatever the file size. Owner, group and mode come from the
mount (derived from its bucket ACL) unless chmod/chown/chgrp set them, which are kept in
tierstore's metadata and never sent to the store.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tierstore.errors import AccessDeniedError, ConflictError, NotFoundError, StoreError
from tierstore.namespace import paths
from tierstore.namespace.entries import Kind, kind_of
from tierstore.namespace.metadata import MetadataStore, MountRecord, PathAttributes
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller, check_access, parse_mode
from tierstore.storage.interface import Store

# Streaming copies and reads move this much at a time; the writer gathers it into parts.
CHUNK = 2 * 1024 * 1024
Progress = Callable[[int], None]


@dataclass(frozen=True)
class FileStatus:
    path: str
    is_dir: bool
    size: int
    modified: datetime | None
    owner: str
    group: str
    mode: int
    mount: str

    @property
    def name(self) -> str:
        return paths.name_of(self.path) or "/"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": "directory" if self.is_dir else "file",
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "owner": self.owner,
            "group": self.group,
            "mode": f"{self.mode:04o}",
            "mount": self.mount,
        }


@dataclass(frozen=True)
class _Target:
    path: str
    mount: MountRecord
    store: Store
    key: str


class _Cache:
    """Stats and listings per mount for ``ttl`` seconds; writes update or drop entries at once."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, kind: str, path: str) -> object | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            found = self._entries.get((kind, path))
            if found is None or found[0] < time.monotonic():
                return None
            self.hits += 1
            return found[1]

    def put(self, kind: str, path: str, value: object) -> None:
        if self.ttl > 0:
            with self._lock:
                self._entries[(kind, path)] = (time.monotonic() + self.ttl, value)

    def changed(self, path: str) -> None:
        """``path`` was written or removed: forget it, what is below it, and its parents' listings."""
        with self._lock:
            for kind, cached in list(self._entries):
                if paths.is_within(cached, path) or (kind == "list" and paths.is_within(path, cached)):
                    del self._entries[(kind, cached)]


class FileSystem:
    def __init__(
        self, table: MountTable, *, caller: Caller | None = None, cache_ttl: float | None = None
    ) -> None:
        self.table = table
        self.caller = caller
        self._cache = _Cache(table.config.cache_ttl_seconds if cache_ttl is None else cache_ttl)

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    def as_caller(self, caller: Caller | None) -> FileSystem:
        """The same namespace over the same cache, acting for ``caller``.

        The cache holds what the stores say, never a permission decision (each view checks its
        own caller first), so one cache can serve every user of a server.
        """
        view = copy.copy(self)
        view.caller = caller
        return view

    # -- resolution and attributes -------------------------------------------------------

    def _target(self, path: str) -> _Target:
        try:
            path = paths.normalize(path)
        except ValueError as error:
            raise StoreError(str(error), key=path) from None
        mount, key = self.table.resolve(path)
        return _Target(path, mount, self.table.store_for(mount), key)

    def _attributes(self, path: str, mount: MountRecord) -> tuple[str, str, int]:
        return effective_attributes(self.table.metadata, path, mount)

    def _check(self, path: str, mount: MountRecord, want: Literal["read", "write", "execute"]) -> None:
        if want == "write" and mount.readonly:
            raise AccessDeniedError(
                f"write {path}: the mount {mount.path} ({mount.uri}) is read-only", key=path
            )
        if self.caller is None:
            return
        owner, group, mode = self._attributes(path, mount)
        check_access(self.caller, owner=owner, group=group, mode=mode, want=want, path=path)

    def _check_write_here(self, target: _Target, kind: Kind | None) -> None:
        """Creating or replacing a file needs the write bit of the file, or else of its directory.

        ``kind`` is what the caller already found at ``target``, so no second HEAD is sent.
        """
        if kind == "file":
            self._check(target.path, target.mount, "write")
            return
        parent = paths.parent(target.path)
        where = parent if paths.is_within(parent, target.mount.path) else target.mount.path
        self._check(where, target.mount, "write")

    def _is_mount_point(self, path: str) -> bool:
        return any(record.path == path for record in self.table.records())

    def _kind(self, target: _Target, *, sync: bool = False) -> Kind | None:
        # A mount point, or an ancestor of one, is a directory whatever its store holds.
        if any(paths.is_within(record.path, target.path) for record in self.table.records()):
            return "dir"
        cached = None if sync else self._cache.get("kind", target.path)
        if cached is not None:
            return cached  # type: ignore[return-value]
        found = kind_of(target.store, target.key)
        kind: Kind | None = found[0] if found else None
        if kind is not None:
            self._cache.put("kind", target.path, kind)
        return kind

    # -- reading -------------------------------------------------------------------------

    def stat(self, path: str, *, sync: bool = False) -> FileStatus:
        target = self._target(path)
        self._check(target.path, target.mount, "read")
        cached = None if sync else self._cache.get("stat", target.path)
        if isinstance(cached, FileStatus):
            return cached
        status = self._status(target, sync=sync)
        self._cache.put("stat", target.path, status)
        return status

    def _status(self, target: _Target, *, sync: bool) -> FileStatus:
        owner, group, mode = self._attributes(target.path, target.mount)
        if self._kind(target, sync=sync) == "dir" or target.key == "":
            return FileStatus(target.path, True, 0, None, owner, group, mode, target.mount.path)
        try:
            info = target.store.head(target.key)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file or directory", key=target.path) from None
        return FileStatus(
            target.path, False, info.size, info.last_modified, owner, group, mode, target.mount.path
        )

    def ls(self, path: str, *, recursive: bool = False, sync: bool = False) -> list[FileStatus]:
        status = self.stat(path, sync=sync)
        if not status.is_dir:
            return [status]
        entries = self._list_dir(status.path, sync=sync)
        if not recursive:
            return entries
        everything: list[FileStatus] = []
        for entry in entries:
            everything.append(entry)
            if entry.is_dir:
                everything.extend(self.ls(entry.path, recursive=True, sync=sync))
        return everything

    def _list_dir(self, path: str, *, sync: bool) -> list[FileStatus]:
        cached = None if sync else self._cache.get("list", path)
        if isinstance(cached, list):
            return cached
        target = self._target(path)
        attributes = self.table.metadata.attributes_under(path)
        inherited = self._attributes(path, target.mount)
        entries: dict[str, FileStatus] = {}
        base = f"{target.key}/" if target.key else ""
        listing = target.store.list_dir(base)
        for info in listing.objects:
            name = info.key[len(base) :]
            if not name or name.endswith("/"):
                continue
            child = paths.join(path, name)
            owner, group, mode = _merge(attributes.get(child), inherited)
            entries[child] = FileStatus(
                child, False, info.size, info.last_modified, owner, group, mode, target.mount.path
            )
        for prefix in listing.prefixes:
            child = paths.join(path, prefix[len(base) :].rstrip("/"))
            owner, group, mode = _merge(attributes.get(child), inherited)
            entries[child] = FileStatus(child, True, 0, None, owner, group, mode, target.mount.path)
        for record in self.table.children_of(path):
            child = paths.join(path, paths.relative(record.path, path).split("/")[0])
            if child == record.path:
                owner, group, mode = effective_attributes(self.table.metadata, child, record)
            else:
                owner, group, mode = _merge(attributes.get(child), inherited)
            entries[child] = FileStatus(
                child,
                True,
                0,
                None,
                owner,
                group,
                mode,
                record.path if child == record.path else target.mount.path,
            )
        result = [entries[key] for key in sorted(entries)]
        self._cache.put("list", path, result)
        return result

    def read(self, path: str, *, chunk_size: int = CHUNK) -> Iterator[bytes]:
        target = self._target(path)
        self._check(target.path, target.mount, "read")
        if self._kind(target) == "dir":
            raise StoreError(f"{target.path}: is a directory", key=target.path)
        try:
            yield from target.store.iter_read(target.key, chunk_size=chunk_size)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None

    def du(self, path: str) -> tuple[int, int]:
        """Total bytes and number of files at or below ``path``."""
        status = self.stat(path)
        if not status.is_dir:
            return status.size, 1
        total = files = 0
        for entry in self.ls(status.path, recursive=True):
            if not entry.is_dir:
                total += entry.size
                files += 1
        return total, files

    # -- writing -------------------------------------------------------------------------

    def write(
        self, path: str, chunks: Iterator[bytes] | list[bytes], *, progress: Progress | None = None
    ) -> FileStatus:
        target = self._target(path)
        if target.key == "":
            raise StoreError(f"{target.path}: is a directory (a mount point)", key=target.path)
        existing = self._kind(target)
        if existing == "dir":
            raise StoreError(f"{target.path}: is a directory", key=target.path)
        self._check_write_here(target, existing)
        with target.store.open_write(target.key) as writer:
            for chunk in chunks:
                writer.write(chunk)
                if progress:
                    progress(len(chunk))
        if existing is None:
            self._record_creator(target.path)
        self._cache.changed(target.path)
        return self._status(target, sync=True)

    def _record_creator(self, path: str) -> None:
        """What a named user creates is theirs, as on a POSIX file system."""
        if self.caller is not None and not self.caller.superuser:
            group = min(self.caller.groups) if self.caller.groups else self.caller.user
            self.table.metadata.set_attributes(path, owner=self.caller.user, group=group)

    def put(self, local: Path, path: str, *, progress: Progress | None = None) -> FileStatus:
        with local.open("rb") as handle:
            return self.write(path, iter(lambda: handle.read(CHUNK), b""), progress=progress)

    def get(self, path: str, local: Path, *, progress: Progress | None = None) -> int:
        written = 0
        temporary = local.with_name(f".{local.name}.tierstore-part")
        try:
            with temporary.open("wb") as handle:
                for chunk in self.read(path):
                    handle.write(chunk)
                    written += len(chunk)
                    if progress:
                        progress(len(chunk))
            temporary.replace(local)
        finally:
            temporary.unlink(missing_ok=True)
        return written

    def mkdir(self, path: str, *, parents: bool = False) -> FileStatus:
        target = self._target(path)
        kind = self._kind(target, sync=True)
        if kind is not None:
            if parents and kind == "dir":
                return self.stat(target.path, sync=True)
            raise ConflictError(f"mkdir {target.path}: it already exists", key=target.path)
        parent = paths.parent(target.path)
        if not parents and self._kind(self._target(parent), sync=True) != "dir":
            raise NotFoundError(
                f"mkdir {target.path}: the parent {parent} does not exist; use -p", key=target.path
            )
        self._check_write_here(target, None)
        target.store.put_directory_marker(target.key)
        self._record_creator(target.path)
        self._cache.changed(target.path)
        return self._status(target, sync=True)

    def remove(self, path: str, *, recursive: bool = False) -> int:
        """Remove a file, or a directory with ``recursive``; returns how many objects went."""
        target = self._target(path)
        if self._is_mount_point(target.path):
            raise StoreError(
                f"rm {target.path}: it is a mount point; use tierstore fs unmount", key=target.path
            )
        if self.table.children_of(target.path):
            raise StoreError(f"rm {target.path}: a mount lies inside it; unmount it first", key=target.path)
        kind = self._kind(target, sync=True)
        if kind is None:
            raise NotFoundError(f"rm {target.path}: no such file or directory", key=target.path)
        self._check(target.path, target.mount, "write")
        if kind == "file":
            target.store.delete(target.key)
            removed = 1
        else:
            if not recursive:
                raise StoreError(f"rm {target.path}: is a directory; use -r", key=target.path)
            keys = [info.key for info in target.store.list(target.key)]
            marker = f"{target.key}/"
            if marker not in keys:
                keys.append(marker)
            target.store.delete_many(keys)
            removed = len(keys)
        self.table.metadata.remove_attributes_under(target.path)
        self._cache.changed(target.path)
        return removed

    def copy(
        self, source: str, dest: str, *, recursive: bool = False, progress: Progress | None = None
    ) -> int:
        """Copy a file, or a directory with ``recursive``, streaming; returns bytes copied."""
        src = self._target(source)
        kind = self._kind(src, sync=True)
        if kind is None:
            raise NotFoundError(f"cp {src.path}: no such file or directory", key=src.path)
        dst = self._target(dest)
        if kind == "file":
            if self._kind(dst, sync=True) == "dir":
                dst = self._target(paths.join(dst.path, paths.name_of(src.path)))
            return self._copy_file(src, dst, progress)
        if not recursive:
            raise StoreError(f"cp {src.path}: is a directory; use -r", key=src.path)
        if paths.is_within(dst.path, src.path):
            raise StoreError(f"cp {src.path} {dst.path}: cannot copy a directory into itself", key=dst.path)
        total = 0
        for info in src.store.list(src.key):
            if info.key.endswith("/"):
                continue
            relative = info.key[len(src.key) :].lstrip("/") if src.key else info.key
            total += self._copy_file(
                self._target(paths.join(src.path, relative)),
                self._target(paths.join(dst.path, relative)),
                progress,
            )
        return total

    def _copy_file(self, src: _Target, dst: _Target, progress: Progress | None) -> int:
        self._check(src.path, src.mount, "read")
        self._check_write_here(dst, self._kind(dst))
        if src.store is dst.store:
            target_store: Store = src.store
            target_store.copy(src.key, dst.key)
            size = src.store.head(dst.key).size
            if progress:
                progress(size)
        else:
            size = 0
            with dst.store.open_write(dst.key) as writer:
                for chunk in src.store.iter_read(src.key, chunk_size=CHUNK):
                    writer.write(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
        self._cache.changed(dst.path)
        return size

    def move(self, source: str, dest: str, *, progress: Progress | None = None) -> int:
        src = self._target(source)
        kind = self._kind(src, sync=True)
        if kind is None:
            raise NotFoundError(f"mv {src.path}: no such file or directory", key=src.path)
        if self._is_mount_point(src.path):
            raise StoreError(f"mv {src.path}: it is a mount point", key=src.path)
        dst_path = paths.normalize(dest)
        if self._kind(self._target(dst_path), sync=True) == "dir" and kind == "file":
            dst_path = paths.join(dst_path, paths.name_of(src.path))
        self._check(src.path, src.mount, "write")
        moved = self.copy(src.path, dst_path, recursive=True, progress=progress)
        self.remove(src.path, recursive=True)
        self.table.metadata.move_attributes(src.path, dst_path)
        self._cache.changed(dst_path)
        return moved

    # -- metadata-only changes ------------------------------------------------------------

    def _own(self, path: str) -> tuple[_Target, str]:
        target = self._target(path)
        if self._kind(target, sync=True) is None:
            raise NotFoundError(f"{target.path}: no such file or directory", key=target.path)
        owner, _, _ = self._attributes(target.path, target.mount)
        if self.caller is not None and not self.caller.superuser and self.caller.user != owner:
            raise AccessDeniedError(
                f"{target.path}: only its owner ({owner}) may change its mode or group", key=target.path
            )
        return target, owner

    def chmod(self, path: str, mode: str) -> FileStatus:
        target, _ = self._own(path)
        _, _, current = self._attributes(target.path, target.mount)
        try:
            new_mode = parse_mode(mode, current)
        except ValueError as error:
            raise StoreError(f"chmod {target.path}: {error}", key=target.path) from None
        self.table.metadata.set_attributes(target.path, mode=new_mode)
        self._cache.changed(target.path)
        return self.stat(target.path, sync=True)

    def chown(self, path: str, owner: str, group: str | None = None) -> FileStatus:
        target = self._target(path)
        if self.caller is not None and not self.caller.superuser:
            raise AccessDeniedError(
                f"chown {target.path}: only the superuser may change an owner", key=target.path
            )
        if self._kind(target, sync=True) is None:
            raise NotFoundError(f"{target.path}: no such file or directory", key=target.path)
        self.table.metadata.set_attributes(target.path, owner=owner, group=group)
        self._cache.changed(target.path)
        return self.stat(target.path, sync=True)

    def chgrp(self, path: str, group: str) -> FileStatus:
        target, _ = self._own(path)
        self.table.metadata.set_attributes(target.path, group=group)
        self._cache.changed(target.path)
        return self.stat(target.path, sync=True)


def effective_attributes(metadata: MetadataStore, path: str, mount: MountRecord) -> tuple[str, str, int]:
    """A path's owner, group and mode: each its own if set, else its nearest ancestor's within
    the mount (what chown/chmod of a directory gives everything below it that has none of its
    own, also files written straight to the store with vended credentials), else the mount's."""
    owner: str | None = None
    group: str | None = None
    mode: int | None = None
    current = path
    while owner is None or group is None or mode is None:
        own = metadata.attributes(current)
        if own is not None:
            owner = owner if owner is not None else own.owner
            group = group if group is not None else own.group
            mode = mode if mode is not None else own.mode
        if current in (mount.path, "/"):
            break
        current = paths.parent(current)
    return (
        owner if owner is not None else mount.owner,
        group if group is not None else mount.group,
        mode if mode is not None else mount.mode,
    )


def _merge(own: PathAttributes | None, inherited: tuple[str, str, int]) -> tuple[str, str, int]:
    if own is None:
        return inherited
    return (
        own.owner if own.owner is not None else inherited[0],
        own.group if own.group is not None else inherited[1],
        own.mode if own.mode is not None else inherited[2],
    )
