"""Paged listings: pages of at most ``limit`` entries, each resumable from an opaque token.

A directory lists its mount points first (a mount below it, or a directory on the way to one),
then the store's entries in the store's own pages. Stores do not agree on order (S3 sorts a
folder by its key ``a/``, after ``a-b``; SeaweedFS by its name ``a``, before ``a-b``), so a
position is never "after this name": it is the store's own token for the page being read plus
the last entry given from it. Resuming reads that page again and skips what was given, so pages
never overlap or skip, and a listing taken while files are added still gives every file that
existed throughout. Nothing is held between pages: a server's memory does not depend on the
directory's size. Within a page, entries come by name.

A page is filled from whole store pages while the next one surely fits (``limit``/1,000 store
pages), so no store page is fetched and thrown away; a page may hold fewer than ``limit``
entries with more to come. ``next`` is null on the last page.

A recursive listing's token holds one position per directory it is inside. It comes back from
the client, so the file system checks again that the caller may descend into each of them.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from tierstore.errors import StoreError
from tierstore.storage.interface import ListPage, ObjectInfo, Store

if TYPE_CHECKING:
    from tierstore.namespace.filesystem import FileStatus

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
# S3's own largest page (MaxKeys): one store request never asks for more.
STORE_PAGE = 1000
# A token is a handful of positions; anything far larger did not come from a listing.
MAX_TOKEN_CHARS = 16_384


class Position(NamedTuple):
    """Where one directory's listing stands.

    ``phase`` "mounts": among the mount points, ``last`` the last one given. ``phase`` "store":
    in the store page of ``size`` entries fetched with ``resume`` (``None``: the first page),
    ``last`` the last key given from it (``None``: none yet). The size is kept so that the page
    read again is the same page.
    """

    phase: Literal["mounts", "store", "done"]
    resume: str | None = None
    last: str | None = None
    size: int = 0


START = Position("mounts")


class Listed(NamedTuple):
    """One entry of a directory level, with where that level stands once it is given
    (``None``: nothing follows it in the directory)."""

    key: str  # relative to the directory; a sub-directory's ends in "/"
    status: FileStatus
    after: Position | None


class StoreItem(NamedTuple):
    key: str
    info: ObjectInfo | None  # None for a sub-directory
    after: Position | None


def by_name(key: str) -> tuple[str, bool]:
    """The order within a page: by name, a directory before a file whose name extends it."""
    return key.rstrip("/"), key.endswith("/")


def check_limit(limit: int, path: str) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise StoreError(
            f"ls {path}: limit {limit} is out of range: use 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})",
            key=path,
        )
    return limit


# -- tokens --------------------------------------------------------------------------------------

# (directory relative to the listed one, its position; None once it has nothing more)
Levels = list[tuple[str, Position | None]]


def encode_token(levels: Levels) -> str:
    document = [
        [directory, *(("done", None, None, 0) if at is None else (at.phase, at.resume, at.last, at.size))]
        for directory, at in levels
    ]
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str, path: str, *, recursive: bool) -> Levels:
    """The positions ``token`` stands for; a clear error when it is not one a listing gave."""
    problem = (
        f"ls {path}: after={token[:40]!r} is not a token from a listing of {path}; start again without it"
    )
    if len(token) > MAX_TOKEN_CHARS:
        raise StoreError(problem, key=path)
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
        levels = [_level(item) for item in document]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise StoreError(problem, key=path) from None
    if not levels or levels[0][0] != "" or (not recursive and len(levels) > 1):
        raise StoreError(problem, key=path)
    for (above, _), (below, _) in itertools.pairwise(levels):
        # Each level is a sub-directory of the one above it.
        if not below or below.rpartition("/")[0] != above:
            raise StoreError(problem, key=path)
    return levels


def _level(item: object) -> tuple[str, Position | None]:
    if not isinstance(item, list) or len(item) != 5:
        raise ValueError("a level is [directory, phase, resume, last, size]")
    directory, phase, resume, last, size = item
    if not isinstance(size, int) or not 0 <= size <= STORE_PAGE:
        raise ValueError("bad size")
    if not isinstance(directory, str) or phase not in ("mounts", "store", "done"):
        raise ValueError("bad level")
    if directory and any(part in ("", ".", "..") for part in directory.split("/")):
        raise ValueError("bad directory")
    for value in (resume, last):
        if value is not None and not isinstance(value, str):
            raise ValueError("bad position")
    if isinstance(last, str) and any(part in (".", "..") for part in last.rstrip("/").split("/")):
        raise ValueError("bad key")
    return directory, None if phase == "done" else Position(phase, resume, last, size)


# -- one directory's entries from its store --------------------------------------------------------


def store_items(
    store: Store, base: str, position: Position, limit: int, *, etags: bool = False
) -> list[StoreItem]:
    """Up to ``limit`` entries of the directory at ``base`` (a key ending in ``/``, or ``""``)
    from ``position`` on (a "store" position), each with the position after it; ``etags``: with
    each file's ETag (see ``Store.list_pages``)."""
    # Never a page of one: SeaweedFS answers max-keys=1 with the directory's own marker and
    # IsTruncated false, so a one-entry page of a directory with a marker came back empty
    # (measured with 4.48; at 2 and more it pages right). The page is cut to the limit below.
    page_size = max(2, min(STORE_PAGE, limit))
    resume, skip_to = position.resume, position.last
    items: list[StoreItem] = []
    for page, size in _pages(store, base, position, page_size, etags):
        found: list[tuple[str, ObjectInfo | None]] = [(info.key[len(base) :], info) for info in page.objects]
        found.extend((prefix[len(base) :], None) for prefix in page.prefixes)
        # A marker inside is not an entry; nor is anything up to where the last call stopped.
        keys = sorted(
            (entry for entry in found if entry[0] and not (entry[1] is not None and entry[0].endswith("/"))),
            key=lambda entry: by_name(entry[0]),
        )
        if skip_to is not None:
            keys = [entry for entry in keys if by_name(entry[0]) > by_name(skip_to)]
            skip_to = None
        for number, (key, info) in enumerate(keys):
            if number < len(keys) - 1:
                after: Position | None = Position("store", resume, key, size)
            else:
                after = Position("store", page.resume) if page.resume else None
            items.append(StoreItem(key, info, after))
        resume = page.resume
        if resume is None or len(items) + page_size > limit:
            break
    return items[:limit]


