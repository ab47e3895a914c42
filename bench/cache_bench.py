"""What the namespace's metadata cache costs: bytes per entry, and the time a write's invalidation takes.

Memory: a local root mount with --dirs directories of --files files each
(``/data/day=NNN/part-NNNNN-<uuid>.parquet``, names as a data lake writes them) is stat'ed
through a real FileSystem, every file once (a kind and a stat entry each), then listed, every
directory once (one listing entry per directory, counted one per name). The bytes the cache
holds are what tracemalloc sees freed when the FileSystem and its cache go: entries, their
FileStatus objects, the LRU's bookkeeping and the invalidation index.

Invalidation: ``changed(path)`` on a cache of N entries with the same 3 entries below the
path, for N from 1,000 to --max-entries; its cost must not grow with N.

    .venv/bin/python bench/cache_bench.py [--dirs 100] [--files 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tierstore.namespace.cache import MetadataCache
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable

STAMP = (1, 1)


def _layout(root: Path, dirs: int, files: int) -> list[str]:
    names: list[str] = []
    for day in range(dirs):
        directory = root / "data" / f"day={day:03d}"
        directory.mkdir(parents=True)
        for number in range(files):
            name = f"part-{number:05d}-{uuid.uuid4()}.parquet"
            os.close(os.open(directory / name, os.O_CREAT | os.O_WRONLY, 0o644))
            names.append(f"/data/day={day:03d}/{name}")
    return names


def measure_memory(dirs: int, files: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tierstore-cache-bench-") as scratch:
        base = Path(scratch)
        names = _layout(base / "root", dirs, files)
        config_path = base / "server.yaml"
        config_path.write_text(
            f"remote.data.dir: file://{base / 'root'}\n"
            f"tierstore.metadata.url: sqlite:///{base / 'ns.db'}\n"
            "tierstore.metadata.cache.ttl: 3600\n"
        )
        config = load_server_config(config_path)
        # As a server reads it: from memory. Each path's attributes are loaded up front, in
        # batches, so the fill measures the cache rather than one query per path.
        table = MountTable(config, open_metadata(config.metadata_url, poll_interval=3600))
        table.sync_root()
        for start in range(0, len(names), 10_000):
            table.metadata.attributes_of(names[start : start + 10_000])
        listed = sorted({name.rsplit("/", 1)[0] for name in names})

        def stat_each(fs: FileSystem) -> None:
            for name in names:
                fs.stat(name)

        def list_each(fs: FileSystem) -> None:
            for directory in listed:
                fs.ls(directory)

        fills: tuple[tuple[str, Callable[[FileSystem], None]], ...] = (("stat", stat_each), ("ls", list_each))
        for what, fill in fills:
            fs = FileSystem(table, cache_max_entries=10 * len(names))
            fill(fs)  # once untraced: the store's and metadata's own caches warm up here
            fs = FileSystem(table, cache_max_entries=10 * len(names))
            gc.collect()
            tracemalloc.start()
            started = time.perf_counter()
            fill(fs)
            seconds = time.perf_counter() - started
            stats = fs.cache_stats()
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            del fs
            gc.collect()
            held = before - tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            print(
                f"{what:>4}: {stats.entries:>7,} entries, size {stats.size:>7,}, "
                f"{stats.directories:>4} indexed directories: {held / 1e6:6.1f} MB, "
                f"{held / stats.size:5.0f} bytes per counted entry ({seconds:.1f} s to fill)"
            )
        table.close()


def measure_invalidation(max_entries: int) -> None:
    modified = datetime.now(UTC)
    count = 1_000
    while count <= max_entries:
        cache = MetadataCache(3600, count + 10)
        for number in range(count):
            path = f"/other/d{number % 1000:03d}/f{number}"
            cache.put("stat", path, FileStatus(path, False, 1, modified, "o", "g", 0o644, "/"), STAMP)
        timings: list[float] = []
        for _ in range(100):
            for name in ("a", "b", "c"):
                path = f"/target/dir/{name}"
                cache.put("stat", path, FileStatus(path, False, 1, modified, "o", "g", 0o644, "/"), STAMP)
            visited = cache.stats().visited
            started = time.perf_counter()
            cache.changed("/target/dir")
            timings.append(time.perf_counter() - started)
            visited = cache.stats().visited - visited
        timings.sort()
        print(
            f"changed() with {count:>9,} entries: median {timings[50] * 1e6:6.1f} µs, "
            f"{visited} index nodes and listings visited"
        )
        count *= 10


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--max-entries", type=int, default=1_000_000)
    options = parser.parse_args()
    measure_memory(options.dirs, options.files)
    measure_invalidation(options.max_entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
