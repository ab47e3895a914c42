"""A SQLite namespace read through sqlite3 (``metadata.direct``), as short-lived commands open it.

It must answer exactly what the SQLAlchemy store answers for the same file, write through that
store, and step aside (``open_direct`` gives None) whenever opening would write or refuse, so
that migrating, sealing and the refusals keep their one implementation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tierstore.namespace.config import ServerConfig
from tierstore.namespace.metadata import LATEST_VERSION, MountRecord, UserRecord, open_metadata
from tierstore.namespace.metadata.direct import DIRECT_SCHEMA_VERSION, DirectSqliteStore, open_direct
from tierstore.namespace.metadata.secrets_at_rest import SecretsKeyError, create_key
from tierstore.namespace.metadata.store import SqlMetadataStore
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.settings.model import StoreLocation, StoreSettings

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
ATTRIBUTE_PATHS = ("/", "/data", "/data/a", "/data/a/b.txt", "/data0", "/data-x", "/other")


def mount_record(path: str, secret: str | None = SECRET, **changes: object) -> MountRecord:
    options = {"alluxio.underfs.s3.endpoint": "http://127.0.0.1:8333", "aws.accessKeyId": "AKIAEXAMPLE"}
    if secret is not None:
        options["aws.secretKey"] = secret
    fields: dict[str, object] = {
        "path": path,
        "uri": f"s3://bucket{path.replace('/', '-')}/prefix",
        "options": options,
        "readonly": path.endswith("ro"),
        "shared": False,
        "owner": "alice",
        "group": "staff",
        "mode": 0o750,
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    }
    fields.update(changes)
    return MountRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "secrets.key"


@pytest.fixture
def filled(sqlite_url: str, key_file: Path) -> Iterator[SqlMetadataStore]:
    """A database written by the SQLAlchemy store: mounts with secrets, attributes and users."""
    store = open_metadata(sqlite_url, key_file=key_file)
    store.add_mount(mount_record("/", secret=None, uri="file:///srv/root"))
    store.add_mount(mount_record("/data"))
    # Written with another offset: read back in UTC by both stores.
    store.add_mount(
        mount_record("/data/ro", created_at=datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    )
    for index, path in enumerate(ATTRIBUTE_PATHS[1:]):
        store.set_attributes(path, owner=f"user{index}", mode=0o640 + index)
    store.set_attributes("/data/a", group="analysts")
    store.add_user(UserRecord("alice", "a" * 64, ("staff", "analysts"), False, datetime.now(UTC)))
    store.add_user(UserRecord("root", "b" * 64, (), True, datetime.now(UTC)))
    yield store
    store.close()


def opened(url: str, key_file: Path | None) -> DirectSqliteStore:
    direct = open_direct(url, key_file=key_file)
    assert direct is not None
    return direct


def test_direct_reads_answer_what_the_sqlalchemy_store_answers(
    filled: SqlMetadataStore, sqlite_url: str, key_file: Path
) -> None:
    with opened(sqlite_url, key_file) as direct:
        assert direct.mounts() == filled.mounts()
        assert [record.options.get("aws.secretKey") for record in direct.mounts()] == [None, SECRET, SECRET]
        for path in ("/", "/data", "/data/ro", "/missing"):
            assert direct.mount(path) == filled.mount(path)
        for path in (*ATTRIBUTE_PATHS, "/missing"):
            assert direct.attributes(path) == filled.attributes(path)
            assert direct.attributes_under(path) == filled.attributes_under(path)
        assert direct.attributes_of(list(ATTRIBUTE_PATHS)) == filled.attributes_of(list(ATTRIBUTE_PATHS))
        assert direct.attributes_of([]) == {}
        assert direct.users() == filled.users()
        assert direct.user_by_token_hash("a" * 64) == filled.user_by_token_hash("a" * 64)
        assert direct.user_by_token_hash("c" * 64) is None
        assert direct.change_counters() == filled.change_counters()
        # Timestamps come back aware, in UTC, as the SQLAlchemy store gives them.
        record = direct.mount("/data/ro")
        assert record is not None and record.created_at.tzinfo == UTC


def test_direct_reads_refuse_what_the_sqlalchemy_store_refuses(
    filled: SqlMetadataStore, sqlite_url: str
) -> None:
    with opened(sqlite_url, None) as direct:  # no key file: encrypted options cannot be opened
        with pytest.raises(SecretsKeyError, match="without its key file"):
            direct.mount("/data")
        with pytest.raises(ValueError, match="not absolute"):
            direct.attributes_of(["relative"])


def test_writes_go_through_the_sqlalchemy_store_and_are_read_back(
    filled: SqlMetadataStore, sqlite_url: str, key_file: Path, tmp_path: Path
) -> None:
    with opened(sqlite_url, key_file) as direct:
        before = direct.change_counters()
        direct.add_mount(mount_record("/new"))
        direct.set_attributes("/new/file", mode=0o600)
        direct.move_attributes("/data/a", "/moved")
        assert direct.remove_mount("/data/ro")
        direct.add_user(UserRecord("bob", "d" * 64, (), False, datetime.now(UTC)))
        assert direct.remove_user("bob")

        new = direct.mount("/new")
        assert new is not None and new.options["aws.secretKey"] == SECRET
        assert direct.mount("/data/ro") is None
        assert set(direct.attributes_under("/moved")) == {"/moved", "/moved/b.txt"}
        assert direct.remove_attributes_under("/moved") == 2
        assert direct.change_counters() != before
        assert direct.mounts() == filled.mounts()
    # Written sealed, under the database's key, as every write of a secret is.
    with closing(sqlite3.connect(tmp_path / "metadata.db")) as connection:
        (raw,) = connection.execute("SELECT options FROM mounts WHERE path = '/new'").fetchone()
    assert json.loads(raw)["aws.secretKey"]["enc"] == "v1" and SECRET not in raw


def test_direct_reads_from_many_threads(filled: SqlMetadataStore, sqlite_url: str, key_file: Path) -> None:
    expected = filled.attributes_under("/data")
    with opened(sqlite_url, key_file) as direct, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: direct.attributes_under("/data"), range(200)))
    assert all(result == expected for result in results)


def test_the_queries_are_written_for_the_latest_schema() -> None:
    # A new migration must be read by these queries (or they step aside): update them with it.
    assert DIRECT_SCHEMA_VERSION == LATEST_VERSION


# -- when opening needs the SQLAlchemy store ---------------------------------------------------


def test_a_missing_or_unusual_database_is_not_opened_directly(tmp_path: Path) -> None:
    assert open_direct(f"sqlite:///{tmp_path / 'none.db'}", key_file=None) is None
    assert open_direct(f"sqlite:///{tmp_path / 'x.db'}?mode=ro", key_file=None) is None
    assert open_direct("postgresql+psycopg://tierstore@db.internal/tierstore", key_file=None) is None


def test_an_older_schema_or_a_database_not_in_wal_mode_is_not_opened_directly(
    filled: SqlMetadataStore, sqlite_url: str, key_file: Path, tmp_path: Path
) -> None:
    filled.close()
    opened(sqlite_url, key_file).close()  # as it is, it is read directly
    database = sqlite3.connect(tmp_path / "metadata.db", isolation_level=None)
    try:
        database.execute("DELETE FROM schema_version WHERE version = ?", (LATEST_VERSION,))
        assert open_direct(sqlite_url, key_file=key_file) is None
        database.execute("INSERT INTO schema_version VALUES (?, '2025-01-01 00:00:00')", (LATEST_VERSION,))
        opened(sqlite_url, key_file).close()
        database.execute("PRAGMA journal_mode=DELETE")
    finally:
        database.close()
    assert open_direct(sqlite_url, key_file=key_file) is None


def test_opening_that_would_write_or_refuse_is_left_to_the_sqlalchemy_store(
    sqlite_url: str, key_file: Path, tmp_path: Path
) -> None:
    with open_metadata(sqlite_url) as keyless:  # written without a key: the secret in clear
        keyless.add_mount(mount_record("/plain"))
    opened(sqlite_url, None).close()  # nothing to check without a key
    assert open_direct(sqlite_url, key_file=key_file) is None  # a key to make, a row to seal

    config = ServerConfig(
        root=StoreSettings(location=StoreLocation(scheme="file", path=tmp_path / "root")),
        metadata_url=sqlite_url,
        cache_ttl_seconds=10.0,
        source="test",
        secrets_key_file=key_file,
    )
    with open_server_metadata(config) as store:  # the usual open: key made, row sealed
        assert isinstance(store, SqlMetadataStore)
        record = store.mount("/plain")
        assert record is not None and record.options["aws.secretKey"] == SECRET
    with open_server_metadata(config) as store:  # now nothing to write: read directly
        assert isinstance(store, DirectSqliteStore)
        assert store.mount("/plain") == record

    other = tmp_path / "other.key"
    create_key(other)
    assert open_direct(sqlite_url, key_file=other) is None  # refused, by the usual open
    with pytest.raises(SecretsKeyError, match="holds key id"):
        open_server_metadata(
            ServerConfig(
                root=config.root,
                metadata_url=sqlite_url,
                cache_ttl_seconds=10.0,
                source="test",
                secrets_key_file=other,
            )
        )
    key_file.rename(tmp_path / "elsewhere.key")
    assert open_direct(sqlite_url, key_file=key_file) is None  # a missing key: refused there too
