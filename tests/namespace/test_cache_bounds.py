"""The namespace's metadata cache stays bounded: in entries, in time, and in what a write costs.

Through real FileSystem and MountTable objects on a local root mount, as a server reads its
metadata (from memory: each path's attributes are loaded up front, so a stat is the cache's work
and two stat calls on disk, not a query). Every stat of a file fills two entries (its kind and
its status); the checks read the cache's own counters.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tierstore.errors import ConfigError, NotFoundError
from tierstore.namespace.cache import MetadataCache
from tierstore.namespace.config import DEFAULT_CACHE_MAX_ENTRIES, load_server_config
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.settings import load_store_settings

DIRECTORIES = 100
FILES_PER_DIRECTORY = 1000
LONG_TTL = "tierstore.metadata.cache.ttl: 3600\n"


@dataclass(frozen=True)
class Tree:
    root: Path
    files: list[str]  # namespace paths, in the order they were made


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    """100,000 empty files in 100 directories, made once for the module's tests.

    In memory where the machine has a tmpfs: on a disk shared with other work, making 100,000
    files took over a minute (20 µs a file in /dev/shm, up to 900 µs on the busy disk).
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="tierstore-tree-", dir=shm))
    else:
        root = tmp_path_factory.mktemp("tree")
    files: list[str] = []
    try:
        for number in range(DIRECTORIES):
            directory = root / "data" / f"day={number:03d}"
            directory.mkdir(parents=True)
            for index in range(FILES_PER_DIRECTORY):
                made = os.open(directory / f"part-{index:05d}.parquet", os.O_CREAT | os.O_WRONLY, 0o644)
                os.close(made)
                files.append(f"/data/day={number:03d}/part-{index:05d}.parquet")
        yield Tree(root, files)
    finally:
        shutil.rmtree(root, ignore_errors=True)


MakeTable = Callable[..., MountTable]


@pytest.fixture
def make_table(tmp_path: Path) -> Iterator[MakeTable]:
    """``make_table(root, extra_lines, preload=paths)``: a mount table whose root mount is the
    directory ``root``, its metadata read from memory with ``preload``'s attributes loaded."""
    tables: list[MountTable] = []

    def make(root: Path, extra: str = "", preload: list[str] | None = None) -> MountTable:
        config_path = tmp_path / f"server-{len(tables)}.yaml"
        config_path.write_text(
            f"remote.data.dir: file://{root}\n"
            f"tierstore.metadata.url: sqlite:///{tmp_path / f'ns-{len(tables)}.db'}\n" + extra
        )
        config = load_server_config(config_path)
        table = MountTable(config, open_metadata(config.metadata_url, poll_interval=3600))
        tables.append(table)
        table.sync_root()
        load_attributes(table, preload or [])
        return table

    yield make
    for table in tables:
        table.close()


def load_attributes(table: MountTable, paths: list[str]) -> None:
    """Read ``paths``' attributes into the metadata's memory, 10,000 to a query."""
    for start in range(0, len(paths), 10_000):
        table.metadata.attributes_of(paths[start : start + 10_000])


def names(entries: list[FileStatus]) -> list[str]:
    return [entry.name for entry in entries]


def test_the_cap_holds_after_100000_distinct_stats_and_the_least_recently_used_go(
    tree: Tree, make_table: MakeTable
) -> None:
    fs = FileSystem(make_table(tree.root, LONG_TTL, preload=tree.files))
    for path in tree.files:
        fs.stat(path)
    stats = fs.cache_stats()
    # 200,000 entries made (a kind and a status per file), the default cap kept.
    assert stats.max_entries == DEFAULT_CACHE_MAX_ENTRIES == 100_000
    assert stats.entries == stats.size == 100_000
    assert stats.evictions == 100_000
    # The index holds the cached paths' parents: "/", "/data" and the 50 directories of the
    # newest 50,000 files.
    assert stats.directories == 2 + 50
    # The newest stay (answered from memory), the oldest went (asked of the store again).
    hits = stats.hits
    for path in tree.files[-1000:]:
        fs.stat(path)
    assert fs.cache_stats().hits == hits + 1000
    fs.stat(tree.files[0])
    assert fs.cache_stats().hits == hits + 1000


