"""File-system operations over the mount table: the Python API behind ``tierstore fs``.

Paths resolve to the mount with the longest matching prefix. Directories are prefixes, with
zero-byte ``/`` markers for empty ones. Copies and moves stream chunk by chunk, also across
mounts, so memory stays bounded whatever the file size. Owner, group and mode come from the
mount (derived from its bucket ACL) unless chmod/chown/chgrp set them, which are kept in
tierstore's metadata and never sent to the store.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tierstore.blocking import NeedsIO, memory_only, on_thread, require_io
from tierstore.errors import AccessDeniedError, ConflictError, InvalidArgumentError, NotFoundError, StoreError
from tierstore.lru import BoundedLRU
from tierstore.namespace import paths, tree, usage
from tierstore.namespace.access import (
    Attributes,
    ancestry,
    attributes_below,
    check_in_directory,
    check_parent,
    check_readonly,
    check_search,
    check_search_above,
    check_sticky,
    lineage,
    merged,
    of_mount,
)
from tierstore.namespace.batch import TreeProgress, tree_progress
from tierstore.namespace.cache import HEAD, LISTING, LISTING_WITH_ETAGS, NAMES, CacheStats, MetadataCache
from tierstore.namespace.listing import (
    DEFAULT_LIMIT,
    START,
    STORE_PAGE,
    Levels,
    Listed,
    PageWalker,
    Position,
    StoreItem,
    by_name,
    check_limit,
    decode_token,
    store_items,
)
from tierstore.namespace.metadata import MountRecord
from tierstore.namespace.mounts import MountTable, path_error, resolve_in
from tierstore.namespace.permissions import Caller, parse_mode
from tierstore.namespace.read_ahead import ReadAhead
from tierstore.storage.interface import (
    Kind,
    ObjectAttributes,
    ObjectInfo,
    OpenedRead,
    PartSpan,
    PutResult,
    Store,
    WriteCondition,
)

# Streaming copies and reads move this much at a time; the writer gathers it into parts.
CHUNK = 2 * 1024 * 1024
# What a named user creates gets 0666 (files) or 0777 (directories) less these bits, as with
# HDFS's and Alluxio's default umask of 022.
UMASK = 0o022
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
    # The store's entity tag for a file, when the store gave one (not in as_dict: S3's business).
    etag: str | None = None

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


@dataclass(frozen=True)
class PreparedWrite:
    """A file write whose checks passed (:meth:`FileSystem.prepare_write_async`): where it goes
    and what the path held then."""

    target: _Target
    existing: Kind | None


@dataclass(frozen=True)
class UploadTarget:
    """Where a file written part by part goes (see :meth:`FileSystem.upload_target`): its store
    and key there, and what the path held when the caller's permission was checked."""

    path: str
    mount: str
    store: Store
    key: str
    existing: Kind | None


