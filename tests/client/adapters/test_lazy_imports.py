"""The tool adapters import their tools only when called: ``import tierstore.client`` (and each
adapter module) loads none of obstore, polars, DuckDB, pyarrow, PyIceberg or pandas.

Counted in a fresh interpreter, as tests/test_cli_imports.py counts the CLI's imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.test_cli_imports import heavy_among

ADAPTERS = ("obstore", "polars", "duckdb", "pyarrow", "pyiceberg")
TOOLS = ("obstore", "polars", "duckdb", "_duckdb", "pyarrow", "pyiceberg", "pandas", "numpy")

_PROBE = """
import json, sys
bare = set(sys.modules)
import tierstore.client
for name in sys.argv[1:]:
    __import__(f"tierstore.client.{name}")
print(json.dumps(sorted(set(sys.modules) - bare)))
"""


def imported(*adapters: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *adapters], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout)
    return modules


def test_importing_the_client_and_every_adapter_imports_no_tool() -> None:
    modules = imported(*ADAPTERS)
    assert {f"tierstore.client.{name}" for name in ADAPTERS} <= set(modules)
    assert heavy_among(modules, TOOLS) == []


def test_the_client_alone_imports_no_adapter() -> None:
    modules = imported()
    assert "tierstore.client" in modules
    assert [m for m in modules if m.removeprefix("tierstore.client.") in ADAPTERS] == []
