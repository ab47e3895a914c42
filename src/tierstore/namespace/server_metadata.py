"""The metadata store of a server config: opened with its secrets key file, its home kept private.

Every process working on a server's namespace (``tierstore serve``, ``tierstore fs``,
``tierstore users``, ``tierstore creds --mount``) opens it here, so each one reads and writes
secret mount options encrypted with the same key (see ``metadata.secrets_at_rest``).
"""

from __future__ import annotations

from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.namespace.config import SECRETS_KEY_FILE, ServerConfig
from tierstore.namespace.metadata import MetadataStore, open_metadata
from tierstore.namespace.metadata.sealing import Rotation
from tierstore.namespace.metadata.secrets_at_rest import keep_private
from tierstore.namespace.metadata.store import rotate_secrets_key


def open_server_metadata(config: ServerConfig, *, in_memory: bool = False) -> MetadataStore:
    """``config``'s metadata store; SecretsKeyError (nothing changed) when its key file is wrong.

    ``in_memory``: the server's store, answering reads from memory and polling the database's
    change counters every ``config.sync_interval_seconds`` (unless that is 0); short-lived
    commands read the database directly.

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
    return open_metadata(config.metadata_url, key_file=config.secrets_key_file, poll_interval=poll)


def rotate_server_key(config: ServerConfig) -> Rotation:
    """A new secrets key for ``config``'s database: every row re-encrypted, the key file replaced."""
    if config.secrets_key_file is None:
        raise ConfigError(f"{config.source}: no {SECRETS_KEY_FILE}: there is no key to rotate")
    if config.private_home is not None:
        keep_private(config.private_home)
    return rotate_secrets_key(config.metadata_url, config.secrets_key_file)
