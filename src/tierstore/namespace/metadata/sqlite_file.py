"""The SQLite file itself, whichever driver opens it: private (0600) before SQLite does, how
long a writer waits for another, and what to say when it cannot be used."""

from __future__ import annotations

import os
from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.namespace.metadata.errors import MetadataUnavailableError

# How long a writer waits for another one (another thread, or another process on the same file).
SQLITE_BUSY_TIMEOUT_SECONDS = 15.0


def make_private(database: str | None, display: str) -> None:
    """The SQLite file readable by its owner only: it holds token hashes and mount options.

    Created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database's
    own mode); an existing file is narrowed to 0600. The server makes the directory 0700.
    """
    if not database or database == ":memory:":
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite's own error names the missing directory; the server makes it (0700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
    except OSError as error:
        raise ConfigError(f"metadata database {display}: cannot create it: {error.strerror}") from None


def unavailable(where: str, detail: str) -> MetadataUnavailableError:
    """The error for a SQLite file that cannot be opened, or stayed locked past the busy timeout."""
    if "locked" in detail or "busy" in detail:
        hint = (
            f"another connection held its write lock for over {SQLITE_BUSY_TIMEOUT_SECONDS:g} s; "
            "look for a process stuck writing to it"
        )
    else:
        hint = "check that its directory exists and this process may read and write there"
    return MetadataUnavailableError(
        f"metadata database file {where} cannot be used: {detail}; {hint}", where=where
    )