def test_a_listing_counts_one_per_name_against_the_cap(tree: Tree, make_table: MakeTable) -> None:
    fs = FileSystem(make_table(tree.root, LONG_TTL + "tierstore.metadata.cache.max.entries: 2500\n"))
    assert len(fs.ls("/data/day=000")) == FILES_PER_DIRECTORY
    # The directory's status (its first page stood in for the stat) and its listing of 1,000 names.
    assert fs.cache_stats().size == 1 + FILES_PER_DIRECTORY
    fs.ls("/data/day=001")
    fs.ls("/data/day=002")
    stats = fs.cache_stats()
    # 3,003 counted: the least recently used entry, the oldest listing, went; that directory's
    # status, cached just after its listing, stays.
    assert (stats.size, stats.evictions) == (2 * (1 + FILES_PER_DIRECTORY) + 1, 1)
    hits = stats.hits
    fs.ls("/data/day=002")  # kept: its status and its listing answer from memory
    assert fs.cache_stats().hits == hits + 2
    misses = fs.cache_stats().misses
    fs.ls("/data/day=000")  # its status answers from memory; its listing is asked of the store again
    assert fs.cache_stats().hits == hits + 3
    assert fs.cache_stats().misses > misses


def test_expired_entries_are_dropped_on_use_and_by_later_fills(tree: Tree, make_table: MakeTable) -> None:
    old, new = tree.files[:500], tree.files[500:700]
    fs = FileSystem(make_table(tree.root, "tierstore.metadata.cache.ttl: 2\n", preload=tree.files[:700]))
    for path in old:
        fs.stat(path)
    assert fs.cache_stats().entries + fs.cache_stats().expirations == 1000
    time.sleep(2.1)
    # Looked up: expired, so asked of the store again (two misses, two entries dropped, two made).
    misses = fs.cache_stats().misses
    fs.stat(old[0])
    assert fs.cache_stats().misses == misses + 2
    # Each fill drops expired entries from the least recently used end: no old one is left.
    for path in new:
        fs.stat(path)
    stats = fs.cache_stats()
    assert stats.expirations == 1000
    assert stats.entries == 2 + 2 * len(new)


def test_a_writes_invalidation_visits_what_is_below_it_not_the_whole_cache(
    tree: Tree, make_table: MakeTable
) -> None:
    table = make_table(tree.root, LONG_TTL)
    fs = FileSystem(table)

    def remove_a_cached_directory() -> int:
        for name in ("a", "b", "c"):
            fs.write(f"/t/sub/{name}", [b"x"])
            fs.stat(f"/t/sub/{name}")
        fs.ls("/t/sub")
        fs.ls("/t")
        visited = fs.cache_stats().visited
        fs.remove("/t/sub", recursive=True)
        return fs.cache_stats().visited - visited

    small = remove_a_cached_directory()
    load_attributes(table, tree.files[:49_000])  # after the removal, which drops them
    for path in tree.files[:49_000]:
        fs.stat(path)
    assert fs.cache_stats().entries >= 98_000
    large = remove_a_cached_directory()
    # The three files below /t/sub and the listings of its two ancestors (/t and /), whether the
    # cache holds a dozen entries or 98,000.
    assert small == large == 3 + 2


