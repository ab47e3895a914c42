"""polars with vended credentials (``tierstore.client.polars``) against tierstore serve over SeaweedFS."""

from __future__ import annotations

import math
import time

import pandas as pd
import polars as pl
import pytest

from tests.client.adapters.conftest import Dataset
from tierstore.client.polars import credential_provider, storage_options


def test_scans_and_reads_the_parquet_pandas_wrote(dataset: Dataset) -> None:
    creds = credential_provider(dataset.client, dataset.data)
    assert creds.url.startswith("s3://") and creds.url.endswith("/data/")
    options = creds.storage_options
    assert options["aws_virtual_hosted_style_request"] == "false" and options["aws_allow_http"] == "true"
    assert not any("secret" in key or "key_id" in key for key in options)  # the provider gives those

    read = pl.read_parquet(f"{creds.url}events.parquet", storage_options=options, credential_provider=creds)
    pd.testing.assert_frame_equal(read.to_pandas(), dataset.frame)
    total = (
        pl.scan_parquet(f"{creds.url}*.parquet", storage_options=options, credential_provider=creds)
        .select(pl.col("id").sum())
        .collect()
        .item()
    )
    assert total == dataset.frame["id"].sum()


def test_writes_parquet_and_csv_that_pandas_reads_back(dataset: Dataset) -> None:
    creds = credential_provider(dataset.client, dataset.data, "write")
    frame = pl.from_pandas(dataset.frame.head(50))
    frame.write_parquet(
        f"{creds.url}from-polars.parquet", storage_options=creds.storage_options, credential_provider=creds
    )
    pd.testing.assert_frame_equal(
        dataset.read_back(f"{dataset.data}from-polars.parquet"), dataset.frame.head(50)
    )
    frame.write_csv(
        f"{creds.url}from-polars.csv", storage_options=creds.storage_options, credential_provider=creds
    )
    back = pl.scan_csv(
        f"{creds.url}from-polars.csv", storage_options=creds.storage_options, credential_provider=creds
    ).collect()
    assert back["name"].to_list() == frame["name"].to_list()


def test_read_credentials_cannot_write_and_the_prefix_next_door_is_refused(dataset: Dataset) -> None:
    creds = credential_provider(dataset.client, dataset.data)
    with pytest.raises(PermissionError, match="403 Forbidden"):
        pl.DataFrame({"x": [1]}).write_parquet(
            f"{creds.url}nope.parquet", storage_options=creds.storage_options, credential_provider=creds
        )
    neighbour = f"{creds.url.removesuffix('data/')}data2/other.parquet"
    with pytest.raises(PermissionError, match="403 Forbidden"):
        pl.read_parquet(neighbour, storage_options=creds.storage_options, credential_provider=creds)


def test_the_provider_answers_as_polars_expects(dataset: Dataset) -> None:
    creds = credential_provider(dataset.client, dataset.data)
    keys, expiry = creds()
    assert set(keys) == {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
    due = creds.credentials.refresh_due_at()
    assert due is not None and expiry == math.ceil(due.timestamp()) and expiry > time.time() + 60
    assert keys["aws_secret_access_key"] not in repr(creds)


def test_storage_options_with_keys_for_a_one_off_read(dataset: Dataset) -> None:
    url, options = storage_options(dataset.client, dataset.events, with_keys=True)
    assert url.endswith("/data/events.parquet") and "aws_session_token" in options
    assert pl.read_parquet(url, storage_options=options).height == len(dataset.frame)
    url, options = storage_options(dataset.client, dataset.events)
    assert "aws_access_key_id" not in options