def _pages(
    store: Store, base: str, position: Position, page_size: int, etags: bool
) -> Iterator[tuple[ListPage, int]]:
    """The store's pages from ``position``, each with the size it was asked for: the page being
    read again in the size it had, the ones after it in ``page_size``."""
    first_size = position.size if position.last is not None and position.size else page_size
    pages = store.list_pages(base, delimiter="/", page_size=first_size, resume=position.resume, etags=etags)
    if first_size == page_size:
        yield from ((page, page_size) for page in pages)
        return
    first = next(iter(pages), None)
    if first is None:
        return
    yield first, first_size
    if first.resume is not None:
        rest = store.list_pages(base, delimiter="/", page_size=page_size, resume=first.resume, etags=etags)
        yield from ((page, page_size) for page in rest)


# -- one page over the levels ----------------------------------------------------------------------

# What a walker asks for: up to ``limit`` entries of a directory (relative to the listed one)
# from a position.
Fetch = Callable[[str, Position, int], list[Listed]]


@dataclass
class _Level:
    directory: str  # relative to the listed directory, "" for itself
    position: Position | None  # None: the directory is done
    items: deque[Listed] = field(default_factory=deque)


class PageWalker:
    """Gives one page's entries as they are fetched, directory by directory.

    Each directory is asked for at most what the page still has room for, so nothing fetched is
    thrown away on a plain listing; a recursive one descends, depth first, where ``may_descend``
    allows. After the iteration, :attr:`next` is the token for the next page, or ``None``.
    """

    def __init__(
        self,
        fetch: Fetch,
        may_descend: Callable[[FileStatus], bool],
        *,
        limit: int,
        recursive: bool,
        resume: Levels | None = None,
    ) -> None:
        self._fetch = fetch
        self._may_descend = may_descend
        self._budget = limit
        self._recursive = recursive
        self._stack = [_Level(directory, position) for directory, position in (resume or [("", START)])]
        self._fetched: list[list[Listed]] = []
        self._given = 0

    def __iter__(self) -> Iterator[FileStatus]:
        while self._budget > 0 and self._stack:
            level = self._stack[-1]
            if not level.items:
                if level.position is None:
                    self._stack.pop()
                    continue
                items = self._fetch(level.directory, level.position, min(STORE_PAGE, self._budget))
                self._fetched.append(items)
                if not items:
                    level.position = None
                level.items = deque(items)
                continue
            listed = level.items.popleft()
            level.position = listed.after
            self._budget -= 1
            self._given += 1
            yield listed.status
            if self._recursive and listed.status.is_dir and self._may_descend(listed.status):
                below = f"{level.directory}/{listed.key}" if level.directory else listed.key
                self._stack.append(_Level(below.rstrip("/"), START))

    @property
    def source(self) -> object | None:
        """After the iteration: the one fetched list the whole page came from, when it did (a
        cached first page hands out the same list while cached, so its encoding can be reused)."""
        if len(self._fetched) != 1 or self._recursive or self._given != len(self._fetched[0]):
            return None
        return self._fetched[0]

    def checkpoint(self) -> Levels:
        """Where the iteration stands now, between two entries: :func:`token_at` makes it the
        token of a listing that goes on with the entry after the last one given (a reader that
        looks ahead keeps the checkpoint from before the entry it has not used yet)."""
        return [(level.directory, level.position) for level in self._stack]

    @property
    def next(self) -> str | None:
        return token_at(self.checkpoint())


def token_at(levels: Levels) -> str | None:
    """The token for going on from ``levels`` (a :meth:`PageWalker.checkpoint`); None when
    nothing follows."""
    levels = list(levels)
    while levels and levels[-1][1] is None:
        levels.pop()  # finished innermost directories; an outer one may still go on
    return encode_token(levels) if levels else None
