"""Rows of the metadata tables as records, whichever driver read them.

A row is a mapping of column names to values as SQLAlchemy gives them back: booleans may be
0 and 1 (SQLite), timestamps are aware UTC datetimes, and the options column is the stored JSON,
whose encrypted secrets are opened here with the store's key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierstore.namespace.metadata.errors import MetadataError
from tierstore.namespace.metadata.records import MountRecord, PathAttributes, UserRecord
from tierstore.namespace.metadata.secrets_at_rest import SecretsKey, open_options, stored_options

# Mapping[Any, ...]: SQLAlchemy's RowMapping also takes Column objects as keys.
Row = Mapping[Any, Any]


def _text(row: Row, column: str) -> str:
    value = row[column]
    if not isinstance(value, str):
        raise MetadataError(f"column {column} holds {value!r} where text was expected")
    return value


def _optional_text(row: Row, column: str) -> str | None:
    return None if row[column] is None else _text(row, column)


def _optional_int(row: Row, column: str) -> int | None:
    value = row[column]
    if value is None:
        return None
    if not isinstance(value, int):
        raise MetadataError(f"column {column} holds {value!r} where an integer was expected")
    return value


def _options_from_json(path: str, raw: str, key: SecretsKey | None) -> dict[str, str]:
    """The options in clear: encrypted secrets (see ``secrets_at_rest``) decrypted with ``key``."""
    return open_options(stored_options(path, raw), key, mount=path)


def mount_from_row(row: Row, key: SecretsKey | None) -> MountRecord:
    path = _text(row, "path")
    created_at = row["created_at"]
    mode = _optional_int(row, "mode")
    if not isinstance(created_at, datetime) or mode is None:
        raise MetadataError(f"the stored mount at {path} has no creation time or no mode")
    return MountRecord(
        path=path,
        uri=_text(row, "uri"),
        options=_options_from_json(path, _text(row, "options"), key),
        readonly=bool(row["readonly"]),
        shared=bool(row["shared"]),
        owner=_text(row, "owner"),
        group=_text(row, "grp"),
        mode=mode,
        created_at=created_at,
    )


def attributes_from_row(row: Row) -> PathAttributes:
    return PathAttributes(
        path=_text(row, "path"),
        owner=_optional_text(row, "owner"),
        group=_optional_text(row, "grp"),
        mode=_optional_int(row, "mode"),
    )


def user_from_row(row: Row) -> UserRecord:
    name = _text(row, "name")
    try:
        groups = json.loads(_text(row, "groups"))
    except json.JSONDecodeError:
        groups = None
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise MetadataError(f"the stored groups of user {name} are not a JSON list of strings")
    created_at = row["created_at"]
    if not isinstance(created_at, datetime):
        raise MetadataError(f"the stored user {name} has no creation time")
    return UserRecord(
        name=name,
        token_sha256=_text(row, "token_sha256"),
        groups=tuple(groups),
        admin=bool(row["admin"]),
        created_at=created_at,
    )
