"""A named user's new file gets a row of its own (its owner, 0644) without emptying the server's
caches: the row is taken in for that path alone (``record_creation``), rows written at the same
moment share one transaction (``CreationBatcher``), and only a change another process made, or
any other change of attributes, drops what the caches hold. On a real SeaweedFS and a real
SQLite or PostgreSQL namespace."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.namespace.crowded_rows import crowded_team, row_reads
from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import AccessDeniedError
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata.base import ChangeKind
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.creations import Creation, CreationBatcher
from tierstore.namespace.metadata.records import PathAttributes
from tierstore.namespace.metadata.store import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller


def test_a_named_users_new_file_is_theirs_at_once_and_the_caches_stay(cached_table: MountTable) -> None:
    metadata = cached_table.metadata
    admin = FileSystem(cached_table)
    admin.chmod("/", "0711")
    admin.write("/other/kept.txt", [b"x"])
    admin.mkdir("/team")
    admin.chmod("/team", "0777")
    assert [entry.name for entry in admin.ls("/other")] == ["kept.txt"]
    inherited, generation = metadata.inherited_generation(), metadata.generation("attributes")

    bob = admin.as_caller(Caller(user="bob"))
    bob.write("/team/new.txt", [b"bob's"])

    assert metadata.inherited_generation() == inherited  # nothing any other path shows changed
    assert metadata.generation("attributes") > generation  # a vend decided before is made again
    status = admin.stat("/team/new.txt")
    assert (status.owner, status.mode) == ("bob", 0o644)
    alice = admin.as_caller(Caller(user="alice"))
    with pytest.raises(AccessDeniedError, match="alice"):  # bob's bits hold at once
        alice.write("/team/new.txt", [b"overwrite"])
    misses = admin.cache_stats().misses
    assert [entry.name for entry in admin.ls("/other")] == ["kept.txt"]
    assert admin.cache_stats().misses == misses  # still cached: no store asked
    # Any other change of attributes drops them all, as before.
    admin.chmod("/team", "0755")
    assert metadata.inherited_generation() > inherited


def test_a_new_file_in_a_crowded_directory_reads_no_row_and_an_overwrite_still_checks_the_files_own(
    cached_table: MountTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file is judged by its directory's bits alone: its own row, which it cannot have yet,
    is not read. In a directory of more rows than are kept together (DIRECTORY_ROWS), reading it
    cost a query per new file, on a worker thread for the S3 gateway's PUT."""
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    admin = crowded_team(cached_table, monkeypatch, b"x")  # five rows of bob's in /team
    bob = admin.as_caller(Caller(user="bob"))

    with row_reads(metadata) as reads:
        with memory_only():  # the gateway's PUT: every check from memory, no worker thread
            prepared = bob._prepare_write("/team/new.txt", exclusive=False)
        assert prepared.existing is None
        bob.write("/team/new.txt", [b"bob's"])
        assert reads == []

    status = admin.stat("/team/new.txt")
    assert (status.owner, status.mode) == ("bob", 0o644)
    alice = admin.as_caller(Caller(user="alice"))
    with pytest.raises(AccessDeniedError, match="alice"):  # an overwrite asks the file's own bits
        alice.write("/team/new.txt", [b"overwrite"])
    alice.write("/team/alices.txt", [b"hers"])  # a new file: /team's bits
    admin.chmod("/team", "0755")
    with pytest.raises(AccessDeniedError, match="alice"):  # ... as they are now
        alice.write("/team/another.txt", [b"no"])


def test_concurrent_new_files_share_transactions_and_only_a_foreign_change_is_news(
    cached_table: MountTable, metadata_url: str
) -> None:
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    other = open_metadata(metadata_url, poll_interval=3600)  # another server on the namespace
    assert isinstance(other, CachedMetadataStore)
    transactions = 0
    write = metadata._write_creations

    def counted(batch: list[Creation]) -> list[PathAttributes]:
        nonlocal transactions
        transactions += 1
        return write(batch)

    metadata._creations = CreationBatcher(counted)
    try:
        other.poll_once()
        inherited_here, inherited_there = metadata.inherited_generation(), other.inherited_generation()
        paths = [f"/many/f{number:03d}" for number in range(48)]
        start = threading.Barrier(16)

        def create(path: str) -> PathAttributes:
            if path < "/many/f016":
                start.wait()
            return metadata.record_creation(path, owner="bob", group="bob", mode=0o644)

        with ThreadPoolExecutor(16) as pool:
            made = list(pool.map(create, paths))
        assert [(row.path, row.owner, row.mode) for row in made] == [(path, "bob", 0o644) for path in paths]
        assert 1 <= transactions < len(paths)
        found = other.attributes_of(paths)
        assert sorted(found) == paths and {row.owner for row in found.values()} == {"bob"}
        metadata.poll_once()  # only its own changes: nothing dropped
        assert metadata.inherited_generation() == inherited_here
        other.poll_once()  # another process's: every attribute it held goes
        assert other.inherited_generation() > inherited_there
    finally:
        other.close()


