"""Fixtures for the tool adapters' tests: a dataset written by pandas through ``tierstore://``.

Every module shares the worker's API server (``tests/client/conftest.py``, a child process over
SeaweedFS, vending through ReadWriteRole) and writes one dataset of its own:

- ``{root}/data/events.parquet``: the frame pandas wrote through ``tierstore://``;
- ``{root}/data2/other.parquet``: the prefix next door (``data2`` starts with ``data``), which
  credentials for ``{root}/data/`` must not reach.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from tests.server.harness import RunningServer
from tierstore.client import Client

ROWS = 2_000


@dataclass(frozen=True)
class Dataset:
    client: Client
    server: RunningServer
    root: str
    frame: pd.DataFrame = field(repr=False)

    @property
    def data(self) -> str:
        """The dataset's directory, as a directory path (``/`` at the end)."""
        return f"{self.root}/data/"

    @property
    def events(self) -> str:
        return f"{self.root}/data/events.parquet"

    @property
    def neighbour(self) -> str:
        return f"{self.root}/data2/other.parquet"

    def read_back(self, path: str) -> pd.DataFrame:
        """``path`` read by pandas through ``tierstore://`` (the reference reader)."""
        return pd.read_parquet(f"tierstore://{path}", storage_options=self.options)

    @property
    def options(self) -> dict[str, str]:
        return {"server": self.server.url, "token": self.server.admin_token}


def frame(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": range(rows),
            "value": generator.random(rows),
            "name": [f"row-{n}" for n in range(rows)],
        }
    )


@pytest.fixture(scope="module")
def dataset(api: RunningServer, request: pytest.FixtureRequest) -> Iterator[Dataset]:
    """The module's dataset under a directory of its own; its client is the admin's."""
    module = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    root = f"/{module}-{secrets.token_hex(3)}"
    with Client(api.url, api.admin_token) as client:
        made = Dataset(client, api, root, frame())
        made.frame.to_parquet(f"tierstore://{made.events}", storage_options=made.options)
        frame(10, seed=8).to_parquet(f"tierstore://{made.neighbour}", storage_options=made.options)
        yield made
        client.rm(root, recursive=True)
