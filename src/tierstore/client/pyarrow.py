"""pyarrow with tierstore's vended credentials: an ``S3FileSystem``, and one that renews itself.

    import pyarrow.parquet as pq
    from tierstore.client import Client
    from tierstore.client.pyarrow import s3_filesystem, refreshing_s3_filesystem

    with Client() as client:
        fs = s3_filesystem(client, "/mnt/s3/table/")    # or refreshing_s3_filesystem, same call
        pq.read_table(s3_path(client, "/mnt/s3/table/part-0.parquet"), filesystem=fs)

pyarrow's ``S3FileSystem`` takes fixed keys and cannot be told new ones: it works until the
vended credentials expire (``tierstore.vending.duration``, 3600 s by default, at least 900 s)
and fails after. For longer jobs, :func:`refreshing_s3_filesystem` gives a ``PyFileSystem`` that
builds a new ``S3FileSystem`` with new credentials when the old ones are due (the client's
refresh fraction or the server's ``refresh_at``) and sends every call to the current one. A file
opened before a rebuild keeps the credentials it was opened with, which stay valid until their
expiry: at least the refresh margin (60 s by default) after the rebuild. pyarrow is imported only
inside these functions.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierstore.client.tool_credentials import ToolCredentials
from tierstore.client.vended import Access
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshPolicy, utc_now

if TYPE_CHECKING:
    from tierstore.client.client import Client


def s3_path(client: Client, path: str) -> str:
    """``bucket/key`` of a namespace path: how pyarrow's S3 file system names it."""
    return client.s3_url(path).removeprefix("s3://")


def s3_filesystem(client: Client, path: str, access: Access = "read") -> Any:
    """A ``pyarrow.fs.S3FileSystem`` with the credentials vended now for ``path``.

    It does not renew them: use it for work that ends before they expire (see the module's
    notes), else :func:`refreshing_s3_filesystem`. Paths on it are ``bucket/key``
    (:func:`s3_path`).
    """
    tool = ToolCredentials(client, path, access)
    return build_filesystem(tool, tool.credentials())


