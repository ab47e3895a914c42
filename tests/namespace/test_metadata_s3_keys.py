"""Users' S3 keys in the metadata store, on SQLite and PostgreSQL: kept, listed, removed with their
user, sealed at rest under the secrets key (checked at every start, re-encrypted by a rotation),
held in memory by a server's store and read directly by short-lived commands."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.namespace.test_metadata import user_record
from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import TierstoreError
from tierstore.namespace.metadata import MetadataStore, S3KeyInfo, S3KeyRecord, open_metadata
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.direct import open_direct
from tierstore.namespace.metadata.errors import S3KeyExistsError, UnknownUserError
from tierstore.namespace.metadata.secrets_at_rest import SecretsKeyError, create_key
from tierstore.namespace.metadata.store import rotate_secrets_key
from tierstore.settings.secret import Secret

SECRET_A = "aSecretOfFortyCharactersForKeyA_0123456"
SECRET_B = "bSecretOfFortyCharactersForKeyB_0123456"
KEY_A = "TSK3AAAAAAAAAAAAAAAA"
KEY_B = "TSK3BBBBBBBBBBBBBBBB"
KEY_C = "TSK3CCCCCCCCCCCCCCCC"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def key_record(access_key_id: str, user: str, secret: str, offset: int = 0) -> S3KeyRecord:
    return S3KeyRecord(access_key_id, user, Secret(secret), T0 + timedelta(seconds=offset))


def stored_secrets(url: str) -> dict[str, str]:
    """The ``secret`` column of every S3 key, as the database holds it."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT access_key_id, secret FROM s3_keys")).all()
    finally:
        engine.dispose()
    return {str(key_id): str(raw) for key_id, raw in rows}


def execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def count(secret: str, haystack: bytes | str) -> int:
    """How often ``secret`` occurs: asserted as a number, so a failure never prints the secret."""
    return haystack.count(secret.encode()) if isinstance(haystack, bytes) else haystack.count(secret)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "secrets.key"


@pytest.fixture
def store(metadata_url: str, key_file: Path) -> Iterator[MetadataStore]:
    opened = open_metadata(metadata_url, key_file=key_file)
    opened.add_user(user_record("alice", "a" * 64))
    opened.add_user(user_record("bob", "b" * 64))
    yield opened
    opened.close()


def test_keys_are_added_listed_found_and_removed(store: MetadataStore) -> None:
    assert store.s3_keys() == []
    store.add_s3_key(key_record(KEY_B, "bob", SECRET_B))
    store.add_s3_key(key_record(KEY_C, "alice", SECRET_B, offset=1))
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A, offset=2))

    # By user, then creation: never a secret in a listing.
    assert store.s3_keys() == [
        S3KeyInfo(KEY_C, "alice", T0 + timedelta(seconds=1)),
        S3KeyInfo(KEY_A, "alice", T0 + timedelta(seconds=2)),
        S3KeyInfo(KEY_B, "bob", T0),
    ]
    assert [info.access_key_id for info in store.s3_keys("bob")] == [KEY_B]
    assert store.s3_keys("carol") == []
    # The secret comes back in clear for the server, which signs with it.
    assert store.s3_key(KEY_A) == key_record(KEY_A, "alice", SECRET_A, offset=2)
    assert store.s3_key("TSK3ZZZZZZZZZZZZZZZZ") is None
    assert store.s3_key("AKIAIOSFODNN7EXAMPLE") is None  # not one of ours: not even asked for

    with pytest.raises(S3KeyExistsError, match="TSK3…"):
        store.add_s3_key(key_record(KEY_A, "bob", SECRET_B))
    assert store.remove_s3_key(KEY_A) is True
    assert store.remove_s3_key(KEY_A) is False
    assert store.s3_key(KEY_A) is None
    assert store.remove_s3_keys_of("alice") == 1
    assert [info.access_key_id for info in store.s3_keys()] == [KEY_B]


def test_a_key_for_a_user_who_does_not_exist_is_refused(store: MetadataStore) -> None:
    with pytest.raises(UnknownUserError) as refused:
        store.add_s3_key(key_record(KEY_A, "carol", SECRET_A))
    assert "user carol does not exist" in str(refused.value)
    assert "tierstore users add carol" in str(refused.value)
    assert store.s3_keys() == []


def test_removing_a_user_removes_their_keys(store: MetadataStore) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    store.add_s3_key(key_record(KEY_B, "bob", SECRET_B))
    before = store.change_counters()
    assert store.remove_user("alice")
    assert store.s3_key(KEY_A) is None
    assert [info.user for info in store.s3_keys()] == ["bob"]
    after = store.change_counters()
    # Servers holding keys in memory learn it from the keys' own counter.
    assert after["s3_keys"] == before["s3_keys"] + 1 and after["users"] == before["users"] + 1


