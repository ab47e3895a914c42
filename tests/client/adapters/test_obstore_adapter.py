"""obstore with vended credentials (``tierstore.client.obstore``) against tierstore serve over SeaweedFS."""

from __future__ import annotations

import io
import pickle
from datetime import timedelta
from pathlib import Path

import obstore
import pandas as pd
import pytest
from obstore.exceptions import PermissionDeniedError
from obstore.store import S3Store

from tests.client.adapters.conftest import Dataset
from tierstore.client.obstore import credential_provider, s3_store
from tierstore.credentials.refresh import utc_now
from tierstore.errors import CredentialsError


def test_reads_the_parquet_pandas_wrote_and_writes_one(dataset: Dataset) -> None:
    store = s3_store(dataset.client, dataset.data)
    body = obstore.get(store, "events.parquet").bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(bytes(body))), dataset.frame)

    writable = s3_store(dataset.client, dataset.data, "write")
    out = io.BytesIO()
    dataset.frame.head(100).to_parquet(out)
    obstore.put(writable, "from-obstore.parquet", out.getvalue())
    pd.testing.assert_frame_equal(
        dataset.read_back(f"{dataset.data}from-obstore.parquet"), dataset.frame.head(100)
    )


def test_a_file_path_roots_the_store_at_its_directory(dataset: Dataset) -> None:
    store = s3_store(dataset.client, dataset.events)
    assert len(obstore.get(store, "events.parquet").bytes()) == dataset.client.stat(dataset.events)["size"]


def test_read_credentials_cannot_write_and_the_prefix_next_door_is_refused(dataset: Dataset) -> None:
    store = s3_store(dataset.client, dataset.data)
    with pytest.raises(PermissionDeniedError):
        obstore.put(store, "not-allowed.bin", b"no")
    # The same credentials on a store over the whole bucket: SeaweedFS itself refuses data2/.
    provider = credential_provider(dataset.client, dataset.data)
    tool = provider.credentials
    whole = S3Store(
        tool.bucket,
        config={
            "endpoint": tool.endpoint or "",
            "region": tool.region,
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": True},
        credential_provider=provider,
    )
    neighbour = f"{tool.key.removesuffix('data/')}data2/other.parquet"
    with pytest.raises(PermissionDeniedError):
        obstore.get(whole, neighbour).bytes()
    assert len(obstore.get(whole, f"{tool.key}events.parquet").bytes()) > 0


def test_the_provider_gives_obstore_the_refresh_time_as_expiry(dataset: Dataset) -> None:
    provider = credential_provider(dataset.client, dataset.data)
    answer = provider()
    creds = provider.credentials.credentials()
    due = provider.credentials.refresh_due_at()
    assert due is not None and creds.expires_at is not None
    assert answer["expires_at"] == min(due, creds.expires_at) < creds.expires_at
    assert answer["expires_at"] > utc_now() + timedelta(seconds=60)
    assert answer["access_key_id"] == creds.access_key_id and answer["token"]
    # What a log or a traceback would show holds no secret.
    shown = repr(provider)
    assert answer["secret_access_key"] not in shown and str(answer["token"]) not in shown
    assert creds.access_key_id not in shown
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider)


def test_a_local_directory_mount_has_no_credentials_to_give(dataset: Dataset, tmp_path: Path) -> None:
    mount = f"{dataset.root}-local"
    dataset.client.add_mount(mount, f"file://{tmp_path}")
    try:
        with pytest.raises(CredentialsError, match="data proxy"):
            s3_store(dataset.client, f"{mount}/")
    finally:
        dataset.client.remove_mount(mount)
