"""The tables as the store's queries see them: the shape after the latest migration.

``migrations.py`` builds the database; these definitions only describe it for SQLAlchemy Core.
A migration that changes a table changes it here too (``test_metadata`` checks the two agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def path_text() -> TypeEngine[str]:
    """TEXT compared byte by byte: "C" collation on PostgreSQL, SQLite's default BINARY elsewhere.

    Subtree queries use the range ``[p + "/", p + "0")`` ("0" follows "/"), which selects exactly
    the paths below ``p`` only in code point order; a locale collation (en_US) would mix in
    others and could not use the primary key index for it.
    """
    return Text().with_variant(Text(collation="C"), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out, on both backends.

    PostgreSQL keeps it as timestamptz; SQLite has no time zones, so it is stored as naive UTC
    and given its zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone; give an aware datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

mounts = Table(
    "mounts",
    metadata,
    Column("path", path_text(), primary_key=True),
    Column("uri", Text, nullable=False),
    # JSON text of a str -> str dict; TEXT rather than a JSON type so both backends store it alike.
    Column("options", Text, nullable=False),
    Column("readonly", Boolean, nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("owner", Text, nullable=False),
    Column("grp", Text, nullable=False),
    Column("mode", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

path_attributes = Table(
    "path_attributes",
    metadata,
    Column("path", path_text(), primary_key=True),
    Column("owner", Text, nullable=True),
    Column("grp", Text, nullable=True),
    Column("mode", Integer, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", Text, primary_key=True),
    # Hex SHA-256 of the bearer token; the token itself is never stored.
    Column("token_sha256", Text, nullable=False, unique=True),
    # JSON list of group names.
    Column("groups", Text, nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# The id of the key that encrypts the secret mount options (one row, id 1; no row: none yet).
# A process holding another key refuses to start, and one whose key was rotated refuses to write.
secrets_key = Table(
    "secrets_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("kid", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Users' S3 access keys. The secret is kept encrypted (JSON of a sealed value, bound to the key id
# and the user: see metadata.s3_key_rows), since verifying a signature needs it in clear.
s3_keys = Table(
    "s3_keys",
    metadata,
    Column("access_key_id", Text, primary_key=True),
    Column("user_name", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("s3_keys_user_name", s3_keys.c.user_name)

# One row per kind of namespace data ("mounts", "attributes", "users", "s3_keys", "content"), its
# counter raised in the same transaction as every change of that kind. Servers sharing the
# database poll these numbers to know when what they hold in memory went stale (see
# metadata.cached). "content" counts the paths written or removed through a server, each kept in
# content_changes under the counter's value it was given.
CHANGE_KINDS = ("mounts", "attributes", "users", "s3_keys", "content")
namespace_changes = Table(
    "namespace_changes",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("counter", BigInteger, nullable=False),
)

# The paths whose content a server changed (a file written, moved or removed), numbered by the
# "content" change counter: servers sharing the namespace (the workers of --workers, servers on one
# PostgreSQL) read the new ones when the counter moves and drop what their caches hold of them.
# Only the latest CONTENT_CHANGES_KEPT are kept; a server further behind empties its cache.
CONTENT_CHANGES_KEPT = 10_000
content_changes = Table(
    "content_changes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("path", Text, nullable=False),
)
