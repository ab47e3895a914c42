"""Secret mount options at rest: encrypted in the metadata database under a 0600 key file.

Against the real databases (a SQLite file, and PostgreSQL from the Debian package: its tests
fail, never skip, when it is not installed) and, where a mount has to work, a real
``tierstore serve`` over the session's SeaweedFS:

- the embedded home is 0700, its database (with -wal, -shm), key file and token file 0600;
- the admin token is not on stdout when stdout is not a terminal;
- a mount added with a secret key leaves no plain secret in the database's bytes, and works;
- a plain row written before is encrypted on the first start with a key;
- a server with the wrong key file refuses to start, names the file and the mount, changes nothing;
- ``tierstore admin rotate-key`` re-encrypts every row and the server starts with the new key;
- two servers sharing one PostgreSQL and one key file both read the mount.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.namespace import conftest as namespace_fixtures
from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tierstore.cli.main import main
from tierstore.errors import TierstoreError
from tierstore.local.info import StackInfo
from tierstore.namespace.metadata import MetadataStore, MountRecord, open_metadata
from tierstore.namespace.metadata.store import rotate_secrets_key
from tierstore.server.run import build_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The PostgreSQL fixtures of the namespace tests (they fail, naming the package, without its binaries).
postgres_url = namespace_fixtures.postgres_url
fresh_postgres_url = namespace_fixtures.fresh_postgres_url
sqlite_url = namespace_fixtures.sqlite_url
metadata_url = namespace_fixtures.metadata_url  # once on SQLite, once on PostgreSQL

PLAIN_SECRET = "plainSecretFromBefore0123456789abcdefXYZ"
KEY_FILE = "tierstore-secrets.key"  # the default, beside the config
START_TIMEOUT_SECONDS = 30.0


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_bytes(database: Path) -> bytes:
    """The SQLite file and its write-ahead log, as a thief copying the directory would get them."""
    found = b""
    for name in (database.name, database.name + "-wal", database.name + "-shm"):
        file = database.with_name(name)
        if file.exists():
            found += file.read_bytes()
    return found


def _count(secret: str, haystack: bytes | str) -> int:
    """How often ``secret`` occurs: asserted as a number, so a failure never prints the secret."""
    if isinstance(haystack, bytes):
        return haystack.count(secret.encode())
    return haystack.count(secret)


def _stored_options(database: Path, path: str) -> dict[str, object]:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT options FROM mounts WHERE path = ?", (path,)).fetchone()
    options: dict[str, object] = json.loads(row[0])
    return options


def _local_config(directory: Path, **extra: str) -> Path:
    """A server config whose root is a local directory and whose database is beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "server.yaml"
    lines = [
        f"remote.data.dir: file://{directory / 'root'}",
        f"tierstore.metadata.url: sqlite:///{directory / 'namespace.db'}",
        *(f"{key}: {value}" for key, value in extra.items()),
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def _record(path: str, secret: str) -> MountRecord:
    return MountRecord(
        path=path,
        uri="s3://old-bucket/prefix",
        options={"s3.access-key": "AKIAOLDPLAINKEY", "s3.secret-key": secret},
        readonly=False,
        shared=False,
        owner="admin",
        group="admin",
        mode=0o700,
        created_at=datetime.now(UTC),
    )


def _plain_mount(database: Path, path: str = "/old", secret: str = PLAIN_SECRET) -> None:
    """A mount with a plain secret option, as tierstore wrote it before secrets were encrypted."""
    with open_metadata(f"sqlite:///{database}") as store:
        store.add_mount(_record(path, secret))


def _start_and_stop(config: Path) -> None:
    built = build_server(config)
    built.state.close()


def _assert_server_reads_the_secret(config: Path, path: str = "/old") -> None:
    """A server built from ``config`` reads ``path``'s secret option back in the clear."""
    built = build_server(config)
    try:
        _assert_secret(built.state.table.metadata, path)
    finally:
        built.state.close()


def _assert_secret(store: MetadataStore, path: str) -> None:
    record = store.mount(path)
    assert record is not None and record.options["s3.secret-key"] == PLAIN_SECRET


def _is_sealed(value: object) -> bool:
    return isinstance(value, dict) and value.get("enc") == "v1" and "kid" in value and "ct" in value


# -- the embedded default, as `tierstore serve` runs it ------------------------------------------


@pytest.fixture
def embedded_serve(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``tierstore serve`` with no config, HOME in tmp_path, stdout to a file (not a terminal)."""
    with httpx.Client() as probe_client:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "HOME": str(tmp_path)}
        env.pop("TIERSTORE_CONFIG", None)
        log = tmp_path / "serve.log"
        with log.open("wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", "tierstore.cli.main", "serve", "--port", str(port), "--s3-port", "0"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while True:
                try:
                    probe_client.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                    break
                except httpx.TransportError:
                    if child.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"tierstore serve did not start:\n{log.read_text()}") from None
                    time.sleep(0.05)
            yield tmp_path / ".tierstore", log.read_text(errors="replace")
        finally:
            child.terminate()
            child.wait(timeout=30)


def test_the_embedded_home_is_0700_and_everything_in_it_0600(embedded_serve: tuple[Path, str]) -> None:
    home, _ = embedded_serve
    assert _mode(home) == 0o700
    # The first admin was written: the write-ahead log and its index exist as well.
    for name in ("namespace.db", "namespace.db-wal", "namespace.db-shm", "secrets.key", "admin.token"):
        assert (home / name).exists(), name
        assert _mode(home / name) == 0o600, name


def test_the_admin_token_is_not_on_stdout_when_it_is_not_a_terminal(
    embedded_serve: tuple[Path, str],
) -> None:
    home, printed = embedded_serve
    token_file = home / "admin.token"
    assert _mode(token_file) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("tsk_")
    assert _count(token, printed) == 0
    assert str(token_file) in printed  # where to find it is said instead


# -- a mount with a secret, through the API against SeaweedFS ------------------------------------


def _mount_body(stack: StackInfo, bucket: str) -> dict[str, object]:
    """Mount options are Alluxio's keys (``s3.secret-key`` is a Fluss config key, not read there)."""
    return {
        "path": "/other",
        "uri": f"s3://{bucket}/other",
        "options": {
            "aws.accessKeyId": stack.admin.access_key_id,
            "aws.secretKey": stack.admin.secret_access_key.reveal(),
            "alluxio.underfs.s3.endpoint": stack.endpoint,
        },
    }


def _listed(server: RunningServer, path: str) -> list[str]:
    answer = httpx.get(f"{server.url}/v1/fs/ls", params={"path": path}, headers=server.auth(), timeout=30)
    assert answer.status_code == 200, answer.text
    return [entry["path"] for entry in answer.json()["entries"]]


@pytest.mark.stack
def test_a_mounts_secret_is_never_plain_in_the_database_and_the_mount_works(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    secret = stack.admin.secret_access_key.reveal()
    admin_s3.put_object(Bucket=bucket, Key="other/hello.txt", Body=b"hi")
    config = write_server_config(tmp_path / "server.yaml", stack, bucket)
    database = tmp_path / "namespace.db"
    server = start_api_server(config)
    try:
        added = httpx.post(
            f"{server.url}/v1/mounts", json=_mount_body(stack, bucket), headers=server.auth(), timeout=30
        )
        assert added.status_code == 201, added.text
        assert _listed(server, "/other") == ["/other/hello.txt"]
        assert _count(secret, _database_bytes(database)) == 0
        stored = _stored_options(database, "/other")
        assert _is_sealed(stored["aws.secretKey"])
        assert stored["aws.accessKeyId"] == stack.admin.access_key_id  # only secrets are encrypted
    finally:
        server.stop()
    assert _mode(tmp_path / KEY_FILE) == 0o600
    assert _count(secret, (tmp_path / KEY_FILE).read_bytes()) == 0
    # A new start reads the secret back from the database.
    again = start_api_server(config)
    try:
        assert _listed(again, "/other") == ["/other/hello.txt"]
    finally:
        again.stop()
    assert _count(secret, _database_bytes(database)) == 0


# -- start-up: sealing what was plain, refusing a wrong key ---------------------------------------


def test_a_plain_row_from_before_is_encrypted_on_the_first_start(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    database = tmp_path / "namespace.db"
    _plain_mount(database)
    assert PLAIN_SECRET.encode() in _database_bytes(database)  # the state the upgrade finds

    _assert_server_reads_the_secret(config)
    stored = _stored_options(database, "/old")
    assert _is_sealed(stored["s3.secret-key"])
    assert _count(PLAIN_SECRET, _database_bytes(database)) == 0
    assert _mode(tmp_path / KEY_FILE) == 0o600


def test_a_server_with_the_wrong_key_file_refuses_to_start_and_changes_nothing(tmp_path: Path) -> None:
    first = _local_config(tmp_path / "first")
    _plain_mount(tmp_path / "first" / "namespace.db")
    _start_and_stop(first)  # seals /old under the first server's key
    _start_and_stop(_local_config(tmp_path / "second"))  # another key, made beside the other config
    wrong_key = tmp_path / "second" / KEY_FILE
    database = tmp_path / "first" / "namespace.db"
    # This tierstore, opened without the key, refuses to write a secret in clear now...
    with pytest.raises(TierstoreError, match="in clear"):
        _plain_mount(database, "/later", "anotherPlainSecretWrittenByAnOlderCli")
    # ... an older one would not have: a plain row beside the sealed one.
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO mounts SELECT '/later', uri, ?, readonly, shared, owner, grp, mode, created_at "
            "FROM mounts WHERE path = '/old'",
            (json.dumps({"s3.secret-key": "anotherPlainSecretWrittenByAnOlderCli"}),),
        )
    before = _stored_options(database, "/old"), _stored_options(database, "/later")

    wrong = _local_config(tmp_path / "first", **{"tierstore.secrets.key-file": str(wrong_key)})
    with pytest.raises(TierstoreError) as refused:
        build_server(wrong)
    message = str(refused.value)
    assert str(wrong_key) in message and "/old" in message
    assert _count(PLAIN_SECRET, message) == 0
    # Neither the row it cannot read nor the plain one was touched.
    assert (_stored_options(database, "/old"), _stored_options(database, "/later")) == before


def test_the_command_line_says_which_key_file_is_wrong(tmp_path: Path) -> None:
    first = _local_config(tmp_path / "first")
    _plain_mount(tmp_path / "first" / "namespace.db")
    _start_and_stop(first)
    (tmp_path / "first" / KEY_FILE).rename(tmp_path / "first" / "kept.key")
    _start_and_stop(_local_config(tmp_path / "second"))
    (tmp_path / "second" / KEY_FILE).rename(tmp_path / "first" / KEY_FILE)  # the wrong one, in place

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierstore.cli.main",
            "serve",
            "-c",
            str(first),
            "--port",
            "0",
            "--s3-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(tmp_path / "first" / KEY_FILE) in done.stderr and "/old" in done.stderr
    assert _count(PLAIN_SECRET, done.stdout + done.stderr) == 0


def test_a_missing_key_file_is_not_replaced_by_a_new_one_when_rows_need_the_old(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    _plain_mount(tmp_path / "namespace.db")
    _start_and_stop(config)
    (tmp_path / KEY_FILE).rename(tmp_path / "elsewhere.key")
    with pytest.raises(TierstoreError, match="does not exist") as refused:
        build_server(config)
    assert str(tmp_path / KEY_FILE) in str(refused.value)
    assert not (tmp_path / KEY_FILE).exists()  # no new key that could never read the rows


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    config = _local_config(tmp_path)
    _start_and_stop(config)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(TierstoreError, match="chmod 600"):
        build_server(config)


# -- rotation -------------------------------------------------------------------------------------


def test_rotate_key_reencrypts_every_row_and_the_server_starts_with_the_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _local_config(tmp_path)
    database = tmp_path / "namespace.db"
    _plain_mount(database)
    _plain_mount(database, "/second", "theSecondMountsPlainSecret")
    _start_and_stop(config)
    key_file = tmp_path / KEY_FILE
    old_key = key_file.read_bytes()
    old_sealed = _stored_options(database, "/old")["s3.secret-key"]
    assert isinstance(old_sealed, dict)

    assert main(["admin", "rotate-key", "-c", str(config)]) == 0
    printed = capsys.readouterr()
    assert str(key_file) in printed.out
    assert _count(old_key.decode().strip().splitlines()[-1], printed.out + printed.err) == 0

    assert _mode(key_file) == 0o600
    assert key_file.read_bytes() != old_key
    assert not key_file.with_name(KEY_FILE + ".new").exists()
    assert not key_file.with_name(KEY_FILE + ".old").exists()
    new_sealed = _stored_options(database, "/old")["s3.secret-key"]
    assert isinstance(new_sealed, dict) and _is_sealed(new_sealed)
    assert new_sealed["kid"] != old_sealed["kid"]
    assert _stored_options(database, "/second")["s3.secret-key"]["kid"] == new_sealed["kid"]  # type: ignore[index]
    assert _count(PLAIN_SECRET, _database_bytes(database)) == 0

    _assert_server_reads_the_secret(config)
    # The old key reads nothing any more.
    stale = tmp_path / "stale.key"
    stale.write_bytes(old_key)
    stale.chmod(0o600)
    with pytest.raises(TierstoreError, match=r"stale\.key"):
        build_server(_local_config(tmp_path, **{"tierstore.secrets.key-file": str(stale)}))


def test_an_interrupted_rotation_is_finished_by_running_it_again(tmp_path: Path) -> None:
    """The database was committed under the new key but the file was not yet replaced."""
    from tierstore.namespace.metadata.secrets_at_rest import load_key, pending_key_file

    config = _local_config(tmp_path)
    _plain_mount(tmp_path / "namespace.db")
    _start_and_stop(config)
    key_file = tmp_path / KEY_FILE
    kept = tmp_path / "kept.key"
    kept.write_bytes(key_file.read_bytes())
    kept.chmod(0o600)
    assert main(["admin", "rotate-key", "-c", str(config)]) == 0
    new_key = load_key(key_file)
    # Put things back as a crash after the commit would have left them.
    os.replace(key_file, pending_key_file(key_file))
    os.replace(kept, key_file)

    with pytest.raises(TierstoreError, match="rotate-key"):
        build_server(config)
    assert main(["admin", "rotate-key", "-c", str(config)]) == 0
    assert load_key(key_file).kid == new_key.kid
    _start_and_stop(config)


def test_a_process_still_holding_the_old_key_after_a_rotation_neither_reads_nor_writes_secrets(
    metadata_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "secrets.key"
    running = open_metadata(metadata_url, key_file=key_file)  # a server that keeps running
    try:
        running.add_mount(_record("/a", PLAIN_SECRET))
        rotation = rotate_secrets_key(metadata_url, key_file)
        assert rotation.old_kid != rotation.new_kid and rotation.mounts == 1
        with pytest.raises(TierstoreError, match="restart") as read:
            running.mount("/a")
        with pytest.raises(TierstoreError, match="rotated") as written:
            running.add_mount(_record("/b", "aSecretWrittenUnderTheOldKey"))
        assert _count(PLAIN_SECRET, f"{read.value} {written.value}") == 0
        assert running.mount("/b") is None  # nothing written under the old key
    finally:
        running.close()
    with open_metadata(metadata_url, key_file=key_file) as restarted:
        _assert_secret(restarted, "/a")


def test_servers_starting_together_on_a_new_database_make_one_key(metadata_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "shared" / "secrets.key"
    with ThreadPoolExecutor(max_workers=4) as pool:
        stores = list(pool.map(lambda _: open_metadata(metadata_url, key_file=key_file), range(4)))
    try:
        stores[0].add_mount(_record("/a", PLAIN_SECRET))
        for store in stores:
            _assert_secret(store, "/a")
    finally:
        for store in stores:
            store.close()
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700


def test_an_encrypted_value_copied_into_another_mount_does_not_decrypt(tmp_path: Path) -> None:
    database = tmp_path / "namespace.db"
    key_file = tmp_path / "secrets.key"
    with open_metadata(f"sqlite:///{database}", key_file=key_file) as store:
        store.add_mount(_record("/a", PLAIN_SECRET))
        store.add_mount(_record("/b", "theSecretOfMountB"))
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE mounts SET options = (SELECT options FROM mounts WHERE path = '/a') WHERE path = '/b'"
        )
    with pytest.raises(TierstoreError, match="/b cannot be decrypted"):
        open_metadata(f"sqlite:///{database}", key_file=key_file)


# -- PostgreSQL: several servers, one key file ----------------------------------------------------


def _postgres_options(url: str, path: str) -> str:
    parsed = make_url(url)
    options = parsed.query.get("options")
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname=parsed.database,
        options=str(options) if options else None,
    ) as connection:
        row = connection.execute("SELECT options FROM mounts WHERE path = %s", (path,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.stack
def test_two_servers_on_one_postgresql_sharing_the_key_file_both_read_the_mount(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client, fresh_postgres_url: str
) -> None:
    secret = stack.admin.secret_access_key.reveal()
    admin_s3.put_object(Bucket=bucket, Key="other/hello.txt", Body=b"hi")
    shared_key = tmp_path / "shared" / "tierstore-secrets.key"
    extra = {"tierstore.metadata.url": fresh_postgres_url, "tierstore.secrets.key-file": str(shared_key)}
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        configs.append(write_server_config(tmp_path / name / "server.yaml", stack, bucket, extra=extra))
    first = start_api_server(configs[0])
    try:
        added = httpx.post(
            f"{first.url}/v1/mounts", json=_mount_body(stack, bucket), headers=first.auth(), timeout=30
        )
        assert added.status_code == 201, added.text
        second = start_api_server(configs[1])
        try:
            assert _listed(second, "/other") == ["/other/hello.txt"]
            assert _listed(first, "/other") == ["/other/hello.txt"]
        finally:
            second.stop()
    finally:
        first.stop()
    stored = _postgres_options(fresh_postgres_url, "/other")
    assert _count(secret, stored) == 0
    assert _is_sealed(json.loads(stored)["aws.secretKey"])
    assert _mode(shared_key) == 0o600

    # A third server with a key of its own refuses, naming its file and the mount.
    (tmp_path / "c").mkdir()
    own_key = tmp_path / "c" / "own.key"
    third = write_server_config(
        tmp_path / "c" / "server.yaml",
        stack,
        bucket,
        extra={**extra, "tierstore.secrets.key-file": str(own_key)},
    )
    with pytest.raises(TierstoreError) as refused:
        build_server(third)
    assert str(own_key) in str(refused.value)
    assert _count(secret, str(refused.value)) == 0
    assert _postgres_options(fresh_postgres_url, "/other") == stored
