"""A directory of more rows than the namespace keeps together, and what a test sees of the row
lookups: each SELECT on ``path_attributes`` sent to the metadata database while the context is
open (a real database's engine, SQLAlchemy's event)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata import cached as cached_module
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller


def crowded_team(table: MountTable, monkeypatch: pytest.MonkeyPatch, content: bytes) -> FileSystem:
    """/team (0777, under a 0711 ``/``) holding five files of bob's (``content``, a row each),
    with the rows kept together lowered to 3 (DIRECTORY_ROWS): a file's own row that is not in
    memory is read from the database. Returns tierstore's own view (no caller)."""
    monkeypatch.setattr(cached_module, "DIRECTORY_ROWS", 3)
    tierstore = FileSystem(table)
    tierstore.chmod("/", "0711")
    tierstore.mkdir("/team")
    tierstore.chmod("/team", "0777")
    bob = tierstore.as_caller(Caller(user="bob"))
    for number in range(5):
        bob.write(f"/team/f{number}.txt", [content])
    return tierstore


@contextmanager
def row_reads(metadata: CachedMetadataStore) -> Iterator[list[str]]:
    reads: list[str] = []

    def read(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "path_attributes" in statement:
            reads.append(statement)

    event.listen(metadata._engine, "before_cursor_execute", read)
    try:
        yield reads
    finally:
        event.remove(metadata._engine, "before_cursor_execute", read)
