"""Parquet through the gateway, on a bucket of the S3 root mount (SeaweedFS) and on a bucket that is
a local mount: pandas writes a partitioned dataset with pyarrow's ``S3FileSystem`` (the AWS C++
SDK), pyarrow reads it back as a dataset and as one table, and DuckDB (httpfs) reads its files by
name and by glob and writes one of its own (a multipart upload).

Refusals are in test_clients_denied.py."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pandas as pd
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from tests.server.s3.conftest import ToolGateway
from tests.tools import duckdb_connection, pyarrow_s3

ROWS = 3000
MIB = 1024 * 1024


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(ROWS),
            "region": [("eu", "us", "ap")[n % 3] for n in range(ROWS)],
            "value": [n * 0.5 for n in range(ROWS)],
            "label": [f"row-{n}" for n in range(ROWS)],
        }
    )


def sorted_rows(table: Any) -> list[tuple[Any, ...]]:
    data = table.to_pandas()[["id", "region", "value", "label"]]
    data["region"] = data["region"].astype(str)  # a partition column comes back as a category
    return sorted(data.itertuples(index=False, name=None))


def expected_rows() -> list[tuple[Any, ...]]:
    return sorted(frame().itertuples(index=False, name=None))


def test_pandas_writes_a_partitioned_dataset_pyarrow_reads_it(
    tool_gateway: ToolGateway, tool_bucket: str
) -> None:
    keys = tool_gateway.admin
    fs = pyarrow_s3(tool_gateway.endpoint, keys.key_id, keys.secret)
    frame().to_parquet(f"{tool_bucket}/sales", partition_cols=["region"], filesystem=fs, index=False)
    written = sorted(
        info.path for info in fs.get_file_info(_selector(f"{tool_bucket}/sales")) if info.is_file
    )
    assert [path.rsplit("/", 2)[1] for path in written] == ["region=ap", "region=eu", "region=us"]
    dataset = ds.dataset(f"{tool_bucket}/sales", filesystem=fs, format="parquet", partitioning="hive")
    assert dataset.count_rows() == ROWS
    assert sorted_rows(dataset.to_table()) == expected_rows()
    only_eu = dataset.to_table(filter=ds.field("region") == "eu", columns=["id"])
    assert sorted(only_eu.column("id").to_pylist()) == list(range(0, ROWS, 3))
    table = pq.read_table(f"{tool_bucket}/sales", filesystem=fs)
    assert sorted_rows(table) == expected_rows()
    # One file read by its own path: its footer and columns with ranged GETs.
    one = pq.read_table(written[0], filesystem=fs, columns=["label"])
    assert one.num_rows == ROWS // 3
    # A stream over pyarrow's part size: a multipart upload, each part with the C++ SDK's
    # CRC64NVME checksum.
    data = secrets.token_bytes(12 * MIB)
    with fs.open_output_stream(f"{tool_bucket}/raw/big.bin") as stream:
        for start in range(0, len(data), MIB):
            stream.write(data[start : start + MIB])
    etag = tool_gateway.boto.head_object(Bucket=tool_bucket, Key="raw/big.bin")["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-[2-9]"', etag), etag  # in parts
    with fs.open_input_file(f"{tool_bucket}/raw/big.bin") as stream:
        assert stream.read() == data


def test_duckdb_reads_by_name_and_glob_and_writes(tool_gateway: ToolGateway, tool_bucket: str) -> None:
    keys = tool_gateway.admin
    fs = pyarrow_s3(tool_gateway.endpoint, keys.key_id, keys.secret)
    frame().to_parquet(f"{tool_bucket}/sales", partition_cols=["region"], filesystem=fs, index=False)
    eu = next(
        info.path
        for info in fs.get_file_info(_selector(f"{tool_bucket}/sales/region=eu"))
        if info.path.endswith(".parquet")
    )
    duck = duckdb_connection(tool_gateway.endpoint, keys.key_id, keys.secret)
    try:
        by_name = duck.execute(f"SELECT count(*), min(id), max(id) FROM read_parquet('s3://{eu}')").fetchone()
        assert by_name == (ROWS // 3, 0, ROWS - 3)
        globbed = duck.execute(
            f"SELECT region, count(*) FROM read_parquet('s3://{tool_bucket}/sales/*/*.parquet', "
            "hive_partitioning = true) GROUP BY region ORDER BY region"
        ).fetchall()
        assert globbed == [("ap", ROWS // 3), ("eu", ROWS // 3), ("us", ROWS // 3)]
        # DuckDB's writer: a multipart upload (its parts are at least 5 MiB, so one part here).
        duck.execute(
            f"COPY (SELECT id, label FROM read_parquet('s3://{tool_bucket}/sales/*/*.parquet') ORDER BY id) "
            f"TO 's3://{tool_bucket}/duck/all.parquet' (FORMAT parquet)"
        )
        again = duck.execute(
            f"SELECT count(*), sum(id) FROM 's3://{tool_bucket}/duck/all.parquet'"
        ).fetchone()
        assert again == (ROWS, sum(range(ROWS)))
    finally:
        duck.close()
    assert pq.read_table(f"{tool_bucket}/duck/all.parquet", filesystem=fs).num_rows == ROWS


def _selector(path: str) -> Any:
    from pyarrow import fs  # type: ignore[import-untyped]

    return fs.FileSelector(path, recursive=True)
