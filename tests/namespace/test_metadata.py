"""The metadata store on both backends: mounts, path attributes, migrations, secrets, sharing."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from tierstore.errors import ConfigError, ConflictError
from tierstore.namespace.metadata import (
    LATEST_VERSION,
    MetadataError,
    MetadataStore,
    MetadataUnavailableError,
    MountExistsError,
    MountRecord,
    PathAttributes,
    UserRecord,
    open_metadata,
    schema,
)
from tierstore.namespace.metadata.errors import UserExistsError

SECRET_KEY = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-value"
DB_PASSWORD = "hunter2-db-password"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SUBPROCESS_TIMEOUT_SECONDS = 60


def mount_record(path: str = "/mnt/s3", **changes: Any) -> MountRecord:
    base = MountRecord(
        path=path,
        uri=f"s3://bucket{path.replace('/', '-')}/prefix",
        options={"alluxio.underfs.s3.endpoint": "http://127.0.0.1:8333"},
        readonly=False,
        shared=True,
        owner="alice",
        group="staff",
        mode=0o755,
        created_at=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )
    return replace(base, **changes)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    opened = open_metadata(metadata_url)
    yield opened
    opened.close()


def versions_recorded(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version FROM schema_version"))]
    finally:
        engine.dispose()


# -- mounts --------------------------------------------------------------------------------------


def test_mounts_add_list_get_remove(store: MetadataStore) -> None:
    assert store.mounts() == []
    inner = mount_record("/mnt/s3/inner", readonly=True, shared=False, mode=0o500)
    root = mount_record("/", options={"aws.accessKeyId": ACCESS_KEY_ID, "aws.secretKey": SECRET_KEY})
    outer = mount_record("/mnt/s3")
    for record in (inner, root, outer):
        store.add_mount(record)

    assert [record.path for record in store.mounts()] == ["/", "/mnt/s3", "/mnt/s3/inner"]
    # Everything round-trips, the secret included: the server needs it to reach the store.
    assert store.mount("/") == root
    got = store.mount("/mnt/s3/inner")
    assert got == inner
    assert got is not None and got.readonly and not got.shared and got.mode == 0o500
    assert got.created_at == inner.created_at and got.created_at.tzinfo is not None
    assert store.mount("/mnt/other") is None

    assert store.remove_mount("/mnt/s3") is True
    assert store.remove_mount("/mnt/s3") is False
    assert [record.path for record in store.mounts()] == ["/", "/mnt/s3/inner"]


def test_created_at_comes_back_in_utc(store: MetadataStore) -> None:
    local = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    store.add_mount(mount_record(created_at=local))
    got = store.mount("/mnt/s3")
    assert got is not None
    assert got.created_at == local
    assert got.created_at.utcoffset() == timedelta(0)


def test_duplicate_mount_path_is_mount_exists_error(store: MetadataStore) -> None:
    store.add_mount(mount_record("/mnt/s3"))
    with pytest.raises(MountExistsError, match=r"already exists at /mnt/s3") as raised:
        store.add_mount(mount_record("/mnt/s3", uri="s3://another/bucket"))
    assert isinstance(raised.value, ConflictError)
    assert raised.value.path == "/mnt/s3"
    got = store.mount("/mnt/s3")
    assert got is not None and got.uri == "s3://bucket-mnt-s3/prefix"


def test_replace_mount_adds_then_overwrites(store: MetadataStore) -> None:
    store.replace_mount(mount_record("/", uri="s3://first/root"))
    store.replace_mount(mount_record("/", uri="s3://second/root", options={"a": "b"}, mode=0o700))
    assert store.mounts() == [mount_record("/", uri="s3://second/root", options={"a": "b"}, mode=0o700)]


def test_concurrent_add_mount_of_one_path_has_exactly_one_winner(store: MetadataStore) -> None:
    rounds = 5
    for round_number in range(rounds):
        path = f"/race/{round_number}"
        barrier = threading.Barrier(2)

        def add(uri: str, path: str = path, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            try:
                store.add_mount(mount_record(path, uri=uri))
            except MountExistsError:
                return "lost"
            return "won"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(add, ["s3://left/x", "s3://right/x"]))
        assert sorted(outcomes) == ["lost", "won"]
        winner = store.mount(path)
        assert winner is not None
        assert winner.uri == ("s3://left/x" if outcomes[0] == "won" else "s3://right/x")


# -- path attributes ---------------------------------------------------------------------------


def test_set_attributes_touches_only_the_given_fields(store: MetadataStore) -> None:
    assert store.attributes("/data/file") is None
    assert store.set_attributes("/data/file", mode=0o640) == PathAttributes("/data/file", None, None, 0o640)
    assert store.set_attributes("/data/file", owner="bob") == PathAttributes("/data/file", "bob", None, 0o640)
    assert store.set_attributes("/data/file", group="eng", mode=0o600) == PathAttributes(
        "/data/file", "bob", "eng", 0o600
    )
    assert store.attributes("/data/file") == PathAttributes("/data/file", "bob", "eng", 0o600)


def test_set_attributes_rejects_nothing_bad_modes_and_odd_paths(store: MetadataStore) -> None:
    with pytest.raises(ValueError, match="nothing to set"):
        store.set_attributes("/a")
    with pytest.raises(ValueError, match="0o7777"):
        store.set_attributes("/a", mode=0o17777)
    with pytest.raises(ValueError, match=r"not canonical.*'/a/b'"):
        store.set_attributes("/a//b/", owner="x")
    with pytest.raises(ValueError, match="not absolute"):
        store.attributes("a/b")
    assert store.attributes_under("/") == {}


def test_attributes_under_is_the_path_and_its_subtree_only(store: MetadataStore) -> None:
    for path in ("/a", "/a/b", "/a/b/c", "/ab", "/a0", "/a.b", "/a%", "/a_x", "/b", "/"):
        store.set_attributes(path, owner="o")

    assert sorted(store.attributes_under("/a")) == ["/a", "/a/b", "/a/b/c"]
    assert sorted(store.attributes_under("/a/b")) == ["/a/b", "/a/b/c"]
    assert sorted(store.attributes_under("/a%")) == ["/a%"]
    assert store.attributes_under("/nothing") == {}
    assert len(store.attributes_under("/")) == 10


def test_attributes_under_a_path_with_no_row_of_its_own(store: MetadataStore) -> None:
    store.set_attributes("/x/y", mode=0o700)
    store.set_attributes("/xy", mode=0o700)
    assert store.attributes_under("/x") == {"/x/y": PathAttributes("/x/y", None, None, 0o700)}


def test_move_attributes_renames_the_subtree(store: MetadataStore) -> None:
    store.set_attributes("/src", owner="a")
    store.set_attributes("/src/f", mode=0o600)
    store.set_attributes("/src/d/g", group="g")
    store.set_attributes("/srcx", owner="untouched")
    store.set_attributes("/dst/stale", owner="replaced")

    store.move_attributes("/src", "/dst")

    assert store.attributes_under("/src") == {}
    assert store.attributes_under("/dst") == {
        "/dst": PathAttributes("/dst", "a", None, None),
        "/dst/f": PathAttributes("/dst/f", None, None, 0o600),
        "/dst/d/g": PathAttributes("/dst/d/g", None, "g", None),
    }
    assert store.attributes("/srcx") == PathAttributes("/srcx", "untouched", None, None)


def test_move_attributes_refuses_to_move_into_itself(store: MetadataStore) -> None:
    store.set_attributes("/a/b", owner="x")
    with pytest.raises(ValueError, match="inside"):
        store.move_attributes("/a", "/a/b/c")
    with pytest.raises(ValueError, match="inside"):
        store.move_attributes("/a/b", "/a")
    assert store.attributes("/a/b") == PathAttributes("/a/b", "x", None, None)


def test_remove_attributes_under(store: MetadataStore) -> None:
    for path in ("/a", "/a/b", "/a/b/c", "/ab"):
        store.set_attributes(path, mode=0o644)
    assert store.remove_attributes_under("/a/b") == 2
    assert store.remove_attributes_under("/a") == 1
    assert store.remove_attributes_under("/a") == 0
    assert sorted(store.attributes_under("/")) == ["/ab"]


# -- schema and migrations ---------------------------------------------------------------------

ALL_VERSIONS = list(range(1, LATEST_VERSION + 1))


def test_migrations_are_idempotent(metadata_url: str) -> None:
    open_metadata(metadata_url).close()
    assert versions_recorded(metadata_url) == ALL_VERSIONS
    with open_metadata(metadata_url) as store:
        store.add_mount(mount_record())
    with open_metadata(metadata_url) as store:
        assert [record.path for record in store.mounts()] == ["/mnt/s3"]
    assert versions_recorded(metadata_url) == ALL_VERSIONS


def test_concurrent_first_opens_migrate_once(metadata_url: str) -> None:
    barrier = threading.Barrier(3)

    def open_and_list(_: int) -> list[MountRecord]:
        barrier.wait()
        with open_metadata(metadata_url) as store:
            return store.mounts()

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(open_and_list, range(3))) == [[], [], []]
    assert versions_recorded(metadata_url) == ALL_VERSIONS


def test_migrated_tables_match_what_the_queries_expect(metadata_url: str) -> None:
    open_metadata(metadata_url).close()
    engine = create_engine(metadata_url)
    try:
        inspector = inspect(engine)
        tables = (
            schema.mounts,
            schema.path_attributes,
            schema.users,
            schema.secrets_key,
            schema.namespace_changes,
            schema.s3_keys,
        )
        for table in (*tables, schema.schema_version):
            columns = {column["name"]: column["nullable"] for column in inspector.get_columns(table.name)}
            assert columns == {column.name: column.nullable for column in table.columns}, table.name
            assert inspector.get_pk_constraint(table.name)["constrained_columns"] == [
                column.name for column in table.primary_key
            ]
    finally:
        engine.dispose()


def test_a_database_from_a_newer_tierstore_is_refused(metadata_url: str) -> None:
    open_metadata(metadata_url).close()
    engine = create_engine(metadata_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                schema.schema_version.insert().values(
                    version=LATEST_VERSION + 1, applied_at=datetime.now(UTC)
                )
            )
    finally:
        engine.dispose()
    with pytest.raises(MetadataError, match=rf"schema version {LATEST_VERSION + 1}.*newer tierstore"):
        open_metadata(metadata_url)


# -- secrets -----------------------------------------------------------------------------------


def test_no_secret_option_value_in_repr_or_logs(
    store: MetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {
        "aws.accessKeyId": ACCESS_KEY_ID,
        "aws.secretKey": SECRET_KEY,
        "alluxio.underfs.s3.session.token": SESSION_TOKEN,
        "proxy.password": DB_PASSWORD,
        "alluxio.underfs.s3.endpoint": "http://127.0.0.1:8333",
    }
    record = mount_record("/mnt/secret", options=options, uri=f"s3://{ACCESS_KEY_ID}:{SECRET_KEY}@bucket/p")
    store.add_mount(record)
    store.replace_mount(record)
    with pytest.raises(MountExistsError) as raised:
        store.add_mount(record)
    listed = store.mounts()
    store.remove_mount("/mnt/secret")

    shown = "\n".join([repr(record), str(record), repr(listed), str(raised.value), repr(store), caplog.text])
    for secret in (SECRET_KEY, SESSION_TOKEN, DB_PASSWORD, ACCESS_KEY_ID):
        assert secret not in shown
    assert "AKIA…" in repr(record)
    assert "'http://127.0.0.1:8333'" in repr(record)
    assert "mount added" in caplog.text and "mount removed" in caplog.text
    # The store keeps the real values: hiding them is for output only.
    assert listed[0].options == options


# -- URLs and reachability ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"mysql://app:{DB_PASSWORD}@db.internal/meta", "'mysql' backend"),
        ("sqlite:///relative/metadata.db", "relative path"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        (f"postgresql+psycopg2://app:{DB_PASSWORD}@db.internal/meta", "use psycopg"),
        (f"postgresql+psycopg://app:{DB_PASSWORD}@/meta", "names no host"),
        (f"postgresql+psycopg://app:{DB_PASSWORD}@db.internal:5432", "names no database"),
        (f"postgresql+psycopg://app:{DB_PASSWORD}@db.internal:port/meta", "not a database URL"),
        ("just some words", "not a database URL"),
    ],
)
def test_bad_url_is_a_config_error_naming_it_masked(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as raised:
        open_metadata(url)
    message = str(raised.value)
    assert "accepted: sqlite:////" in message and "postgresql+psycopg://" in message
    assert url.split(DB_PASSWORD, maxsplit=1)[0] in message
    assert DB_PASSWORD not in message


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_unreachable_postgres_names_host_and_port_never_the_password() -> None:
    port = unused_port()
    with pytest.raises(MetadataUnavailableError) as raised:
        open_metadata(f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:{port}/meta")
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert f"postgresql+psycopg://app:***@127.0.0.1:{port}/meta" in str(raised.value)
    assert raised.value.where == f"127.0.0.1:{port}"
    assert DB_PASSWORD not in str(raised.value)


def test_sqlite_in_a_missing_directory_names_the_file(tmp_path: Path) -> None:
    missing = f"{tmp_path}/no/such/dir/metadata.db"
    with pytest.raises(MetadataUnavailableError, match="directory exists") as raised:
        open_metadata(f"sqlite:///{missing}")
    assert missing in str(raised.value)


def test_postgres_url_for_display(fresh_postgres_url: str) -> None:
    with open_metadata(fresh_postgres_url) as store:
        assert store.url_for_display == fresh_postgres_url
        assert repr(store) == f"MetadataStore({fresh_postgres_url!r})"


# -- several processes -------------------------------------------------------------------------

CHILD = """
import json, sys
from dataclasses import replace
from datetime import UTC, datetime
from tierstore.namespace.metadata import MountExistsError, MountRecord, open_metadata

