"""``tierstore://`` for fsspec, pandas and pyarrow: the namespace of a tierstore server.

    pandas.read_parquet("tierstore:///mnt/s3/events.parquet", storage_options={"server": ..., "token": ...})
    fsspec.open("tierstore://mnt/s3/notes.txt", "rb")        # url/token from $TIERSTORE_URL, $TIERSTORE_TOKEN

Listings and stats, mkdir, rm and mv go through the server (its permissions apply); file data
goes straight to the store with vended credentials (see :class:`tierstore.client.Client`).
Whole-file reads and writes (``cat_file``, ``pipe_file``, ``get_file``, ``put_file``) take the
store's fast paths; ``open`` gives a buffered file whose reads are ranged GETs and whose writes
stream into a multipart upload, so memory stays bounded whatever the size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem  # type: ignore[import-untyped]

from tierstore.client.client import Client
from tierstore.client.listings_cache import BoundedListings
from tierstore.credentials.refresh import RefreshPolicy
from tierstore.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    TierstoreError,
)
from tierstore.settings.secret import Secret
from tierstore.storage.interface import ObjectWriter

PROTOCOL = "tierstore"
DEFAULT_BLOCK_SIZE = 16 * 1024 * 1024
LISTINGS_EXPIRY_SECONDS = 10.0
# Listings kept at most (the most recently set; ``max_paths=`` changes it): see listings_cache.
LISTINGS_CACHED_AT_MOST = 1024


@contextlib.contextmanager
def _as_os_errors(path: str) -> Iterator[None]:
    """tierstore errors as the builtin exceptions fsspec callers (pandas, pyarrow) expect."""
    try:
        yield
    except NotFoundError as error:
        raise FileNotFoundError(2, str(error), path) from error
    except AccessDeniedError as error:
        raise PermissionError(13, str(error), path) from error
    except ConflictError as error:
        raise FileExistsError(17, str(error), path) from error


class TierstoreFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The namespace of one tierstore server.

    ``server`` (the server's URL) and ``token`` default to ``$TIERSTORE_URL`` and
    ``$TIERSTORE_TOKEN``; the option is not called ``url`` because pandas' ``storage_options``
    and ``fsspec.open`` already take a ``url`` of their own.
    """

    protocol = PROTOCOL
    root_marker = "/"
    sep = "/"

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        url: str | None = None,
        refresh_fraction: float | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        client: Client | None = None,
        **kwargs: Any,
    ) -> None:
        # Listings are cached briefly (as long as the server's own cache, by default) and dropped
        # for every path this filesystem changes: fsspec's copy/get/put ask for the same stats
        # many times over.
        kwargs.setdefault("use_listings_cache", True)
        kwargs.setdefault("listings_expiry_time", LISTINGS_EXPIRY_SECONDS)
        super().__init__(**kwargs)
        self.dircache = BoundedListings(
            int(kwargs.get("max_paths") or LISTINGS_CACHED_AT_MOST),
            expiry_seconds=kwargs["listings_expiry_time"],
            use_listings_cache=bool(kwargs["use_listings_cache"]),
        )
        refresh = RefreshPolicy(fraction=refresh_fraction) if refresh_fraction is not None else None
        # Not ``url=``: fsspec.open and pandas take ``url`` themselves (it stays as an alias for
        # fsspec.filesystem("tierstore", url=...), which has no such clash).
        self.client = client or Client(server or url, Secret(token) if token else None, refresh=refresh)
        self.blocksize = block_size

    # -- paths ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        if text.startswith(f"{PROTOCOL}://"):
            text = text[len(PROTOCOL) + 3 :]
        elif text.startswith(f"{PROTOCOL}:"):
            text = text[len(PROTOCOL) + 1 :]
        text = "/" + text.lstrip("/")
        return text.rstrip("/") or "/"

    @classmethod
    def _get_kwargs_from_urls(cls, path: str) -> dict[str, Any]:
        return {}

    def unstrip_protocol(self, name: str) -> str:
        return f"{PROTOCOL}://{self._strip_protocol(name)}"

    # -- metadata through the server ------------------------------------------------------

    def ls(self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        entries: list[dict[str, Any]] | None = None if refresh else self._cached_listing(path)
        if entries is None:
            with _as_os_errors(path):
                # One request: the server answers a file's own status for ``ls`` of a file.
                entries = [self._info(entry) for entry in self.client.ls(path)]
            if not (len(entries) == 1 and entries[0]["name"] == path and entries[0]["type"] == "file"):
                self.dircache[path] = entries
        return entries if detail else [entry["name"] for entry in entries]

    def _cached_listing(self, path: str) -> list[dict[str, Any]] | None:
        try:
            listing: list[dict[str, Any]] = self.dircache[path]
        except KeyError:
            return None
        return listing

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path in self.dircache:
            return {"name": path, "size": 0, "type": "directory"}
        parent = self._parent(path)
        siblings = self._cached_listing(parent) if path != "/" else None
        if siblings is not None:
            for entry in siblings:
                if entry["name"] == path:
                    return entry
            raise FileNotFoundError(2, f"{path}: no such file or directory", path)
        with _as_os_errors(path):
            return self._info(self.client.stat(path))

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
        else:
            path = self._strip_protocol(path)
            inside = "/" if path == "/" else f"{path}/"
            for cached in list(self.dircache):
                if cached == path or cached.startswith(inside) or inside.startswith(f"{cached.rstrip('/')}/"):
                    self.dircache.pop(cached, None)
        super().invalidate_cache(path)

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        path = self._strip_protocol(path)
        found: dict[str, dict[str, Any]] = {}
        try:
            top = self.info(path)
        except FileNotFoundError:
            return {} if detail else []
        if top["type"] == "directory":
            if withdirs:
                found[path] = top
            with _as_os_errors(path):
                entries = [self._info(entry) for entry in self.client.ls(path, recursive=True)]
            self._cache_tree(path, entries)
            for info in entries:
                if withdirs or info["type"] != "directory":
                    found[info["name"]] = info
        else:
            found[path] = top
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    def _cache_tree(self, top: str, entries: list[dict[str, Any]]) -> None:
        """A recursive listing is every directory's listing at once: cache them all."""
        listings: dict[str, list[dict[str, Any]]] = {top: []}
        listings.update({e["name"]: [] for e in entries if e["type"] == "directory"})
        for entry in entries:
            parent = self._parent(entry["name"])
            if parent in listings:
                listings[parent].append(entry)
        for directory, listing in listings.items():
            self.dircache[directory] = listing

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self.invalidate_cache(path)
        with _as_os_errors(path):
            self.client.mkdir(path, parents=create_parents)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if not exist_ok and self.exists(path):
            raise FileExistsError(17, f"{path} already exists", path)
        try:
            self.mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok or not self.isdir(path):
                raise

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        self.invalidate_cache(path)
        with _as_os_errors(path):
            self.client.rm(path)

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        self.invalidate_cache(path)
        with _as_os_errors(path):
            self.client.rm(path)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        if maxdepth is not None:
            super().rm(path, recursive=recursive, maxdepth=maxdepth)
            return
        # Globs and lists expanded here; recursion left to the server (one call per tree).
        targets = self.expand_path(path, recursive=False)
        for target in sorted(targets, reverse=True):
            self.invalidate_cache(target)
            with _as_os_errors(target):
                try:
                    self.client.rm(target, recursive=recursive)
                except NotFoundError:
                    if target in targets and not recursive:
                        raise

    def mv(
        self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        if (
            isinstance(path1, str)
            and isinstance(path2, str)
            and not any(c in path1 for c in "*?[")
            and maxdepth is None
        ):
            source, dest = self._strip_protocol(path1), self._strip_protocol(path2)
            if self.isdir(dest):
                dest = f"{dest.rstrip('/')}/{source.rsplit('/', 1)[-1]}"
            self.invalidate_cache(source)
            self.invalidate_cache(dest)
            with _as_os_errors(source):
                self.client.mv(source, dest)
            return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def chmod(self, path: str, mode: str) -> None:
        self.invalidate_cache(path)
        with _as_os_errors(path):
            self.client.chmod(self._strip_protocol(path), mode)

    def modified(self, path: str) -> datetime:
        modified = self.info(path).get("modified")
        if not modified:
            raise IsADirectoryError(21, "no modification time for a directory", path)
        return datetime.fromisoformat(str(modified).replace("Z", "+00:00"))

    def created(self, path: str) -> datetime:
        return self.modified(path)

    @staticmethod
    def _info(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": entry["path"],
            "size": int(entry.get("size") or 0),
            "type": entry.get("type", "file"),
            "modified": entry.get("modified"),
            "owner": entry.get("owner"),
            "group": entry.get("group"),
            "mode": entry.get("mode"),
            "mount": entry.get("mount"),
        }

    # -- file data straight to the store ----------------------------------------------------

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = self.info(path)["size"]
            start = size + start if start is not None and start < 0 else start
            end = size + end if end is not None and end < 0 else end
        with _as_os_errors(path):
            return self.client.read(path, start=start, end=end)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if mode == "create" and self.exists(path):
            raise FileExistsError(17, f"{path} already exists (mode='create')", path)
        self.invalidate_cache(path)
        with _as_os_errors(path):
            self.client.write(path, value)

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any
    ) -> None:
        rpath = self._strip_protocol(rpath)
        if outfile is None and hasattr(lpath, "write"):
            outfile = lpath
        if outfile is None:
            if self.isdir(rpath):
                os.makedirs(lpath, exist_ok=True)
                return
            parent = os.path.dirname(os.fspath(lpath))
            if parent:
                os.makedirs(parent, exist_ok=True)
        with contextlib.ExitStack() as stack:
            out = outfile if outfile is not None else stack.enter_context(open(lpath, "wb"))
            with _as_os_errors(rpath):
                for chunk in self.client.iter_read(rpath):
                    out.write(chunk)
                    if callback is not None:
                        callback.relative_update(len(chunk))

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        source, dest = self._strip_protocol(path1), self._strip_protocol(path2)
        if self.isdir(source):
            self.makedirs(dest, exist_ok=True)
            return
        self.invalidate_cache(dest)
        with _as_os_errors(source), self.client.open_write(dest) as writer:
            for chunk in self.client.iter_read(source):
                writer.write(chunk)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TierstoreFile:
        path = self._strip_protocol(path)
        if "a" in mode or "+" in mode:
            raise ValueError(
                f"open {path} with mode {mode!r}: tierstore files are read (rb) or written whole (wb, xb)"
            )
        if "x" in mode and self.exists(path):
            raise FileExistsError(17, f"{path} already exists (mode {mode!r})", path)
        if "r" in mode and kwargs.get("size") is None:
            # A missing file is a FileNotFoundError here, not on the first read.
            kwargs["size"] = self.info(path)["size"]
        return TierstoreFile(
            self,
            path,
            mode="rb" if "r" in mode else "wb",
            block_size=block_size or self.blocksize,
            autocommit=autocommit,
            cache_options=cache_options,
            **kwargs,
        )


class TierstoreFile(AbstractBufferedFile):  # type: ignore[misc]
    """Reads are ranged GETs to the store; writes stream into one multipart upload."""

    fs: TierstoreFileSystem

    def __init__(self, fs: TierstoreFileSystem, path: str, mode: str = "rb", **kwargs: Any) -> None:
        super().__init__(fs, path, mode=mode, **kwargs)
        self._writer: ObjectWriter | None = None

    def _fetch_range(self, start: int, end: int) -> bytes:
        with _as_os_errors(self.path):
            return self.fs.client.read(self.path, start=start, end=end)

    def _initiate_upload(self) -> None:
        self.fs.invalidate_cache(self.path)
        with _as_os_errors(self.path):
            self._writer = self.fs.client.open_write(self.path)

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._writer is not None
        with _as_os_errors(self.path):
            self._writer.write(self.buffer.getbuffer())
            if final:
                self._writer.close()
                self.fs.invalidate_cache(self.path)
        return True

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        super().discard()

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None and "w" in self.mode and not self.closed:
            # A failed block leaves nothing behind rather than a half-written file.
            self.discard()
            self.closed: bool = True
            return
        self.close()


__all__ = ["TierstoreError", "TierstoreFile", "TierstoreFileSystem"]
