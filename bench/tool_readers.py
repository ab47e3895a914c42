"""Readers of one Parquet file through each data tool, twice: with tierstore's vended credentials
(the adapters in ``tierstore.client``) and with the admin's static keys configured by hand.

Each reader reads the whole file and returns what it counted (rows, or bytes for obstore), so a
broken reader cannot look fast. Both readers of a tool are built once, before the timed rounds:
what is timed is the read, which is where credentials could cost (a provider callback, a
refresh check, a ``PyFileSystem`` hop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import obstore
import polars as pl
import pyarrow.parquet as pq
from obstore.store import S3Store
from pyarrow import fs
from pyiceberg.io import load_file_io

import store_bench as sb
from tierstore.client import Client
from tierstore.client import duckdb as ts_duckdb
from tierstore.client import obstore as ts_obstore
from tierstore.client import polars as ts_polars
from tierstore.client import pyarrow as ts_pyarrow
from tierstore.client import pyiceberg as ts_pyiceberg
from tierstore.credentials.shapes import iceberg_config


@dataclass
class Reader:
    tool: str
    variant: str  # "tierstore" or "static"
    read: Callable[[], int]
    close: Callable[[], None] = lambda: None
    # The static reader this one is compared with (by tool name), when not its own tool's.
    compare_with: str | None = None


def _duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    ts_duckdb.load_httpfs(con)
    # DuckDB keeps remote file data in memory between queries: every round must read the store.
    con.execute("SET enable_external_file_cache = false")
    return con


def readers(client: Client, stack: sb.Stack, directory: str, name: str, columns: int) -> list[Reader]:
    """Every tool's two readers of ``directory + name`` (a namespace path on the bench mount)."""
    path = f"{directory}{name}"
    url = client.s3_url(path)
    bucket, _, key = url.removeprefix("s3://").partition("/")
    host = stack.endpoint.split("://", 1)[1]
    made: list[Reader] = []

    # obstore: the whole object's bytes.
    ours = ts_obstore.s3_store(client, directory)
    static = S3Store(
        bucket,
        config={
            "endpoint": stack.endpoint,
            "region": stack.region,
            "access_key_id": stack.key_id,
            "secret_access_key": stack.secret,
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": True},
    )
    made.append(Reader("obstore", "tierstore", lambda: len(obstore.get(ours, name).bytes())))
    made.append(Reader("obstore", "static", lambda: len(obstore.get(static, key).bytes())))

    # polars: read_parquet of the whole file.
    provider = ts_polars.credential_provider(client, directory)
    keys = ts_polars.store_options(stack.endpoint, stack.region, True)
    keys.update(aws_access_key_id=stack.key_id, aws_secret_access_key=stack.secret)
    made.append(
        Reader(
            "polars",
            "tierstore",
            lambda: (
                pl.read_parquet(
                    url, storage_options=provider.storage_options, credential_provider=provider
                ).height
            ),
        )
    )
    made.append(Reader("polars", "static", lambda: pl.read_parquet(url, storage_options=keys).height))

    # DuckDB: every column summed, so every column chunk is read.
    sums = ", ".join(f"sum(c{n})" for n in range(columns))
    query = f"SELECT count(*), {sums} FROM read_parquet('{url}')"
    attached = _duckdb_connection()
    ts_duckdb.attach(attached, client, directory)
    plain = _duckdb_connection()
    plain.execute(
        f"CREATE SECRET admin (TYPE s3, KEY_ID '{stack.key_id}', SECRET '{stack.secret}', REGION "
        f"'{stack.region}', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)"
    )

    def duck(con: duckdb.DuckDBPyConnection) -> int:
        row = con.sql(query).fetchone()
        assert row is not None
        return int(row[0])

    made.append(Reader("duckdb", "tierstore", lambda: duck(attached), attached.close))
    made.append(Reader("duckdb", "static", lambda: duck(plain), plain.close))

    # pyarrow: read_table on S3FileSystem, and through the refreshing PyFileSystem.
    where = f"{bucket}/{key}"
    vended_fs = ts_pyarrow.s3_filesystem(client, directory)
    refreshing_fs = ts_pyarrow.refreshing_s3_filesystem(client, directory)
    static_fs = fs.S3FileSystem(
        access_key=stack.key_id,
        secret_key=stack.secret,
        region=stack.region,
        endpoint_override=host,
        scheme="http",
    )
    made.append(Reader("pyarrow", "tierstore", lambda: pq.read_table(where, filesystem=vended_fs).num_rows))
    made.append(
        Reader(
            "pyarrow-refreshing",
            "tierstore",
            lambda: pq.read_table(where, filesystem=refreshing_fs).num_rows,
            compare_with="pyarrow",
        )
    )
    # (the refreshing one is compared with the same static reader: pyarrow's own, by hand)
    made.append(Reader("pyarrow", "static", lambda: pq.read_table(where, filesystem=static_fs).num_rows))

    # PyIceberg: its pyarrow FileIO opens the file; pyarrow reads the table from it.
    vended_io = ts_pyiceberg.file_io(client, directory)
    static_io = load_file_io(
        iceberg_config(
            access_key_id=stack.key_id,
            secret_access_key=stack.secret,
            session_token=None,
            expires_at=None,
            endpoint=stack.endpoint,
            region=stack.region,
            path_style=True,
        ),
        location=url,
    )

    def iceberg(io: Any) -> int:
        with io.new_input(url).open() as stream:
            return int(pq.read_table(stream).num_rows)

    made.append(Reader("pyiceberg", "tierstore", lambda: iceberg(vended_io)))
    made.append(Reader("pyiceberg", "static", lambda: iceberg(static_io)))
    return made