def record(path):
    return MountRecord(
        path=path, uri="s3://child/bucket", options={"aws.secretKey": "child-secret"},
        readonly=True, shared=True, owner="child", group="child", mode=0o750,
        created_at=datetime.now(UTC),
    )

with open_metadata(sys.argv[1]) as store:
    seen = [mount.path for mount in store.mounts()]
    store.add_mount(record("/from/child"))
    try:
        store.add_mount(record("/taken"))
        race = "won"
    except MountExistsError:
        race = "lost"
print(json.dumps({"seen": seen, "race": race}))
"""


def test_two_processes_sharing_one_database_see_each_others_mounts(
    store: MetadataStore, metadata_url: str
) -> None:
    store.add_mount(mount_record("/from/parent"))
    store.add_mount(mount_record("/taken"))

    # One child process (imports cost seconds on a loaded machine) checks all three directions.
    done = subprocess.run(
        [sys.executable, "-c", CHILD, metadata_url],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)

    assert child["seen"] == ["/from/parent", "/taken"]
    assert child["race"] == "lost"
    child_mount = store.mount("/from/child")
    assert child_mount is not None
    assert (child_mount.owner, child_mount.mode, dict(child_mount.options)) == (
        "child",
        0o750,
        {"aws.secretKey": "child-secret"},
    )
    assert [record.path for record in store.mounts()] == ["/from/child", "/from/parent", "/taken"]


def test_store_is_usable_from_many_threads(store: MetadataStore) -> None:
    def work(index: int) -> PathAttributes:
        store.add_mount(mount_record(f"/threads/{index}"))
        return store.set_attributes(f"/threads/{index}/f", mode=0o600 + index)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    assert [result.mode for result in results] == [0o600 + index for index in range(16)]
    assert len(store.mounts()) == 16
    assert len(store.attributes_under("/threads")) == 16


# -- users (the API server's) ------------------------------------------------------------------


def user_record(name: str, digest: str, *, admin: bool = False) -> UserRecord:
    return UserRecord(
        name=name, token_sha256=digest, groups=("eng", "ops"), admin=admin, created_at=datetime.now(UTC)
    )


def test_users_are_kept_by_name_and_found_by_token_hash(metadata_url: str) -> None:
    alice, bob = "a" * 64, "b" * 64
    with open_metadata(metadata_url) as store:
        store.add_user(user_record("alice", alice, admin=True))
        store.add_user(user_record("bob", bob))
        with pytest.raises(UserExistsError, match="user alice already exists"):
            store.add_user(user_record("alice", "c" * 64))
        with pytest.raises(ConflictError):  # one token hash, one user
            store.add_user(user_record("carol", bob))
    with open_metadata(metadata_url) as store:  # another process's view: all committed
        assert [(u.name, u.groups, u.admin) for u in store.users()] == [
            ("alice", ("eng", "ops"), True),
            ("bob", ("eng", "ops"), False),
        ]
        found = store.user_by_token_hash(bob)
        assert found is not None and found.name == "bob"
        assert store.user_by_token_hash("d" * 64) is None
        assert "b" * 64 not in repr(found)
        assert store.remove_user("bob") is True
        assert store.remove_user("bob") is False
        assert store.user_by_token_hash(bob) is None


def test_a_user_record_refuses_bad_names_and_hashes() -> None:
    with pytest.raises(ValueError, match="user name 'a b' is not allowed"):
        user_record("a b", "a" * 64)
    with pytest.raises(ValueError, match="64 lower-case hex digits"):
        user_record("alice", "tsk_not-a-hash")


def test_new_sqlite_files_opened_by_several_at_once_never_fail(tmp_path: Path) -> None:
    # Turning a new file to WAL mode answered "database is locked" at once to the others.
    for attempt in range(30):
        url = f"sqlite:///{tmp_path / f'race-{attempt}.db'}"
        barrier = threading.Barrier(3)

        def open_and_list(_: int, url: str = url, barrier: threading.Barrier = barrier) -> list[MountRecord]:
            barrier.wait()
            with open_metadata(url) as store:
                return store.mounts()

        with ThreadPoolExecutor(max_workers=3) as pool:
            assert list(pool.map(open_and_list, range(3))) == [[], [], []]
