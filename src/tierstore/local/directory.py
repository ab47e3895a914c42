"""Where a local stack lives unless told otherwise: ``$TIERSTORE_LOCAL_DIR``, else ``~/.tierstore/local``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DIRECTORY = "TIERSTORE_LOCAL_DIR"


def default_directory() -> Path:
    """``$TIERSTORE_LOCAL_DIR``, or ``~/.tierstore/local``."""
    configured = os.environ.get(ENV_DIRECTORY)
    return Path(configured) if configured else Path.home() / ".tierstore" / "local"
