"""PyIceberg with vended credentials (``tierstore.client.pyiceberg``) against tierstore serve on SeaweedFS."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import PyArrowFileIO

from tests.client.adapters.conftest import Dataset
from tierstore.client.pyiceberg import file_io, iceberg_properties


def test_the_properties_are_icebergs_names_with_the_vended_credentials(dataset: Dataset) -> None:
    properties = iceberg_properties(dataset.client, dataset.data)
    vended = dataset.client.vend(dataset.data, "read", directory=True)
    assert vended.store is not None and vended.credentials is not None
    assert properties["s3.endpoint"] == vended.store.endpoint
    assert properties["s3.region"] == properties["client.region"] == "us-east-1"
    assert (
        properties["s3.path-style-access"] == "true" and properties["s3.force-virtual-addressing"] == "false"
    )
    assert properties["s3.access-key-id"] == vended.credentials.access_key_id  # the server's cached vend
    assert int(properties["s3.session-token-expires-at-ms"]) > 0
    assert properties["s3.session-token"] and properties["s3.secret-access-key"]


def test_reads_the_parquet_pandas_wrote_and_writes_one(dataset: Dataset) -> None:
    reader = load_file_io(
        iceberg_properties(dataset.client, dataset.data), location=dataset.client.s3_url(dataset.data)
    )
    assert isinstance(reader, PyArrowFileIO)
    with reader.new_input(dataset.client.s3_url(dataset.events)).open() as stream:
        table = pq.read_table(stream)
    pd.testing.assert_frame_equal(table.to_pandas(), dataset.frame)

    writer = file_io(dataset.client, dataset.data, "write")
    out = io.BytesIO()
    dataset.frame.head(7).to_parquet(out)
    target = dataset.client.s3_url(f"{dataset.data}from-pyiceberg.parquet")
    with writer.new_output(target).create(overwrite=True) as stream:
        stream.write(out.getvalue())
    pd.testing.assert_frame_equal(
        dataset.read_back(f"{dataset.data}from-pyiceberg.parquet"), dataset.frame.head(7)
    )


def test_read_credentials_cannot_write_and_the_prefix_next_door_is_refused(dataset: Dataset) -> None:
    reader = file_io(dataset.client, dataset.data)
    with (
        pytest.raises(OSError, match="ACCESS_DENIED"),
        reader.new_output(dataset.client.s3_url(f"{dataset.data}nope.bin")).create(overwrite=True) as stream,
    ):
        stream.write(b"no")
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        reader.new_input(dataset.client.s3_url(dataset.neighbour)).open().read()
