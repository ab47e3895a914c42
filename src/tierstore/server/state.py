"""What every route of the server shares, and how a route finds it: ``ServerState``.

One ``ServerState`` per server process, held on the app (``create_app``) and reached from a
request with ``state_of``: the mount table, the users, the credential vendor, the metrics, the
per-user views of the namespace and the uploads running.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from starlette.requests import Request

from tierstore.lru import BoundedLRU
from tierstore.namespace.change_notices import ChangeNotices
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.mounts import MountTable
from tierstore.server.bodies import UploadPool
from tierstore.server.config import ApiServerOptions
from tierstore.server.errors import ApiError
from tierstore.server.metrics import ServerMetrics
from tierstore.server.responses import EncodedBodies
from tierstore.server.s3_keys import S3KeyDirectory
from tierstore.server.users import User, UserDirectory
from tierstore.server.vending import CredentialVendor

# Per-user views of the shared FileSystem kept (a few hundred bytes each).
MAX_VIEWS = 4096


@dataclass
class ServerState:
    """Everything the routes share: the mount table, users, vendor and metrics."""

    table: MountTable
    users: UserDirectory
    options: ApiServerOptions
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    # Whether the S3 gateway's HEAD answers from the namespace cache (FileSystem.cached_heads):
    # when this process is the only one writing through the namespace (see build_server).
    cached_heads: bool = False
    # Where the paths this process changes are told to the servers sharing its namespace (the
    # workers of --workers, servers on one PostgreSQL); None for a server alone on its namespace.
    notices: ChangeNotices | None = None
    vendor: CredentialVendor = field(init=False)
    # Each user's view of the one shared FileSystem (cheap to make again, so the least recently
    # used go past MAX_VIEWS: users removed or regrouped do not stay forever).
    _filesystems: BoundedLRU[tuple[str, frozenset[str], bool], FileSystem] = field(
        default_factory=lambda: BoundedLRU(MAX_VIEWS)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _shared: FileSystem | None = None
    # The namespace cache's counters from caches dropped by forget_caches, by name.
    _counted_before: dict[str, int] = field(default_factory=dict)
    _uploads: dict[str, int] = field(default_factory=dict)
    upload_pool: UploadPool = field(init=False)
    # Encoded ls answers, reused while the file system's cache hands out the same listing.
    listing_bodies: EncodedBodies = field(default_factory=EncodedBodies)
    # The users' S3 access keys, for the S3 gateway.
    s3_keys: S3KeyDirectory = field(init=False)

    def __post_init__(self) -> None:
        self.vendor = CredentialVendor(self.table, self.options, self.metrics)
        self.s3_keys = S3KeyDirectory(self.users.metadata)
        self.metrics.count_namespace_cache(self.cache_counter)
        # Uploads stream on threads of their own: slow ones never take the other routes' threads.
        limits = self.options.limits
        self.upload_pool = UploadPool(limits.uploads, wait=limits.body_timeout)

    def upload_slot(self, user: User) -> _UploadSlot:
        """One of the user's ``uploads_per_user`` concurrent uploads, held for a ``with`` block,
        or 429 on entering it."""
        return _UploadSlot(self, user.name)

    def _take_upload(self, name: str) -> None:
        cap = self.options.limits.uploads_per_user
        with self._lock:
            running = self._uploads.get(name, 0)
            if running >= cap:
                raise ApiError(
                    429,
                    f"user {name} already has {running} uploads running, the most allowed "
                    "(tierstore.server.limits.uploads-per-user); wait for one to finish",
                )
            self._uploads[name] = running + 1

    def _give_upload(self, name: str) -> None:
        with self._lock:
            left = self._uploads[name] - 1
            if left:
                self._uploads[name] = left
            else:
                del self._uploads[name]  # not one entry per user who ever uploaded

    def filesystem_for(self, user: User) -> FileSystem:
        """The namespace as ``user`` sees it: one FileSystem per user, all over one metadata cache.

        The cache holds what the store says (stats and listings), never a permission decision,
        which each FileSystem makes for its own caller before looking in it; so one cache serves
        every user, and a change made by one user is seen at once by all.
        """
        key = (user.name, user.groups, user.admin)
        with self._lock:
            found = self._filesystems.get(key)
            if found is None:
                if self._shared is None:
                    found = self._shared = FileSystem(
                        self.table, caller=user.caller(), cached_heads=self.cached_heads
                    )
                    if self.notices is not None:
                        found.publish_changes(self.notices.tell)
                else:
                    found = self._shared.as_caller(user.caller())
                self._filesystems.put(key, found)
            return found

    def forget_caches(self) -> None:
        """After a mount change cached listings may be wrong: start from a fresh cache."""
        with self._lock:
            if self._shared is not None:
                for name, value in self._shared.cache_stats().as_dict().items():
                    self._counted_before[name] = self._counted_before.get(name, 0) + value
            self._filesystems.clear()
            self._shared = None

    def changed_elsewhere(self, paths: list[str] | None) -> None:
        """Another server sharing the namespace changed ``paths`` (None: anything may have):
        the shared cache drops them (called by the metadata poller)."""
        with self._lock:
            shared = self._shared
        if shared is not None:
            shared.changed_elsewhere(paths)

    def cache_counter(self, name: str) -> float:
        """A counter of the namespace's metadata cache (CacheStats' field ``name``) since start;
        ``entries`` is what the cache holds now."""
        with self._lock:
            current = self._shared.cache_stats().as_dict()[name] if self._shared is not None else 0
            before = 0 if name == "entries" else self._counted_before.get(name, 0)
            return float(before + current)

    def close(self) -> None:
        if self.notices is not None:
            self.notices.close()
        self.table.close()


def state_of(request: Request) -> ServerState:
    """The state of the server answering ``request``."""
    state: ServerState = request.app.state.tierstore
    return state


class _UploadSlot:
    """:meth:`ServerState.upload_slot`'s block. A class, not a generator-based context manager:
    every PUT and part takes one, and a generator's frame and its three calls cost more than
    the count it guards."""

    __slots__ = ("_name", "_state")

    def __init__(self, state: ServerState, name: str) -> None:
        self._state = state
        self._name = name

    def __enter__(self) -> None:
        self._state._take_upload(self._name)

    def __exit__(self, *exc_info: object) -> None:
        self._state._give_upload(self._name)
