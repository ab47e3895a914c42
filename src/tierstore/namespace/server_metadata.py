"""The metadata store of a server config: opened with its secrets key file, its home kept private.

Every process working on a server's namespace (``tierstore serve``, ``tierstore fs``,
``tierstore users``, ``tierstore creds --mount``) opens it here, so each one reads and writes
secret mount options encrypted with the same key (see ``metadata.secrets_at_rest``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tierstore.errors import ConfigError
from tierstore.namespace.config import SECRETS_KEY_FILE, ServerConfig
from tierstore.namespace.metadata import MetadataStore
from tierstore.namespace.metadata.direct import open_direct
from tierstore.namespace.metadata.secrets_at_rest import keep_private

# The SQLAlchemy store is imported when it is opened: short-lived commands on a SQLite file
# read it without (``metadata.direct``).
if TYPE_CHECKING:
    from tierstore.namespace.metadata.sealing import Rotation


def open_server_metadata(config: ServerConfig, *, in_memory: bool = False) -> MetadataStore:
    """``config``'s metadata store; SecretsKeyError (nothing changed) when its key file is wrong.

    ``in_memory``: the server's store, answering reads from memory and polling the database's
    change counters every ``config.sync_interval_seconds`` (unless that is 0); short-lived
    commands read the database directly, a SQLite file through sqlite3 when opening it needs no
    write (``metadata.direct``).

    A SQLite file's directory is made here (0700) for every command alike; ``open_metadata``
    itself leaves a missing directory to SQLite's own error.
    """
    if config.private_home is not None:
        keep_private(config.private_home)
    if config.metadata_url.startswith("sqlite:///"):
        Path(config.metadata_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True, mode=0o700
        )
    poll = config.sync_interval_seconds if in_memory and config.sync_interval_seconds > 0 else None
    if not in_memory:  # a server (even one reading every request from the database) pools connections
        direct = open_direct(config.metadata_url, key_file=config.secrets_key_file)
        if direct is not None:
            return direct
    from tierstore.namespace.metadata.store import open_metadata

    return open_metadata(config.metadata_url, key_file=config.secrets_key_file, poll_interval=poll)


def rotate_server_key(config: ServerConfig) -> Rotation:
    """A new secrets key for ``config``'s database: every row re-encrypted, the key file replaced."""
    if config.secrets_key_file is None:
        raise ConfigError(f"{config.source}: no {SECRETS_KEY_FILE}: there is no key to rotate")
    if config.private_home is not None:
        keep_private(config.private_home)
    from tierstore.namespace.metadata.store import rotate_secrets_key

    return rotate_secrets_key(config.metadata_url, config.secrets_key_file)
