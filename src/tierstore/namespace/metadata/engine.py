"""Which databases the metadata store accepts, and the pooled SQLAlchemy engine it talks through.

Two backends behind one set of Core queries:

- SQLite (the embedded default): one file, WAL so readers never wait for the writer, the
  connection shared between threads through the pool, and every write transaction opened with
  ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of one failing at
  once with "database is locked" when it upgrades a read lock.
- PostgreSQL through psycopg 3, for several servers sharing one namespace.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from tierstore.errors import ConfigError
from tierstore.namespace.metadata.errors import MetadataUnavailableError
from tierstore.namespace.metadata.records import is_secret_option
from tierstore.namespace.metadata.sqlite_file import SQLITE_BUSY_TIMEOUT_SECONDS, unavailable

LOGGER = logging.getLogger("tierstore.namespace.metadata")

ACCEPTED = (
    "sqlite:////absolute/path/metadata.db (the embedded default) or "
    "postgresql+psycopg://user[:password]@host[:port]/database"
)
POSTGRES_DRIVER = "postgresql+psycopg"
POSTGRES_DEFAULT_PORT = 5432
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# Marks a connection whose transaction will write; on SQLite it starts with BEGIN IMMEDIATE.
_WRITE_OPTION = "tierstore_write"
_MASK = "***"


@dataclass(frozen=True)
class Target:
    """A database the store may open: the URL to connect with, and how to name it in messages."""

    url: URL
    display: str  # the URL with its password masked
    where: str  # "host:port" or the SQLite file: what an unreachable-database message names
    password: str | None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def mask_raw_url(raw: str) -> str:
    """A URL that may not even parse, with whatever looks like a password masked."""
    # Greedy to the last "@": a password with an unescaped "@" in it is still masked whole.
    masked = re.sub(r"(://[^:/?#@]*:).*@", rf"\g<1>{_MASK}@", raw)
    return re.sub(r"((?:password|secret|token)[^=&]*=)[^&]*", rf"\g<1>{_MASK}", masked, flags=re.IGNORECASE)


def _display(url: URL) -> str:
    secret_query = {key: _MASK for key in url.query if is_secret_option(key)}
    return url.update_query_dict(secret_query).render_as_string(hide_password=True)


def _bad_url(raw: str, why: str) -> ConfigError:
    return ConfigError(f"metadata database URL {mask_raw_url(raw)!r} {why}; accepted: {ACCEPTED}")


def parse_url(raw: str) -> Target:
    """The database ``raw`` names, or ConfigError naming the (masked) URL and what is accepted."""
    try:
        url = make_url(raw)
    except (exc.ArgumentError, ValueError):
        raise _bad_url(raw, "is not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise _bad_url(raw, f"names SQLite driver {url.get_driver_name()!r}; only the built-in one works")
        if url.host or url.username or url.password or url.port:
            raise _bad_url(raw, "has a host or user; a SQLite URL is sqlite:// followed by a file path")
        if url.query:
            raise _bad_url(raw, "has query parameters, which the SQLite store does not take")
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise _bad_url(raw, "names no file; the metadata must outlive the process")
        if not os.path.isabs(database):
            raise _bad_url(raw, f"names the relative path {database!r}; give an absolute one (four slashes)")
        return Target(url=url, display=_display(url), where=database, password=None)
    if backend == "postgresql":
        if url.drivername not in ("postgresql", POSTGRES_DRIVER):
            raise _bad_url(raw, f"names PostgreSQL driver {url.get_driver_name()!r}; use psycopg (v3)")
        url = url.set(drivername=POSTGRES_DRIVER)
        if not url.host:
            raise _bad_url(raw, "names no host")
        if not url.database:
            raise _bad_url(raw, "names no database")
        where = f"{url.host}:{url.port or POSTGRES_DEFAULT_PORT}"
        return Target(url=url, display=_display(url), where=where, password=url.password)
    raise _bad_url(raw, f"names the {backend!r} backend")


def _switch_to_wal(cursor: Any) -> str:
    """``PRAGMA journal_mode=WAL``, waiting out other connections doing the same.

    Turning a new database file to WAL takes an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, to a connection that asks while another converts
    it: several processes opening a new database together would fail. The switch happens once
    per file, so a short wait up to the busy timeout is enough.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            return str(cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine, target: Target) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # pysqlite's own transaction handling emits no BEGIN before reads and cannot do
        # BEGIN IMMEDIATE; switch it off and let the "begin" hook below say BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            mode = _switch_to_wal(cursor)
            # Deleted and overwritten rows are zeroed, not left in free space: a replaced mount's
            # options (a secret under an old key, or one written in clear before) do not linger.
            cursor.execute("PRAGMA secure_delete=ON")
        finally:
            cursor.close()
        if str(mode).lower() != "wal":
            # Happens on file systems without shared memory (some network mounts); still works,
            # but readers then wait for writers.
            LOGGER.warning("metadata database %s: journal mode is %s, not WAL", target.where, mode)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def create_store_engine(target: Target) -> Engine:
    """A pooled engine for ``target``. It connects lazily; the first query says if it is reachable."""
    # Statement parameters carry mount options (secrets among them): keep them out of SQLAlchemy's
    # log lines and exception messages.
    if target.is_sqlite:
        engine = create_engine(
            target.url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        _configure_sqlite(engine, target)
        return engine
    return create_engine(
        target.url,
        hide_parameters=True,
        # A server restarted under a long-lived process leaves dead connections in the pool.
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
            "application_name": "tierstore",
        },
    )


def _driver_detail(error: exc.DBAPIError, target: Target) -> str:
    detail = " ".join(str(error.orig).split()) or type(error.orig).__name__
    if target.password:
        detail = detail.replace(target.password, _MASK)
    return detail


@contextmanager
def unavailable_as_error(target: Target) -> Iterator[None]:
    """Turns "cannot connect / cannot open / locked too long" into MetadataUnavailableError."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        detail = _driver_detail(error, target)
        # The driver's exception is not chained: its arguments may carry the connection string.
        if target.is_sqlite:
            raise unavailable(target.where, detail) from None
        hint = "check that PostgreSQL runs there, accepts this user, and has the database"
        message = f"metadata database at {target.where} ({target.display}) cannot be used: {detail}; {hint}"
        raise MetadataUnavailableError(message, where=target.where) from None


@contextmanager
def transaction(engine: Engine, target: Target, *, write: bool) -> Iterator[Connection]:
    """One pooled connection in one transaction, committed when the block ends without error."""
    with unavailable_as_error(target), engine.connect() as connection:
        if write:
            connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


def is_unique_violation(error: exc.IntegrityError) -> bool:
    orig = error.orig
    if isinstance(orig, sqlite3.IntegrityError):
        return getattr(orig, "sqlite_errorname", "") in (
            "SQLITE_CONSTRAINT_PRIMARYKEY",
            "SQLITE_CONSTRAINT_UNIQUE",
        )
    return getattr(orig, "sqlstate", None) == "23505"
