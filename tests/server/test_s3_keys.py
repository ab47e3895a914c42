"""``S3KeyDirectory``: keys made for users, looked up from a server's memory for SigV4 checks, and
revoked for every server sharing the database within the sync interval (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.namespace import conftest as namespace_fixtures
from tierstore.blocking import NeedsIO, memory_only
from tierstore.namespace.config import load_server_config
from tierstore.namespace.metadata import MetadataStore, open_metadata
from tierstore.namespace.metadata.errors import UnknownUserError
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.sigv4 import RequestParts, SigV4Verifier
from tierstore.server.s3_keys import S3Identity, S3KeyDirectory, S3KeyError
from tierstore.server.users import UserDirectory

postgres_url = namespace_fixtures.postgres_url
fresh_postgres_url = namespace_fixtures.fresh_postgres_url
sqlite_url = namespace_fixtures.sqlite_url
metadata_url = namespace_fixtures.metadata_url  # once on SQLite, once on PostgreSQL

SYNC_INTERVAL = 0.2
# What a change may take beyond the interval to be seen: the poll's own query, a loaded machine.
SLACK_SECONDS = 1.0


@pytest.fixture
def server_store(metadata_url: str, tmp_path: Path) -> Iterator[MetadataStore]:
    """A server's store (in memory; polled by hand, an hour between polls), with users alice and bob."""
    store = open_metadata(metadata_url, key_file=tmp_path / "secrets.key", poll_interval=3600)
    users = UserDirectory(store)
    users.add("alice")
    users.add("bob")
    yield store
    store.close()


def signed_get(access_key_id: str, secret: str, path: str = "/data/a.txt") -> RequestParts:
    """A GET signed by botocore's own SigV4 signer, as the gateway would receive it."""
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:9/{path.lstrip('/')}")
    S3SigV4Auth(Credentials(access_key_id, secret), "s3", "us-east-1").add_auth(request)
    headers = [(name.lower().encode(), str(value).encode()) for name, value in request.headers.items()]
    headers.append((b"host", b"127.0.0.1:9"))
    return RequestParts("GET", path.encode(), b"", headers)


def test_keys_look_like_aws_keys_and_each_is_new(server_store: MetadataStore) -> None:
    keys = S3KeyDirectory(server_store)
    made = [keys.create("alice") for _ in range(5)]
    for access_key_id, secret in made:
        assert re.fullmatch(r"TSK3[A-Z0-9]{16}", access_key_id)
        assert re.fullmatch(r"[A-Za-z0-9_-]{40}", secret.reveal())
    assert len({key_id for key_id, _ in made}) == 5 and len({secret for _, secret in made}) == 5
    listed = keys.list("alice")
    assert sorted(info.access_key_id for info in listed) == sorted(key_id for key_id, _ in made)
    assert all(info.user == "alice" for info in listed) and keys.list("bob") == []


def test_a_key_for_an_unknown_user_is_refused_naming_the_user(server_store: MetadataStore) -> None:
    keys = S3KeyDirectory(server_store)
    with pytest.raises(UnknownUserError) as refused:
        keys.create("carol")
    assert "user carol does not exist" in str(refused.value)
    assert "tierstore users add carol" in str(refused.value)
    with pytest.raises(S3KeyError, match="user name 'no way!' is not allowed"):
        keys.create("no way!")
    with pytest.raises(S3KeyError, match="user carol does not exist"):
        keys.list("carol")
    with pytest.raises(S3KeyError, match="user carol does not exist"):
        keys.revoke_all("carol")
    assert keys.list() == []


