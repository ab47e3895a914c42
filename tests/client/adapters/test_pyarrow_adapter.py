"""pyarrow with vended credentials (``tierstore.client.pyarrow``) against tierstore serve over SeaweedFS."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from tests.client.adapters.conftest import Dataset
from tierstore.client.pyarrow import refreshing_s3_filesystem, s3_filesystem, s3_path


def test_reads_the_parquet_pandas_wrote_and_writes_one(dataset: Dataset) -> None:
    filesystem = s3_filesystem(dataset.client, dataset.data)
    assert isinstance(filesystem, fs.S3FileSystem)
    events = s3_path(dataset.client, dataset.events)
    assert f"s3://{events}" == dataset.client.s3_url(dataset.events)
    table = pq.read_table(events, filesystem=filesystem)
    pd.testing.assert_frame_equal(table.to_pandas(), dataset.frame)

    writable = s3_filesystem(dataset.client, dataset.data, "write")
    pq.write_table(
        table.slice(0, 25),
        s3_path(dataset.client, f"{dataset.data}from-pyarrow.parquet"),
        filesystem=writable,
    )
    pd.testing.assert_frame_equal(
        dataset.read_back(f"{dataset.data}from-pyarrow.parquet"), dataset.frame.head(25)
    )


def test_read_credentials_cannot_write_and_the_prefix_next_door_is_refused(dataset: Dataset) -> None:
    filesystem = s3_filesystem(dataset.client, dataset.data)
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        pq.write_table(
            pa.table({"x": [1]}),
            s3_path(dataset.client, f"{dataset.data}nope.parquet"),
            filesystem=filesystem,
        )
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        pq.read_table(s3_path(dataset.client, dataset.neighbour), filesystem=filesystem)


def test_the_refreshing_filesystem_serves_pyarrow_datasets(dataset: Dataset) -> None:
    filesystem = refreshing_s3_filesystem(dataset.client, dataset.data, "write")
    assert isinstance(filesystem, fs.PyFileSystem) and filesystem.handler.rebuilds == 0
    directory = s3_path(dataset.client, dataset.data)
    found = ds.dataset(directory, format="parquet", filesystem=filesystem).to_table(columns=["id"])
    assert found.num_rows >= len(dataset.frame)
    target = f"{directory}written-by-dataset"
    ds.write_dataset(pa.table({"x": list(range(5))}), target, format="parquet", filesystem=filesystem)
    assert sorted(
        ds.dataset(target, format="parquet", filesystem=filesystem).to_table()["x"].to_pylist()
    ) == list(range(5))
    info = filesystem.get_file_info(s3_path(dataset.client, dataset.events))
    assert info.type == fs.FileType.File and info.size > 0
    creds = filesystem.handler.tool.credentials()
    assert creds.secret_access_key.reveal() not in repr(filesystem.handler)