def test_a_write_drops_the_parents_listing_and_a_removal_everything_below(
    tmp_path: Path, make_table: MakeTable
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    fs = FileSystem(make_table(root, LONG_TTL))
    fs.write("/w/d/one.txt", [b"1"])
    assert names(fs.ls("/w/d")) == ["one.txt"]
    (root / "w" / "d" / "behind.txt").write_bytes(b"2")  # behind tierstore's back
    assert names(fs.ls("/w/d")) == ["one.txt"]  # from the cache
    fs.write("/w/d/three.txt", [b"3"])
    assert names(fs.ls("/w/d")) == ["behind.txt", "one.txt", "three.txt"]

    fs.write("/w/d/sub/deep/x.txt", [b"x"])
    assert fs.stat("/w/d/sub/deep/x.txt").size == 1
    assert names(fs.ls("/w/d/sub/deep")) == ["x.txt"]
    assert names(fs.ls("/w/d/sub")) == ["deep"]
    assert names(fs.ls("/w/d")) == ["behind.txt", "one.txt", "sub", "three.txt"]
    fs.remove("/w/d/sub", recursive=True)
    assert names(fs.ls("/w/d")) == ["behind.txt", "one.txt", "three.txt"]
    with pytest.raises(NotFoundError):
        fs.stat("/w/d/sub/deep/x.txt")
    # Made again behind tierstore's back, bigger and with a neighbour: nothing cached from
    # before the removal answers for it.
    (root / "w" / "d" / "sub" / "deep").mkdir(parents=True)
    (root / "w" / "d" / "sub" / "deep" / "x.txt").write_bytes(b"xyz")
    (root / "w" / "d" / "sub" / "deep" / "y.txt").write_bytes(b"y")
    assert fs.stat("/w/d/sub/deep/x.txt").size == 3
    assert names(fs.ls("/w/d/sub/deep")) == ["x.txt", "y.txt"]
    assert names(fs.ls("/w/d/sub")) == ["deep"]


def test_the_alluxio_keys_set_the_same_bounds(tmp_path: Path, make_table: MakeTable) -> None:
    path = tmp_path / "alluxio-site.properties"
    path.write_text(
        f"alluxio.master.mount.table.root.ufs=file://{tmp_path}\n"
        f"tierstore.metadata.url=sqlite:///{tmp_path / 'ns.db'}\n"
        "alluxio.user.metadata.cache.max.size=5000\n"
        "alluxio.user.metadata.cache.expiration.time=10min\n"
    )
    config = load_server_config(path)
    assert (config.cache_max_entries, config.cache_ttl_seconds) == (5000, 600.0)
    # Alluxio's own keys, not a near miss of ours: the settings loader says nothing about them.
    assert load_store_settings(path).warnings == []
    # A plain number is milliseconds, as in Alluxio; the same value under both names is fine.
    path.write_text(
        path.read_text().replace("=10min", "=1500") + "tierstore.metadata.cache.max.entries=5000\n"
    )
    config = load_server_config(path)
    assert (config.cache_max_entries, config.cache_ttl_seconds) == (5000, 1.5)
    fs = FileSystem(make_table(tmp_path, "tierstore.metadata.cache.max.entries: 7\n"))
    assert fs.cache_stats().max_entries == 7


def test_threads_filling_evicting_and_invalidating_at_once_leave_the_index_whole() -> None:
    """Eight threads stat, list, expire, evict and invalidate overlapping paths of one cache; after
    them, everything the cache holds is still reachable through its index (forgetting "/"
    empties it) and the bound held throughout."""
    cache = MetadataCache(ttl=0.05, max_entries=300)
    largest: list[int] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        chance = random.Random(seed)
        barrier.wait()
        for _ in range(5000):
            path = "/" + "/".join(f"d{chance.randrange(4)}" for _ in range(chance.randrange(1, 6)))
            stamp = (0, chance.randrange(50) // 49)  # now and then a change of attributes
            action = chance.randrange(10)
            if action < 5:
                cache.put(chance.choice(("kind", "stat")), path, path, stamp)
            elif action < 7:
                cache.put("list", path, [path] * chance.randrange(1, 40), stamp, weight=20)
            elif action < 9:
                cache.get(chance.choice(("kind", "stat", "list")), path, stamp)
            else:
                cache.changed(path)
            largest.append(cache.stats().size)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    stats = cache.stats()
    assert max(largest) <= 300 and stats.evictions > 0 and stats.hits > 0
    assert stats.expirations + stats.stale > 0
    cache.changed("/")
    after = cache.stats()
    assert (after.entries, after.size, after.directories) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "lines", "key", "message"),
    [
        (
            "server.yaml",
            "tierstore.metadata.cache.max.entries: lots\n",
            "tierstore.metadata.cache.max.entries",
            "'lots' is not a number of entries; use a whole number from 0 (no cache) to 100000000",
        ),
        (
            "server.yaml",
            "tierstore.metadata.cache.max.entries: -1\n",
            "tierstore.metadata.cache.max.entries",
            "-1 is not a number of entries",
        ),
        (
            "server.yaml",
            "tierstore.metadata.cache.max.entries: 1e5\n",
            "tierstore.metadata.cache.max.entries",
            "is not a number of entries",
        ),
        (
            "server.yaml",
            "tierstore.metadata.cache.max.entries: 1000\nalluxio.user.metadata.cache.max.size: 2000\n",
            "alluxio.user.metadata.cache.max.size",
            "conflicts with tierstore.metadata.cache.max.entries, which sets the same setting to "
            "another value (1000 there); keep one of them",
        ),
        (
            "site.properties",
            "alluxio.user.metadata.cache.max.size=many\n",
            "alluxio.user.metadata.cache.max.size",
            "'many' is not a number of entries",
        ),
        (
            "site.properties",
            "alluxio.user.metadata.cache.expiration.time=2 fortnights\n",
            "alluxio.user.metadata.cache.expiration.time",
            "'2 fortnights' is not a duration",
        ),
        (
            "server.yaml",
            "tierstore.metadata.cache.ttl: nan\n",
            "tierstore.metadata.cache.ttl",
            "nan must be 0 (no cache) or more seconds",
        ),
    ],
)
def test_a_bad_cache_setting_names_the_key_and_the_file(
    tmp_path: Path, name: str, lines: str, key: str, message: str
) -> None:
    path = tmp_path / name
    root = f"remote.data.dir: file://{tmp_path}\n"
    if name.endswith(".properties"):
        root = f"alluxio.master.mount.table.root.ufs=file://{tmp_path}\n"
    path.write_text(root + lines)
    with pytest.raises(ConfigError) as caught:
        load_server_config(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert message in str(caught.value)
