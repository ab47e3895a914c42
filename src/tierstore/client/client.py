"""``tierstore.Client``: the namespace through the server, file data straight to the store.

Metadata (stat, ls, mkdir, rm, mv, chmod, chown) goes through the server's API, so its
permissions apply to every call. File data goes directly to the store with credentials the
server vends for the path (read access for reads, write access for writes), cached per
(mount, prefix, access) and re-vended before they expire. When the server says a mount is
served through its data proxy (a local directory, say), or the store cannot be reached from
here, data goes through ``/v1/data`` instead, and the client remembers that for the mount.

    with Client("http://127.0.0.1:8080", token) as client:      # or $TIERSTORE_URL / $TIERSTORE_TOKEN
        client.write("/mnt/s3/notes/a.txt", b"hello")
        client.read("/mnt/s3/notes/a.txt", start=0, end=4)
        client.ls("/mnt/s3/notes")
"""

from __future__ import annotations

import logging
import posixpath
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from tierstore.client import proxy
from tierstore.client.direct import DirectScope, is_unreachable
from tierstore.client.transport import Transport, resolve_endpoint
from tierstore.client.vended import Access, Vended, VendedSource, parse_vended
from tierstore.credentials.refresh import RefreshPolicy
from tierstore.errors import AccessDeniedError, ConfigError, NotFoundError, StoreError
from tierstore.settings.model import MultipartSettings
from tierstore.settings.secret import Secret
from tierstore.storage.interface import ObjectWriter, PutResult

LOGGER = logging.getLogger("tierstore.client")

_MOUNTS_TTL_SECONDS = 30.0
# The server's default page (its largest is 10,000).
DEFAULT_PAGE = 1000
_MAX_SCOPES_PER_MOUNT = 64
# How long a path this client changed is read afresh (above the server's cache TTL, 10 s default).
_DIRTY_SECONDS = 60.0
_MAX_DIRTY = 10_000
DEFAULT_REFRESH = RefreshPolicy(fraction=0.5, margin=timedelta(seconds=60))


@dataclass(frozen=True)
class MountInfo:
    path: str
    uri: str
    readonly: bool

    @property
    def bucket_and_base(self) -> tuple[str, str] | None:
        """``(bucket, key prefix)`` for an S3 mount; None for a local-directory mount."""
        scheme, sep, rest = self.uri.partition("://")
        if not sep or scheme.lower() not in ("s3", "s3a"):
            return None
        bucket, _, base = rest.partition("/")
        base = base.strip("/")
        return bucket, f"{base}/" if base else ""


def normalize(path: str) -> str:
    """An absolute namespace path without a trailing slash (``/`` for the root)."""
    if not path.startswith("/"):
        raise ConfigError(f"tierstore path {path!r} must be absolute, such as /mnt/s3/data.parquet")
    clean = posixpath.normpath(path)
    return "/" if clean in ("/", "//") else clean


