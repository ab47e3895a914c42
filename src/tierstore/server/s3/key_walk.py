"""A bucket's listing as S3 gives it: keys (and common prefixes) after a prefix, in key order.

The keys that start with a prefix ``logs/2024-0`` all lie in the directory ``logs/`` (whose
names start with ``2024-0``) and below it, so a listing reads that directory (the *start*
directory) and, depth first, the directories in it, each in key order (:mod:`.key_order`):
which gives every key of the bucket under the prefix in key order without holding more than one
cursor per directory on the way down.

- **Common prefixes.** With a delimiter, a key holding it after the prefix is given as the
  common prefix that ends there, once. A sub-directory whose own key ``d/`` already holds it
  (always, for ``/``) is one common prefix and is not read at all; others are read, their keys
  rolled up as they come.
- **Directories.** A non-empty directory is no key: its keys are. An empty one is the key ``d/``
  of size 0, as S3 shows a folder's marker, so that tools copying a bucket see empty folders; the
  start directory too, when the prefix names it (``logs/``).
- **Permissions.** The start directory is the listed one: the caller needs what ``ls -l`` needs
  on it (read and search; search on its ancestors), else ``AccessDenied``, as S3 refuses a
  listing its policy does not allow rather than answer it empty; so a prefix inside a directory
  the caller may not search is ``AccessDenied`` too (the namespace refuses before it looks, so
  the answer says nothing of what is there), while one naming a missing directory the caller
  could search is an empty listing. This is also what lets a user list ``home/alice/`` in a
  bucket they may not list whole, as an S3 policy with a prefix condition would. A directory
  below the start that the caller may not list is left out with everything in it, as ``find``
  does (its name still shows as a common prefix: the caller may read it in its parent). The
  namespace checks each page again.
- **Resuming.** :meth:`Walk.state` is where the listing stands (the last entry given and each
  open directory's cursor); a walk made from it goes on with the next entry. Without a state, a
  walk given an ``after`` key (``start-after``, ``marker``) reads each directory from its start
  and skips what sorts before, leaving out whole directories that do.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tierstore.errors import AccessDeniedError, NotFoundError
from tierstore.namespace import paths
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.namespace.listing import MAX_LIMIT
from tierstore.server.s3.key_order import CursorState, DirCursor, IsAFileError, Item


class Entry(NamedTuple):
    """One line of a listing: a key with its status, or a common prefix (``status`` None)."""

    key: str
    status: FileStatus | None
    common_prefix: bool = False


@dataclass(frozen=True)
class LevelState:
    directory: str  # the directory's key: "" for the bucket, else ending in "/"
    cursor: CursorState


@dataclass(frozen=True)
class WalkState:
    """Where a listing stands: the last entry given, and the open directories from the start
    directory down. ``start_marker``: the start directory's own marker is still to be given."""

    after: str | None
    levels: tuple[LevelState, ...]
    start_marker: bool = False


def start_directory(prefix: str) -> str:
    """The directory holding every key that starts with ``prefix``: its part up to the last ``/``."""
    return prefix[: prefix.rfind("/") + 1]


class _Level:
    def __init__(self, directory: str, cursor: DirCursor) -> None:
        self.directory = directory
        self.cursor = cursor


