"""The namespace's metadata: the mount table, per-path attributes and users, on SQLite or PostgreSQL.

    store = open_metadata("sqlite:////var/lib/tierstore/metadata.db")
    store = open_metadata("postgresql+psycopg://tierstore@db.internal:5432/tierstore")

SQLite is the embedded default for one server; PostgreSQL lets several servers share one
namespace. Both go through the same SQLAlchemy Core queries and the same migrations.
"""

from __future__ import annotations

from tierstore.namespace.metadata.errors import MetadataError, MetadataUnavailableError, MountExistsError
from tierstore.namespace.metadata.migrations import LATEST_VERSION
from tierstore.namespace.metadata.records import MountRecord, PathAttributes, UserRecord, redact_options
from tierstore.namespace.metadata.store import MetadataStore, open_metadata

__all__ = [
    "LATEST_VERSION",
    "MetadataError",
    "MetadataStore",
    "MetadataUnavailableError",
    "MountExistsError",
    "MountRecord",
    "PathAttributes",
    "UserRecord",
    "open_metadata",
    "redact_options",
]