def build_filesystem(tool: ToolCredentials, credentials: Credentials) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` for the store ``tool`` names, with these credentials."""
    from pyarrow import fs  # type: ignore[import-untyped]

    host, tls = tool.endpoint_host()
    options: dict[str, Any] = {
        "access_key": credentials.access_key_id,
        "secret_key": credentials.secret_access_key.reveal(),
        "session_token": credentials.session_token.reveal() if credentials.session_token else None,
        "region": tool.region,
    }
    if host is not None:
        options.update(
            endpoint_override=host,
            scheme="https" if tls else "http",
            force_virtual_addressing=not tool.path_style,
        )
    return fs.S3FileSystem(**options)


def refreshing_s3_filesystem(
    client: Client, path: str, access: Access = "read", *, refresh: RefreshPolicy | None = None
) -> Any:
    """A ``pyarrow.fs.PyFileSystem`` over ``S3FileSystem``s rebuilt with new credentials when due.

    Its ``handler`` has ``rebuilds`` (how many times new credentials came in) and ``current()``
    (the ``S3FileSystem`` in use). Paths are ``bucket/key``, as on :func:`s3_filesystem`.
    """
    from pyarrow import fs

    handler = _handler_class()(ToolCredentials(client, path, access, refresh=refresh))
    return fs.PyFileSystem(handler)


_HANDLER: type | None = None
_HANDLER_LOCK = threading.Lock()


def _handler_class() -> type:
    """The handler class, defined on first use: its base class is pyarrow's."""
    global _HANDLER  # noqa: PLW0603 (made once, on first use, so importing this module imports no pyarrow)
    with _HANDLER_LOCK:
        if _HANDLER is None:
            _HANDLER = _define_handler()
        return _HANDLER


def _define_handler() -> type:
    from pyarrow import fs

    class RefreshingS3Handler(fs.FileSystemHandler):  # type: ignore[misc]
        """Every call goes to the current ``S3FileSystem``, rebuilt when the credentials are due."""

        def __init__(self, tool: ToolCredentials) -> None:
            self.tool = tool
            self.rebuilds = 0
            self._lock = threading.Lock()
            self._installed = tool.credentials()
            self._fs = build_filesystem(tool, self._installed)
            self._due: datetime | None = tool.refresh_due_at()
            key = tool.key
            # ``bucket/prefix`` of a directory scope (None for a file's credentials).
            self._directory = f"{tool.bucket}/{key.rstrip('/')}" if key.endswith("/") else None

        def current(self) -> Any:
            due = self._due
            if due is None or utc_now() < due:
                return self._fs
            with self._lock:
                fresh = self.tool.credentials()  # vends again now (one caller; the rest wait here)
                if fresh is not self._installed:
                    self._fs = build_filesystem(self.tool, fresh)
                    self._installed = fresh
                    self.rebuilds += 1
                self._due = self.tool.refresh_due_at()
                return self._fs

        def __eq__(self, other: object) -> bool:
            return other is self

        def __ne__(self, other: object) -> bool:
            return other is not self

        __hash__ = object.__hash__

        def __repr__(self) -> str:
            return f"RefreshingS3Handler({self.tool!r}, rebuilds={self.rebuilds})"

        def __reduce__(self) -> str | tuple[object, ...]:
            return self.tool.__reduce__()

        def get_type_name(self) -> str:
            return "tierstore-s3"

        def normalize_path(self, path: str) -> str:
            normalized: str = self.current().normalize_path(path)
            return normalized

        def get_file_info(self, paths: list[str]) -> Any:
            # pyarrow asks for a directory by a HEAD of its own name (no "/") before it lists; a
            # directory's credentials cover what lies below it only, so that HEAD is refused
            # (403) and a dataset of the directory would not open. The directory itself is
            # answered here, the rest by the store.
            mine = [path for path in paths if path.strip("/") == self._directory]
            if not mine:
                return self.current().get_file_info(paths)
            others = iter(self.current().get_file_info([p for p in paths if p.strip("/") != self._directory]))
            return [
                fs.FileInfo(path, fs.FileType.Directory)
                if path.strip("/") == self._directory
                else next(others)
                for path in paths
            ]

        def get_file_info_selector(self, selector: Any) -> Any:
            return self.current().get_file_info(selector)

        def create_dir(self, path: str, recursive: bool) -> None:
            current = self.current()
            inside = path.strip("/")
            if not recursive or self._directory is None or not inside.startswith(f"{self._directory}/"):
                current.create_dir(path, recursive=recursive)
                return
            # A recursive create first asks whether the bucket exists (HeadBucket), which
            # credentials for a path inside it may not: below the vended directory, which exists,
            # each level is made one at a time instead.
            level = self._directory
            for name in inside[len(self._directory) + 1 :].split("/"):
                level = f"{level}/{name}"
                current.create_dir(level, recursive=False)

        def delete_dir(self, path: str) -> None:
            self.current().delete_dir(path)

        def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
            self.current().delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

        def delete_root_dir_contents(self) -> None:
            self.current().delete_dir_contents("/", accept_root_dir=True)

        def delete_file(self, path: str) -> None:
            self.current().delete_file(path)

        def move(self, src: str, dest: str) -> None:
            self.current().move(src, dest)

        def copy_file(self, src: str, dest: str) -> None:
            self.current().copy_file(src, dest)

        def open_input_stream(self, path: str) -> Any:
            return self.current().open_input_stream(path)

        def open_input_file(self, path: str) -> Any:
            return self.current().open_input_file(path)

        def open_output_stream(self, path: str, metadata: Any) -> Any:
            return self.current().open_output_stream(path, metadata=metadata)

        def open_append_stream(self, path: str, metadata: Any) -> Any:
            return self.current().open_append_stream(path, metadata=metadata)

    return RefreshingS3Handler