def test_the_secret_is_sealed_at_rest_bound_to_its_key(store: MetadataStore, metadata_url: str) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    raw = stored_secrets(metadata_url)[KEY_A]
    sealed = json.loads(raw)
    assert set(sealed) == {"enc", "kid", "ct"} and sealed["enc"] == "v1"
    assert count(SECRET_A, raw) == 0
    if metadata_url.startswith("sqlite:///"):
        database = Path(metadata_url.removeprefix("sqlite:///"))
        files = [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
        assert sum(count(SECRET_A, file.read_bytes()) for file in files if file.exists()) == 0


def test_no_secret_in_reprs_or_logs(store: MetadataStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    record = key_record(KEY_A, "alice", SECRET_A)
    store.add_s3_key(record)
    found = store.s3_key(KEY_A)
    store.remove_s3_key(KEY_A)
    shown = "\n".join([repr(record), str(record), repr(found), repr(store.s3_keys()), caplog.text])
    assert count(SECRET_A, shown) == 0
    assert count(KEY_A, shown) == 0  # key ids show as their first 4 characters
    assert "S3 key added" in caplog.text and "S3 key removed: TSK3…" in caplog.text


def test_a_store_opened_without_its_key_file_neither_writes_nor_reads_secrets(
    store: MetadataStore, metadata_url: str
) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    with open_metadata(metadata_url) as keyless:
        with pytest.raises(SecretsKeyError, match=r"tierstore\.secrets\.key-file") as written:
            keyless.add_s3_key(key_record(KEY_B, "bob", SECRET_B))
        assert "kept only encrypted" in str(written.value)
        with pytest.raises(SecretsKeyError, match="without its secrets key file"):
            keyless.s3_key(KEY_A)
        assert [info.access_key_id for info in keyless.s3_keys()] == [KEY_A]  # listing needs no key
    assert store.s3_key(KEY_B) is None


def test_a_secret_pasted_onto_another_key_or_user_does_not_decrypt(
    store: MetadataStore, metadata_url: str, key_file: Path
) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    store.add_s3_key(key_record(KEY_B, "bob", SECRET_B))
    pasted = f"(SELECT secret FROM s3_keys WHERE access_key_id = '{KEY_A}')"
    execute(metadata_url, f"UPDATE s3_keys SET secret = {pasted} WHERE access_key_id = '{KEY_B}'")
    with pytest.raises(SecretsKeyError, match="copied from another key or user") as refused:
        store.s3_key(KEY_B)
    assert "TSK3…" in str(refused.value) and count(KEY_B, str(refused.value)) == 0
    # And every start checks every key: the database is refused until the row is dealt with.
    with pytest.raises(SecretsKeyError, match="S3 key TSK3… of user bob cannot be decrypted"):
        open_metadata(metadata_url, key_file=key_file)
    execute(metadata_url, f"DELETE FROM s3_keys WHERE access_key_id = '{KEY_B}'")
    # Handing alice's key to bob by editing the row does not work either.
    execute(metadata_url, f"UPDATE s3_keys SET user_name = 'bob' WHERE access_key_id = '{KEY_A}'")
    with pytest.raises(SecretsKeyError, match="of user bob cannot be decrypted"):
        store.s3_key(KEY_A)


def test_a_start_with_another_key_or_none_refuses_naming_the_s3_keys(
    store: MetadataStore, metadata_url: str, key_file: Path, tmp_path: Path
) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    other = create_key(tmp_path / "other.key")
    with pytest.raises(SecretsKeyError) as wrong:
        open_metadata(metadata_url, key_file=other.path)
    assert "the secret of 1 S3 key cannot be read with it" in str(wrong.value)
    with pytest.raises(SecretsKeyError, match="does not exist") as missing:
        open_metadata(metadata_url, key_file=tmp_path / "missing.key")
    assert "the secret of 1 S3 key" in str(missing.value)
    assert not (tmp_path / "missing.key").exists()


def test_rotation_reencrypts_the_keys_and_they_still_decrypt(
    store: MetadataStore, metadata_url: str, key_file: Path
) -> None:
    store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    store.add_s3_key(key_record(KEY_B, "bob", SECRET_B))
    before = {key_id: json.loads(raw) for key_id, raw in stored_secrets(metadata_url).items()}

    rotation = rotate_secrets_key(metadata_url, key_file)
    assert rotation.s3_keys == 2 and rotation.mounts == 0

    after = {key_id: json.loads(raw) for key_id, raw in stored_secrets(metadata_url).items()}
    for key_id in (KEY_A, KEY_B):
        assert before[key_id]["kid"] == rotation.old_kid and after[key_id]["kid"] == rotation.new_kid
        assert after[key_id]["ct"] != before[key_id]["ct"]
    with open_metadata(metadata_url, key_file=key_file) as restarted:
        found = restarted.s3_key(KEY_B)
        assert found is not None and found.secret.reveal() == SECRET_B
    # A process still holding the old key reads no key and writes none.
    with pytest.raises(TierstoreError, match="restart"):
        store.s3_key(KEY_A)
    with pytest.raises(TierstoreError, match="rotated"):
        store.add_s3_key(key_record(KEY_C, "alice", SECRET_A))


# -- a server's store, in memory -------------------------------------------------------------------


@pytest.fixture
def stores(
    store: MetadataStore, metadata_url: str, key_file: Path
) -> Iterator[tuple[CachedMetadataStore, MetadataStore]]:
    """A server's store (polled by hand: an hour between polls) and ``store`` as another process."""
    cached = open_metadata(metadata_url, key_file=key_file, poll_interval=3600)
    assert isinstance(cached, CachedMetadataStore)
    try:
        yield cached, store
    finally:
        cached.close()


def test_a_server_answers_from_memory_and_sees_a_revoke_at_the_next_poll(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    other.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    with memory_only(), pytest.raises(NeedsIO, match="S3 keys"):
        cached.s3_key(KEY_A)  # nothing loaded yet: a thread has to ask
    assert cached.s3_key(KEY_A) == key_record(KEY_A, "alice", SECRET_A)
    with memory_only():
        found = cached.s3_key(KEY_A)
        assert found is not None and found.secret.reveal() == SECRET_A
        assert [info.access_key_id for info in cached.s3_keys("alice")] == [KEY_A]
    assert other.remove_s3_key(KEY_A)
    with memory_only():
        assert cached.s3_key(KEY_A) is not None  # not polled yet
    cached.poll_once()
    assert cached.s3_key(KEY_A) is None


def test_a_key_made_elsewhere_works_before_the_next_poll_and_an_unknown_one_costs_one_query(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    assert cached.s3_keys() == []
    other.add_s3_key(key_record(KEY_B, "bob", SECRET_B))  # `tierstore users s3-keys create` elsewhere
    found = cached.s3_key(KEY_B)
    assert found is not None and found.user == "bob"
    assert cached.s3_key(KEY_C) is None
    with memory_only():
        assert cached.s3_key(KEY_C) is None  # the miss is remembered
        assert cached.s3_key("NOTOURS") is None  # never asked for at all
        with pytest.raises(NeedsIO):
            cached.s3_key("TSK3DDDDDDDDDDDDDDDD")
    other.add_s3_key(key_record(KEY_C, "alice", SECRET_A))
    cached.poll_once()
    assert cached.s3_key(KEY_C) is not None


def test_removing_the_user_drops_their_keys_from_memory(
    stores: tuple[CachedMetadataStore, MetadataStore],
) -> None:
    cached, other = stores
    cached.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
    assert cached.s3_key(KEY_A) is not None
    other.remove_user("alice")
    cached.poll_once()
    assert cached.s3_key(KEY_A) is None and cached.s3_keys() == []


# -- short-lived commands reading SQLite directly --------------------------------------------------


def test_direct_reads_answer_what_the_sqlalchemy_store_answers(
    sqlite_url: str, key_file: Path, tmp_path: Path
) -> None:
    with open_metadata(sqlite_url, key_file=key_file) as store:
        store.add_user(user_record("alice", "a" * 64))
        store.add_s3_key(key_record(KEY_A, "alice", SECRET_A))
        direct = open_direct(sqlite_url, key_file=key_file)
        assert direct is not None
        with direct:
            assert direct.s3_keys() == store.s3_keys() and direct.s3_keys("nobody") == []
            assert direct.s3_key(KEY_A) == store.s3_key(KEY_A)
            direct.add_s3_key(key_record(KEY_B, "alice", SECRET_B))  # written through the SQLAlchemy store
            assert direct.s3_key(KEY_B) == key_record(KEY_B, "alice", SECRET_B)
            assert direct.remove_s3_keys_of("alice") == 2
        # A secret that does not open is left to the SQLAlchemy store's open, which refuses it.
        store.add_s3_key(key_record(KEY_C, "alice", SECRET_A))
        execute(sqlite_url, f"UPDATE s3_keys SET user_name = 'mallory' WHERE access_key_id = '{KEY_C}'")
        assert open_direct(sqlite_url, key_file=key_file) is None
        keyless = open_direct(sqlite_url, key_file=None)
        assert keyless is not None
        with keyless, pytest.raises(SecretsKeyError, match="without its secrets key file"):
            keyless.s3_key(KEY_C)


def test_keys_made_while_their_user_is_removed_never_outlive_the_user(store: MetadataStore) -> None:
    barrier = threading.Barrier(4)

    def make_keys(worker: int) -> int:
        barrier.wait()
        made = 0
        for index in range(5):
            try:
                store.add_s3_key(key_record(f"TSK3{worker:08d}{index:08d}", "alice", SECRET_A))
                made += 1
            except UnknownUserError:
                pass
        return made

    def remove() -> int:
        barrier.wait()
        return int(store.remove_user("alice"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        makers = [pool.submit(make_keys, worker) for worker in range(3)]
        assert pool.submit(remove).result() == 1
        for maker in makers:
            maker.result()
    assert store.s3_keys("alice") == []
