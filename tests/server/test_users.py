"""``tierstore users add|list|remove`` and the first admin: tokens shown once, only hashes kept."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest

from tests.server.harness import start_api_server
from tierstore.cli.main import main


@pytest.fixture
def local_config(tmp_path: Path) -> Path:
    """A server on a local directory (no store needed to manage users)."""
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
    )
    return config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored_rows(tmp_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "namespace.db") as db:
        return list(db.execute("SELECT name, token_sha256, groups, admin FROM users ORDER BY name"))


def test_users_add_shows_the_token_once_and_stores_its_hash(
    local_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "users", "add", "alice", "--group", "eng", "--group", "ops", "-c", str(local_config)
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("tsk_") and len(token) == len("tsk_") + 43
    rows = stored_rows(tmp_path)
    assert rows == [("alice", hashlib.sha256(token.encode()).hexdigest(), '["eng", "ops"]', 0)]
    assert token.encode() not in (tmp_path / "namespace.db").read_bytes()

    code, out, _ = run(capsys, "users", "list", "-c", str(local_config))
    assert code == 0 and "alice" in out and "eng,ops" in out
    assert token not in out and rows[0][1] not in out  # neither the token nor its hash

    code, _, err = run(capsys, "users", "add", "alice", "-c", str(local_config))
    assert code == 2 and "user alice already exists" in err
    code, _, err = run(capsys, "users", "add", "bad name!", "-c", str(local_config))
    assert code == 2 and "user name 'bad name!' is not allowed" in err

    server = start_api_server(local_config)  # users exist: no admin is made, none is printed
    try:
        assert not (tmp_path / "admin.token").exists()
        who = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(token), timeout=30)
        assert who.json() == {"user": "alice", "groups": ["eng", "ops"], "admin": False}
        code, out, _ = run(capsys, "users", "remove", "alice", "-c", str(local_config))
        assert code == 0 and "removed user alice" in out
    finally:
        server.stop()
    code, _, err = run(capsys, "users", "remove", "alice", "-c", str(local_config))
    assert code == 2 and "user alice does not exist" in err
    # Only the admin the harness added for itself is left.
    assert [str(row[0]).startswith("harness-") for row in stored_rows(tmp_path)] == [True]


def test_the_first_start_creates_an_admin_with_a_0600_token_file(local_config: Path, tmp_path: Path) -> None:
    server = start_api_server(local_config)
    try:
        token_file = tmp_path / "admin.token"
        token = token_file.read_text().strip()
        assert token == server.admin_token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        who = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(token), timeout=30).json()
        assert who == {"user": "admin", "groups": [], "admin": True}
        assert stored_rows(tmp_path)[0][1] == hashlib.sha256(token.encode()).hexdigest()
    finally:
        server.stop()