class FileSystem:
    def __init__(
        self,
        table: MountTable,
        *,
        caller: Caller | None = None,
        cache_ttl: float | None = None,
        cache_max_entries: int | None = None,
        names_limit: int | None = None,
        cached_heads: bool = False,
    ) -> None:
        self.table = table
        self.caller = caller
        # Whether the S3 gateway's HEAD may be answered from the cache (object_info_async): only
        # where every write through tierstore goes through this process, which then drops what
        # it changed (a server of one worker on an embedded namespace).
        self.cached_heads = cached_heads
        config = table.config
        # Files a tree operation (cp -r, mv, rm -r, du) works on at once, unless it is told.
        self.concurrency = config.fs_concurrency
        self._read_ahead = ReadAhead()
        # Whether listings give each file's ETag (see with_etags).
        self._etags = False
        self._cache = MetadataCache(
            config.cache_ttl_seconds if cache_ttl is None else cache_ttl,
            config.cache_max_entries if cache_max_entries is None else cache_max_entries,
        )
        # Directories of at most this many entries have their names kept (see _names_around).
        self.names_limit = NAMES_LIMIT if names_limit is None else names_limit
        # Directories found to hold more than names_limit entries -> until when that is trusted.
        # Kept apart from the cache: a store fact that no chmod or chown changes (the cache's
        # entries are stamped with the attributes' generation).
        self._crowded: BoundedLRU[str, float] = BoundedLRU(MAX_CROWDED)

    @property
    def _never_refused(self) -> bool:
        """No caller (tierstore itself) or the superuser: no bits are judged (``check_access``
        never refuses them), so the checks build no chain of attributes for them."""
        return self.caller is None or self.caller.superuser

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    def cache_stats(self) -> CacheStats:
        """The metadata cache's counters (shared by every :meth:`as_caller` view)."""
        return self._cache.stats()

    @property
    def read_ahead_pages(self) -> int:
        """Listing pages answered from a store page fetched ahead."""
        return self._read_ahead.used

    def _stamp(self) -> tuple[int, int]:
        """What cached stats and listings were derived from: the mounts' generation and the
        attributes' (``inherited_generation``: a new file's own record, which the write that made
        it drops from the cache itself, leaves the other paths' entries standing)."""
        metadata = self.table.metadata
        return metadata.generation("mounts"), metadata.inherited_generation()

    def publish_changes(self, tell: Callable[[str], None]) -> None:
        """Tell ``tell`` each path the cache drops for a change made through this file system (and
        its views), for servers sharing the namespace (``tierstore.namespace.change_notices``)."""
        self._cache.publish = tell

    def changed_elsewhere(self, paths: list[str] | None) -> None:
        """Another server changed ``paths`` (None: anything may have): the cache drops them."""
        self._cache.changed_elsewhere(paths)

    def as_caller(self, caller: Caller | None) -> FileSystem:
        """The same namespace over the same cache, acting for ``caller``.

        The cache holds what the stores say, never a permission decision (each view checks its
        own caller first), so one cache can serve every user of a server.
        """
        view = copy.copy(self)
        view.caller = caller
        return view

    def with_etags(self) -> FileSystem:
        """The same view, whose listings also give each file's ETag (``FileStatus.etag``). A local
        directory reads it per file (an extended attribute: about as much again as the listing),
        so only readers that show ETags ask: the S3 gateway. Its cached first pages are its own."""
        view = copy.copy(self)
        view._etags = True
        return view

    # -- resolution and attributes -------------------------------------------------------

    def _target(
        self, path: str, *, creating: bool = False, records: list[MountRecord] | None = None
    ) -> _Target:
        """Where ``path`` lives; ``creating`` also refuses names tierstore never makes.
        ``records``: the mount table as the caller just read it (else it is read here)."""
        try:
            path = paths.normalize(path)
            mount, key = resolve_in(self.table.records() if records is None else records, path)
            if creating:
                paths.check_creatable(path)
        except paths.PathError as error:
            raise path_error(error, path) from None
        return _Target(path, mount, self.table.store_for(mount), key)

    def _attributes(self, path: str) -> Attributes:
        return lineage(self.table, path)[-1]

    def _search(self, path: str) -> list[Attributes]:
        """The attributes from ``/`` down to ``path``, once the caller may search every ancestor."""
        chain = lineage(self.table, path)
        check_search(self.caller, chain)
        return chain

    def _check(
        self,
        path: str,
        mount: MountRecord,
        want: Literal["read", "write", "execute"],
        searched: list[Attributes] | None = None,
    ) -> None:
        """Search on every ancestor, then ``want`` on ``path`` itself. ``searched``: the path's
        chain as :meth:`_search` just gave it to the caller (the lineage is then not built again)."""
        if want == "write":
            check_readonly(mount, path)
        if self._never_refused:
            return  # no bits to judge, so no chain to build
        chain = searched if searched is not None else self._search(path)
        chain[-1].check(self.caller, want)

    def _check_entry_change(
        self, target: _Target, verb: str, searched: list[Attributes] | None = None
    ) -> list[Attributes]:
        """Creating or removing an entry goes by its directory: search and write on it (sticky too).

        Checked before anything is looked up in the store, so a refusal says nothing about
        whether the entry exists. ``searched`` as :meth:`_check` takes it.
        """
        check_readonly(target.mount, target.path, verb)
        chain = searched if searched is not None else self._search(target.path)
        check_parent(self.caller, chain, verb)
        return chain

    def _check_write_here(
        self,
        target: _Target,
        kind: Kind | None,
        searched: list[Attributes] | None = None,
        *,
        above: list[Attributes] | None = None,
    ) -> None:
        """Replacing a file needs its write bit; creating one, write and search on its directory.

        ``kind`` is what the caller already found at ``target``, so no second HEAD is sent;
        ``searched`` as :meth:`_check` takes it, ``above`` as :meth:`_search_above` gave it. A
        new file is judged by its directory's chain alone (:func:`ancestry`): its own
        attributes, which it has none of yet, are not looked up.
        """
        if kind == "file":
            self._check(target.path, target.mount, "write", searched)
            return
        if searched is not None:
            self._check_entry_change(target, "write", searched)
            return
        check_readonly(target.mount, target.path, "write")
        self._check_create(target.path, above if above is not None else self._search_above(target.path))

    def _search_above(self, path: str) -> list[Attributes]:
        """``path``'s ancestors' chain (:func:`ancestry`; empty for an admin, who needs none),
        once the caller may search every one of them."""
        if self._never_refused:
            return []
        above = ancestry(self.table, path)
        check_search_above(self.caller, above, path)
        return above

    def _check_create(self, path: str, above: list[Attributes]) -> None:
        """Write and search on the directory ``above`` ends with (:meth:`_search_above`)."""
        if self.caller is not None and above:
            check_in_directory(self.caller, above[-1], path, "write")

    def _is_mount_point(self, path: str) -> bool:
        return any(record.path == path for record in self.table.records())

    def _kind(self, target: _Target, *, sync: bool = False) -> Kind | None:
        return self._kind_found(target, sync=sync)[0]

    def _kind_found(
        self, target: _Target, *, sync: bool = False, head_first: bool = False
    ) -> tuple[Kind | None, ObjectInfo | None]:
        """What is at ``target``, and for a file the store's answer when it was asked now (None
        when the kind came from the cache), so that a status needs no second HEAD.

        ``head_first``: for a status, which mostly asks of files that exist: a HEAD answers
        those with less work than the one listing ``Store.kind`` sends on S3 (a third of its
        CPU, measured); only a key the HEAD does not find is asked what it is."""
        # A mount point, or an ancestor of one, is a directory whatever its store holds.
        if any(paths.is_within(record.path, target.path) for record in self.table.records()):
            return "dir", None
        stamp, ticket = self._stamp(), self._cache.ticket()
        cached = None if sync else self._cache.get("kind", target.path, stamp)
        if cached is not None:
            return cached, None  # type: ignore[return-value]
        if not sync and not head_first:
            names = self._names_around(target)
            if names is not None:
                return names.get(paths.name_of(target.path)), None
        found: tuple[Kind, ObjectInfo | None] | None = None
        if head_first and target.key:
            with contextlib.suppress(NotFoundError):
                found = ("file", target.store.head(target.key))
        if found is None:
            found = target.store.kind(target.key)
        if found is None:
            return None, None
        kind, info = found
        self._cache.put("kind", target.path, kind, stamp, since=ticket)
        return kind, info if kind == "file" else None

    def _names_around(self, target: _Target) -> dict[str, Kind] | None:
        """The names of ``target``'s directory, whole, when it holds at most ``names_limit``
        entries: the first time, its listing pages (a write of a new file then costs no listing
        of its own: ``Store.kind`` asked the store per name); then kept for the cache's
        ttl and brought up to date by this server's own writes (``MetadataCache.file_written``).
        None for a directory with more entries, remembered as such for as long."""
        if target.key == "" or not target.store.kinds_are_requests or not self._cache.enabled:
            # A mount point (its directory is another mount's), a local directory (a stat is
            # cheaper than its listing), or no cache to keep them in.
            return None
        directory, stamp = paths.parent(target.path), self._stamp()
        crowded_until = self._crowded.get(directory)
        if crowded_until is not None and crowded_until > time.monotonic():
            return None
        cached = self._cache.get(NAMES, directory, stamp)
        if isinstance(cached, dict):
            return cached
        require_io(f"listing {directory}")  # before the fill lock, as _dir_page
        with self._cache.filling(NAMES, directory):
            cached = self._cache.get(NAMES, directory, stamp)
            if isinstance(cached, dict):
                return cached
            ticket = self._cache.ticket()
            names = _names_in(target.store, target.key.rpartition("/")[0], self.names_limit)
            if names is None:
                self._crowded.put(directory, time.monotonic() + self._cache.ttl)
                return None
            self._cache.put(NAMES, directory, names, stamp, weight=max(1, len(names)), since=ticket)
            return names

    # -- reading -------------------------------------------------------------------------

    def holds_directory(self, path: str) -> bool:
        """Whether the cache holds ``path`` (normalized) as a directory now: a shortcut past
        :meth:`stat` for a caller about to be checked on a path below it, which asks search on
        every ancestor of ``path`` too, all that a stat of it asks. Nothing is asked of the
        store or the database; False says only that the cache does not know."""
        cached = self._cache.get("stat", path, self._stamp())
        return isinstance(cached, FileStatus) and cached.is_dir

    def stat(self, path: str, *, sync: bool = False) -> FileStatus:
        """A path's status: as in POSIX, the caller needs search on every ancestor, not read on it."""
        target = self._target(path)
        here = self._search(target.path)[-1] if self.caller is not None else None
        stamp, ticket = self._stamp(), self._cache.ticket()
        cached = None if sync else self._cache.get("stat", target.path, stamp)
        if isinstance(cached, FileStatus):
            return cached
        if sync:  # the caller says the path may have changed (a client's own direct write)
            self._cache.drop(HEAD, target.path)
        status = self._status(target, sync=sync, here=here)
        self._cache.put("stat", target.path, status, stamp, since=ticket)
        return status

    def _status(
        self, target: _Target, *, sync: bool, here: Attributes | None = None, made: Kind | None = None
    ) -> FileStatus:
        """``here``: the path's attributes when the caller already has them (one query saved).
        ``made``: what the caller just made there. A file just written is asked only its size and
        time (a HEAD, where asking what the key is takes a listing on S3); a directory just made
        needs nothing from the store (its status holds no size or time)."""
        found = here or self._attributes(target.path)
        owner, group, mode = found.owner, found.group, found.mode
        kind, info = (made, None) if made else self._kind_found(target, sync=sync, head_first=True)
        if kind == "dir" or target.key == "":
            return FileStatus(target.path, True, 0, None, owner, group, mode, target.mount.path)
        try:
            if kind is None:  # the store was asked just now: nothing is there
                raise NotFoundError(target.path)
            if info is None:  # a file by the cache: its size and time are the store's to say
                info = target.store.head(target.key)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file or directory", key=target.path) from None
        return FileStatus(
            target.path,
            False,
            info.size,
            info.last_modified,
            owner,
            group,
            mode,
            target.mount.path,
            info.etag,
        )

    def ls(self, path: str, *, recursive: bool = False, sync: bool = False) -> list[FileStatus]:
        """Every entry of a directory (read and search on it), following the pages; see
        :meth:`iter_ls`. ``recursive`` descends only where the caller may read and search, and
        skips the rest, as ``find`` does."""
        return list(self.iter_ls(path, recursive=recursive, sync=sync))

    def iter_ls(
        self, path: str, *, recursive: bool = False, sync: bool = False, page_size: int = DEFAULT_LIMIT
    ) -> Iterator[FileStatus]:
        """The entries page by page, each yielded as it comes from the store."""
        after: str | None = None
        while True:
            page = self.ls_page(path, limit=page_size, after=after, recursive=recursive, sync=sync)
            yield from page
            if page.next is None:
                return
            after = page.next

    def ls_page(
        self,
        path: str,
        *,
        limit: int = DEFAULT_LIMIT,
        after: str | None = None,
        recursive: bool = False,
        sync: bool = False,
    ) -> PageWalker:
        """One page of at most ``limit`` entries from the token ``after`` (see
        :mod:`tierstore.namespace.listing`): iterate it, then ``next`` is the next page's token.

        The caller's permissions are checked before any entry is given; a listing of a file is
        the file's own status. A later page (``after``) is known to be of a directory and is not
        stat'ed again: the caller's search and read bits are checked from the namespace alone.
        """
        target = self._target(path)
        root = target.path
        check_limit(limit, root)
        first: list[Listed] | None = None
        if after:
            self._check(root, target.mount, "read")
        else:
            status, first = self._listing_status(target, limit, sync)
            if not status.is_dir:
                own = [Listed(status.name, status, None)]
                return PageWalker(lambda *_: own, _never, limit=limit, recursive=False)
            if self.caller is not None:
                self._check(root, target.mount, "read")

        def fetch(directory: str, position: Position, size: int) -> list[Listed]:
            nonlocal first
            if first is not None and not directory and position == START:
                items, first = first, None
                return items
            return self._dir_page(paths.join(root, directory) if directory else root, position, size, sync)

        resume = None
        if after:
            resume = self._resume_at(root, decode_token(after, root, recursive=recursive), sync)
        return PageWalker(fetch, self._may_descend, limit=limit, recursive=recursive, resume=resume)

    def _listing_status(
        self, target: _Target, limit: int, sync: bool
    ) -> tuple[FileStatus, list[Listed] | None]:
        """What is listed, and the directory's first page when fetching it told that.

        A stat of a directory costs a HEAD and a LIST; a directory's first page, which the listing
        needs anyway, says the same when it holds anything. So a path not known from the cache
        is listed first, and stat'ed only when the page comes back empty (a file, an empty
        directory, or nothing). Search on every ancestor is checked before either.
        """
        chain = self._search(target.path) if self.caller is not None else None
        stamp, ticket = self._stamp(), self._cache.ticket()
        cached = None if sync else self._cache.get("stat", target.path, stamp)
        if isinstance(cached, FileStatus):
            return cached, None
        first = self._dir_page(target.path, START, min(STORE_PAGE, limit), sync)
        if not first:
            return self.stat(target.path, sync=sync), []
        found = chain[-1] if chain is not None else self._attributes(target.path)
        mount = target.mount.path
        status = FileStatus(target.path, True, 0, None, found.owner, found.group, found.mode, mount)
        self._cache.put("stat", target.path, status, stamp, since=ticket)
        return status, first

    def _resume_at(self, root: str, levels: Levels, sync: bool) -> Levels:
        """The levels of a token, down to the first directory the caller may not descend into.

        A token comes back from the client: every directory it leads into must still be one the
        caller may descend into (a crafted token never opens a directory a recursive listing
        would have skipped); the listing goes on in the directory above it instead.
        """
        for depth, (directory, _) in enumerate(levels[1:], start=1):
            try:
                here: FileStatus | None = self.stat(paths.join(root, directory), sync=sync)
            except (NotFoundError, AccessDeniedError):
                here = None
            if here is None or not here.is_dir or not self._may_descend(here):
                return levels[:depth]
        return levels

    def _may_descend(self, entry: FileStatus) -> bool:
        caller = self.caller
        if caller is None or caller.superuser:
            return True
        here = Attributes(entry.path, entry.owner, entry.group, entry.mode)
        return here.allows(caller, "read") and here.allows(caller, "execute")

    def _dir_page(self, path: str, position: Position, limit: int, sync: bool) -> list[Listed]:
        """Up to ``limit`` entries of one directory from ``position``.

        A directory's first page is cached (and filled once for concurrent misses); later pages
        come from it while it holds the directory whole, else from the store, so the cache holds
        one page per directory at most.
        """
        kind = self._listing_kind
        if position != START:
            # An S3 listing resumes each open directory from its token, page after page: a
            # directory whose first page held it whole is not listed again for each.
            cached = None if sync else self._cache.get(kind, path, self._stamp())
            rest = cached.after(position, limit) if isinstance(cached, _FirstPage) else None
            if rest is not None:
                return rest
            require_io(f"listing {path}")
            return self._fill_page(path, position, limit)
        stamp = self._stamp()
        cached = None if sync else self._cache.get(kind, path, stamp)
        if isinstance(cached, _FirstPage) and cached.covers(limit):
            return cached.cut(limit)
        # Before the fill lock: on the event loop, waiting for another thread's listing blocks too.
        require_io(f"listing {path}")
        with self._cache.filling(kind, path):
            cached = None if sync else self._cache.get(kind, path, stamp)
            if isinstance(cached, _FirstPage) and cached.covers(limit):
                return cached.cut(limit)
            ticket = self._cache.ticket()
            items = self._fill_page(path, position, limit)
            self._cache.put(kind, path, _FirstPage(items), stamp, weight=max(1, len(items)), since=ticket)
            return items

    @property
    def _listing_kind(self) -> str:
        return LISTING_WITH_ETAGS if self._etags else LISTING

    @property
    def keeps_listings(self) -> bool:
        """Whether directories' first pages are kept (the cache is on): a walk may then read a
        whole store page where it needs a few entries, and resume in it from memory."""
        return self._cache.enabled

    def warm_listing(self, path: str) -> None:
        """Reads the directory ``path``'s first page into the cache in the background, for a walk
        that goes into it next (the S3 gateway's listing, one sibling directory ahead, so that
        the store's time for it overlaps the work on the directory before). Nothing is checked
        or given here: the walk checks the caller's permissions when it goes in."""
        if not self.keeps_listings or self._cache.get(self._listing_kind, path, self._stamp()) is not None:
            return
        self._read_ahead.warm(lambda: self._dir_page(path, START, STORE_PAGE, False))

    def _fill_page(self, path: str, position: Position, limit: int) -> list[Listed]:
        target = self._target(path)
        attributes = self.table.metadata.attributes_under(path)
        inherited = self._attributes(path)
        mount = target.mount.path
        listed: list[Listed] = []
        # A mount point below, or a directory on the way to one, is a directory here whatever
        # this store holds: they come first, and hide a store entry of the same name.
        points: dict[str, MountRecord] = {}
        for record in self.table.children_of(path):
            points.setdefault(paths.relative(record.path, path).split("/")[0], record)
        if position.phase == "mounts":
            names = sorted(points, key=lambda name: by_name(f"{name}/"))
            if position.last is not None:
                names = [name for name in names if by_name(f"{name}/") > by_name(position.last)]
            for number, name in enumerate(names[:limit]):
                record, child = points[name], paths.join(path, name)
                # A mount point starts from its own mount's attributes, as in lineage().
                above = of_mount(record) if child == record.path else inherited
                owner, group, mode = _fields(merged(child, attributes.get(child), above))
                where = record.path if child == record.path else mount
                status = FileStatus(child, True, 0, None, owner, group, mode, where)
                last = number == len(names) - 1
                after = Position("store") if last else Position("mounts", last=f"{name}/")
                listed.append(Listed(f"{name}/", status, after))
            if len(listed) >= limit:
                return listed
            position = Position("store")
        base = f"{target.key}/" if target.key else ""
        # Most directories have no attributes of their own below them: every entry then shows
        # the directory's (merging per entry is a third of a large listing's time otherwise).
        plain = _fields(inherited)
        items = self._store_page(path, target.store, base, position, limit - len(listed))
        # A store entry hidden by a mount point is not given; when all a fetch found was hidden,
        # what follows it is fetched now: an empty page would end the listing there.
        while not listed and items and all(item.key.rstrip("/") in points for item in items):
            following = items[-1].after
            if following is None:
                return listed
            items = self._store_page(path, target.store, base, following, limit)
        for item in items:
            name = item.key.rstrip("/")
            if name in points:
                continue
            child = paths.child(path, name)
            owner, group, mode = (
                _fields(merged(child, attributes.get(child), inherited)) if attributes else plain
            )
            info = item.info
            if info is None:
                status = FileStatus(child, True, 0, None, owner, group, mode, mount)
            else:
                status = FileStatus(
                    child, False, info.size, info.last_modified, owner, group, mode, mount, info.etag
                )
            listed.append(Listed(item.key, status, item.after))
        return listed

    def _store_page(
        self, path: str, store: Store, base: str, position: Position, limit: int
    ) -> list[StoreItem]:
        """The store's entries from ``position``: fetched ahead when the previous page was sent
        (see :mod:`tierstore.namespace.read_ahead`), and the page after them set on its way."""
        items = None
        etags = self._etags
        if position.phase == "store" and position.resume is not None and position.last is None:
            items = self._read_ahead.take((path, position.resume, limit, etags))
        if items is None:
            items = store_items(store, base, position, limit, etags=etags)
        following = items[-1].after if items else None
        if following is not None and following.resume is not None and following.last is None:
            ahead = following
            self._read_ahead.start(
                (path, ahead.resume or "", limit, etags),
                lambda: store_items(store, base, ahead, limit, etags=etags),
            )
        return items

    def check_read(self, path: str) -> None:
        """Raise unless the caller may read ``path`` (search on its ancestors, read on it)."""
        target = self._target(path)
        self._check(target.path, target.mount, "read")

    def check_listable(self, path: str) -> None:
        """Raise unless the caller may list ``path`` and look at what it holds, as ``ls -l`` and
        ``find`` need: search on every ancestor, read and search on it (from the namespace's
        attributes alone: nothing is asked of the store)."""
        target = self._target(path)
        if self.caller is None:
            return
        here = self._search(target.path)[-1]
        here.check(self.caller, "read")
        here.check(self.caller, "execute")

    def check_writable(self, path: str) -> None:
        """Raise unless the caller may create or replace the file at ``path`` (as a write would)."""
        target = self._target(path, creating=True)
        check_readonly(target.mount, target.path)
        self._search(target.path)
        self._check_write_here(target, self._kind(target))

    def upload_target(self, path: str, *, staged_only: bool = False, sync: bool = False) -> UploadTarget:
        """Where a multipart upload of the file ``path`` lives, once the caller may write that file:
        checked as :meth:`write` checks it (not a mount point, a writable mount, search on every
        ancestor, not a directory, write on the file or, for a new one, write and search on its
        directory), before anything is sent to the store.

        ``staged_only``: for calls that touch only the upload's parts, never the file (abort, list
        parts): a mount made read-only, or a directory made at the path, since the upload began
        does not refuse them, so such an upload can still be dropped. ``sync``: what is at the
        path is asked of the store, not the cache (a completion records the creator of a new file).
        """
        target = self._target(path, creating=True)
        if target.key == "":
            raise StoreError(f"{target.path}: is a directory (a mount point)", key=target.path)
        if not staged_only:
            check_readonly(target.mount, target.path)
        chain = self._search(target.path) if self.caller is not None else []
        existing = self._kind(target, sync=sync)
        if existing == "dir" and not staged_only:
            raise StoreError(f"{target.path}: is a directory", key=target.path)
        # _check_write_here's checks, less its read-only refusal (decided above).
        if self.caller is not None:
            if existing == "file":
                chain[-1].check(self.caller, "write")
            else:
                check_parent(self.caller, chain, "write")
        return UploadTarget(target.path, target.mount.path, target.store, target.key, existing)

    def upload_completed(self, target: UploadTarget) -> FileStatus:
        """What :meth:`write` does once its file is in place, for a file a multipart upload made:
        a new file is the caller's (:meth:`_record_creator`), and the cache forgets the path."""
        if target.existing is None:
            self._record_creator(target.path, is_dir=False)
        self._cache.changed(target.path)
        return self._status(self._target(target.path), sync=True, made="file")

    def forget_cached(self, path: str) -> None:
        """The cache forgets ``path``: after a change made beside this view whose outcome is not
        known (a completion whose answer was lost may have made the file)."""
        self._cache.changed(path)

    def read(self, path: str, *, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk. The caller's read bit and the path's kind are checked
        here, when called, not at the first chunk: an answer whose headers went out never fails
        its body on a check that a chmod landing in between turned around."""
        target = self._target(path)
        self._check(target.path, target.mount, "read")
        if self._kind(target) == "dir":
            raise StoreError(f"{target.path}: is a directory", key=target.path)
        return self._chunks(target, chunk_size)

    @staticmethod
    def _chunks(target: _Target, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from target.store.iter_read(target.key, chunk_size=chunk_size)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None

    def du(self, path: str, *, concurrency: int | None = None) -> tuple[int, int]:
        """Total bytes and number of files at or below ``path``, where ``ls -R`` would descend."""
        status = self.stat(path)
        if not status.is_dir:
            return status.size, 1
        if self.caller is not None:
            self._check(status.path, self.table.resolve(status.path)[0], "read")
        return usage.disk_usage(self, status, concurrency or self.concurrency)

    # -- writing -------------------------------------------------------------------------

    def write(
        self,
        path: str,
        chunks: Iterator[bytes] | list[bytes],
        *,
        progress: Progress | None = None,
        attributes: ObjectAttributes | None = None,
        exclusive: bool = False,
    ) -> FileStatus:
        """Write a file from ``chunks`` (nothing of it is visible unless every chunk came), with
        ``attributes`` (content type, user metadata) where its store keeps them.

        ``exclusive``: only create it; ConflictError when the path exists (checked before the
        first chunk is taken, so a refused upload is never read; two racing creators may both
        pass the check, the later write winning, as the stores offer no atomic create here).
        """
        target, _ = self._write(path, chunks, progress=progress, attributes=attributes, exclusive=exclusive)
        return self._status(target, sync=True, made="file")

    def write_object(
        self,
        path: str,
        chunks: Iterator[bytes] | list[bytes],
        *,
        attributes: ObjectAttributes | None = None,
        exclusive: bool = False,
    ) -> str | None:
        """:meth:`write` for a caller that needs only the new file's ETag (the S3 gateway's
        PutObject): the one the store answered the write with, so no HEAD follows it; None when
        the store answered none, or one that its HEAD will not answer (then ask :meth:`stat`)."""
        written = self._write(path, chunks, attributes=attributes, exclusive=exclusive)[1]
        return written.etag if written.etag_kept else None

    def _write(
        self,
        path: str,
        chunks: Iterator[bytes] | list[bytes],
        *,
        progress: Progress | None = None,
        attributes: ObjectAttributes | None = None,
        exclusive: bool = False,
    ) -> tuple[_Target, PutResult]:
        prepared = self._prepare_write(path, exclusive)
        target = prepared.target
        with target.store.open_write(target.key, attributes=attributes) as writer:
            for chunk in chunks:
                writer.write(chunk)
                if progress:
                    progress(len(chunk))
            written = writer.close()  # what the store answered; leaving the block closes no more
        self._file_written(prepared)
        return target, written

    def _prepare_write(self, path: str, exclusive: bool) -> PreparedWrite:
        """Every check of a file write, before a byte of it is read: where it goes, that the
        caller may write there, and what is there now (a directory refuses it; with
        ``exclusive`` anything does)."""
        target = self._target(path, creating=True)
        if target.key == "":
            raise StoreError(f"{target.path}: is a directory (a mount point)", key=target.path)
        check_readonly(target.mount, target.path)
        # Search on every ancestor before the store is asked what is there, so that a refusal
        # tells nothing; the file's own bits only once it is known to exist.
        above = self._search_above(target.path)
        existing = self._kind(target, sync=exclusive)
        if existing == "dir":
            raise StoreError(f"{target.path}: is a directory", key=target.path)
        self._check_write_here(target, existing, above=above)
        if exclusive and existing is not None:
            raise ConflictError(
                f"{target.path}: it exists already and only a new file was asked for", key=target.path
            )
        return PreparedWrite(target, existing)

    def _file_written(self, prepared: PreparedWrite) -> None:
        """After the store took the file: a new one is the caller's, and the cache knows it."""
        path = prepared.target.path
        if prepared.existing is None:
            self._record_creator(path, is_dir=False)
        self._cached_as_written(path)

    async def _file_written_async(self, prepared: PreparedWrite) -> None:
        """:meth:`_file_written` on an event loop: a named user's new file's row is awaited
        (the metadata store writes it on a thread of its own, with the others of that moment),
        the cache's part from memory."""
        path = prepared.target.path
        creator = self._creator(is_dir=False) if prepared.existing is None else None
        if creator is not None:
            owner, group, mode = creator
            await self.table.metadata.record_creation_async(path, owner=owner, group=group, mode=mode)
        try:
            with memory_only():
                self._cached_as_written(path)
        except NeedsIO:
            await on_thread(self._cached_as_written, path)

    def _cached_as_written(self, path: str) -> None:
        stamp = self._stamp()  # after the creator's row, which may have moved the generation
        self._cache.file_written(path, stamp)
        # A file is there now, as the store just said: the next write of it needs no HEAD to know.
        self._cache.put("kind", path, "file", stamp)

    async def prepare_write_async(self, path: str, *, exclusive: bool = False) -> PreparedWrite:
        """:meth:`write_object`'s checks on an event loop, from memory when the namespace's cache
        answers them (on a worker thread when they need the store or the database): for a body
        small enough to be read whole first, which :meth:`write_prepared_async` then writes."""
        try:
            with memory_only():
                return self._prepare_write(path, exclusive)
        except NeedsIO:
            return await on_thread(self._prepare_write, path, exclusive)

    async def write_prepared_async(
        self,
        prepared: PreparedWrite,
        data: bytes,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> str | None:
        """The file checked by :meth:`prepare_write_async` written whole with the store's async
        client (``Store.put_async``); its ETag as :meth:`write_object` answers it. ``condition``:
        judged by the store with the write (ConflictError when it does not hold)."""
        target = prepared.target
        written = await target.store.put_async(target.key, data, attributes=attributes, condition=condition)
        await self._file_written_async(prepared)
        return written.etag if written.etag_kept else None

    def _record_creator(self, path: str, *, is_dir: bool) -> None:
        """What a named user creates is theirs (:meth:`_creator`)."""
        creator = self._creator(is_dir=is_dir)
        if creator is None:
            return
        owner, group, mode = creator
        if is_dir:  # a directory may already have objects below it, which inherit its bits
            self.table.metadata.set_attributes(path, owner=owner, group=group, mode=mode)
        else:
            self.table.metadata.record_creation(path, owner=owner, group=group, mode=mode)

    def _creator(self, *, is_dir: bool) -> tuple[str, str, int] | None:
        """The owner, group and mode of what the caller creates, with the mode the umask leaves
        (0644 or 0755) as on a POSIX file system, never the mode of the directory it was made
        in; None for an admin, whose files show their directory's."""
        if self.caller is None or self.caller.superuser:
            return None
        group = min(self.caller.groups) if self.caller.groups else self.caller.user
        return self.caller.user, group, (0o777 if is_dir else 0o666) & ~UMASK

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
        target = self._target(path, creating=True)
        if self.caller is not None:
            self._search(target.path)  # before anything is looked up: a refusal tells nothing
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
        self._check_entry_change(target, "mkdir")
        target.store.put_directory_marker(target.key)
        self._record_creator(target.path, is_dir=True)
        self._cache.changed(target.path)
        return self._status(target, sync=True, made="dir")

    def remove(
        self,
        path: str,
        *,
        recursive: bool = False,
        concurrency: int | None = None,
        progress: Progress | TreeProgress | None = None,
    ) -> int:
        """Remove a file, or a directory with ``recursive``; returns how many objects went.

        Like unlink(2) and rmdir(2): write and search on the parent decide, and in a sticky
        directory only the entry's owner, the directory's owner or an admin may remove it. A
        directory is removed with everything in it only when the caller could remove each entry
        one by one (read, write and search on every directory inside).
        """
        target = self._target(path)
        if self._is_mount_point(target.path):
            raise StoreError(
                f"rm {target.path}: it is a mount point; use tierstore fs unmount", key=target.path
            )
        chain = self._check_entry_change(target, "rm")
        if self.caller is not None and len(chain) > 1:
            check_sticky(self.caller, chain[-2], chain[-1], "rm")
        if self.table.children_of(target.path):
            raise StoreError(f"rm {target.path}: a mount lies inside it; unmount it first", key=target.path)
        kind = self._kind(target, sync=True)
        if kind is None:
            raise NotFoundError(f"rm {target.path}: no such file or directory", key=target.path)
        if kind == "file":
            target.store.delete(target.key)
            removed = 1
        else:
            if not recursive:
                raise StoreError(f"rm {target.path}: is a directory; use -r", key=target.path)
            self._check_tree_removable(target, chain[-1])
            try:
                removed = tree.remove_tree(
                    target.store,
                    target.key,
                    target.path,
                    concurrency=concurrency or self.concurrency,
                    progress=tree_progress(progress),
                )
            except BaseException:
                self._cache.changed(target.path)  # some of it may be gone
                raise
        self.table.metadata.remove_attributes_under(target.path)
        self._cache.changed(target.path)
        return removed

    def _check_tree_removable(self, target: _Target, top: Attributes) -> None:
        """Every directory of the tree (the top and those with attributes of their own below it,
        the only ones whose bits can differ) must let the caller read, write and search it."""
        caller = self.caller
        if caller is None or caller.superuser:
            return
        directories = [top]
        for here, parent in attributes_below(self.table.metadata, top):
            check_sticky(caller, parent, here, "rm -r")
            if self._kind(self._target(here.path), sync=True) == "dir":
                directories.append(here)
        for directory in directories:
            for want in ("read", "write", "execute"):
                directory.check(caller, want, what=directory.path)

    def copy(
        self,
        source: str,
        dest: str,
        *,
        recursive: bool = False,
        progress: Progress | TreeProgress | None = None,
        concurrency: int | None = None,
    ) -> int:
        """Copy a file, or a directory with ``recursive``, streaming; returns bytes copied.

        A directory's files are copied ``concurrency`` at a time; one that fails does not stop
        the others, and TreeFailedError names each failure once all are done."""
        src = self._target(source)
        if self.caller is not None:
            self._search(src.path)
        kind = self._kind(src, sync=True)
        if kind is None:
            raise NotFoundError(f"cp {src.path}: no such file or directory", key=src.path)
        dst = self._target(dest, creating=True)
        if kind == "file":
            if self._kind(dst, sync=True) == "dir":
                dst = self._target(paths.join(dst.path, paths.name_of(src.path)), creating=True)
            return self._copy_file(src, dst, tree_progress(progress).advance)
        if not recursive:
            raise StoreError(f"cp {src.path}: is a directory; use -r", key=src.path)
        if paths.is_within(dst.path, src.path):
            raise StoreError(f"cp {src.path} {dst.path}: cannot copy a directory into itself", key=dst.path)
        self._check(src.path, src.mount, "read")
        return tree.copy_tree(
            self, src.path, dst.path, tree_progress(progress), concurrency or self.concurrency
        )

    def _copy_file(self, src: _Target, dst: _Target, progress: Progress | None) -> int:
        self._check(src.path, src.mount, "read")
        check_readonly(dst.mount, dst.path)
        existing = self._kind(dst)
        self._check_write_here(dst, existing)
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
        if existing is None:
            self._record_creator(dst.path, is_dir=False)
        self._cache.changed(dst.path)
        return size

    def move(
        self,
        source: str,
        dest: str,
        *,
        progress: Progress | TreeProgress | None = None,
        concurrency: int | None = None,
    ) -> int:
        """Move or rename, as rename(2) decides: write and search on both parents (sticky rules on
        the source's), never the bits of what moves. What moves keeps its owner, group and mode."""
        src = self._target(source)
        if self._is_mount_point(src.path):
            raise StoreError(f"mv {src.path}: it is a mount point", key=src.path)
        chain = self._check_entry_change(src, "mv")
        if self.caller is not None and len(chain) > 1:
            check_sticky(self.caller, chain[-2], chain[-1], "mv")
        kind = self._kind(src, sync=True)
        if kind is None:
            raise NotFoundError(f"mv {src.path}: no such file or directory", key=src.path)
        try:
            dst_path = paths.normalize(dest)
        except paths.PathError as error:
            raise path_error(error, dest) from None
        if self._kind(self._target(dst_path), sync=True) == "dir" and kind == "file":
            dst_path = paths.join(dst_path, paths.name_of(src.path))
        dst = self._target(dst_path, creating=True)
        dst_chain = self._check_entry_change(dst, "mv")
        if self.caller is not None and self._kind(dst, sync=True) is not None and len(dst_chain) > 1:
            check_sticky(self.caller, dst_chain[-2], dst_chain[-1], "mv")
        moving = chain[-1]
        if self.table.children_of(src.path):
            # Found before anything is copied: the removal that ends a move would refuse it.
            raise StoreError(f"mv {src.path}: a mount lies inside it; unmount it first", key=src.path)
        # The copy and removal are the move's own steps, already allowed above: done as the
        # superuser so a file inside that the caller may not read still moves (as rename(2) does).
        internal = self.as_caller(None)
        moved = internal.copy(src.path, dst.path, recursive=True, progress=progress, concurrency=concurrency)
        internal.remove(src.path, recursive=True)
        self.table.metadata.move_attributes(src.path, dst.path)
        # Keep what moved exactly as it was, not as its new parent would make it.
        # (An empty owner, Alluxio's "nobody", cannot be stored: the new place's then shows.)
        self.table.metadata.set_attributes(
            dst.path, owner=moving.owner or None, group=moving.group or None, mode=moving.mode
        )
        self._cache.changed(dst.path)
        return moved

    # -- objects: the S3 gateway's operations, each with as few store requests as it can ----

    def _object_target(self, path: str) -> _Target:
        """Where a file would be, once the caller may read it (search on the ancestors, read on
        it); a mount point or a directory leading to one is no file (NotFoundError)."""
        records = self.table.records()
        target = self._target(path, records=records)
        self._check(target.path, target.mount, "read")
        if target.key == "" or any(paths.is_within(record.path, target.path) for record in records):
            raise NotFoundError(f"{target.path}: is a directory, not a file", key=target.path)
        return target

    def open_object(
        self,
        path: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
    ) -> OpenedRead:
        """The file's bytes (all, ``[start, end)`` or the last ``suffix``) and what it is (size,
        ETag, time, content type, user metadata), in one store request (``Store.open_read``),
        checked as :meth:`read` checks: the caller's read bit before the store is asked.
        NotFoundError when there is no file at ``path`` (a directory included);
        RangeNotSatisfiableError and, for ``if_match``, ConflictError as the store raises them."""
        target = self._object_target(path)
        try:
            return target.store.open_read(target.key, start=start, end=end, suffix=suffix, if_match=if_match)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None

    def object_info(self, path: str) -> ObjectInfo:
        """The file's size, ETag, last change, content type and user metadata, straight from its
        store (one request, never cached), once the caller may read it. NotFoundError when there
        is no file at ``path``."""
        target = self._object_target(path)
        try:
            return target.store.head(target.key)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None

    async def object_info_async(self, path: str) -> ObjectInfo:
        """:meth:`object_info` for the S3 gateway's HEAD, on an event loop: the caller's checks
        from memory (on a thread when they need the database), then the file's head as the
        namespace cache holds it, else the store's HEAD with its async client (no worker thread).

        With ``cached_heads``, the cache keeps a head the store gave to a HEAD or a GET
        (:meth:`open_object_async`) for ``tierstore.metadata.cache.ttl``, as it keeps stats and
        listings: a write through this process drops it at once, one straight to the store shows
        within the ttl (0: every HEAD asks the store). The caller's bits are checked every time,
        never cached."""
        target = await self._object_target_async(path)
        stamp, ticket = self._stamp(), self._cache.ticket()
        cached = self._cache.get(HEAD, target.path, stamp) if self.cached_heads else None
        if isinstance(cached, ObjectInfo):
            return cached
        try:
            info = await target.store.head_async(target.key)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None
        if self.cached_heads:
            self._cache.put(HEAD, target.path, info, stamp, since=ticket)
        return info

    async def open_object_async(
        self,
        path: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
    ) -> OpenedRead:
        """:meth:`open_object` on an event loop, as :meth:`object_info_async` (its chunks:
        ``ChunkStream.next_async``). The head the store answered with (the whole file's, a range's
        too) is what the next HEAD answers."""
        target = await self._object_target_async(path)
        stamp, ticket = self._stamp(), self._cache.ticket()
        try:
            opened = await target.store.open_read_async(
                target.key, start=start, end=end, suffix=suffix, if_match=if_match
            )
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None
        if self.cached_heads:
            self._cache.put(HEAD, target.path, opened.info, stamp, since=ticket)
        return opened

    async def object_part_async(self, path: str, number: int) -> PartSpan:
        """Where part ``number`` of the file lies and how many it has (``Store.part_span``: one
        store request, never cached), once the caller may read it, as :meth:`object_info_async`.
        NotFoundError when there is no file at ``path``; InvalidPartNumberError past its last
        part."""
        target = await self._object_target_async(path)
        try:
            return await target.store.part_span_async(target.key, number)
        except NotFoundError:
            raise NotFoundError(f"{target.path}: no such file", key=target.path) from None

    async def _object_target_async(self, path: str) -> _Target:
        try:
            with memory_only():
                return self._object_target(path)
        except NeedsIO:
            return await on_thread(self._object_target, path)

    def copy_object(
        self,
        source: str,
        dest: str,
        *,
        attributes: ObjectAttributes | None = None,
        source_etag: str | None = None,
    ) -> FileStatus:
        """Copy one file to another path, replacing a file there, as ``cp`` checks it: read on
        the source; write on the destination, or write and search on its directory when it is
        new. A copy within a store is the store's own; across stores it streams, a chunk at a
        time. ``attributes``: the copy's content type and user metadata (None: the source's, as
        S3's ``MetadataDirective: COPY``). ``source_etag``: the source must still have this ETag
        when it is read (else ConflictError), so a copy across stores never mixes two versions of
        it. The source may be the destination (new attributes for a file). Neither end may be a
        directory (no ``cp`` into a directory here)."""
        src = self._object_target(source)
        dst = self._target(dest, creating=True)
        if dst.key == "":
            raise StoreError(f"{dst.path}: is a directory (a mount point)", key=dst.path)
        check_readonly(dst.mount, dst.path)
        searched = self._search(dst.path)
        existing = self._kind(dst, sync=True)
        if existing == "dir":
            raise StoreError(f"{dst.path}: is a directory", key=dst.path)
        self._check_write_here(dst, existing, searched)
        try:
            if src.store is dst.store:
                src.store.copy(src.key, dst.key, attributes=attributes)
            else:
                with src.store.open_read(src.key, if_match=source_etag, chunk_size=CHUNK) as opened:
                    kept = attributes or _attributes_of(opened.info, src.path)
                    with dst.store.open_write(dst.key, attributes=kept) as writer:
                        for chunk in opened.chunks:
                            writer.write(chunk)
        except NotFoundError:  # only the source is looked for: a destination is made
            raise NotFoundError(f"{src.path}: no such file", key=src.path) from None
        if existing is None:
            self._record_creator(dst.path, is_dir=False)
        self._cache.changed(dst.path)
        return self._status(dst, sync=True, made="file")

    def delete_object(self, path: str, *, directory: bool = False) -> bool:
        """Remove the file at ``path`` (or with ``directory``, the empty directory), as S3 deletes
        one key; False when there is none of that kind there, which is no error.

        Checked as unlink(2) and rmdir(2) are, before anything is looked up in the store (a
        refusal tells nothing of what exists): write and search on the parent, the sticky rule.
        A directory holding anything stays (its marker alone would be S3's object; tierstore's
        directories are there while anything is below them), and a mount point is never removed.
        """
        target = self._target(path)
        if target.key == "" or self.table.children_of(target.path):
            raise AccessDeniedError(
                f"rm {target.path}: it is or holds a mount point; remove the mount to delete it",
                key=target.path,
            )
        chain = self._check_entry_change(target, "rm")
        if self.caller is not None and len(chain) > 1:
            check_sticky(self.caller, chain[-2], chain[-1], "rm")
        kind = self._kind(target, sync=True)
        if kind is None or (kind == "dir") != directory:
            return False
        if kind == "file":
            target.store.delete(target.key)
        else:
            pages = target.store.list_pages(target.key, delimiter="/", page_size=100)
            if any(page.objects or page.prefixes for page in pages):
                return False
            target.store.delete(f"{target.key}/")
        self.table.metadata.remove_attributes_under(target.path)
        self._cache.changed(target.path)
        return True

    # -- metadata-only changes ------------------------------------------------------------

    def _own(self, path: str, verb: str) -> tuple[_Target, Attributes]:
        target = self._target(path)
        chain = self._search(target.path) if self.caller is not None else lineage(self.table, target.path)
        here = chain[-1]
        if self.caller is not None and not self.caller.superuser and self.caller.user != here.owner:
            raise AccessDeniedError(
                f"{verb} {target.path}: only its owner ({here.owner or '(none)'}) or an admin may change "
                "its mode or group",
                key=target.path,
            )
        if self._kind(target, sync=True) is None:
            raise NotFoundError(f"{target.path}: no such file or directory", key=target.path)
        return target, here

    def chmod(self, path: str, mode: str) -> FileStatus:
        target, here = self._own(path, "chmod")
        try:
            new_mode = parse_mode(mode, here.mode)
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
        """Like chgrp(1): the owner may give the path to a group they belong to; an admin, any."""
        target, _ = self._own(path, "chgrp")
        caller = self.caller
        if caller is not None and not caller.superuser and group not in caller.groups | {caller.user}:
            raise AccessDeniedError(
                f"chgrp {target.path} {group}: user {caller.user} is not in the group {group}; an owner "
                f"may only choose one of their own groups ({', '.join(sorted(caller.groups)) or 'none'})",
                key=target.path,
            )
        self.table.metadata.set_attributes(target.path, group=group)
        self._cache.changed(target.path)
        return self.stat(target.path, sync=True)


@dataclass(frozen=True)
class _FirstPage:
    """A directory's cached first page."""

    items: list[Listed]

    def covers(self, limit: int) -> bool:
        return limit <= len(self.items) or not self.items or self.items[-1].after is None

    def cut(self, limit: int) -> list[Listed]:
        return self.items if limit >= len(self.items) else self.items[:limit]

    def after(self, position: Position, limit: int) -> list[Listed] | None:
        """Up to ``limit`` entries after ``position``, when one of the page's entries ends there
        and any follow it in the page (the last one given says where the store goes on); None
        otherwise (the store is asked).

        Only a position this page gave matches (its store page's resume token and size, and the
        last key): after the same key in a page of another size is not the same rest, on a store
        whose order is not the namespace's (S3 puts ``a-b`` before ``a/``, so the first n keys
        can hold one that a larger page, sorted by name, puts after it)."""
        items = self.items
        for index, item in enumerate(items):
            if item.after == position:
                rest = items[index + 1 : index + 1 + limit]
                return rest if rest or item.after is None else None
        return None


# A directory of at most this many entries has its names kept whole (see _names_around), read
# in listing pages of NAMES_PAGE: a few pages once per cache ttl, where a directory whose names
# are not kept costs the store a listing (Store.kind) for every new file written in it; S3
# clients (Spark, the gateway's PUTs) write thousands of files into one directory. Bounded by
# the cache itself: kept names weigh one entry each against tierstore.metadata.cache.max.entries.
NAMES_LIMIT = 10_000
NAMES_PAGE = 1000
# Directories remembered as holding more (each is one short string).
MAX_CROWDED = 10_000


def _names_in(store: Store, directory_key: str, limit: int) -> dict[str, Kind] | None:
    """Every name directly in the directory at ``directory_key`` and what it is, from its
    listing pages; None as soon as the directory is seen to hold more than ``limit``. A name
    that is both a file and a directory is a file, as ``Store.kind`` answers."""
    prefix = f"{directory_key}/" if directory_key else ""
    names: dict[str, Kind] = {}
    for page in store.list_pages(prefix, delimiter="/", page_size=min(NAMES_PAGE, limit + 1)):
        for below in page.prefixes:
            name = below[len(prefix) :].rstrip("/")
            if name:
                names.setdefault(name, "dir")
        for found in page.objects:
            name = found.key[len(prefix) :]
            if name and "/" not in name:
                names[name] = "file"
        if len(names) > limit:
            return None
    return names


def _attributes_of(info: ObjectInfo, path: str) -> ObjectAttributes:
    """The content type, user metadata and kept headers an object was read with, to write them
    again."""
    try:
        return ObjectAttributes(info.content_type, info.metadata, info.headers)
    except ValueError as error:  # written by another client with what tierstore's checks refuse
        raise InvalidArgumentError(f"{path}: its attributes cannot be copied: {error}", key=path) from None


def _never(_: FileStatus) -> bool:
    return False


def _fields(attributes: Attributes) -> tuple[str, str, int]:
    return attributes.owner, attributes.group, attributes.mode
