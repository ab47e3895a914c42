"""Credentials renewed under long reads, for every tool: not one request may fail.

The module's server (a child process over SeaweedFS) keeps a vend for 0.002 of its 900 s life
(``tierstore.vending.cache.fraction``: about 1.8 s; 900 s is the shortest session SeaweedFS's
STS gives), so every refresh brings new credentials from a new AssumeRole, and its
``refresh_at`` tells the client to come back then. The adapters are also given the same
fraction as an explicit refresh policy. Each tool reads until at least two refreshes have
reached it:

- obstore: a read loop from two threads on ``s3_store``;
- polars: one scan over 32 files, consumed batch by batch so that it lasts across refreshes;
- DuckDB: queries in a loop while the attached secret is re-created underneath, DuckDB's own
  HTTP log showing every request answered 2xx and signed with three sets of credentials;
- pyarrow: reads through the refreshing file system, each rebuild due-time checked, and a file
  opened before a rebuild read to its end after it.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import duckdb
import obstore
import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.client.adapters.conftest import frame
from tests.client.conftest import metric, serve_in
from tests.server.harness import RunningServer
from tierstore.client import Client
from tierstore.client.duckdb import attach
from tierstore.client.obstore import ObstoreCredentialProvider, s3_store
from tierstore.client.polars import credential_provider
from tierstore.client.pyarrow import refreshing_s3_filesystem, s3_path
from tierstore.credentials.refresh import RefreshPolicy, utc_now
from tierstore.local import StackInfo

FRACTION = 0.002  # of 900 s: about 1.8 s
POLICY = RefreshPolicy(fraction=FRACTION, margin=timedelta(seconds=5))
FILES = 32
ROWS_PER_FILE = 500
# Reading goes on until the refreshes happened; this only bounds a machine that stalls.
DEADLINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def short_lived(
    stack: StackInfo, session_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = serve_in(
        tmp_path_factory.mktemp("short-lived"),
        stack,
        session_bucket,
        process=True,
        **{"tierstore.vending.cache.fraction": FRACTION},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def files(short_lived: RunningServer) -> Iterator[tuple[Client, str]]:
    """``FILES`` Parquet files written by pandas through ``tierstore://``; the client and the directory."""
    root = f"/refresh-{secrets.token_hex(3)}"
    options = {"server": short_lived.url, "token": short_lived.admin_token}
    for number in range(FILES):
        part = frame(ROWS_PER_FILE, seed=number)
        part["id"] += number * ROWS_PER_FILE
        part.to_parquet(f"tierstore://{root}/part-{number:03d}.parquet", storage_options=options)
    with Client(short_lived.url, short_lived.admin_token) as client:
        yield client, f"{root}/"
        client.rm(root, recursive=True)


def total_ids() -> int:
    rows = FILES * ROWS_PER_FILE
    return rows * (rows - 1) // 2


def test_an_obstore_read_loop_crosses_refreshes_with_no_failed_request(
    short_lived: RunningServer, files: tuple[Client, str]
) -> None:
    client, directory = files
    store = s3_store(client, directory, refresh=POLICY)
    provider = store.credential_provider
    assert isinstance(provider, ObstoreCredentialProvider)
    expected = obstore.get(store, "part-000.parquet").bytes()
    misses_before = metric(short_lived, "tierstore_vended_credentials", cache="miss")
    failures: list[BaseException] = []
    reads = [0, 0]
    keys: set[str] = set()
    stop = threading.Event()

    def reader(slot: int) -> None:
        while not stop.is_set():
            try:
                assert obstore.get(store, f"part-{reads[slot] % FILES:03d}.parquet").bytes()
                reads[slot] += 1
            except BaseException as error:  # every failure counts
                failures.append(error)
                return

    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline and provider.credentials.refreshes < 2 and not failures:
        keys.add(provider.credentials.source.latest.credentials.access_key_id)  # type: ignore[union-attr]
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert provider.credentials.refreshes >= 2, "obstore did not come back for new credentials"
    keys.add(provider.credentials.credentials().access_key_id)
    assert len(keys) >= 3  # each refresh brought new credentials
    assert sum(reads) > 20 and len(expected) > 0
    assert metric(short_lived, "tierstore_vended_credentials", cache="miss") - misses_before >= 2


def test_a_polars_scan_crosses_refreshes_with_no_failed_request(files: tuple[Client, str]) -> None:
    client, directory = files
    creds = credential_provider(client, directory, refresh=POLICY)
    scan = pl.scan_parquet(
        f"{creds.url}*.parquet", storage_options=creds.storage_options, credential_provider=creds
    )
    rows = total = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    # One scan, consumed slowly until two refreshes have happened (polars fetches as it goes,
    # asking the provider again once the expiry it was given has passed), then to its end.
    for batch in scan.collect_batches(chunk_size=100):
        rows += batch.height
        total += int(batch["id"].sum())
        if creds.credentials.refreshes < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert (rows, total) == (FILES * ROWS_PER_FILE, total_ids())
    assert creds.credentials.refreshes >= 2, "the scan ended before two refreshes reached polars"


def test_duckdb_queries_cross_secret_renewals_with_no_failed_request(files: tuple[Client, str]) -> None:
    client, directory = files
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        url = attach(con, client, directory, refresh=POLICY)
        # DuckDB's own log of every HTTP request: which key signed it, and what came back.
        con.execute("CALL enable_logging('HTTP')")
        queries = 0
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (url.recreated < 2 or queries < 5) and time.monotonic() < deadline:
            assert con.sql(f"SELECT sum(id) FROM read_parquet('{url}*.parquet')").fetchall() == [
                (total_ids(),)
            ]
            queries += 1
        # One more query after the last renewal, so that its credentials are used too.
        assert con.sql(f"SELECT sum(id) FROM read_parquet('{url}*.parquet')").fetchall() == [(total_ids(),)]
        requests = con.sql(
            "SELECT regexp_extract(request.headers['Authorization'], 'Credential=([^/]+)/', 1), "
            "response.status FROM duckdb_logs_parsed('HTTP')"
        ).fetchall()
        assert url.recreated >= 2, "the secret was not re-created twice"
        assert [
            status for _, status in requests if not re.search(r"_2\d\d$", str(status))
        ] == []  # none failed
        assert len({key for key, _ in requests}) >= 3  # the queries signed with three sets of credentials
        assert url.active
    finally:
        con.close()


def test_the_pyarrow_wrapper_rebuilds_in_time(files: tuple[Client, str]) -> None:
    client, directory = files
    filesystem = refreshing_s3_filesystem(client, directory, refresh=POLICY)
    handler = filesystem.handler
    first = s3_path(client, f"{directory}part-000.parquet")
    opened_before = filesystem.open_input_file(first)  # read after the rebuilds, below
    late: list[float] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while handler.rebuilds < 2 and time.monotonic() < deadline:
        due = handler.tool.refresh_due_at()
        before = handler.rebuilds
        assert pq.read_table(first, filesystem=filesystem).num_rows == ROWS_PER_FILE
        if handler.rebuilds > before:
            # Rebuilt by the first call after the due time: at most one read late.
            late.append((utc_now() - due).total_seconds())
        time.sleep(0.05)
    assert handler.rebuilds >= 2
    assert all(seconds < 2.0 for seconds in late), late
    assert pq.read_table(opened_before).num_rows == ROWS_PER_FILE  # its credentials still valid
