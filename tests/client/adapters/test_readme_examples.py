"""The README's tool adapter examples run as written, one after another, against the worker's
server (``TIERSTORE_URL`` and ``TIERSTORE_TOKEN`` set as a user would), and do what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.server.harness import RunningServer
from tierstore.client import Client

README = Path(__file__).resolve().parents[3] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    start = text.index("<!-- section: tool-adapters -->")
    section = text[start : text.index("<!-- /section: tool-adapters -->", start)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_examples_run_and_write_what_they_say(
    api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERSTORE_URL", api.url)
    monkeypatch.setenv("TIERSTORE_TOKEN", api.admin_token)
    blocks = python_blocks()
    assert len(blocks) == 6  # the set-up, then one per tool
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            for block in blocks:
                exec(compile(block, "README.md", "exec"), namespace)
        with Client(api.url, api.admin_token) as client:
            names = sorted(entry["path"].rsplit("/", 1)[1] for entry in client.ls("/mnt/s3/events"))
        assert names == [
            "from-duckdb.parquet",
            "from-obstore.parquet",
            "from-polars.parquet",
            "from-pyarrow.parquet",
            "part-0.parquet",
        ]
        assert printed.getvalue().splitlines() == ["[(4000, 999000.0)]", "1000"]  # DuckDB's, PyIceberg's
    finally:
        for name in ("con", "client"):
            closer = getattr(namespace.get(name), "close", None)
            if closer is not None:
                closer()
        with Client(api.url, api.admin_token) as client:
            client.rm("/mnt", recursive=True)
