"""A directory's chain of effective attributes is kept between permission checks
(``MountTable.directory_chains``, made by ``access.lineage``) and made again after any change of
mounts or attributes, whether made here or by another process sharing the namespace. On a real
SeaweedFS and a real SQLite or PostgreSQL namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierstore.errors import AccessDeniedError
from tierstore.namespace.access import lineage
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.records import PathAttributes
from tierstore.namespace.metadata.store import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller


def _counting_lookups(table: MountTable) -> list[list[str]]:
    """Each ``attributes_of`` call's paths from now on."""
    asked: list[list[str]] = []
    metadata = table.metadata
    looked_up = metadata.attributes_of

    def counted(paths: list[str]) -> dict[str, PathAttributes]:
        asked.append(list(paths))
        return looked_up(paths)

    metadata.attributes_of = counted  # type: ignore[method-assign]
    return asked


def test_a_kept_chain_serves_the_next_path_and_a_chmod_above_is_seen_at_once(
    cached_table: MountTable,
) -> None:
    admin = FileSystem(cached_table)
    admin.chmod("/", "0711")
    admin.write("/d/e/f.txt", [b"f"])
    admin.write("/d/e/g.txt", [b"g"])
    admin.chmod("/d", "0755")
    bob = admin.as_caller(Caller(user="bob"))
    assert b"".join(bob.read("/d/e/f.txt")) == b"f"

    asked = _counting_lookups(cached_table)
    chain = lineage(cached_table, "/d/e/g.txt")
    assert [step.path for step in chain] == ["/", "/d", "/d/e", "/d/e/g.txt"]
    assert chain[-1].mode == 0o755  # inherited from /d through the kept chain
    assert asked == [["/d/e/g.txt"]]  # the directory's part came from what was kept

    admin.chmod("/d", "0700")
    with pytest.raises(AccessDeniedError, match="bob"):
        bob.read("/d/e/g.txt")
    assert lineage(cached_table, "/d/e/g.txt")[-1].mode == 0o700
    admin.chmod("/d/e", "0777")  # a change of the kept directory itself
    assert lineage(cached_table, "/d/e/g.txt")[-1].mode == 0o777


def test_a_change_made_by_another_process_is_seen_once_polled(
    cached_table: MountTable, metadata_url: str
) -> None:
    admin = FileSystem(cached_table)
    admin.chmod("/", "0711")
    admin.write("/shared/x/y.txt", [b"y"])
    admin.chmod("/shared", "0755")
    bob = admin.as_caller(Caller(user="bob"))
    assert b"".join(bob.read("/shared/x/y.txt")) == b"y"
    assert lineage(cached_table, "/shared/x/y.txt")[-1].mode == 0o755

    other = open_metadata(metadata_url, poll_interval=3600)  # another server on the namespace
    try:
        other.set_attributes("/shared", mode=0o700)
    finally:
        other.close()
    assert isinstance(cached_table.metadata, CachedMetadataStore)
    cached_table.metadata.poll_once()
    with pytest.raises(AccessDeniedError, match="bob"):
        bob.read("/shared/x/y.txt")


def test_a_metadata_store_that_reads_the_database_every_time_keeps_no_chain(namespace_config: Path) -> None:
    config = load_server_config(namespace_config)
    metadata = open_metadata(config.metadata_url)  # no poll interval: every read is a query
    assert not metadata.counts_generations
    table = MountTable(config, metadata)
    table.sync_root()
    try:
        admin = FileSystem(table)
        admin.write("/plain/dir/a.txt", [b"a"])
        admin.chmod("/plain", "0750")
        assert lineage(table, "/plain/dir/a.txt")[-1].mode == 0o750
        assert len(table.directory_chains) == 0
        metadata.set_attributes("/plain", mode=0o755)  # as another process would
        assert lineage(table, "/plain/dir/a.txt")[-1].mode == 0o755
    finally:
        table.close()
