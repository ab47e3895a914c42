"""What a tree operation judges every file by, read once: the mount table and the attributes.

Checking each of 5,000 files the way a single-file operation does costs several metadata
queries per file (the mount table, the path's lineage), which took longer than the copying
itself. A :class:`Snapshot` reads the mount table once and, for a named caller, the attributes
at and above each top of the operation (:func:`lineage`) and below it (one range query each),
then gives every path's effective owner, group and mode from memory, by the same rules as
:func:`tierstore.namespace.access.lineage`. Every file is still checked, against the attributes
as they were when the operation started, as ``rm -r``'s whole-tree check always was.

Safe to share between threads: what it memoizes is a pure function of what it read.
"""

from __future__ import annotations

from collections.abc import Iterable

from tierstore.errors import StoreError
from tierstore.namespace import paths
from tierstore.namespace.access import Attributes, lineage, merged, of_mount
from tierstore.namespace.metadata import MountRecord, PathAttributes
from tierstore.namespace.mounts import MountTable, path_error, resolve_in
from tierstore.namespace.permissions import Caller
from tierstore.storage.interface import Store


def checks_bits(caller: Caller | None) -> bool:
    """Whether ``caller``'s operations are judged by owner, group and mode at all."""
    return caller is not None and not caller.superuser


class Snapshot:
    def __init__(self, table: MountTable, caller: Caller | None, tops: Iterable[str]) -> None:
        self.caller = caller
        self.records = table.records()
        self._table = table
        self._mount_points = {record.path: record for record in self.records}
        self._stores: dict[str, Store] = {}
        self._tops = list(tops)
        self._own: dict[str, PathAttributes] = {}
        self._known: dict[str, Attributes] = {}
        if checks_bits(caller):
            for top in self._tops:
                self._known.update((found.path, found) for found in lineage(table, top))
                self._own.update(table.metadata.attributes_under(top))

    def resolve(self, path: str, *, creating: bool = False) -> tuple[MountRecord, str]:
        """The mount and key of the normalized ``path``; StoreError for a path no store may hold."""
        try:
            if creating:
                paths.check_creatable(path)
            return resolve_in(self.records, path)
        except paths.PathError as error:
            raise path_error(error, path) from None

    def store(self, record: MountRecord) -> Store:
        store = self._stores.get(record.path)
        if store is None:
            store = self._stores[record.path] = self._table.store_for(record)
        return store

    def mounts_below(self, path: str) -> list[MountRecord]:
        """The mounts whose mount point lies strictly below ``path``."""
        return [r for r in self.records if r.path != path and paths.is_within(r.path, path)]

    def has_attributes_below(self, path: str) -> bool:
        """Whether a path strictly below ``path`` has an owner, group or mode of its own."""
        return any(below != path and paths.is_within(below, path) for below in self._own)

    def attributes(self, path: str) -> Attributes:
        """``path``'s effective attributes; ``path`` must lie at or below one of the tops."""
        found = self._known.get(path)
        if found is not None:
            return found
        if path == "/" or not any(paths.is_within(path, top) for top in self._tops):
            raise StoreError(f"{path}: outside the tree being worked on ({', '.join(self._tops)})", key=path)
        record = self._mount_points.get(path)
        # A mount point starts from its mount's attributes; below it, from its parent's.
        inherited = of_mount(record) if record is not None else self.attributes(paths.parent(path))
        found = self._known[path] = merged(path, self._own.get(path), inherited)
        return found

    def chain(self, path: str) -> list[Attributes]:
        """The attributes of ``/``, each ancestor of ``path``, and ``path`` itself, in order."""
        chain = [path]
        while chain[-1] != "/":
            chain.append(paths.parent(chain[-1]))
        return [self.attributes(each) for each in reversed(chain)]
