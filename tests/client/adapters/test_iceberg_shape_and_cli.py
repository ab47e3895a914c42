"""The Iceberg REST shape of ``POST /v1/credentials`` and ``tierstore creds vend --format
iceberg|duckdb|polars``, each checked by handing it to its tool against SeaweedFS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import polars as pl
import pyarrow.parquet as pq
import pytest
from pyiceberg.io import load_file_io

from tests.client.adapters.conftest import Dataset
from tierstore.cli.main import main
from tierstore.client.duckdb import load_httpfs

ICEBERG_KEYS = {
    "s3.access-key-id",
    "s3.secret-access-key",
    "s3.session-token",
    "s3.endpoint",
    "s3.region",
    "s3.path-style-access",
    "s3.force-virtual-addressing",
    "s3.session-token-expires-at-ms",
    "client.region",
}


def vend_shape(dataset: Dataset, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{dataset.server.url}/v1/credentials", json=body, headers=dataset.server.auth(), timeout=30
    )


def cli(dataset: Dataset, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["creds", "vend", *args, "--url", dataset.server.url, "--token", dataset.server.admin_token])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return out


def test_the_server_answers_in_the_iceberg_shape_that_pyiceberg_reads_with(dataset: Dataset) -> None:
    answer = vend_shape(dataset, {"path": dataset.data, "access": "read", "shape": "iceberg"})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    ((entry,),) = [answer.json()["storage-credentials"]]
    assert set(answer.json()) == {"storage-credentials"}
    assert entry["prefix"] == dataset.client.s3_url(dataset.data)
    config = entry["config"]
    assert set(config) == ICEBERG_KEYS and all(isinstance(value, str) for value in config.values())
    assert config["s3.path-style-access"] == "true" and config["client.region"] == "us-east-1"
    plain = dataset.client.vend(dataset.data, "read", directory=True)  # the same cached vend
    assert plain.credentials is not None and plain.credentials.expires_at is not None
    assert config["s3.access-key-id"] == plain.credentials.access_key_id
    assert int(config["s3.session-token-expires-at-ms"]) == int(
        plain.credentials.expires_at.timestamp() * 1000
    )
    assert int(config["s3.session-token-expires-at-ms"]) > (time.time() + 60) * 1000

    io = load_file_io(config, location=entry["prefix"])
    with io.new_input(dataset.client.s3_url(dataset.events)).open() as stream:
        assert pq.read_table(stream).num_rows == len(dataset.frame)


def test_the_iceberg_shape_refuses_what_it_cannot_answer(dataset: Dataset, tmp_path: Path) -> None:
    wrong = vend_shape(dataset, {"path": dataset.data, "shape": "polaris"})
    assert wrong.status_code == 400 and "use tierstore (the default) or iceberg" in wrong.text
    mount = f"{dataset.root}-local"
    dataset.client.add_mount(mount, tmp_path.as_uri())
    try:
        proxied = vend_shape(dataset, {"path": f"{mount}/", "shape": "iceberg"})
        assert proxied.status_code == 409 and "data proxy" in proxied.json()["error"]["message"]
        assert vend_shape(dataset, {"path": f"{mount}/"}).json()["mode"] == "proxy"  # the plain shape says so
    finally:
        dataset.client.remove_mount(mount)


def test_the_cli_prints_the_servers_iceberg_shape(
    dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = json.loads(cli(dataset, capsys, dataset.data, "--format", "iceberg"))
    served = vend_shape(dataset, {"path": dataset.data, "shape": "iceberg"}).json()
    assert printed == served


def test_the_cli_prints_a_duckdb_secret_that_duckdb_reads_with(
    dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    script = cli(dataset, capsys, dataset.data, "--format", "duckdb")
    assert script.startswith("-- s3://") and "CREATE OR REPLACE TEMPORARY SECRET" in script
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        load_httpfs(con)
        con.execute(script)
        url = dataset.client.s3_url(dataset.events)
        assert con.sql(f"SELECT count(*) FROM '{url}'").fetchone() == (len(dataset.frame),)
    finally:
        con.close()


def test_the_cli_prints_polars_url_and_storage_options(
    dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = json.loads(cli(dataset, capsys, dataset.data, "--write", "--format", "polars"))
    url, options = printed["url"], printed["storage_options"]
    assert url == dataset.client.s3_url(dataset.data) and "aws_session_token" in options
    pl.DataFrame({"x": [1, 2, 3]}).write_parquet(f"{url}from-cli.parquet", storage_options=options)
    assert pl.read_parquet(f"{url}from-cli.parquet", storage_options=options)["x"].to_list() == [1, 2, 3]
