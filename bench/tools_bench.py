"""``vend_bench.py --tools``: each data tool reading one Parquet file with tierstore's vended
credentials and with static keys, side by side (see vend_bench.py's notes and tool_readers.py)."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import store_bench as sb
from tierstore.client import Client
from tierstore.local.stack import stop_stack
from tool_readers import Reader, readers
from vend_bench import start_stack_and_server

MiB = sb.MiB
DIRECTORY = "/tools/"
NAME = "big.parquet"
COLUMNS = 8
GOAL = 0.95


def write_parquet(client: Client, size: int, scratch: Path) -> tuple[int, int]:
    """A Parquet file of about ``size`` bytes at DIRECTORY + NAME; (rows, bytes)."""
    rows = size // (8 * COLUMNS)
    generator = np.random.default_rng(20)
    table = pa.table({f"c{n}": generator.random(rows) for n in range(COLUMNS)})
    local = scratch / NAME
    pq.write_table(table, local, compression="none", row_group_size=1 << 20)
    del table
    with client.open_write(f"{DIRECTORY}{NAME}") as out, local.open("rb") as source:
        while chunk := source.read(16 * MiB):
            out.write(chunk)
    written = local.stat().st_size
    local.unlink()
    return rows, written


def run(args: argparse.Namespace) -> int:
    # SIGTERM (a CI's stop, a timeout) unwinds like an exception: the stack and server are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    size = (args.size_mib or (64 if args.quick else 512)) * MiB
    started = time.perf_counter()
    print(f"machine: {sb.machine()}")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"tierstore source: {sb.source_revision()}; {versions()}")
    timings: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tools-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp)
        server = None
        made: list[Reader] = []
        try:
            _, stack, server = start_stack_and_server(directory)
            with Client(server.url, server.admin_token) as client:
                rows, written = write_parquet(client, size, directory)
                print(
                    f"one Parquet file of {written / MiB:.0f} MiB ({rows:,} rows x {COLUMNS} float64 "
                    f"columns, uncompressed) at {client.s3_url(DIRECTORY + NAME)}; {rounds} round(s)",
                    flush=True,
                )
                made = readers(client, stack, DIRECTORY, NAME, COLUMNS)
                for reader in made:  # warm up: connections, lazy imports, metadata
                    check(reader, reader.read(), rows, written)
                for number in range(1, rounds + 1):
                    # Alternate which variant goes first, so neither always reads a warmer store.
                    ordered = made if number % 2 else list(reversed(made))
                    for reader in ordered:
                        with sb.Timer() as timer:
                            counted = reader.read()
                        check(reader, counted, rows, written)
                        timings.setdefault((reader.tool, reader.variant), []).append(timer.wall)
                        rate = written / MiB / timer.wall
                        print(
                            f"round {number} {reader.tool:<19}{reader.variant:<10} {rate:8.1f} MiB/s  "
                            f"(load {os.getloadavg()[0]:.1f})",
                            flush=True,
                        )
        finally:
            for reader in made:
                reader.close()
            if server is not None:
                server.stop()
            stop_stack(directory / "stack")
    report(timings, made, written, rounds)
    print(
        f"\ntotal time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    return 0


def check(reader: Reader, counted: int, rows: int, written: int) -> None:
    expected = written if reader.tool == "obstore" else rows
    sb.check(counted == expected, f"{reader.tool} ({reader.variant}) counted {counted}, not {expected}")


def report(
    timings: dict[tuple[str, str], list[float]], made: list[Reader], written: int, rounds: int
) -> None:
    """Medians of each side, and the median of the per-round ratios: within a round the two
    reads of a tool run back to back, so a machine whose speed drifts (other work on its cores)
    moves both alike, which the ratio of whole-run medians does not undo."""
    print(f"\nMedians of {rounds} round(s), {written / MiB:.0f} MiB Parquet file read whole, MiB/s")
    print(
        f"{'tool':<20}{'static keys':>12}{'tierstore':>12}{'ratio':>8}{'paired':>8}  goal >= {GOAL} (paired)"
    )
    for reader in made:
        if reader.variant != "tierstore":
            continue
        ours_times = timings[(reader.tool, "tierstore")]
        static_times = timings[(reader.compare_with or reader.tool, "static")]
        ours = written / MiB / statistics.median(ours_times)
        static = written / MiB / statistics.median(static_times)
        paired = statistics.median(s / o for s, o in zip(static_times, ours_times, strict=True))
        verdict = "MET" if paired >= GOAL else "MISSED"
        print(f"{reader.tool:<20}{static:>12.1f}{ours:>12.1f}{ours / static:>8.2f}{paired:>8.2f}  {verdict}")


def versions() -> str:
    import importlib.metadata

    names = ["obstore", "polars", "duckdb", "pyarrow", "pyiceberg"]
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
