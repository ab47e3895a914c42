"""DuckDB with vended credentials (``tierstore.client.duckdb``) against tierstore serve over SeaweedFS.

httpfs comes from the PyPI package ``duckdb-extension-httpfs`` (no network); the connections are
made with extension autoloading and autoinstalling off, so a test that passed cannot have
downloaded anything.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.client.adapters.conftest import Dataset
from tierstore.client import Client
from tierstore.client.duckdb import attach, detach, secret_sql
from tierstore.credentials.refresh import RefreshPolicy
from tierstore.errors import AccessDeniedError, CredentialsError


def connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect()
    yield connection
    connection.close()


def secrets_of(con: duckdb.DuckDBPyConnection) -> list[tuple[str, list[str], str]]:
    found: list[tuple[str, list[str], str]] = con.sql(
        "SELECT name, scope, storage FROM duckdb_secrets()"
    ).fetchall()
    return found


def test_reads_the_parquet_pandas_wrote_and_writes_one(
    dataset: Dataset, con: duckdb.DuckDBPyConnection
) -> None:
    url = attach(con, dataset.client, dataset.data)
    assert url == dataset.client.s3_url(dataset.data) and url.endswith("/data/")
    ((name, scope, storage),) = secrets_of(con)
    assert (name, scope, storage) == (url.secret_name, [url], "memory")  # temporary: never on disk

    read = con.sql(f"SELECT * FROM read_parquet('{url}events.parquet') ORDER BY id").df()
    pd.testing.assert_frame_equal(read, dataset.frame, check_dtype=False)

    writable = attach(con, dataset.client, dataset.data, "write")  # the same scope: replaces it
    assert len(secrets_of(con)) == 1 and not url.active and writable.active
    con.execute(f"COPY (SELECT * FROM '{writable}events.parquet' WHERE id < 10) TO '{writable}duck.parquet'")
    assert dataset.read_back(f"{dataset.data}duck.parquet")["id"].tolist() == list(range(10))


def test_the_next_query_sees_the_secret_whatever_the_connection_had_open(
    dataset: Dataset, con: duckdb.DuckDBPyConnection
) -> None:
    """A result left open keeps its transaction; a secret made elsewhere would be invisible to it."""
    attach(con, dataset.client, dataset.neighbour)  # httpfs loaded now: the next attach skips loading it
    assert con.execute("SELECT 42").fetchone() == (42,)  # its result left open
    url = attach(con, dataset.client, dataset.data)
    assert con.sql(f"SELECT count(*) FROM '{url}events.parquet'").fetchone() == (len(dataset.frame),)


def test_read_credentials_cannot_write_and_the_prefix_next_door_is_refused(
    dataset: Dataset, con: duckdb.DuckDBPyConnection
) -> None:
    url = attach(con, dataset.client, dataset.data)
    with pytest.raises(duckdb.Error, match="403"):
        con.execute(f"COPY (SELECT 1 AS x) TO '{url}nope.parquet'")
    neighbour = f"{url.removesuffix('data/')}data2/other.parquet"
    # The secret's scope does not reach next door: DuckDB would not even send these keys there.
    assert con.sql(f"SELECT name FROM which_secret('{neighbour}', 's3')").fetchall() == []
    # The same credentials in a secret over the whole bucket: SeaweedFS itself refuses data2/.
    tool = url.credentials
    whole = f"s3://{tool.bucket}/"
    con.execute(
        secret_sql(
            "wide", whole, tool.credentials(), endpoint=tool.endpoint, region=tool.region, path_style=True
        )
    )
    with pytest.raises(duckdb.Error, match="403"):
        con.sql(f"SELECT count(*) FROM '{neighbour}'").fetchall()


def test_an_attach_whose_vend_fails_raises_tierstores_error_and_creates_no_secret(
    dataset: Dataset, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A user the namespace gives nothing (the root is 0700 with no owner): the server says 403.
    token = dataset.server.add_user(f"nobody-{time.monotonic_ns()}")
    with Client(dataset.server.url, token) as stranger, pytest.raises(AccessDeniedError):
        attach(con, stranger, dataset.data)
    assert secrets_of(con) == []
    # A local directory has no store credentials at all: an error, never an anonymous secret.
    mount = f"{dataset.root}-local"
    dataset.client.add_mount(mount, tmp_path.as_uri())
    try:
        with pytest.raises(CredentialsError, match="data proxy"):
            attach(con, dataset.client, f"{mount}/")
    finally:
        dataset.client.remove_mount(mount)
    assert secrets_of(con) == []


def test_detach_drops_the_secret_and_a_closed_connection_stops_the_refresher(
    dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    con = connect()
    url = attach(con, dataset.client, dataset.data)
    other = attach(con, dataset.client, dataset.events)  # a file: a narrower scope beside it
    assert sorted(scope[0] for _, scope, _ in secrets_of(con)) == sorted([url, other])
    detach(con, url)
    assert [scope for _, scope, _ in secrets_of(con)] == [[other]] and not url.active
    assert con.sql(f"SELECT count(*) FROM '{other}'").fetchone() == (len(dataset.frame),)
    con.close()
    other.close()  # after the connection: nothing left to drop, and no error
    assert not other.active

    # A connection closed, and one dropped without close(): each refresher notices at its next
    # refresh time and ends, re-creating nothing.
    soon = RefreshPolicy(fraction=0.001, margin=timedelta(seconds=5))  # due in about 1 s
    closed, dropped, kept = connect(), connect(), connect()
    urls = [attach(each, dataset.client, dataset.data, refresh=soon) for each in (closed, dropped)]
    closed.close()
    del dropped
    gc.collect()
    # And a connection still open whose tierstore Client was closed: nothing can renew it.
    with Client(dataset.server.url, dataset.server.admin_token) as short:
        urls.append(attach(kept, short, dataset.data, refresh=soon))
    with caplog.at_level(logging.WARNING, logger="tierstore.client"):
        for url in urls:
            url._refresher.join(timeout=15)
            assert not url.active and url.recreated == 0
    assert "its tierstore Client was closed" in caplog.text
    kept.close()


def test_secrets_stay_out_of_logs_reprs_and_errors(
    dataset: Dataset, con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tierstore"):
        url = attach(con, dataset.client, dataset.data)
    creds = url.credentials.credentials()
    assert creds.session_token is not None
    secrets = [creds.secret_access_key.reveal(), creds.session_token.reveal(), creds.access_key_id]
    shown = "\n".join([caplog.text, repr(url.credentials), repr(url._refresher)])
    assert not any(secret in shown for secret in secrets)
    assert creds.access_key_id[:4] in caplog.text  # the key id's first 4 characters, no more