class Walk:
    """The entries of ``bucket`` under ``prefix`` in key order, after ``after``: :meth:`peek`,
    :meth:`take`, and :meth:`state` to resume later. ``wanted`` (set by the caller as it goes)
    is how many entries it still needs, which sizes the namespace pages read."""

    def __init__(
        self,
        fs: FileSystem,
        bucket: str,
        prefix: str,
        delimiter: str | None,
        *,
        after: str | None = None,
        state: WalkState | None = None,
        wanted: int = 1001,
    ) -> None:
        self.fs = fs
        self.bucket = bucket
        self.prefix = prefix
        self.delimiter = delimiter or None
        self.wanted = wanted
        start = start_directory(prefix)
        self._peeked: Entry | None = None
        self._start_checked = False
        if state is None:
            self._after = after
            self._levels = [_Level(start, self._cursor(start, None))] if self._listable(start) else []
            self._start_marker = bool(start) and prefix == start
        else:
            self._after = state.after
            _check_chain(start, [level.directory for level in state.levels])
            self._levels = [
                _Level(level.directory, self._cursor(level.directory, level.cursor)) for level in state.levels
            ]
            self._start_marker = state.start_marker

    def _listable(self, directory: str) -> bool:
        """Whether ``directory`` can be a directory of the namespace as spelled (keys never name
        one that is not: ``a//``, ``./``)."""
        path = self._path(directory)
        try:
            return paths.normalize(path) == path
        except paths.PathError:
            return False

    def _path(self, directory: str) -> str:
        return f"/{self.bucket}/{directory[:-1]}" if directory else f"/{self.bucket}"

    def _cursor(self, directory: str, state: CursorState | None) -> DirCursor:
        return DirCursor(self.fs, self._path(directory), self._page_limit, state)

    def _page_limit(self) -> int:
        return max(2, min(MAX_LIMIT, self.wanted))

    def _common_prefix(self, key: str) -> str | None:
        if self.delimiter is None:
            return None
        found = key.find(self.delimiter, len(self.prefix))
        return None if found < 0 else key[: found + len(self.delimiter)]

    def _given(self, key: str) -> bool:
        return self._after is not None and key <= self._after

    # -- the walk ------------------------------------------------------------------------------

    def peek(self) -> Entry | None:
        """The next entry (the same until :meth:`take`), None at the end."""
        if self._peeked is not None:
            return self._peeked
        while self._levels:
            level = self._levels[-1]
            at_start = len(self._levels) == 1
            try:
                item = level.cursor.peek()
            except AccessDeniedError:
                if at_start:
                    raise  # the listed directory itself
                self._levels.pop()  # its permissions changed since the listing went into it
                continue
            except (NotFoundError, IsAFileError):
                self._levels.pop()
                self._start_marker = False
                continue
            if at_start and not self._start_checked:
                # Read was checked by the namespace; search too, once it is known to be a
                # directory (a prefix naming a file lists nothing, as S3 would).
                self.fs.check_listable(self._path(level.directory))
                self._start_checked = True
            if item is None:
                if at_start and self._start_marker and not self._given(self.prefix):
                    self._peeked = Entry(self.prefix, self._status(level.directory, None))
                    if self._peeked.status is not None:
                        return self._peeked
                    self._peeked = None
                self._levels.pop()
                continue
            self._start_marker = False
            key = level.directory + item.key
            if at_start and not key.startswith(self.prefix):
                if key > self.prefix:
                    self._levels.clear()  # past the keys that start with the prefix
                    return None
                level.cursor.take()
                continue
            common = self._common_prefix(key)
            if common is None and item.key.endswith("/"):
                if self._descend(level, item, key):
                    return self._peeked
                continue
            if self._given(common or key):
                level.cursor.take()
                continue
            self._peeked = Entry(common, None, True) if common else Entry(key, item.status)
            return self._peeked
        return None

    def _descend(self, level: _Level, item: Item, key: str) -> bool:
        """Goes into the directory ``item`` (``key``): True when it is empty and its marker is
        the next entry; else the directory is taken and its entries follow (or it is skipped)."""
        after = self._after
        name = item.key[:-1]
        if (after is not None and key <= after and not after.startswith(key)) or name in (".", ".."):
            level.cursor.take()  # everything in it sorts before what was given already
            return False
        child = self._open(level, key)
        if child is None:
            level.cursor.take()
            return False
        try:
            first = child.cursor.peek()
        except (AccessDeniedError, NotFoundError, IsAFileError):
            level.cursor.take()
            return False
        if first is not None:
            level.cursor.take()
            self._levels.append(child)
            self._warm_next(level)
            return False
        if self._given(key):
            level.cursor.take()
            return False
        status = self._status(key, item.status)
        if status is None:
            level.cursor.take()
            return False
        self._peeked = Entry(key, status)
        return True

    def _warm_next(self, level: _Level) -> None:
        """Has the store's first page of the directory that follows the one just gone into (in
        ``level``) read in the background, so that its wait overlaps the work on this one: a
        bucket of many directories is otherwise one store round trip after another."""
        try:
            following = level.cursor.peek()
        except Exception:  # the walk meets the same failure when it gets there
            return
        if following is None or not following.key.endswith("/"):
            return
        key = level.directory + following.key
        if self._common_prefix(key) is None and following.key[:-1] not in (".", ".."):
            self.fs.warm_listing(self._path(key))

    def _open(self, level: _Level, key: str) -> _Level | None:
        """A level for the directory ``key``, or None when the caller may not list it (as
        ``find``, the listing leaves it out)."""
        try:
            self.fs.check_listable(self._path(key))
        except (AccessDeniedError, paths.PathError):
            return None
        return _Level(key, self._cursor(key, None))

    def _status(self, directory: str, known: FileStatus | None) -> FileStatus | None:
        """A directory's status for its marker (a directory known by name only is stat'ed)."""
        if known is not None:
            return known
        try:
            return self.fs.stat(self._path(directory))
        except (NotFoundError, AccessDeniedError):
            return None

    def take(self) -> Entry:
        """Takes the entry :meth:`peek` gave."""
        entry = self.peek()
        if entry is None:
            raise IndexError("the listing has no more entries")
        if self._start_marker and entry.key == self.prefix and len(self._levels) == 1:
            self._levels.clear()
        else:
            self._levels[-1].cursor.take()
        self._peeked = None
        self._after = entry.key
        return entry

    def state(self) -> WalkState:
        """Where the listing stands: before the entry :meth:`peek` would give."""
        levels = tuple(LevelState(level.directory, level.cursor.state()) for level in self._levels)
        return WalkState(self._after, levels, self._start_marker)


def _check_chain(start: str, directories: Sequence[str]) -> None:
    """A state's directories go from the start directory down, one name at a time."""
    if not directories or directories[0] != start:
        raise ValueError("the listing state does not start at the prefix's directory")
    for above, below in itertools.pairwise(directories):
        name = below[len(above) : -1]
        if not below.startswith(above) or not below.endswith("/") or not name or "/" in name:
            raise ValueError("the listing state's directories are not one inside the next")