def test_a_failed_transaction_fails_its_callers_and_the_next_one_writes() -> None:
    calls: list[list[str]] = []

    def write(batch: list[Creation]) -> list[PathAttributes]:
        calls.append([creation.path for creation in batch])
        if len(calls) == 1:
            raise OSError("disk full")
        return [PathAttributes(c.path, c.owner, c.group, c.mode) for c in batch]

    batcher = CreationBatcher(write)
    with pytest.raises(OSError, match="disk full"):
        batcher.record(Creation("/a", "bob", "bob", 0o644))
    assert batcher.record(Creation("/b", "bob", "bob", 0o644)).path == "/b"
    assert calls == [["/a"], ["/b"]]


def test_an_event_loop_never_waits_for_a_creations_transaction(cached_table: MountTable) -> None:
    """Inside ``memory_only`` (the S3 gateway's event loop) a creation is refused at once with
    NeedsIO, so the caller moves it to a thread: before, it joined the transaction another
    thread was writing and blocked the loop until that commit (or, first of a batch, handed
    NeedsIO to the threads whose rows joined it)."""
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    writing, release = threading.Event(), threading.Event()
    write = metadata._write_creations

    def slow(batch: list[Creation]) -> list[PathAttributes]:
        writing.set()
        assert release.wait(30)
        return write(batch)

    metadata._creations = CreationBatcher(slow)
    with ThreadPoolExecutor(1) as pool:
        leader = pool.submit(metadata.record_creation, "/slow/first", owner="bob", group="bob", mode=0o644)
        assert writing.wait(30)
        try:
            with memory_only(), pytest.raises(NeedsIO, match="metadata database"):
                metadata.record_creation("/slow/second", owner="bob", group="bob", mode=0o644)
        finally:
            release.set()
        assert leader.result(30).path == "/slow/first"
    # The refused one, moved to a thread as the gateway does, is written then.
    assert metadata.record_creation("/slow/second", owner="bob", group="bob", mode=0o644).owner == "bob"
    assert metadata.attributes("/slow/second") is not None


class HeldWriter:
    """A creations' transaction for the batcher's tests: the first batch waits for ``first_done``,
    a later one says it started (``later_started``) and waits for ``release_later``; each
    batch's paths and writing thread are kept."""

    def __init__(self) -> None:
        self.first_done, self.later_started, self.release_later = (threading.Event() for _ in range(3))
        self.batches: list[list[str]] = []
        self.writers: set[str] = set()

    def __call__(self, batch: list[Creation]) -> list[PathAttributes]:
        self.writers.add(threading.current_thread().name)
        self.batches.append([creation.path for creation in batch])
        if len(self.batches) == 1:
            assert self.first_done.wait(30)  # the rest queue up meanwhile
        else:
            self.later_started.set()
            assert self.release_later.wait(30)
        return [PathAttributes(c.path, c.owner, c.group, c.mode) for c in batch]


def test_creations_awaited_on_an_event_loop_share_transactions_and_none_waits_for_a_later_batch() -> None:
    """``record_async``: rows awaited together on a loop go in few transactions, written on a
    worker thread; the caller that started the writer gets its row as soon as its own batch
    commits, while later batches are still being written."""
    write = HeldWriter()
    first_done, later_started, release_later = write.first_done, write.later_started, write.release_later
    batches, writers = write.batches, write.writers
    batcher = CreationBatcher(write)

    async def main() -> None:
        loop_thread = threading.current_thread().name
        first = asyncio.ensure_future(batcher.record_async(Creation("/a/0", "bob", "bob", 0o644)))
        await asyncio.sleep(0)  # the writer is started and holds the first row
        rest = [
            asyncio.ensure_future(batcher.record_async(Creation(f"/a/{n}", "bob", "bob", 0o644)))
            for n in range(1, 32)
        ]
        await asyncio.sleep(0.05)
        first_done.set()
        assert (await asyncio.wait_for(first, 30)).path == "/a/0"
        # The second batch is being written (and held): the first caller did not wait for it.
        assert await asyncio.to_thread(later_started.wait, 30)
        assert not any(task.done() for task in rest)
        release_later.set()
        made = await asyncio.wait_for(asyncio.gather(*rest), 30)
        assert [row.path for row in made] == [f"/a/{n}" for n in range(1, 32)]
        assert loop_thread not in writers

    asyncio.run(main())
    assert batches == [["/a/0"], [f"/a/{n}" for n in range(1, 32)]]


