"""Whole trees at once: ``cp -r`` (and ``mv`` across mounts) and ``rm -r``, many files in flight.

The tree is listed once per mount it spans (the listing streams while the first files copy),
and each file goes to a :class:`~tierstore.namespace.batch.Batch` worker, which checks it
against a :class:`~tierstore.namespace.snapshot.Snapshot` (read on the source after search on
every ancestor; on the destination, write on a file it replaces or write and search on the
directory it is created in, as :meth:`FileSystem._copy_file` does) and then moves it: a
server-side copy within one store, one read and one write for a file up to :data:`SMALL`,
a stream of chunks above that. A failure is that file's alone.

What ``ls -R`` shows is what is copied: the files of the source's mount, less those hidden
under a mount nested in the tree, and the files of each nested mount.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierstore.errors import StoreError
from tierstore.namespace import paths
from tierstore.namespace.access import check_parent, check_readonly, check_search
from tierstore.namespace.batch import Batch, TreeProgress
from tierstore.namespace.metadata import MountRecord
from tierstore.namespace.snapshot import Snapshot, checks_bits
from tierstore.storage.interface import Kind, Store

if TYPE_CHECKING:
    from tierstore.namespace.filesystem import FileSystem

# Streamed copies move this much at a time (as FileSystem's single-file copies do).
CHUNK = 2 * 1024 * 1024
# A file up to this size is read whole and written with one request: for small files the
# writer's and the stream's set-up cost more than the bytes.
SMALL = CHUNK
# Keys per DeleteObjects request: S3's limit.
DELETE_BATCH = 1000
# Files above SMALL streamed at once, whatever the concurrency: each holds a multipart writer's
# parts (part size x (its concurrency + 2), 48 MiB by default), and two streams already fill
# the S3 store's pool of part connections (2 x the multipart concurrency).
STREAMS_AT_ONCE = 2


@dataclass(frozen=True)
class TreeFile:
    """A file of a tree: its namespace path, where it is stored, and its size when listed."""

    path: str
    mount: MountRecord
    store: Store
    key: str
    size: int


@dataclass(frozen=True)
class Unnamed:
    """A key the namespace cannot show as a path (``a//b``, ``./x``, a backslash on S3)."""

    path: str
    reason: str


def files_below(snapshot: Snapshot, top: str) -> Iterator[TreeFile | Unnamed]:
    """Every file at or below the directory ``top`` that ``ls -R`` would show, in no set order."""
    mount, key = snapshot.resolve(top)
    for region, base in [(mount, key), *((nested, "") for nested in snapshot.mounts_below(top))]:
        store = snapshot.store(region)
        lead = region.path.rstrip("/")
        for info in store.list(base):
            if info.key.endswith("/"):
                continue  # a directory marker: directories are copied by their files
            raw = f"{lead}/{info.key}"
            try:
                path = paths.normalize(raw)
                owner, resolved = snapshot.resolve(path)
            except (paths.PathError, StoreError) as error:
                yield Unnamed(raw, f"its key {info.key!r} cannot be a namespace path: {error}")
                continue
            if owner.path != region.path:
                continue  # hidden under a nested mount, whose own files are listed instead
            if path != raw or resolved != info.key:
                yield Unnamed(raw, f"its key {info.key!r} cannot be a namespace path (it reads as {path})")
                continue
            yield TreeFile(path, region, store, info.key, info.size)


def existing_kinds(snapshot: Snapshot, top: str) -> dict[str, Kind]:
    """What already exists at and below ``top`` (a destination), from one listing per mount."""
    found: dict[str, Kind] = {}
    for record in snapshot.records:
        for above in _ancestors(record.path, top):
            found[above] = "dir"  # a mount point and its ancestors are directories
    for entry in files_below(snapshot, top):
        if isinstance(entry, TreeFile):
            found[entry.path] = "file"
            for above in _ancestors(paths.parent(entry.path), top):
                found.setdefault(above, "dir")
    return found


def _ancestors(path: str, top: str) -> Iterator[str]:
    """``path`` and each of its ancestors, while they lie at or below ``top``."""
    while paths.is_within(path, top):
        yield path
        if path == top:
            return
        path = paths.parent(path)


class _CopyPlan:
    """The checks and the transfer of each file, shared by the workers."""

    def __init__(self, fs: FileSystem, source: str, dest: str, progress: TreeProgress) -> None:
        self.fs = fs
        self.caller = fs.caller
        self.source = source
        self.dest = dest
        self.progress = progress
        self.snapshot = Snapshot(fs.table, fs.caller, [source, dest])
        # No mount lies inside a read-only one: one refusal instead of one for every file.
        check_readonly(self.snapshot.resolve(dest)[0], dest)
        self._streams = threading.BoundedSemaphore(STREAMS_AT_ONCE)
        # Only a named caller's checks (and owner records) depend on what is there already.
        self.existing = existing_kinds(self.snapshot, dest) if checks_bits(fs.caller) else {}

    def copy(self, file: TreeFile) -> int:
        dest = self.dest + file.path[len(self.source) :]
        if checks_bits(self.caller):
            chain = self.snapshot.chain(file.path)
            check_search(self.caller, chain)
            chain[-1].check(self.caller, "read")
        mount, key = self.snapshot.resolve(dest, creating=True)
        existing = self.existing.get(dest)
        self._check_dest(mount, dest, existing)
        if key == "":
            raise StoreError(f"cp {file.path} {dest}: {dest} is a mount point", key=dest)
        size = self._transfer(file, self.snapshot.store(mount), key)
        if existing is None:
            self.fs._record_creator(dest, is_dir=False)
        return size

    def _check_dest(self, mount: MountRecord, dest: str, existing: Kind | None) -> None:
        check_readonly(mount, dest)
        if not checks_bits(self.caller):
            return
        chain = self.snapshot.chain(dest)
        check_search(self.caller, chain)
        if existing == "file":
            chain[-1].check(self.caller, "write")
        else:
            check_parent(self.caller, chain, "write")

    def _transfer(self, file: TreeFile, dest_store: Store, dest_key: str) -> int:
        if file.store is dest_store:
            # One mount: the store copies it without the bytes passing through here.
            dest_store.copy(file.key, dest_key)
            self.progress.advance(file.size)
            return file.size
        if file.size <= SMALL:
            # One byte more than SMALL: a file that grew since the listing shows it, and streams.
            data = file.store.get(file.key, start=0, end=SMALL + 1)
            if len(data) <= SMALL:
                dest_store.put(dest_key, data)
                self.progress.advance(len(data))
                return len(data)
        size = 0
        with self._streams, dest_store.open_write(dest_key) as writer:
            for chunk in file.store.iter_read(file.key, chunk_size=CHUNK):
                writer.write(chunk)
                size += len(chunk)
                self.progress.advance(len(chunk))
        return size


def copy_tree(fs: FileSystem, source: str, dest: str, progress: TreeProgress, concurrency: int) -> int:
    """Copy every file below the directory ``source`` to the same place below ``dest``; returns
    the bytes copied, or raises TreeFailedError naming each file that failed (after all others)."""
    with Batch(f"cp -r {source} {dest}", concurrency, progress) as batch:
        try:
            plan = _CopyPlan(fs, source, dest, progress)
            files = size = 0
            for entry in files_below(plan.snapshot, source):
                if isinstance(entry, Unnamed):
                    batch.fail(entry.path, entry.reason)
                    continue
                files += 1
                size += entry.size
                batch.submit(entry.path, functools.partial(plan.copy, entry))
            progress.plan(files, size)
            report = batch.finish()
        finally:
            fs._cache.changed(dest)
    return report.size


def remove_tree(store: Store, key: str, path: str, *, concurrency: int, progress: TreeProgress) -> int:
    """Delete every key below ``key`` (the directory ``path``), batches of keys in flight at once
    while the listing goes on, then its folders; returns how many objects went. The caller has
    checked that the whole tree may go."""
    marker = f"{key}/"
    listed = size = markers = 0
    # Every folder of the tree, deleted last, deepest first, once no batch can still be filling
    # one: a store that keeps emptied folders (SeaweedFS) would list them as directories, and
    # batches running side by side each see the others' keys, so none removes a shared folder.
    folders = {marker}
    with Batch(f"rm -r {path}", concurrency, progress) as batch:
        deleter = _Deleter(batch, store, path, key)
        keys: list[str] = []
        sizes = 0
        for info in store.list(key):
            if info.key.endswith("/"):
                folders.add(info.key)
                markers += 0 if info.key == marker else 1
            else:
                keys.append(info.key)
                sizes += info.size
            folders.update(_folders_between(info.key, marker))
            if len(keys) == DELETE_BATCH:
                batch.run(functools.partial(deleter.delete, keys, sizes))
                listed, size, keys, sizes = listed + len(keys), size + sizes, [], 0
        if keys:
            batch.run(functools.partial(deleter.delete, keys, sizes))
        # The objects: every key listed, the directory's own marker whether listed or not.
        progress.plan(listed + len(keys) + markers + 1, size + sizes)
        batch.wait()
        if not batch.failed:
            try:
                # Deleting a folder that holds nothing is no error, nor one that was never made.
                store.delete_many(sorted(folders))
            except StoreError as error:
                batch.fail(path, error)
            else:
                batch.done(markers + 1, 0)
        return batch.finish().files


def _folders_between(found: str, top: str) -> Iterator[str]:
    """The folders (keys ending in ``/``) that hold ``found``, up to the folder ``top``."""
    folder = found[: found.rstrip("/").rfind("/") + 1]
    while len(folder) > len(top):
        yield folder
        folder = folder[: folder.rstrip("/").rfind("/") + 1]


@dataclass(frozen=True)
class _Deleter:
    batch: Batch
    store: Store
    path: str  # the directory being removed
    key: str  # its key

    def delete(self, keys: list[str], size: int) -> None:
        """One batch of keys; when the batch fails, each key alone, so each failure names its file."""
        try:
            self.store.delete_many(keys)
        except StoreError:
            for one in keys:
                try:
                    self.store.delete(one)
                except StoreError as error:
                    self.batch.fail(self._path_of(one), error)
                else:
                    self.batch.done(1, 0)
        else:
            self.batch.done(len(keys), size)
            self.batch.progress.advance(size)

    def _path_of(self, found: str) -> str:
        """The namespace path of the key ``found``."""
        below = found[len(self.key) :].strip("/")
        return f"{self.path.rstrip('/')}/{below}" if below else self.path
