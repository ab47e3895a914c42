"""The schema's history: an ordered list of migrations, version N being ``MIGRATIONS[N - 1]``.

``migrate`` applies the missing ones in one transaction and records each in ``schema_version``.
Several processes may open one database at the same moment (servers sharing a PostgreSQL, or
a CLI next to a server on one SQLite file); the first to take the lock migrates, the others
wait for it and then find nothing left to do:

- PostgreSQL: a transaction-scoped advisory lock, released by the commit;
- SQLite: the transaction starts with BEGIN IMMEDIATE, which holds the file's write lock.

Each migration describes its tables as they were at that version rather than importing
``schema.py``, so replaying version 1 on a new database later still builds version 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from tierstore.namespace.metadata import schema
from tierstore.namespace.metadata.engine import Target, transaction
from tierstore.namespace.metadata.errors import MetadataError

Migration = Callable[[Connection], None]

# Any fixed bigint works; it only has to differ from other users' advisory locks in the same
# database. These are the bytes of "tierstor".
ADVISORY_LOCK_KEY = 0x7469_6572_7374_6F72


def _v1_create_tables(connection: Connection) -> None:
    tables = MetaData()
    Table(
        "mounts",
        tables,
        Column("path", schema.path_text(), primary_key=True),
        Column("uri", Text, nullable=False),
        Column("options", Text, nullable=False),
        Column("readonly", Boolean, nullable=False),
        Column("shared", Boolean, nullable=False),
        Column("owner", Text, nullable=False),
        Column("grp", Text, nullable=False),
        Column("mode", Integer, nullable=False),
        Column("created_at", schema.UtcDateTime(), nullable=False),
    )
    Table(
        "path_attributes",
        tables,
        Column("path", schema.path_text(), primary_key=True),
        Column("owner", Text, nullable=True),
        Column("grp", Text, nullable=True),
        Column("mode", Integer, nullable=True),
        Column("updated_at", schema.UtcDateTime(), nullable=False),
    )
    tables.create_all(connection)


def _v2_create_users(connection: Connection) -> None:
    """The users of the API server: a name, the SHA-256 of its bearer token, groups, admin flag.

    Kept beside the mount table so that servers sharing one PostgreSQL share their users too.
    """
    tables = MetaData()
    users = Table(
        "users",
        tables,
        Column("name", Text, primary_key=True),
        Column("token_sha256", Text, nullable=False),
        Column("groups", Text, nullable=False),
        Column("admin", Boolean, nullable=False),
        Column("created_at", schema.UtcDateTime(), nullable=False),
    )
    Index("users_token_sha256", users.c.token_sha256, unique=True)
    tables.create_all(connection)


def _v3_create_secrets_key(connection: Connection) -> None:
    """The id (never the key) of the key that encrypts secret mount options: one row, id 1.

    The rows themselves are encrypted by ``sealing.check_and_seal`` right after the schema
    migrations, on every start with a key: it needs the key file, which no migration has.
    """
    tables = MetaData()
    Table(
        "secrets_key",
        tables,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("kid", Text, nullable=False),
        Column("updated_at", schema.UtcDateTime(), nullable=False),
    )
    tables.create_all(connection)


def _v4_create_namespace_changes(connection: Connection) -> None:
    """A change counter per kind of data (mounts, attributes, users), each starting at 0.

    Servers keep the namespace in memory and poll these counters, so that a change made by
    any process sharing the database reaches every server within the poll interval.
    """
    changes = _namespace_changes()
    changes.create(connection)
    connection.execute(
        insert(changes), [{"kind": kind, "counter": 0} for kind in ("mounts", "attributes", "users")]
    )


def _namespace_changes() -> Table:
    """The change counters' table as version 4 made it (later versions add rows, never columns)."""
    return Table(
        "namespace_changes",
        MetaData(),
        Column("kind", Text, primary_key=True),
        Column("counter", BigInteger, nullable=False),
    )


def _v5_create_s3_keys(connection: Connection) -> None:
    """Users' S3 access keys, their secrets sealed under the secrets key, and a change counter
    of their own so that a revoked key is refused by every server within the poll interval.

    No foreign key to ``users``: SQLite enforces one only on connections that turn it on; the
    store removes a user's keys in the transaction that removes the user instead.
    """
    tables = MetaData()
    keys = Table(
        "s3_keys",
        tables,
        Column("access_key_id", Text, primary_key=True),
        Column("user_name", Text, nullable=False),
        Column("secret", Text, nullable=False),
        Column("created_at", schema.UtcDateTime(), nullable=False),
    )
    Index("s3_keys_user_name", keys.c.user_name)
    tables.create_all(connection)
    connection.execute(insert(_namespace_changes()).values(kind="s3_keys", counter=0))


def _v6_create_content_changes(connection: Connection) -> None:
    """The paths servers changed, numbered by a new "content" change counter, so that servers
    sharing the namespace (workers of ``--workers``, servers on one PostgreSQL) drop what their
    caches hold of a path another one wrote, within the poll interval."""
    tables = MetaData()
    Table(
        "content_changes",
        tables,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("path", Text, nullable=False),
    )
    tables.create_all(connection)
    connection.execute(insert(_namespace_changes()).values(kind="content", counter=0))


MIGRATIONS: tuple[Migration, ...] = (
    _v1_create_tables,
    _v2_create_users,
    _v3_create_secrets_key,
    _v4_create_namespace_changes,
    _v5_create_s3_keys,
    _v6_create_content_changes,
)
LATEST_VERSION = len(MIGRATIONS)


def current_version(connection: Connection) -> int:
    """The highest version recorded, 0 for a database never migrated."""
    found = connection.execute(select(func.max(schema.schema_version.c.version))).scalar_one_or_none()
    return int(found) if found is not None else 0


def migrate(engine: Engine, target: Target) -> tuple[int, int]:
    """Brings the database up to ``LATEST_VERSION``; returns (version found, version now)."""
    with transaction(engine, target, write=True) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        # The bookkeeping table itself is never altered, so it is created from schema.py.
        schema.schema_version.create(connection, checkfirst=True)
        found = current_version(connection)
        if found > LATEST_VERSION:
            raise MetadataError(
                f"metadata database {target.display} is at schema version {found}, but this "
                f"tierstore knows versions up to {LATEST_VERSION}: run a newer tierstore against it"
            )
        for version in range(found + 1, LATEST_VERSION + 1):
            MIGRATIONS[version - 1](connection)
            connection.execute(
                insert(schema.schema_version).values(version=version, applied_at=datetime.now(UTC))
            )
    return found, LATEST_VERSION
