"""The metadata store a server reads from memory: mounts, path attributes, users and S3 keys.

Every request of ``tierstore serve`` (a vend, a stat, an ls) needs the mount table, the
attributes of the path's ancestors and the caller's user (or S3 key); read from the database,
that is three or four queries per request. :class:`CachedMetadataStore` answers them from memory
instead:

- what this process writes drops the stale kind at once (read-your-writes);
- what another process writes (servers sharing PostgreSQL, ``tierstore fs`` or ``tierstore
  users`` on the same SQLite file) raises a change counter in the same transaction
  (``namespace_changes``), which a poller thread reads every ``poll_interval`` seconds, dropping
  the kinds whose counter moved. A change anywhere is therefore seen here within
  ``poll_interval`` plus one query: :data:`DEFAULT_POLL_INTERVAL` gives well under a second.
- a poll that fails drops everything, so a server cut off from its database stops answering
  from memory (a removed user is not let in while nobody can tell) and says why on each request.

A reader that loaded old rows while a change was being noticed must not put them back after the
drop: each kind has a generation, and a load is kept only if the generation did not move while
it ran. Each cache is bounded: path attributes, unknown tokens and unknown S3 key ids by entry
count, past which that cache is emptied rather than evicted piecemeal (which keeps their hot path
a dict lookup); subtree walks by the attributes they hold together, least recently used out first
(one walk of a big tree can hold as many attributes as thousands of small ones).

Reads that must not block (the server's event loop) run inside
:func:`tierstore.blocking.memory_only`: a miss then raises ``NeedsIO`` instead of querying, and
the caller retries on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Engine

from tierstore.blocking import require_io
from tierstore.lru import BoundedLRU
from tierstore.namespace.metadata.base import ChangeKind
from tierstore.namespace.metadata.engine import Target
from tierstore.namespace.metadata.records import (
    MountRecord,
    PathAttributes,
    S3KeyInfo,
    S3KeyRecord,
    UserRecord,
    is_s3_key_id,
)
from tierstore.namespace.metadata.schema import CHANGE_KINDS
from tierstore.namespace.metadata.secrets_at_rest import SecretsKey
from tierstore.namespace.metadata.store import SqlMetadataStore

LOGGER = logging.getLogger("tierstore.namespace.metadata")

DEFAULT_POLL_INTERVAL = 0.25
# Past these many entries a cache is emptied: memory stays bounded on a namespace of any size.
MAX_ATTRIBUTE_ENTRIES = 200_000
MAX_UNKNOWN_TOKENS = 10_000
MAX_UNKNOWN_S3_KEYS = 10_000
# Subtree walks are kept while they hold at most this many attributes together (each walk counts
# one at least); a walk holding more is answered but not kept.
MAX_SUBTREE_ROWS = 200_000
# A path not in memory is looked for with its whole directory, when that directory and what is
# below it hold at most this many attributes: the next new name there (each file a write makes)
# is then answered from memory, where it cost a query of its own.
DIRECTORY_ROWS = 256
# Directories found to hold more than that, remembered (at most this many, then forgotten together)
# so as not to ask again, across changes of the attributes too.
MAX_CROWDED_DIRECTORIES = 10_000

T = TypeVar("T")


class CachedMetadataStore(SqlMetadataStore):
    """A :class:`SqlMetadataStore` whose reads of mounts, attributes and users come from memory."""

    counts_generations = True

    def __init__(
        self,
        engine: Engine,
        target: Target,
        secrets_key: SecretsKey | None = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(engine, target, secrets_key)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._generation: dict[str, int] = dict.fromkeys(CHANGE_KINDS, 0)
        # Moves with every drop of the attributes, not with a new file's record taken in place
        # (see inherited_generation).
        self._inherited = 0
        self._mounts: tuple[MountRecord, ...] | None = None
        self._attributes: dict[str, PathAttributes | None] = {}
        # Read whenever the subtree memo is made anew: at start and on each drop of attributes.
        self.max_subtree_rows = MAX_SUBTREE_ROWS
        self._subtrees: BoundedLRU[str, dict[str, PathAttributes]] = BoundedLRU(self.max_subtree_rows)
        self._crowded: set[str] = set()
        # The users and, from the same load, their index by token hash: one attribute, so that
        # a reader never sees one without the other.
        self._users: tuple[tuple[UserRecord, ...], dict[str, UserRecord]] | None = None
        # Hashes of tokens the database did not know either, since the users last changed.
        self._unknown_tokens: set[str] = set()
        # Every S3 key by access key id, secrets decrypted once per load; and the ids the database
        # did not know either, since the keys last changed.
        self._s3_keys: dict[str, S3KeyRecord] | None = None
        self._unknown_s3_keys: set[str] = set()
        self._seen = self.change_counters()
        # The counter values this process's own changes were given since the last poll, by kind:
        # a counter that moved by these alone is no news to the poller (see poll_once).
        self._own: dict[str, set[int]] = {}
        # Told the paths another process changed (None: anything may have): the namespace cache.
        self._content_listeners: list[Callable[[list[str] | None], None]] = []
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="metadata-poller", daemon=True)
        self._poller.start()

    # -- invalidation --------------------------------------------------------------------------

    def _changed(self, kind: ChangeKind, counter: int) -> None:
        self._drop(kind)
        self._mine(kind, range(counter, counter + 1))

    def _content_recorded(self, first: int, last: int) -> None:
        # Our own paths need not be read back by the poller (the cache that recorded them has
        # already dropped them).
        self._mine("content", range(first, last + 1))

    def _mine(self, kind: str, counters: range) -> None:
        """``counters`` of ``kind`` were given to this process's own changes, already taken in:
        the poller need not drop the kind for them (one wasted reload per write otherwise; with
        writes on many threads they commit in any order, so each value is kept, not the last)."""
        with self._lock:
            self._own.setdefault(kind, set()).update(counters)

    def on_content_changes(self, listener: Callable[[list[str] | None], None]) -> None:
        """Call ``listener`` from the poller with the paths another process changed (see
        :meth:`SqlMetadataStore.record_content_changes`), or None when they cannot be told."""
        with self._lock:
            self._content_listeners = [*self._content_listeners, listener]

    def generation(self, kind: ChangeKind) -> int:
        return self._generation[kind]

    def inherited_generation(self) -> int:
        return self._inherited

    def _attributes_created(self, path: str, attributes: PathAttributes) -> None:
        """A file this process just created has ``attributes`` of its own, which nothing else
        inherits: taken in for that path alone, where any other change drops every path's. A
        directory's kept walk (at most DIRECTORY_ROWS) is copied with the file in it (readers
        keep the old one); a bigger walk goes. The generation moves, so that a load that began
        before the row was written is not kept (it could say the file has none) and a vend
        decided before is made again; the inherited generation stays, so the namespace's cached
        stats and listings of other paths stand (the write drops the file's own and its
        directory's listing)."""
        with self._lock:
            self._generation["attributes"] += 1
            if len(self._attributes) < MAX_ATTRIBUTE_ENTRIES:
                self._attributes[path] = attributes
            above = path
            while above != "/":
                above = above.rsplit("/", 1)[0] or "/"
                walk = self._subtrees.get(above)
                if walk is None:
                    continue
                if len(walk) < DIRECTORY_ROWS:  # a directory's walk: a copy with the file in it
                    grown = {**walk, path: attributes}
                    self._subtrees.put(above, grown, weight=len(grown))
                else:  # a big walk of a tree (attributes_under): asked again when next needed
                    self._subtrees.pop(above)

    def _counter_taken(self, kind: ChangeKind, counter: int) -> None:
        self._mine(kind, range(counter, counter + 1))

    def _counter_released(self, kind: ChangeKind, counter: int) -> None:
        # Not this process's any more: if another process commits the value, the poll drops.
        with self._lock:
            self._own.get(kind, set()).discard(counter)

    def _drop(self, *kinds: str) -> None:
        with self._lock:
            for kind in kinds:
                self._generation[kind] += 1
                if kind == "mounts":
                    self._mounts = None
                elif kind == "attributes":
                    self._inherited += 1
                    self._attributes = {}
                    self._subtrees = BoundedLRU(self.max_subtree_rows)
                    # _crowded stays: it only saves a query that would find too many rows again
                    # (a directory rarely drops below the bound), never an answer.
                elif kind == "users":
                    self._users = None
                    self._unknown_tokens = set()
                elif kind == "s3_keys":
                    self._s3_keys = None
                    self._unknown_s3_keys = set()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.poll_once()

    def catch_up(self) -> None:
        self.poll_once()

    def poll_once(self) -> None:
        """Read the change counters once and drop every kind another process changed."""
        try:
            counters = self.change_counters()
        except Exception as error:  # any failure: nothing in memory can be vouched for any more
            LOGGER.warning("cannot read the metadata change counters (%s): not answering from memory", error)
            self._drop(*CHANGE_KINDS)
            self._tell_content(None)
            self._seen = {}
            return
        seen = self._seen
        moved = self._moved(seen, counters)
        if moved:
            self._drop(*moved)
        if "content" in moved:
            self._tell_content(self._content_since(seen.get("content")))
        self._seen = counters

    def _moved(self, seen: dict[str, int], counters: dict[str, int]) -> list[str]:
        """The kinds whose counter moved from ``seen`` by another process's change (not by this
        process's own alone), forgetting the own values now seen."""
        moved: list[str] = []
        with self._lock:
            for kind in CHANGE_KINDS:
                old, new = seen.get(kind), counters.get(kind)
                mine = self._own.get(kind, set())
                if old != new:
                    own_only = (
                        old is not None
                        and new is not None
                        and old < new
                        and all(value in mine for value in range(old + 1, new + 1))
                    )
                    if not own_only:
                        moved.append(kind)
                if mine and new is not None:
                    self._own[kind] = {value for value in mine if value > new}
        return moved

    def _content_since(self, seen: int | None) -> list[str] | None:
        if seen is None:
            return None
        try:
            return self.content_changes_since(seen)
        except Exception as error:
            LOGGER.warning("cannot read the paths other servers changed (%s): forgetting every one", error)
            return None

    def _tell_content(self, paths: list[str] | None) -> None:
        for listener in self._content_listeners:
            try:
                listener(paths)
            except Exception:  # a listener's bug must not stop the poller
                LOGGER.exception("a listener of content changes failed")

    def _load(self, kind: str, what: str, load: Callable[[], T], keep: Callable[[T], None]) -> T:
        """``load()`` (a query), kept by ``keep`` only if ``kind`` was not dropped meanwhile."""
        require_io(what)
        with self._lock:
            generation = self._generation[kind]
        value = load()
        with self._lock:
            if self._generation[kind] == generation:
                keep(value)
        return value

    # -- mounts --------------------------------------------------------------------------------

    def mounts(self) -> list[MountRecord]:
        found = self._mounts
        if found is None:

            def keep(records: list[MountRecord]) -> None:
                self._mounts = tuple(records)

            return self._load("mounts", "the mount table", super().mounts, keep)
        return list(found)

    def mount(self, path: str) -> MountRecord | None:
        return next((record for record in self.mounts() if record.path == path), None)

    # -- attributes ----------------------------------------------------------------------------

    def attributes(self, path: str) -> PathAttributes | None:
        return self.attributes_of([path]).get(path)

    def attributes_of(self, paths: list[str]) -> dict[str, PathAttributes]:
        cache = self._attributes
        result: dict[str, PathAttributes] = {}
        missing: list[str] = []
        for path in paths:
            if path in cache:
                attributes = cache[path]
            else:
                directory = self._directory_of(path)
                if directory is None:
                    missing.append(path)
                    continue
                attributes = directory.get(path)
            if attributes is not None:
                result[path] = attributes
        if missing:

            def keep(found: dict[str, PathAttributes]) -> None:
                if len(self._attributes) + len(missing) > MAX_ATTRIBUTE_ENTRIES:
                    self._attributes = {}
                for path in missing:
                    self._attributes[path] = found.get(path)

            loaded = self._load(
                "attributes", "path attributes", lambda: SqlMetadataStore.attributes_of(self, missing), keep
            )
            result.update(loaded)
        return result

    def _directory_of(self, path: str) -> dict[str, PathAttributes] | None:
        """Every attribute in ``path``'s directory and below it (or below an ancestor whose walk
        is kept), when there are few enough to keep (DIRECTORY_ROWS), from memory or one query;
        None when there are more."""
        if path == "/":
            return None
        directory = path.rsplit("/", 1)[0] or "/"
        above = directory
        while True:  # a walk kept of any ancestor holds the path's attributes too
            found = self._subtrees.get(above)
            if found is not None:
                return found
            if above == "/":
                break
            above = above.rsplit("/", 1)[0] or "/"
        if directory in self._crowded:
            return None

        def keep(subtree: dict[str, PathAttributes] | None) -> None:
            if subtree is not None:
                self._subtrees.put(directory, subtree, weight=max(1, len(subtree)))
            else:
                if len(self._crowded) >= MAX_CROWDED_DIRECTORIES:
                    self._crowded = set()
                self._crowded.add(directory)

        return self._load(
            "attributes",
            "path attributes",
            lambda: SqlMetadataStore.attributes_under_at_most(self, directory, DIRECTORY_ROWS),
            keep,
        )

    def attributes_under(self, path: str) -> dict[str, PathAttributes]:
        found = self._subtrees.get(path)
        if found is None:

            def keep(subtree: dict[str, PathAttributes]) -> None:
                self._subtrees.put(path, subtree, weight=max(1, len(subtree)))

            found = self._load(
                "attributes", "path attributes", lambda: SqlMetadataStore.attributes_under(self, path), keep
            )
        return dict(found)

    def memory_sizes(self) -> dict[str, int]:
        """What the caches hold now: attributes, subtree walks and the attributes they hold,
        unknown token hashes, unknown S3 key ids."""
        subtrees = self._subtrees
        return {
            "attributes": len(self._attributes),
            "subtree_walks": len(subtrees),
            "subtree_rows": subtrees.weight,
            "unknown_tokens": len(self._unknown_tokens),
            "unknown_s3_keys": len(self._unknown_s3_keys),
        }

    # -- users ---------------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        return list(self._user_index()[0])

    def user_by_token_hash(self, token_sha256: str) -> UserRecord | None:
        found = self._user_index()[1].get(token_sha256)
        if found is not None or token_sha256 in self._unknown_tokens:
            return found
        # Not in memory: maybe a user another process added since the last poll (`tierstore users
        # add` and its token used at once). Ask the database once; remember a miss until the users
        # change, so a client retrying a bad token does not cost a query each time.
        record = SqlMetadataStore.user_by_token_hash(self, token_sha256)
        if record is not None:
            self._drop("users")
            return record
        with self._lock:
            if len(self._unknown_tokens) >= MAX_UNKNOWN_TOKENS:
                self._unknown_tokens.clear()
            self._unknown_tokens.add(token_sha256)
        return None

    def _user_index(self) -> tuple[tuple[UserRecord, ...], dict[str, UserRecord]]:
        found = self._users
        if found is None:

            def index() -> tuple[tuple[UserRecord, ...], dict[str, UserRecord]]:
                records = tuple(SqlMetadataStore.users(self))
                return records, {record.token_sha256: record for record in records}

            def keep(loaded: tuple[tuple[UserRecord, ...], dict[str, UserRecord]]) -> None:
                self._users = loaded

            found = self._load("users", "the users", index, keep)
        return found

    # -- S3 keys -------------------------------------------------------------------------------

    def s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        records = self._s3_key_index().values()
        infos = [record.info() for record in records if user is None or record.user == user]
        return sorted(infos, key=lambda info: (info.user, info.created_at, info.access_key_id))

    def s3_key(self, access_key_id: str) -> S3KeyRecord | None:
        if not is_s3_key_id(access_key_id):
            return None
        found = self._s3_key_index().get(access_key_id)
        if found is not None or access_key_id in self._unknown_s3_keys:
            return found
        # Not in memory: maybe a key another process made since the last poll (`tierstore users
        # s3-keys create` and the key used at once). Ask once; remember a miss until the keys
        # change, unless they changed while asking (the miss may be stale already).
        with self._lock:
            generation = self._generation["s3_keys"]
        record = SqlMetadataStore.s3_key(self, access_key_id)
        if record is not None:
            self._drop("s3_keys")
            return record
        with self._lock:
            if self._generation["s3_keys"] == generation:
                if len(self._unknown_s3_keys) >= MAX_UNKNOWN_S3_KEYS:
                    self._unknown_s3_keys.clear()
                self._unknown_s3_keys.add(access_key_id)
        return None

    def _s3_key_index(self) -> dict[str, S3KeyRecord]:
        found = self._s3_keys
        if found is None:

            def index() -> dict[str, S3KeyRecord]:
                return {record.access_key_id: record for record in SqlMetadataStore._s3_key_records(self)}

            def keep(loaded: dict[str, S3KeyRecord]) -> None:
                self._s3_keys = loaded

            found = self._load("s3_keys", "the S3 keys", index, keep)
        return found

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        if self._poller is not threading.current_thread():
            self._poller.join(timeout=5)
        super().close()
