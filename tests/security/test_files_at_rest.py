"""The metadata database (token hashes, mount options) and its directory are the server user's only."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.security.conftest import Hostile
from tierstore.namespace.metadata import open_metadata


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "meta.db"
    database.parent.mkdir(mode=0o700)
    store = open_metadata(f"sqlite:///{database}")
    try:
        store.set_attributes("/a", mode=0o700)  # a write: the -wal and -shm files exist now
        assert _mode(database.parent) == 0o700
        for file in database.parent.iterdir():
            assert _mode(file) == 0o600, file
        assert {f.name for f in database.parent.iterdir()} >= {"meta.db", "meta.db-wal", "meta.db-shm"}
    finally:
        store.close()


def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    database = tmp_path / "meta.db"
    open_metadata(f"sqlite:///{database}").close()
    database.chmod(0o644)
    open_metadata(f"sqlite:///{database}").close()
    assert _mode(database) == 0o600


def test_the_servers_database_is_private(hostile: Hostile) -> None:
    database = hostile.server.state.options.home / "namespace.db"
    assert database.exists()
    assert _mode(database) == 0o600


def test_the_server_makes_a_missing_database_directory_0700(tmp_path: Path) -> None:
    from tierstore.server.run import build_server

    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'private' / 'meta.db'}\n"
    )
    built = build_server(config)
    try:
        assert _mode(tmp_path / "private") == 0o700
        assert _mode(tmp_path / "private" / "meta.db") == 0o600
    finally:
        built.state.close()
