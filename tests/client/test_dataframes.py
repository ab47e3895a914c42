"""pandas, pyarrow and ``fsspec.open`` on ``tierstore://`` paths, through the real server.

The Parquet bytes go straight to SeaweedFS (the server's data-proxy counter does not move);
the listing pyarrow's dataset discovery needs comes from the server.
"""

from __future__ import annotations

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from pyarrow.fs import FSSpecHandler, PyFileSystem

from tests.client.conftest import data_proxy_requests
from tests.server.harness import RunningServer
from tierstore.client import Client
from tierstore.client.fsspec_fs import LISTINGS_CACHED_AT_MOST


def _frame(rows: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(offset, offset + rows),
            "name": [f"row-{i}" for i in range(offset, offset + rows)],
            "value": [i * 0.5 for i in range(offset, offset + rows)],
        }
    )


def test_pandas_parquet_round_trip(api: RunningServer, client: Client, workdir: str) -> None:
    options = {"server": api.url, "token": api.admin_token}
    url = f"tierstore://{workdir}/frame.parquet"
    frame = _frame(10_000)
    before = data_proxy_requests(api)
    frame.to_parquet(url, storage_options=options)
    back = pd.read_parquet(url, storage_options=options)
    pd.testing.assert_frame_equal(back, frame)
    assert data_proxy_requests(api) == before
    assert client.stat(f"{workdir}/frame.parquet")["size"] > 0


def test_pyarrow_dataset_through_fsspec(api: RunningServer, workdir: str) -> None:
    fs = fsspec.filesystem("tierstore", server=api.url, token=api.admin_token)
    for part in range(3):
        with fs.open(f"{workdir}/table/part-{part}.parquet", "wb") as out:
            _frame(1000, offset=part * 1000).to_parquet(out)
    dataset = ds.dataset(f"{workdir}/table", format="parquet", filesystem=PyFileSystem(FSSpecHandler(fs)))
    table = dataset.to_table()
    assert table.num_rows == 3000
    assert sorted(table.column("id").to_pylist()) == list(range(3000))
    assert isinstance(table.schema.field("name").type, pa.DataType)


def test_fsspec_open_with_the_environment(
    api: RunningServer, workdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERSTORE_URL", api.url)
    monkeypatch.setenv("TIERSTORE_TOKEN", api.admin_token)
    # Both spellings: tierstore:///abs/path and tierstore://abs/path.
    with fsspec.open(f"tierstore://{workdir}/notes.txt", "w") as out:
        out.write("first line\nsecond line\n")
    with fsspec.open(f"tierstore:/{workdir}/notes.txt", "r") as back:
        assert back.read().splitlines() == ["first line", "second line"]
    # The server given as an option (the name pandas' storage_options use too), not the environment.
    monkeypatch.delenv("TIERSTORE_URL")
    opened = fsspec.open(f"tierstore://{workdir}/notes.txt", "rb", server=api.url, token=api.admin_token)
    with opened as direct:
        assert direct.read(5) == b"first"
    with fsspec.open(f"tierstore://{workdir.lstrip('/')}/notes.txt", "rb", server=api.url) as raw:
        raw.seek(6)
        assert raw.read(4) == b"line"
    with (
        pytest.raises(FileNotFoundError, match=r"missing\.txt"),
        fsspec.open(f"tierstore://{workdir}/missing.txt", "rb") as gone,
    ):
        gone.read()


def test_a_long_lived_filesystem_keeps_a_bounded_number_of_listings(
    api: RunningServer, client: Client, workdir: str
) -> None:
    """fsspec keeps one filesystem per server and token for the process, and its listings cache
    skips expired listings without dropping them: the filesystem bounds how many it keeps."""
    default = fsspec.filesystem("tierstore", server=api.url, token=api.admin_token, skip_instance_cache=True)
    assert default.dircache.most == LISTINGS_CACHED_AT_MOST
    small = fsspec.filesystem(
        "tierstore", server=api.url, token=api.admin_token, skip_instance_cache=True, max_paths=4
    )
    for index in range(10):
        client.mkdir(f"{workdir}/dir-{index}")
        client.write(f"{workdir}/dir-{index}/file", b"x")
        assert small.ls(f"{workdir}/dir-{index}", detail=False) == [f"{workdir}/dir-{index}/file"]
    kept = list(small.dircache)
    assert 0 < len(kept) <= 4 and f"{workdir}/dir-9" in kept
