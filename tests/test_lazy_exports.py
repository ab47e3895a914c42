"""Packages that import their exports on first use (``tierstore.lazy``) still export every name."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["tierstore.settings", "tierstore.local", "tierstore.namespace.metadata"])
def test_every_name_in_all_is_there_and_star_import_works(package: str) -> None:
    # A fresh interpreter: in this one, earlier tests may have read (and so cached) the names.
    probe = (
        f"import {package} as package\n"
        "missing = [name for name in package.__all__ if not hasattr(package, name)]\n"
        "assert not missing, missing\n"
        f"exec('from {package} import *')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    import tierstore.settings

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = tierstore.settings.NoSuchThing  # type: ignore[attr-defined]
