"""A SQLite namespace read through the standard library's sqlite3, for short-lived commands.

``tierstore fs ls`` on the embedded default reads a handful of rows, but importing SQLAlchemy
alone took longer than the rest of the command and most of its memory. A command that opens a
SQLite database with :func:`open_direct` reads it with plain SQL instead, and writes through the
SQLAlchemy store, opened on its first write: every write, and every migration, sealing or
refusal at open, stays in one implementation (:mod:`.store`).

That holds only while opening needs nothing written. :func:`open_direct` returns None, and the
caller opens the SQLAlchemy store, unless the file exists in WAL mode at the schema version
these queries are written for and, when a key file is given, the database records that key's
id and every secret option and S3 key's secret is encrypted under it and opens. A new or older
database, a first start with a key, secrets still in clear, a wrong key or a damaged value all
go the usual way: migrated, sealed or refused with the usual message.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierstore.blocking import require_io
from tierstore.namespace.metadata.base import MetadataStore
from tierstore.namespace.metadata.errors import MetadataError
from tierstore.namespace.metadata.records import (
    MountRecord,
    PathAttributes,
    S3KeyInfo,
    S3KeyRecord,
    UserRecord,
    check_path,
    is_s3_key_id,
)
from tierstore.namespace.metadata.rows import attributes_from_row, mount_from_row, user_from_row
from tierstore.namespace.metadata.s3_key_rows import open_s3_secret, s3_key_from_row, s3_key_info_from_row
from tierstore.namespace.metadata.secrets_at_rest import (
    SecretsKey,
    has_plain_secret,
    load_key,
    open_options,
    stored_options,
)
from tierstore.namespace.metadata.sqlite_file import SQLITE_BUSY_TIMEOUT_SECONDS, make_private, unavailable

LOGGER = logging.getLogger("tierstore.namespace.metadata")

# The schema version the queries below are written for (``migrations.LATEST_VERSION`` when they
# were; a test keeps the two equal). A database at any other version is opened the usual way.
DIRECT_SCHEMA_VERSION = 6
_PREFIX = "sqlite:///"
_SECRETS_KEY_ROW = 1
_MOUNT_COLUMNS = "path, uri, options, readonly, shared, owner, grp, mode, created_at"
_ATTRIBUTE_COLUMNS = "path, owner, grp, mode"
_USER_COLUMNS = "name, token_sha256, groups, admin, created_at"
_S3_KEY_COLUMNS = "access_key_id, user_name, secret, created_at"


class _NeedsFullOpenError(Exception):
    """The database needs the SQLAlchemy store's open (a migration, sealing, or its refusal)."""


def _database_of(url: str) -> str | None:
    """The file of a plain ``sqlite:////absolute/path`` URL; None for anything else.

    Escapes (``%``), queries and fragments are left to SQLAlchemy's parser and its checks.
    """
    if not url.startswith(_PREFIX):
        return None
    database = url.removeprefix(_PREFIX)
    if not database.startswith("/") or any(char in database for char in "%?#"):
        return None
    return database


def _timestamp(value: Any) -> Any:
    """A stored timestamp as SQLAlchemy's SQLite dialect and ``schema.UtcDateTime`` give it back:
    ``datetime.fromisoformat`` of the text, naive values being UTC."""
    if not isinstance(value, str):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    found = dict(zip(row.keys(), tuple(row), strict=True))
    if "created_at" in found:
        found["created_at"] = _timestamp(found["created_at"])
    return found


