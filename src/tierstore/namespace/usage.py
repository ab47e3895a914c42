"""``du``: bytes and files below a directory, listed concurrently across sub-directories.

The rule is ``ls -R``'s: it descends only into directories the caller may read and search.
Where that rule cannot exclude anything below a directory (an admin; or no path below it has
an owner, group or mode of its own, so all show the directory's bits, which let the caller in)
and no mount lies below it, the directory is counted from one recursive listing of its store
instead of one listing per directory. Elsewhere each directory is listed on its own, as many
at once as the concurrency allows, and each sub-directory the caller may enter goes to the
pool in turn.
"""

from __future__ import annotations

import functools
import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING

from tierstore.errors import TierstoreError
from tierstore.namespace.batch import Batch, TreeFailedError, tree_progress
from tierstore.namespace.listing import Listed, PageWalker, Position
from tierstore.namespace.snapshot import Snapshot, checks_bits

if TYPE_CHECKING:
    from tierstore.namespace.filesystem import FileStatus, FileSystem


def disk_usage(fs: FileSystem, top: FileStatus, concurrency: int) -> tuple[int, int]:
    """Bytes and files below the directory ``top`` (which the caller may read); TreeFailedError,
    after counting everything else, when a directory could not be listed."""
    snapshot = Snapshot(fs.table, fs.caller, [top.path])
    with Batch(f"du {top.path}", concurrency, tree_progress(None)) as batch:
        walk = _Walk(fs, snapshot, batch)
        pending: set[Future[list[FileStatus]]] = {batch.run(functools.partial(walk.visit, top))}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                for directory in future.result():
                    pending.add(batch.run(functools.partial(walk.visit, directory)))
        report = batch.wait()
    if report.failures:
        raise TreeFailedError(report)
    return report.size, report.files


class _Walk:
    def __init__(self, fs: FileSystem, snapshot: Snapshot, batch: Batch) -> None:
        self.fs = fs
        self.snapshot = snapshot
        self.batch = batch

    def visit(self, directory: FileStatus) -> list[FileStatus]:
        """Count ``directory`` (the caller may read it); the sub-directories still to visit."""
        try:
            if self._in_one_listing(directory):
                return self._count_all(directory)
            return self._count_level(directory)
        except (TierstoreError, OSError) as error:
            self.batch.fail(directory.path, error)
            return []

    def _in_one_listing(self, directory: FileStatus) -> bool:
        if self.snapshot.mounts_below(directory.path):
            return False  # their files are not in this directory's store
        if not checks_bits(self.fs.caller):
            return True
        return not self.snapshot.has_attributes_below(directory.path) and self.fs._may_descend(directory)

    def _count_all(self, directory: FileStatus) -> list[FileStatus]:
        mount, key = self.snapshot.resolve(directory.path)
        size = files = 0
        for info in self.snapshot.store(mount).list(key):
            if not info.key.endswith("/"):
                size += info.size
                files += 1
        self.batch.done(files, size)
        return []

    def _count_level(self, directory: FileStatus) -> list[FileStatus]:
        size = files = 0
        below: list[FileStatus] = []
        for entry in self._entries(directory.path):
            if not entry.is_dir:
                size += entry.size
                files += 1
            elif self.fs._may_descend(entry):
                below.append(entry)
        self.batch.done(files, size)
        return below

    def _entries(self, path: str) -> PageWalker:
        """One directory's entries, page after page, as ``ls`` gives them (its permission on the
        directory was checked by whoever handed it over: the caller of du, or _may_descend)."""
        fetch = functools.partial(_level, self.fs, path)
        return PageWalker(fetch, _never, limit=sys.maxsize, recursive=False)


def _level(fs: FileSystem, path: str, _: str, position: Position, size: int) -> list[Listed]:
    return fs._dir_page(path, position, size, False)


def _never(_: FileStatus) -> bool:
    return False