@pytest.mark.parametrize("named", [True, False], ids=["named-user", "admin"])
def test_a_write_awaited_on_an_event_loop_records_its_creator_from_the_loop(
    cached_table: MountTable, named: bool
) -> None:
    """``write_prepared_async`` (the gateway's small PUT) records a named user's new file with
    the metadata store's async creation, the cache's part from memory; an admin writes no row."""
    metadata = cached_table.metadata
    admin = FileSystem(cached_table)
    admin.chmod("/", "0711")
    admin.mkdir("/team")
    admin.chmod("/team", "0777")
    writer = admin.as_caller(Caller(user="bob")) if named else admin

    async def main() -> None:
        prepared = await writer.prepare_write_async("/team/loop.txt")
        await writer.write_prepared_async(prepared, b"from the loop")

    asyncio.run(main())
    row = metadata.attributes("/team/loop.txt")
    if named:
        assert row is not None and (row.owner, row.group, row.mode) == ("bob", "bob", 0o644)
    else:
        assert row is None
    status = admin.stat("/team/loop.txt")
    assert status.size == len(b"from the loop")
    assert status.owner == ("bob" if named else admin.stat("/team").owner)


def test_a_poll_between_a_creations_commit_and_its_rows_taken_in_drops_nothing(
    cached_table: MountTable,
) -> None:
    """The poller runs on its own thread: one that read the counters right after a creation's
    commit, before the process took its rows in, took the new value for another process's
    change and dropped every attribute held (every next request then read the database on a
    worker thread). The value is this process's before the commit now."""
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    metadata.poll_once()
    taken_in = metadata._attributes_created

    def poll_first(path: str, attributes: PathAttributes) -> None:
        metadata.poll_once()  # the poller's turn, between the commit and this
        taken_in(path, attributes)

    metadata._attributes_created = poll_first  # type: ignore[method-assign]
    inherited = metadata.inherited_generation()
    metadata.record_creation("/team/polled.txt", owner="bob", group="bob", mode=0o644)
    assert metadata.inherited_generation() == inherited


def test_a_failed_creation_gives_its_counter_value_back_to_the_poll(
    cached_table: MountTable, metadata_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A creation whose transaction fails after raising the counter never committed that value;
    another process's change that commits it must still be news to this process's poll."""
    metadata = cached_table.metadata
    assert isinstance(metadata, CachedMetadataStore)
    other = open_metadata(metadata_url, poll_interval=3600)
    try:
        metadata.poll_once()
        taken = metadata._counter_taken

        def then_fail(kind: ChangeKind, counter: int) -> None:
            taken(kind, counter)
            raise OSError("disk full")  # the commit never comes: the transaction rolls back

        monkeypatch.setattr(metadata, "_counter_taken", then_fail)
        with pytest.raises(OSError, match="disk full"):
            metadata.record_creation("/team/lost.txt", owner="bob", group="bob", mode=0o644)
        monkeypatch.setattr(metadata, "_counter_taken", taken)
        assert metadata.attributes("/team/lost.txt") is None
        inherited = metadata.inherited_generation()
        other.set_attributes("/team", mode=0o700)  # commits the value the failed one had taken
        metadata.poll_once()
        assert metadata.inherited_generation() > inherited
        team = metadata.attributes("/team")
        assert team is not None and team.mode == 0o700
    finally:
        other.close()


def test_a_thread_that_writes_its_own_row_hands_the_later_ones_on_and_returns() -> None:
    """The first caller of a batch on a thread (the JSON API, FUSE) returns once its own row is
    committed: the rows that came meanwhile are written by a thread of their own, not by it
    before it may answer its request."""
    write = HeldWriter()
    own_written, later_started, release_later = write.first_done, write.later_started, write.release_later
    batches = write.batches
    batcher = CreationBatcher(write)
    with ThreadPoolExecutor(9) as pool:
        leader = pool.submit(batcher.record, Creation("/t/0", "bob", "bob", 0o644))
        while not batches:
            time.sleep(0.01)
        others = [pool.submit(batcher.record, Creation(f"/t/{n}", "bob", "bob", 0o644)) for n in range(1, 9)]
        time.sleep(0.05)
        own_written.set()
        assert leader.result(30).path == "/t/0"  # while the later batch is held
        assert later_started.wait(30)
        assert not any(other.done() for other in others)
        release_later.set()
        assert [other.result(30).path for other in others] == [f"/t/{n}" for n in range(1, 9)]
    assert batches == [["/t/0"], [f"/t/{n}" for n in range(1, 9)]]