class DirectSqliteStore(MetadataStore):
    """Reads with sqlite3; writes through the SQLAlchemy store, opened on the first write."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        url: str,
        database: str,
        *,
        key: SecretsKey | None,
        key_file: Path | None,
    ) -> None:
        self._connection = connection
        # One connection, shared by the threads of a command (a recursive copy lists in several).
        self._lock = threading.Lock()
        self._url = url
        self._database = database
        self._secrets_key = key
        self._key_file = key_file
        self._writer: MetadataStore | None = None
        self._writer_lock = threading.Lock()
        self.url_for_display: str = url

    def __repr__(self) -> str:
        return f"MetadataStore({self.url_for_display!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _select(self, query: str, parameters: Sequence[object] = ()) -> list[dict[str, Any]]:
        """One statement, in a transaction of its own as every SQLAlchemy store read is."""
        require_io("the metadata database")
        with self._lock:
            try:
                rows = self._connection.execute(query, parameters).fetchall()
            except (sqlite3.OperationalError, sqlite3.InterfaceError) as error:
                raise unavailable(self._database, " ".join(str(error).split())) from None
        return [_row(row) for row in rows]

    def _sql(self) -> MetadataStore:
        """The SQLAlchemy store, for writes: opened (migrations and key checks included) once."""
        with self._writer_lock:
            if self._writer is None:
                from tierstore.namespace.metadata.store import open_metadata

                self._writer = open_metadata(self._url, key_file=self._key_file)
            return self._writer

    # -- mounts ---------------------------------------------------------------------------

    def mounts(self) -> list[MountRecord]:
        rows = self._select(f"SELECT {_MOUNT_COLUMNS} FROM mounts ORDER BY path")
        return [mount_from_row(row, self._secrets_key) for row in rows]

    def mount(self, path: str) -> MountRecord | None:
        check_path(path, "mount path")
        rows = self._select(f"SELECT {_MOUNT_COLUMNS} FROM mounts WHERE path = ?", (path,))
        return mount_from_row(rows[0], self._secrets_key) if rows else None

    def add_mount(self, record: MountRecord) -> None:
        self._sql().add_mount(record)

    def replace_mount(self, record: MountRecord) -> None:
        self._sql().replace_mount(record)

    def remove_mount(self, path: str) -> bool:
        return self._sql().remove_mount(path)

    # -- path attributes ------------------------------------------------------------------

    def set_attributes(
        self,
        path: str,
        *,
        owner: str | None = None,
        group: str | None = None,
        mode: int | None = None,
    ) -> PathAttributes:
        return self._sql().set_attributes(path, owner=owner, group=group, mode=mode)

    def attributes(self, path: str) -> PathAttributes | None:
        check_path(path)
        rows = self._select(f"SELECT {_ATTRIBUTE_COLUMNS} FROM path_attributes WHERE path = ?", (path,))
        return attributes_from_row(rows[0]) if rows else None

    def attributes_of(self, paths: list[str]) -> dict[str, PathAttributes]:
        for path in paths:
            check_path(path)
        if not paths:
            return {}
        marks = ", ".join("?" * len(paths))
        query = f"SELECT {_ATTRIBUTE_COLUMNS} FROM path_attributes WHERE path IN ({marks})"
        return _by_path(self._select(query, paths))

    def attributes_under(self, path: str) -> dict[str, PathAttributes]:
        check_path(path)
        if path == "/":
            rows = self._select(f"SELECT {_ATTRIBUTE_COLUMNS} FROM path_attributes ORDER BY path")
        else:
            # The range of store._under: "0" is the character right after "/".
            rows = self._select(
                f"SELECT {_ATTRIBUTE_COLUMNS} FROM path_attributes "
                "WHERE path = ? OR (path >= ? AND path < ?) ORDER BY path",
                (path, path + "/", path + "0"),
            )
        return _by_path(rows)

    def move_attributes(self, source: str, dest: str) -> None:
        self._sql().move_attributes(source, dest)

    def remove_attributes_under(self, path: str) -> int:
        return self._sql().remove_attributes_under(path)

    # -- users ----------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        rows = self._select(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [user_from_row(row) for row in rows]

    def user_by_token_hash(self, token_sha256: str) -> UserRecord | None:
        rows = self._select(f"SELECT {_USER_COLUMNS} FROM users WHERE token_sha256 = ?", (token_sha256,))
        return user_from_row(rows[0]) if rows else None

    def add_user(self, record: UserRecord) -> None:
        self._sql().add_user(record)

    def remove_user(self, name: str) -> bool:
        return self._sql().remove_user(name)

    # -- S3 access keys -------------------------------------------------------------------

    def s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        where, parameters = ("WHERE user_name = ? ", (user,)) if user is not None else ("", ())
        rows = self._select(
            f"SELECT access_key_id, user_name, created_at FROM s3_keys {where}"
            "ORDER BY user_name, created_at, access_key_id",
            parameters,
        )
        return [s3_key_info_from_row(row) for row in rows]

    def s3_key(self, access_key_id: str) -> S3KeyRecord | None:
        if not is_s3_key_id(access_key_id):
            return None
        rows = self._select(
            f"SELECT {_S3_KEY_COLUMNS} FROM s3_keys WHERE access_key_id = ?", (access_key_id,)
        )
        return s3_key_from_row(rows[0], self._secrets_key) if rows else None

    def add_s3_key(self, record: S3KeyRecord) -> None:
        self._sql().add_s3_key(record)

    def remove_s3_key(self, access_key_id: str) -> bool:
        return self._sql().remove_s3_key(access_key_id)

    def remove_s3_keys_of(self, user: str) -> int:
        return self._sql().remove_s3_keys_of(user)

    # -- changes and life cycle -----------------------------------------------------------

    def change_counters(self) -> dict[str, int]:
        rows = self._select("SELECT kind, counter FROM namespace_changes")
        return {str(row["kind"]): int(row["counter"]) for row in rows}

    def close(self) -> None:
        with self._lock:
            self._connection.close()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _by_path(rows: Iterable[dict[str, Any]]) -> dict[str, PathAttributes]:
    return {attributes.path: attributes for attributes in map(attributes_from_row, rows)}


def open_direct(url: str, *, key_file: Path | None) -> DirectSqliteStore | None:
    """The database at ``url`` read directly, or None when opening it needs the SQLAlchemy
    store (see the module's docstring); ``key_file`` as for ``open_metadata``."""
    database = _database_of(url)
    if database is None or not Path(database).is_file():
        return None
    make_private(database, url)  # as the SQLAlchemy store's open does, before SQLite opens it
    try:
        connection = sqlite3.connect(
            database, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error:
        return None
    connection.row_factory = sqlite3.Row
    try:
        key = _checked_key(connection, key_file)
    except (_NeedsFullOpenError, sqlite3.Error, MetadataError):
        connection.close()
        return None
    LOGGER.info("metadata database %s opened for reading (schema version %d)", url, DIRECT_SCHEMA_VERSION)
    return DirectSqliteStore(connection, url, database, key=key, key_file=key_file)


def _checked_key(connection: sqlite3.Connection, key_file: Path | None) -> SecretsKey | None:
    """What ``open_metadata`` would check, without writing: _NeedsFullOpenError wherever it would write
    (migrate, make a key, seal) or refuse. The key of ``key_file``, None without one."""
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        raise _NeedsFullOpenError("not in WAL mode yet")  # the SQLAlchemy store's first connection sets it
    connection.execute("BEGIN")  # the checks below see one state of the database
    try:
        (version,) = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        recorded = connection.execute("SELECT kid FROM secrets_key WHERE id = ?", (_SECRETS_KEY_ROW,))
        kid = recorded.fetchone()
        rows = connection.execute("SELECT path, options FROM mounts ORDER BY path").fetchall()
        s3_rows = (
            connection.execute("SELECT access_key_id, user_name, secret FROM s3_keys").fetchall()
            if version == DIRECT_SCHEMA_VERSION
            else []
        )
    finally:
        connection.execute("COMMIT")
    if version != DIRECT_SCHEMA_VERSION:
        raise _NeedsFullOpenError(f"schema version {version}")
    if key_file is None:
        return None  # as open_metadata without a key: secret options are opened by nobody
    if kid is None or not key_file.exists():
        raise _NeedsFullOpenError("no key recorded, or no key file")  # a key to make, or a refusal
    key = load_key(key_file)
    if key.kid != kid[0]:
        raise _NeedsFullOpenError("another key")  # refused by the SQLAlchemy store, naming the mounts
    for path, raw in rows:
        stored = stored_options(path, raw)
        if has_plain_secret(stored):
            raise _NeedsFullOpenError("a secret in clear")  # sealed by the SQLAlchemy store's open
        open_options(stored, key, mount=path)  # every encrypted value must open, as at every start
    for access_key_id, user, raw in s3_rows:
        open_s3_secret(access_key_id, user, raw, key)  # so must every S3 key's secret
    return key
