"""The server's metadata store in memory (``CachedMetadataStore``), on SQLite and PostgreSQL.

One store answers from memory; a second, plain one plays another process sharing the database.
The poller is given an hour between polls so each test decides when a poll happens
(``poll_once``); the servers' own timing is tested in tests/server/test_shared_servers.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, text

from tests.namespace.test_metadata import mount_record, user_record
from tierstore.blocking import NeedsIO, memory_only
from tierstore.namespace.metadata import MetadataStore, open_metadata
from tierstore.namespace.metadata import cached as cached_module
from tierstore.namespace.metadata.cached import CachedMetadataStore


@pytest.fixture
def stores(metadata_url: str) -> Iterator[tuple[CachedMetadataStore, MetadataStore]]:
    cached = open_metadata(metadata_url, poll_interval=3600)
    assert isinstance(cached, CachedMetadataStore)
    other = open_metadata(metadata_url)
    try:
        yield cached, other
    finally:
        cached.close()
        other.close()


def test_reads_come_from_memory_until_a_poll_sees_another_process_write(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    assert cached.mounts() == []
    assert cached.attributes_of(["/a"]) == {}
    other.add_mount(mount_record("/mnt/x"))
    other.set_attributes("/a", mode=0o700)
    other.add_user(user_record("bob", "b" * 64))
    # Still what memory holds: no query was made.
    with memory_only():
        assert cached.mounts() == []
        assert cached.attributes_of(["/a"]) == {}
    cached.poll_once()
    assert [record.path for record in cached.mounts()] == ["/mnt/x"]
    assert cached.attributes_of(["/a"])["/a"].mode == 0o700
    found = cached.user_by_token_hash("b" * 64)
    assert found is not None and found.name == "bob"
    other.remove_user("bob")
    with memory_only():
        assert cached.user_by_token_hash("b" * 64) is not None  # not polled yet
    cached.poll_once()
    assert cached.user_by_token_hash("b" * 64) is None


def test_its_own_writes_are_seen_at_once(stores: tuple[CachedMetadataStore, MetadataStore]) -> None:
    cached, _ = stores
    assert cached.mounts() == [] and cached.attributes_under("/") == {}
    cached.add_mount(mount_record("/mnt/y"))
    cached.set_attributes("/d/e", owner="alice")
    assert [record.path for record in cached.mounts()] == ["/mnt/y"]
    assert list(cached.attributes_under("/d")) == ["/d/e"]
    assert cached.attributes("/d/e") is not None


def test_only_the_kind_that_changed_is_read_again(stores: tuple[CachedMetadataStore, MetadataStore]) -> None:
    cached, other = stores
    cached.mounts()
    cached.attributes_of(["/a"])
    cached.users()
    other.set_attributes("/a", mode=0o711)
    cached.poll_once()
    with memory_only():
        cached.mounts()
        cached.users()
        with pytest.raises(NeedsIO, match="path attributes"):
            cached.attributes_of(["/a"])


def test_a_miss_inside_memory_only_asks_for_a_thread(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, _ = stores
    with memory_only(), pytest.raises(NeedsIO, match="mount table"):
        cached.mounts()
    cached.mounts()
    with memory_only():
        assert cached.mounts() == []
    # Outside the block nothing is refused, and a plain store refuses inside it too.
    _, other = stores
    with memory_only(), pytest.raises(NeedsIO, match="metadata database"):
        other.mounts()


def test_a_failed_poll_drops_everything(
    metadata_url: str, stores: tuple[CachedMetadataStore, MetadataStore]
) -> None:
    cached, _ = stores
    cached.mounts()
    cached.users()
    engine = create_engine(metadata_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE namespace_changes RENAME TO namespace_changes_gone"))
        cached.poll_once()  # fails: nothing in memory can be vouched for
        with memory_only():
            with pytest.raises(NeedsIO):
                cached.mounts()
            with pytest.raises(NeedsIO):
                cached.users()
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE namespace_changes_gone RENAME TO namespace_changes"))
        engine.dispose()
    cached.poll_once()
    assert cached.mounts() == []


def test_a_token_added_elsewhere_works_before_the_next_poll_and_a_bad_one_costs_one_query(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    assert cached.users() == []
    other.add_user(user_record("carol", "c" * 64))  # `tierstore users add` in another process
    found = cached.user_by_token_hash("c" * 64)  # no poll in between
    assert found is not None and found.name == "carol"
    assert cached.user_by_token_hash("d" * 64) is None
    with memory_only():  # the miss is remembered: no query for the same bad token again
        assert cached.user_by_token_hash("d" * 64) is None
        with pytest.raises(NeedsIO):
            cached.user_by_token_hash("e" * 64)  # another unknown one would be asked for
    # A user added under a token once refused is found after the next change of users.
    other.add_user(user_record("dave", "d" * 64))
    cached.poll_once()
    found = cached.user_by_token_hash("d" * 64)
    assert found is not None and found.name == "dave"


def test_subtree_walks_are_kept_while_the_attributes_they_hold_stay_within_the_bound(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    for number in range(30):
        other.set_attributes(f"/t/d{number}/f", mode=0o700)
    cached.max_subtree_rows = 20
    cached.poll_once()  # the attributes moved: the walks are made anew, under the new bound
    for number in range(30):
        assert list(cached.attributes_under(f"/t/d{number}")) == [f"/t/d{number}/f"]
    sizes = cached.memory_sizes()
    assert (sizes["subtree_walks"], sizes["subtree_rows"]) == (20, 20)
    # The newest are answered from memory, the first ten were dropped.
    with memory_only():
        assert list(cached.attributes_under("/t/d29")) == ["/t/d29/f"]
        with pytest.raises(NeedsIO):
            cached.attributes_under("/t/d0")
    # One walk holding more than the bound is answered, and not kept.
    assert len(cached.attributes_under("/t")) == 30
    assert cached.memory_sizes()["subtree_rows"] <= 20
    with memory_only(), pytest.raises(NeedsIO):
        cached.attributes_under("/t")


def test_new_names_in_a_directory_already_looked_in_are_answered_from_memory(
    stores: tuple[CachedMetadataStore, MetadataStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file a write makes is a name looked up for the first time: one query for its
    # directory, then none for the next new name there, and the directory's own names are right.
    cached, other = stores
    other.set_attributes("/d/kept", mode=0o600)
    other.set_attributes("/d/sub/deep", owner="bob")
    assert cached.attributes_of(["/d/new-0"]) == {}
    with memory_only():
        assert cached.attributes_of(["/d/new-1", "/d/new-2"]) == {}
        assert cached.attributes_of(["/d/kept"])["/d/kept"].mode == 0o600
        assert cached.attributes_of(["/d/sub/deep"])["/d/sub/deep"].owner == "bob"  # held by /d/sub's
    # Another process's write reaches it at the next poll, as every attribute does.
    other.set_attributes("/d/new-1", mode=0o640)
    with memory_only():
        assert cached.attributes_of(["/d/new-1"]) == {}
    cached.poll_once()
    assert cached.attributes_of(["/d/new-1"])["/d/new-1"].mode == 0o640
    # A directory holding more attributes than are kept together: each new name is a query.
    monkeypatch.setattr(cached_module, "DIRECTORY_ROWS", 3)
    for index in range(4):
        other.set_attributes(f"/crowded/f{index}", mode=0o600)
    cached.poll_once()
    assert cached.attributes_of(["/crowded/new"]) == {}
    assert cached.attributes_of(["/crowded/f3"])["/crowded/f3"].mode == 0o600
    with memory_only(), pytest.raises(NeedsIO, match="path attributes"):
        cached.attributes_of(["/crowded/other"])
    # Known to be crowded, even after the attributes changed: one query per name, not two.
    other.set_attributes("/elsewhere", mode=0o700)
    cached.poll_once()
    queries: list[str] = []
    listen = event.listens_for(cached._engine, "before_cursor_execute")  # type: ignore[attr-defined]
    listen(lambda *args: queries.append(str(args[2])))
    assert cached.attributes_of(["/crowded/another"]) == {}
    assert len([query for query in queries if "path_attributes" in query]) == 1, queries
