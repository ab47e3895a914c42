"""An admin (the namespace's superuser, as the server's admin users act) is never refused by mode
bits, so the permission checks build no chain of attributes for them: a read of a file, or the
checks before its overwrite, look up no row, where a named user's look up the file's own. On a
real SeaweedFS and a real SQLite or PostgreSQL namespace.

How a lookup is seen: the directory holds more rows than are kept together (DIRECTORY_ROWS), so
a file's own row is not in memory; under ``memory_only`` (the S3 gateway's event loop) reading it
raises NeedsIO, and outside it is a SELECT on ``path_attributes``.
"""

from __future__ import annotations

import pytest

from tests.namespace.crowded_rows import crowded_team, row_reads
from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import AccessDeniedError
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller

ADMIN = Caller(user="admin", superuser=True)


@pytest.fixture
def crowded(cached_table: MountTable, monkeypatch: pytest.MonkeyPatch) -> FileSystem:
    """/team (0777) holding five files of bob's (0644, a row each): more rows than are kept
    together, so a file's own row is read from the database when it is asked for; none is in
    memory to begin with."""
    tierstore = crowded_team(cached_table, monkeypatch, b"bob's")
    # A change of attributes drops every row kept: the next lookup of any is a query.
    tierstore.chmod("/team/f0.txt", "0640")
    return tierstore


def test_an_admins_read_and_overwrite_look_up_no_row(cached_table: MountTable, crowded: FileSystem) -> None:
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    admin = crowded.as_caller(ADMIN)
    with row_reads(metadata) as reads:
        with memory_only():  # as on the gateway's event loop: no NeedsIO for an admin
            target = admin._object_target("/team/f1.txt")
        prepared = admin._prepare_write("/team/f2.txt", exclusive=False)  # asks the store: no row
        assert (target.path, prepared.existing) == ("/team/f1.txt", "file")
        assert b"".join(admin.read("/team/f1.txt")) == b"bob's"
        assert reads == []
    admin.write("/team/f2.txt", [b"the admin's"])  # bob's 0644 file: the superuser may
    assert b"".join(crowded.read("/team/f2.txt")) == b"the admin's"


def test_a_named_users_read_still_looks_up_the_files_own_bits(
    cached_table: MountTable, crowded: FileSystem
) -> None:
    """The same lookups for anyone else: what the test above would see if the admin made them."""
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    crowded.chmod("/team/f1.txt", "0600")
    alice = crowded.as_caller(Caller(user="alice"))
    with memory_only(), pytest.raises(NeedsIO):
        alice._object_target("/team/f3.txt")
    with row_reads(metadata) as reads:
        assert b"".join(alice.read("/team/f3.txt")) == b"bob's"  # 0644: others may read
        assert reads != []
    with pytest.raises(AccessDeniedError, match="alice"):  # 0600: bob's alone
        b"".join(alice.read("/team/f1.txt"))
