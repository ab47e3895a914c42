"""One directory's entries in S3's key order, read from the namespace's pages.

S3 lists keys in the binary order of their UTF-8 bytes, which is Python's order of ``str``. A
directory ``d`` holds the keys ``d/...``, so among its siblings it sorts as ``d/``; the
namespace gives a directory's entries in its stores' order instead, by name (SeaweedFS and local
directories: ``a`` before ``a-b``; within each page the namespace sorts by name too, whatever the
store), with its mount points first. The two orders differ only where a directory's name is
followed by a sibling that extends it with a character below ``/`` (space, ``!``, ``+``, ``-``,
``.`` and the like): ``a-b`` and ``a b`` sort before ``a/``.

:class:`DirCursor` puts them right while reading, holding back each directory until an entry
that sorts after its ``d/`` arrives (or the directory ends). What is held at once is a chain of
directories, each named by a prefix of the next (``a``, ``a-b``, ``a-b c``), so it is bounded by
the length of a name, not by the directory's size. The same rule also sorts a store that answers
in S3's own order (AWS, MinIO: the namespace then moves a directory only earlier, within its
page). Mount points come from the mount table, sorted here, and are merged in.

Where a cursor stands is :class:`CursorState`: the namespace's token from which to read again
(before the one entry read ahead, if any), the directories held back, and the last mount point
given. A listing resumed from it gives exactly the entries not given yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from tierstore.namespace import paths
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.namespace.listing import STORE_PAGE, Levels, PageWalker, token_at

# A position in a directory's listing, as a state keeps it: the start, a namespace token, or the end.
AT_START: str | None = None
AT_END = ""


class Item(NamedTuple):
    """An entry of the directory: its key relative to the directory (a sub-directory's ends in
    ``/``), its status (None for a directory known by name only, from a state), and the
    namespace's checkpoint from before it was read (None: not read from the namespace)."""

    key: str
    status: FileStatus | None
    before: Levels | None = None


@dataclass(frozen=True)
class CursorState:
    """Where a :class:`DirCursor` stands (see the module's docstring). ``resume`` is
    :data:`AT_START`, :data:`AT_END` or a namespace token; ``held`` the held-back directories'
    keys, in the order they wait (the first sorts last); ``mounts_after`` the key of the last
    mount point given."""

    resume: str | None = AT_START
    held: tuple[str, ...] = ()
    mounts_after: str | None = None


class IsAFileError(Exception):
    """The cursor's path is a file (a listing of a file gives the file itself)."""


class DirCursor:
    """The entries of the directory ``path`` in key order: :meth:`peek` the next, :meth:`take` it.

    ``page_limit`` says how many entries the next namespace page should hold (what the listing
    still needs): asking for no more than needed keeps the store's pages from being read and
    thrown away. The namespace checks the caller's permissions on every page.
    """

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        page_limit: Callable[[], int],
        state: CursorState | None = None,
    ) -> None:
        state = state or CursorState()
        self.fs = fs
        self.path = path
        self._page_limit = page_limit
        self._resume = state.resume
        self._walker: PageWalker | None = None
        self._statuses: Iterator[FileStatus] | None = None
        self._ahead: Item | None = None
        self._held = [Item(key, None) for key in state.held]
        # Mount points (and directories on the way to one) right below: the namespace gives them
        # first, out of order; they are taken from the mount table instead and merged in.
        points = {paths.relative(record.path, path).split("/")[0] for record in fs.table.children_of(path)}
        self._points = frozenset(points)
        after = state.mounts_after
        self._mounts = sorted(
            (Item(f"{name}/", None) for name in points if after is None or f"{name}/" > after),
            reverse=True,
        )
        self._mounts_after = after
        self._peeked: tuple[Item, str] | None = None

    # -- reading the namespace ---------------------------------------------------------------

    def _read(self) -> Item | None:
        """The next entry in the namespace's order (a mount point's excepted), None at the end."""
        while True:
            if self._statuses is None:
                if self._resume == AT_END:
                    return None
                limit = self._page_limit()
                if self._resume is AT_START and self.fs.keeps_listings:
                    # A whole store page, kept by the namespace: what this page of the listing
                    # leaves unused, the next one resumes in from memory.
                    limit = max(limit, STORE_PAGE)
                self._walker = self.fs.ls_page(self.path, limit=limit, after=self._resume)
                self._statuses = iter(self._walker)
            assert self._walker is not None
            before = self._walker.checkpoint()
            status = next(self._statuses, None)
            if status is None:
                following = self._walker.next
                self._statuses = None
                self._resume = AT_END if following is None else following
                continue
            if status.path == self.path:
                raise IsAFileError(self.path)
            name = paths.name_of(status.path)
            if name in self._points:
                continue
            return Item(f"{name}/" if status.is_dir else name, status, before)

    # -- the order --------------------------------------------------------------------------

    def peek(self) -> Item | None:
        """The next entry in key order (the same until :meth:`take`), None at the end."""
        if self._peeked is not None:
            return self._peeked[0]
        while True:
            if self._ahead is None:
                self._ahead = self._read()
            ahead = self._ahead
            waiting = self._held[-1] if self._held else None
            if ahead is not None and ahead.key.endswith("/") and (waiting is None or ahead.key < waiting.key):
                # A directory waits until something sorting after its "d/" has been seen.
                self._held.append(ahead)
                self._ahead = None
                continue
            if waiting is not None and (ahead is None or waiting.key < ahead.key):
                found, source = waiting, "held"
            elif ahead is not None:
                found, source = ahead, "ahead"
            else:
                found, source = None, ""
            mount = self._mounts[-1] if self._mounts else None
            if mount is not None and (found is None or mount.key < found.key):
                found, source = mount, "mount"
            if found is None:
                return None
            self._peeked = (found, source)
            return found

    def take(self) -> Item:
        """Takes the entry :meth:`peek` gave."""
        if self._peeked is None and self.peek() is None:
            raise IndexError("the directory has no more entries")
        assert self._peeked is not None
        found, source = self._peeked
        self._peeked = None
        if source == "held":
            self._held.pop()
        elif source == "ahead":
            self._ahead = None
        else:
            self._mounts.pop()
            self._mounts_after = found.key
        return found

    def state(self) -> CursorState:
        """Where the cursor stands: before the entry :meth:`peek` would give."""
        resume: str | None
        if self._ahead is not None:
            assert self._ahead.before is not None
            resume = token_at(self._ahead.before) or AT_END
        elif self._walker is not None and self._statuses is not None:
            resume = token_at(self._walker.checkpoint()) or AT_END
        else:
            resume = self._resume
        return CursorState(resume, tuple(item.key for item in self._held), self._mounts_after)
