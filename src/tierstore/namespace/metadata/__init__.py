"""The namespace's metadata: the mount table, per-path attributes, users and their S3 keys, on
SQLite or PostgreSQL.

    store = open_metadata("sqlite:////var/lib/tierstore/metadata.db")
    store = open_metadata("postgresql+psycopg://tierstore@db.internal:5432/tierstore")

SQLite is the embedded default for one server; PostgreSQL lets several servers share one
namespace. Both go through the same SQLAlchemy Core queries and the same migrations; short-lived
commands read a SQLite file through the standard library instead (:mod:`.direct`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierstore.lazy import lazy_attributes
from tierstore.namespace.metadata.base import MetadataStore
from tierstore.namespace.metadata.errors import MetadataError, MetadataUnavailableError, MountExistsError
from tierstore.namespace.metadata.records import (
    MountRecord,
    PathAttributes,
    S3KeyInfo,
    S3KeyRecord,
    UserRecord,
    redact_options,
)

if TYPE_CHECKING:
    from tierstore.namespace.metadata.migrations import LATEST_VERSION
    from tierstore.namespace.metadata.store import open_metadata

__all__ = [
    "LATEST_VERSION",
    "MetadataError",
    "MetadataStore",
    "MetadataUnavailableError",
    "MountExistsError",
    "MountRecord",
    "PathAttributes",
    "S3KeyInfo",
    "S3KeyRecord",
    "UserRecord",
    "open_metadata",
    "redact_options",
]

# SQLAlchemy is imported by what uses it: the records and the store's interface are needed by
# every command that touches the namespace, SQLAlchemy (about 40 MB) by few of them.
__getattr__ = lazy_attributes(
    __name__,
    {
        "LATEST_VERSION": "tierstore.namespace.metadata.migrations",
        "open_metadata": "tierstore.namespace.metadata.store",
    },
)