def test_lookup_answers_from_memory_and_signatures_verify_against_it(server_store: MetadataStore) -> None:
    keys = S3KeyDirectory(server_store)
    access_key_id, secret = keys.create("alice")
    assert keys.recent(access_key_id) == (False, None)  # nothing in memory yet: a thread asks
    identity = keys.lookup(access_key_id)
    assert identity == S3Identity(access_key_id, secret, "alice")
    assert keys.recent(access_key_id) == (True, identity)  # now from memory, no query
    assert keys.recent("AKIAIOSFODNN7EXAMPLE") == (True, None)  # not ours: never asked for

    verifier = SigV4Verifier(keys.secret_for, region="us-east-1")
    with memory_only():  # a warm key is checked on the event loop, with no query
        auth = verifier.verify(signed_get(access_key_id, secret.reveal()))
    assert auth.access_key_id == access_key_id
    with pytest.raises(S3Error, match=r"^SignatureDoesNotMatch:"):
        verifier.verify(signed_get(access_key_id, "x" * 40))
    with memory_only(), pytest.raises(NeedsIO):
        verifier.verify(signed_get("TSK3ZZZZZZZZZZZZZZZZ", "x" * 40))  # unknown: asked on a thread
    with pytest.raises(S3Error, match=r"^InvalidAccessKeyId:"):
        verifier.verify(signed_get("TSK3ZZZZZZZZZZZZZZZZ", "x" * 40))

    keys.revoke(access_key_id)
    with pytest.raises(S3Error, match=r"^InvalidAccessKeyId:"):
        verifier.verify(signed_get(access_key_id, secret.reveal()))
    with pytest.raises(S3KeyError, match="S3 key TSK3… does not exist"):
        keys.revoke(access_key_id)


def test_revoking_every_key_of_a_user_and_removing_a_user(server_store: MetadataStore) -> None:
    keys = S3KeyDirectory(server_store)
    alice = [keys.create("alice")[0] for _ in range(2)]
    bob, _ = keys.create("bob")
    assert keys.revoke_all("alice") == 2
    assert keys.revoke_all("alice") == 0  # alice exists: nothing left to revoke is no error
    assert all(keys.lookup(key_id) is None for key_id in alice)
    UserDirectory(server_store).remove("bob")
    assert keys.lookup(bob) is None and keys.list() == []


def test_no_secret_in_reprs_or_logs(server_store: MetadataStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = S3KeyDirectory(server_store)
    access_key_id, secret = keys.create("alice")
    identity = keys.lookup(access_key_id)
    shown = " ".join([repr(identity), str(identity), repr(secret), repr(keys.list()), caplog.text])
    assert shown.count(secret.reveal()) == 0 and shown.count(access_key_id) == 0
    assert "TSK3…" in repr(identity)


# -- servers sharing a database --------------------------------------------------------------------


def server_config(directory: Path, url: str, key_file: Path) -> Path:
    directory.mkdir()
    config = directory / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{directory / 'root'}\n"
        f'tierstore.metadata.url: "{url}"\n'
        f"tierstore.metadata.sync.interval: {SYNC_INTERVAL}\n"
        f"tierstore.secrets.key-file: {key_file}\n"
    )
    return config


def test_a_revoke_is_refused_by_every_server_within_the_sync_interval(
    metadata_url: str, tmp_path: Path
) -> None:
    """Two servers' stores, opened as ``build_server`` opens them, share the database and key file."""
    key_file = tmp_path / "shared.key"
    configs = [server_config(tmp_path / name, metadata_url, key_file) for name in ("one", "two")]
    one, two = (open_server_metadata(load_server_config(config), in_memory=True) for config in configs)
    try:
        UserDirectory(one).add("alice")
        first, second = S3KeyDirectory(one), S3KeyDirectory(two)
        access_key_id, secret = first.create("alice")
        # Made on one, used on the other at once (before its next poll).
        found = second.lookup(access_key_id)
        assert found is not None and found.secret == secret
        assert second.recent(access_key_id) == (True, found)

        first.revoke(access_key_id)
        revoked_at = time.monotonic()
        while second.lookup(access_key_id) is not None:
            assert time.monotonic() - revoked_at < SYNC_INTERVAL + SLACK_SECONDS, "the revoke was not seen"
            time.sleep(0.01)
        assert second.recent(access_key_id) == (True, None)  # and the miss is answered from memory
    finally:
        one.close()
        two.close()