class Client:
    """A client of one tierstore server. Thread-safe; close it (or use ``with``) when done."""

    def __init__(
        self,
        url: str | None = None,
        token: str | Secret | None = None,
        *,
        timeout: float = 60.0,
        refresh: RefreshPolicy | None = None,
        direct: bool = True,
        multipart: MultipartSettings | None = None,
        vend_scope: Literal["directory", "mount"] = "directory",
    ) -> None:
        """``vend_scope="mount"`` asks for credentials for a file's whole mount first (one vend
        serves every directory of it: a FUSE mount's cp -r), then its directory, then the file."""
        base, secret = resolve_endpoint(url, token)
        self.url = base
        self._transport = Transport(base, secret, timeout=timeout)
        self._refresh = refresh or DEFAULT_REFRESH
        self._direct_allowed = direct
        self._multipart = multipart
        self._vend_scope = vend_scope
        self._mount_scope_refused: set[tuple[str, Access]] = set()
        self._lock = threading.Lock()
        self._mounts: list[MountInfo] = []
        self._mounts_at = 0.0
        self._scopes: dict[tuple[str, Access], list[DirectScope]] = {}
        self._proxied: set[str] = set()
        self._probed: set[tuple[str, Access]] = set()
        self._dirty: dict[str, float] = {}
        self.vend_calls = 0

    # -- server API ---------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self._transport.get_json("/v1/whoami")
        return result

    def mounts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._transport.get_json("/v1/mounts")["mounts"]
        return result

    def add_mount(
        self,
        path: str,
        uri: str,
        options: dict[str, str] | None = None,
        *,
        readonly: bool = False,
        shared: bool = False,
    ) -> dict[str, Any]:
        """Mount ``uri`` (``s3://bucket/prefix``, ``file:///dir``) at ``path`` (admins only)."""
        body: dict[str, Any] = {"path": normalize(path), "uri": uri, "options": dict(options or {})}
        body |= {"readonly": readonly, "shared": shared}
        result: dict[str, Any] = self._transport.post_json("/v1/mounts", body)
        self._forget_mounts()
        return result

    def remove_mount(self, path: str) -> None:
        """Unmount ``path`` (admins only); the data stays where it is."""
        path = normalize(path)
        self._transport.delete("/v1/mounts", {"path": path})
        self._forget_mounts()
        with self._lock:
            for key in [k for k in self._scopes if k[0] == path]:
                del self._scopes[key]
            self._proxied.discard(path)

    def _forget_mounts(self) -> None:
        with self._lock:
            self._mounts = []
            self._mounts_at = 0.0

    def stat(self, path: str, *, sync: bool = False) -> dict[str, Any]:
        path = normalize(path)
        params: dict[str, Any] = {"path": path}
        if sync or self._changed_under(path):
            params["sync"] = True
        result: dict[str, Any] = self._transport.get_json("/v1/fs/stat", params)
        return result

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except NotFoundError:
            return False
        return True

    def ls(self, path: str, *, recursive: bool = False, sync: bool = False) -> list[dict[str, Any]]:
        """Every entry, following the server's pages (see :meth:`iter_dir`)."""
        return list(self.iter_dir(path, recursive=recursive, sync=sync))

    def iter_dir(
        self, path: str, *, recursive: bool = False, sync: bool = False, page_size: int = DEFAULT_PAGE
    ) -> Iterator[dict[str, Any]]:
        """The entries of ``path`` (in key order), yielded page by page as they arrive, so a
        directory of any size is walked in the memory of one page."""
        after: str | None = None
        while True:
            page = self.ls_page(path, limit=page_size, after=after, recursive=recursive, sync=sync)
            yield from page["entries"]
            after = page.get("next")
            if not after:
                return

    def ls_page(
        self,
        path: str,
        *,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
        recursive: bool = False,
        sync: bool = False,
    ) -> dict[str, Any]:
        """One page: ``{"entries": [...], "next": token or None}``; pass ``next`` as ``after``."""
        path = normalize(path)
        params: dict[str, Any] = {
            "path": path,
            "recursive": recursive,
            "sync": sync or self._changed_under(path),
            "limit": limit,
        }
        if after:
            params["after"] = after
        result: dict[str, Any] = self._transport.get_json("/v1/fs/ls", params)
        return result

    def mkdir(self, path: str, *, parents: bool = False) -> dict[str, Any]:
        path = normalize(path)
        self._changed(path)
        result: dict[str, Any] = self._transport.post_json("/v1/fs/mkdir", {"path": path, "parents": parents})
        return result

    def rm(self, path: str, *, recursive: bool = False) -> int:
        path = normalize(path)
        self._changed(path)
        answer = self._transport.post_json("/v1/fs/rm", {"path": path, "recursive": recursive})
        return int((answer or {}).get("removed", 0))

    def mv(self, source: str, dest: str) -> Any:
        source, dest = normalize(source), normalize(dest)
        self._changed(source)
        self._changed(dest)
        return self._transport.post_json("/v1/fs/mv", {"source": source, "dest": dest})

    def chmod(self, path: str, mode: str) -> Any:
        return self._transport.post_json("/v1/fs/chmod", {"path": normalize(path), "mode": mode})

    def chown(self, path: str, owner: str, group: str | None = None) -> Any:
        body = {"path": normalize(path), "owner": owner}
        if group is not None:
            body["group"] = group
        return self._transport.post_json("/v1/fs/chown", body)

    def chgrp(self, path: str, group: str) -> Any:
        """Change the group only (the owner may choose one of their own groups; an admin, any)."""
        return self._transport.post_json("/v1/fs/chown", {"path": normalize(path), "group": group})

    @property
    def refresh_policy(self) -> RefreshPolicy:
        """When this client's vended credentials are renewed (the tool adapters follow it too)."""
        return self._refresh

    def s3_url(self, path: str) -> str:
        """``s3://bucket/key`` of a namespace path on an S3 mount (no vend: the mount table).

        A path ending in ``/`` keeps its slash (a directory prefix). A path on a mount with no
        bucket (a local directory) is a :class:`ConfigError` naming the mount.
        """
        directory = path.endswith("/") and normalize(path) != "/"
        mount, key = self._locate(normalize(path))
        if mount is None or key is None:
            where = f"mount {mount.path} ({mount.uri})" if mount is not None else "no mount"
            raise ConfigError(
                f"{path}: {where} is not on S3, so it has no s3:// URL; read it through tierstore:// "
                "or tierstore.Client"
            )
        bucket = mount.bucket_and_base
        assert bucket is not None
        return f"s3://{bucket[0]}/{key}{'/' if directory and key else ''}"

    def vend(self, path: str, access: Access = "read", *, directory: bool = False) -> Vended:
        """Ask the server for credentials for ``path`` (no caching: see the data methods).

        ``directory`` asks for the whole directory (the server scopes the credentials to
        ``path/``) even when it has no marker or files yet.
        """
        asked = normalize(path)
        sent = f"{asked}/" if directory and asked != "/" else asked
        document = self._transport.post_json("/v1/credentials", {"path": sent, "access": access})
        with self._lock:
            self.vend_calls += 1
        return parse_vended(document, asked_path=asked)

    # -- file data ------------------------------------------------------------------------

    def read(self, path: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """The file's bytes, or ``[start, end)`` of them; direct from the store when possible."""
        path = normalize(path)
        route = self._route(path, "read")
        if route is not None:
            scope, key = route
            try:
                return scope.store.get(key, start=start, end=end)
            except StoreError as error:
                if not self._fall_back(scope.mount, error):
                    raise _named(error, path) from None
        return proxy.read(self._transport, path, start, end)

    def read_view(self, path: str, *, start: int, end: int) -> memoryview:
        """``read`` of ``[start, end)`` as a read-only view of the store client's own buffer (no
        copy of it: see ``Store.get_view``)."""
        path = normalize(path)
        route = self._route(path, "read")
        if route is not None:
            scope, key = route
            try:
                return scope.store.get_view(key, start=start, end=end)
            except StoreError as error:
                if not self._fall_back(scope.mount, error):
                    raise _named(error, path) from None
        return memoryview(proxy.read(self._transport, path, start, end))

    def iter_read(self, path: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        path = normalize(path)
        route = self._route(path, "read")
        if route is not None:
            scope, key = route
            try:
                chunks = scope.store.iter_read(key, chunk_size=chunk_size)
                first = next(chunks, None)
            except StoreError as error:
                if not self._fall_back(scope.mount, error):
                    raise _named(error, path) from None
            else:
                if first is not None:
                    yield first
                    yield from chunks
                return
        yield from proxy.iter_read(self._transport, path)

    def write(self, path: str, data: bytes | bytearray | memoryview) -> dict[str, Any]:
        """Write a whole file (replacing it); the server's stat of the result."""
        path = normalize(path)
        route = self._route(path, "write")
        if route is not None:
            scope, key = route
            try:
                scope.store.put(key, data)
                return self._after_write(path, len(data))
            except StoreError as error:
                if not self._fall_back(scope.mount, error):
                    raise _named(error, path) from None
        result: dict[str, Any] = proxy.write(self._transport, path, data)
        return result

    def open_write(self, path: str) -> ObjectWriter:
        """A streaming write (multipart to the store, bounded memory); ``close()`` commits."""
        path = normalize(path)
        route = self._route(path, "write")
        if route is not None:
            scope, key = route
            return _DirectWriter(self, path, scope.store.open_write(key))
        return proxy.ProxyWriter(self._transport, path)

    def delete(self, path: str) -> None:
        self.rm(path)

    def _after_write(self, path: str, size: int | None) -> dict[str, Any]:
        # The server did not see this write: the next stat or listing of the file or of a
        # directory above it asks the server to look afresh (see _changed).
        self._changed(path)
        return {"path": path, "type": "file", "size": size}

    # -- what this client changed ------------------------------------------------------------
    #
    # The server caches listings and stats per mount for a few seconds, and it never sees the
    # writes that go straight to the store. For a while after this client changed a path, its
    # own stats and listings of that path and of every directory above it ask the server to
    # read afresh (sync), so a client always sees its own writes.

    def _changed(self, path: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._dirty[path] = now
            if len(self._dirty) > _MAX_DIRTY:
                cutoff = now - _DIRTY_SECONDS
                self._dirty = {p: t for p, t in self._dirty.items() if t > cutoff}

    def _changed_under(self, path: str) -> bool:
        if not self._dirty:
            return False
        cutoff = time.monotonic() - _DIRTY_SECONDS
        inside = "/" if path == "/" else f"{path}/"
        with self._lock:
            return any(
                stamp > cutoff and (changed == path or changed.startswith(inside))
                for changed, stamp in self._dirty.items()
            )

    # -- routing --------------------------------------------------------------------------

    def _route(self, path: str, access: Access) -> tuple[DirectScope, str] | None:
        """The direct scope and store key for ``path``, or None for the data proxy."""
        if not self._direct_allowed:
            return None
        mount, key = self._locate(path)
        if mount is None or mount.path in self._proxied:
            return None
        if key is not None:
            found = self._cached_scope(mount.path, key, access)
            if found is not None:
                return found, key
        vended, asked, directory = self._vend_for_data(path, mount, access)
        if vended.mode == "proxy" or vended.store is None or vended.credentials is None:
            self._use_proxy(vended.mount, "the server serves it through its data proxy", level=logging.INFO)
            return None
        if key is None or not vended.store.covers(key):
            # The mount table changed under us, or the key could not be computed: trust the vend.
            key = _key_from_vend(vended, path)
        scope = DirectScope(
            vended.mount,
            vended.store,
            VendedSource(lambda: self.vend(asked, access, directory=directory), vended, policy=self._refresh),
            multipart=self._multipart,
        )
        with self._lock:
            scopes = self._scopes.setdefault((vended.mount, access), [])
            scopes.append(scope)
            if len(scopes) > _MAX_SCOPES_PER_MOUNT:
                # File-scoped credentials add up over many files: keep the newest; the store
                # clients of the dropped ones go when no read in flight holds them any more.
                del scopes[0]
        if (vended.mount, access) not in self._probed:
            self._probed.add((vended.mount, access))
            if not self._reachable(scope, key):
                return None
        return scope, key

    def _cached_scope(self, mount: str, key: str, access: Access) -> DirectScope | None:
        # Write credentials allow reads too (the server's session policy), so a read may use them.
        levels: tuple[Access, ...] = ("read", "write") if access == "read" else ("write",)
        with self._lock:
            candidates = [s for level in levels for s in self._scopes.get((mount, level), [])]
        return next((scope for scope in reversed(candidates) if scope.covers(key)), None)

    def _vend_for_data(self, path: str, mount: MountInfo, access: Access) -> tuple[Vended, str, bool]:
        """Credentials for the file's directory, so that its siblings (the files of a dataset)
        share one vend; the file alone when the server refuses the directory."""
        parent = posixpath.dirname(path)
        if (
            self._vend_scope == "mount"
            and path != mount.path
            and (mount.path, access) not in self._mount_scope_refused
        ):
            try:
                return self.vend(mount.path, access, directory=True), mount.path, True
            except AccessDeniedError:
                # Refused for this user (a path below they may not reach, too many to deny):
                # directories from now on.
                self._mount_scope_refused.add((mount.path, access))
        if path != mount.path and (parent == mount.path or parent.startswith(f"{mount.path.rstrip('/')}/")):
            try:
                return self.vend(parent, access, directory=True), parent, True
            except AccessDeniedError:
                pass
        return self.vend(path, access), path, False

    def _reachable(self, scope: DirectScope, key: str) -> bool:
        """Before the first use of a mount: can this process reach its store at all?"""
        try:
            scope.probe(key)
        except StoreError as error:
            return not self._fall_back(scope.mount, error)
        return True

    def _locate(self, path: str) -> tuple[MountInfo | None, str | None]:
        mount = self._mount_of(path)
        if mount is None:
            return None, None
        where = mount.bucket_and_base
        if where is None:
            return mount, None
        relative = path[len(mount.path) :].lstrip("/") if mount.path != "/" else path.lstrip("/")
        return mount, f"{where[1]}{relative}"

    def _mount_of(self, path: str) -> MountInfo | None:
        now = time.monotonic()
        if not self._mounts or now - self._mounts_at > _MOUNTS_TTL_SECONDS:
            fresh = [
                MountInfo(str(m["path"]), str(m.get("uri") or ""), bool(m.get("readonly")))
                for m in self.mounts()
            ]
            with self._lock:
                self._mounts = sorted(fresh, key=lambda m: len(m.path), reverse=True)
                self._mounts_at = now
        for mount in self._mounts:
            if mount.path in ("/", path) or path.startswith(f"{mount.path}/"):
                if mount.bucket_and_base is None:
                    self._proxied.add(mount.path)
                return mount
        return None

    def _fall_back(self, mount: str, error: StoreError) -> bool:
        """Whether ``error`` means the store is out of reach; if so, use the proxy from now on."""
        if not is_unreachable(error):
            return False
        self._use_proxy(mount, f"the store could not be reached directly ({error})")
        return True

    def _use_proxy(self, mount: str, why: str, *, level: int = logging.WARNING) -> None:
        with self._lock:
            if mount in self._proxied:
                return
            self._proxied.add(mount)
        LOGGER.log(level, "mount %s: file data goes through the server's data proxy: %s", mount, why)

    def uses_proxy(self, mount: str) -> bool:
        """Whether this client sends the mount's file data through the server (for diagnosis)."""
        return mount in self._proxied

    def scopes(self) -> list[DirectScope]:
        with self._lock:
            return [scope for scopes in self._scopes.values() for scope in scopes]

    def close(self) -> None:
        for scope in self.scopes():
            scope.close()
        self._scopes.clear()
        self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (nothing can be asked of the server any more)."""
        return self._transport.closed

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url}, token=****)"


def _key_from_vend(vended: Vended, path: str) -> str:
    assert vended.store is not None
    prefix = vended.store.prefix
    if prefix.endswith("/") or not prefix:
        relative = path[len(vended.path) :].lstrip("/") if path != vended.path else ""
        return f"{prefix}{relative}"
    return prefix


def _named(error: StoreError, path: str) -> StoreError:
    """The store's error, saying which namespace path it was about."""
    kind = type(error)
    return kind(f"{path}: {error}", bucket=error.bucket, key=error.key)


class _DirectWriter(ObjectWriter):
    """A store writer that tells the server about the file once it is committed."""

    def __init__(self, client: Client, path: str, inner: ObjectWriter) -> None:
        self._client = client
        self._path = path
        self._inner = inner

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._inner.write(data)
        except StoreError as error:
            raise _named(error, self._path) from None

    def close(self) -> PutResult:
        try:
            result = self._inner.close()
        except StoreError as error:
            raise _named(error, self._path) from None
        self._client._after_write(self._path, None)
        return result

    def abort(self) -> None:
        self._inner.abort()
