"""``tierstore users s3-keys create|list|revoke``: the secret printed once by ``create`` and never
again, sealed in the database, refused without the right key file, re-encrypted by ``tierstore
admin rotate-key``, gone with its user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tierstore.cli.main import main
from tierstore.namespace.config import load_server_config
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.server.s3_keys import S3KeyDirectory

KEY_FILE = "tierstore-secrets.key"  # the default, beside the config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A server on a local directory (no store needed to manage users and keys)."""
    path = tmp_path / "server.yaml"
    path.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def create(capsys: pytest.CaptureFixture[str], config: Path, user: str) -> tuple[str, str]:
    code, out, err = run(capsys, "users", "s3-keys", "create", user, "-c", str(config))
    assert code == 0, err
    found = dict(re.findall(r"^(aws_access_key_id|aws_secret_access_key) = (\S+)$", out, re.MULTILINE))
    return found["aws_access_key_id"], found["aws_secret_access_key"]


def database_bytes(tmp_path: Path) -> bytes:
    files = [tmp_path / f"namespace.db{suffix}" for suffix in ("", "-wal", "-shm")]
    return b"".join(file.read_bytes() for file in files if file.exists())


def secret_of(config: Path, access_key_id: str) -> str | None:
    """What a server built from ``config`` would check signatures of ``access_key_id`` with."""
    keys = S3KeyDirectory(open_server_metadata(load_server_config(config), in_memory=True))
    try:
        secret = keys.secret_for(access_key_id)
    finally:
        keys.metadata.close()
    return None if secret is None else secret.reveal()


def test_create_prints_the_secret_once_and_nothing_prints_it_again(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "users", "add", "alice", "-c", str(config))[0] == 0
    access_key_id, secret = create(capsys, config, "alice")
    assert re.fullmatch(r"TSK3[A-Z0-9]{16}", access_key_id) and len(secret) == 40
    assert secret_of(config, access_key_id) == secret
    code, out, _ = run(capsys, "users", "s3-keys", "create", "alice", "--json", "-c", str(config))
    assert code == 0
    made = json.loads(out)
    assert made["user"] == "alice" and set(made) == {"user", "access_key_id", "secret_access_key"}
    assert secret_of(config, made["access_key_id"]) == made["secret_access_key"]

    shown = ""
    for argv in (["list"], ["list", "alice"], ["list", "--json"], ["list", "alice", "--json"]):
        code, out, err = run(capsys, "users", "s3-keys", *argv, "-c", str(config))
        assert code == 0, err
        shown += out + err
    assert shown.count(secret) == 0 and shown.count(made["secret_access_key"]) == 0
    # The id is not secret: listings show it whole, with the user and the creation time.
    code, out, _ = run(capsys, "users", "s3-keys", "list", "--json", "-c", str(config))
    listed = json.loads(out)
    assert {entry["access_key_id"] for entry in listed} == {access_key_id, made["access_key_id"]}
    assert all(set(entry) == {"access_key_id", "user", "created_at"} for entry in listed)
    code, out, _ = run(capsys, "users", "s3-keys", "list", "alice", "-c", str(config))
    assert [line.split()[:2] for line in out.splitlines()] == [
        [entry["access_key_id"], "alice"] for entry in listed
    ]
    # Sealed at rest: neither secret is in the database's bytes.
    assert database_bytes(tmp_path).count(secret.encode()) == 0
    assert database_bytes(tmp_path).count(made["secret_access_key"].encode()) == 0


def test_an_unknown_user_is_named_with_how_to_add_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "users", "s3-keys", "create", "carol", "-c", str(config))
    assert code == 2 and out == ""
    assert "user carol does not exist" in err and "tierstore users add carol" in err
    code, _, err = run(capsys, "users", "s3-keys", "list", "carol", "-c", str(config))
    assert code == 2 and "user carol does not exist" in err


def test_revoke_one_key_or_every_key_of_a_user(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for user in ("alice", "bob"):
        assert run(capsys, "users", "add", user, "-c", str(config))[0] == 0
    first, _ = create(capsys, config, "alice")
    second, _ = create(capsys, config, "alice")
    kept, kept_secret = create(capsys, config, "bob")

    code, out, _ = run(capsys, "users", "s3-keys", "revoke", first, "-c", str(config))
    assert code == 0 and f"revoked S3 key {first}" in out
    assert secret_of(config, first) is None
    code, _, err = run(capsys, "users", "s3-keys", "revoke", first, "-c", str(config))
    assert code == 2 and "S3 key TSK3… does not exist" in err
    code, out, _ = run(capsys, "users", "s3-keys", "revoke", "--all", "alice", "-c", str(config))
    assert code == 0 and "revoked 1 S3 key(s) of user alice" in out
    assert secret_of(config, second) is None and secret_of(config, kept) == kept_secret

    # Removing a user removes their keys.
    assert run(capsys, "users", "remove", "bob", "-c", str(config))[0] == 0
    assert secret_of(config, kept) is None
    code, out, _ = run(capsys, "users", "s3-keys", "list", "--json", "-c", str(config))
    assert code == 0 and json.loads(out) == []


def test_rotate_key_reencrypts_the_keys_and_they_still_work(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "users", "add", "alice", "-c", str(config))[0] == 0
    access_key_id, secret = create(capsys, config, "alice")
    old_key = (tmp_path / KEY_FILE).read_bytes()
    code, out, _ = run(capsys, "admin", "rotate-key", "-c", str(config))
    assert code == 0 and "the secrets of 1 S3 key(s) re-encrypted" in out
    assert (tmp_path / KEY_FILE).read_bytes() != old_key
    assert secret_of(config, access_key_id) == secret
    assert database_bytes(tmp_path).count(secret.encode()) == 0


def test_a_missing_or_wrong_key_file_is_refused_naming_it(config: Path, tmp_path: Path) -> None:
    """Real command runs: ``tierstore`` as a child process, its stderr and exit code."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TIERSTORE_")}

    def tierstore(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tierstore.cli.main", *argv, "-c", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    assert tierstore("users", "add", "alice").returncode == 0
    made = tierstore("users", "s3-keys", "create", "alice")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1].split(" = ")[1]
    key_file = tmp_path / KEY_FILE

    key_file.rename(tmp_path / "kept.key")
    missing = tierstore("users", "s3-keys", "list")
    assert missing.returncode == 2
    assert f"secrets key file {key_file} does not exist" in missing.stderr
    assert "the secret of 1 S3 key" in missing.stderr
    assert not key_file.exists()  # no new key made beside rows it could not read

    other = tmp_path / "other"
    other.mkdir()
    (other / "server.yaml").write_text(f"remote.data.dir: file://{other / 'root'}\n")
    assert (
        subprocess.run(  # makes a key of its own beside its own (empty) database
            [sys.executable, "-m", "tierstore.cli.main", "users", "list", "-c", str(other / "server.yaml")],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        ).returncode
        == 0
    )
    (other / KEY_FILE).rename(key_file)
    wrong = tierstore("users", "s3-keys", "create", "alice")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert str(key_file) in wrong.stderr and "the secret of 1 S3 key cannot be read with it" in wrong.stderr
    assert (wrong.stdout + wrong.stderr + missing.stdout + missing.stderr).count(secret) == 0
