"""Servers sharing a namespace tell each other the paths they change (``namespace.change_notices``).

The workers of ``tierstore serve --workers N`` (and servers on one PostgreSQL) each keep their own
namespace cache; without a notice, a file written through one worker stayed out of another's cached
listing for the whole ttl. The metadata side runs against a real SQLite namespace shared by two
stores (as two workers share it); the whole path against a real ``--workers 2`` server over
SeaweedFS, whose new connections land on either worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.server.conftest import write_server_config
from tests.server.harness import start_api_server
from tests.server.s3.conftest import admin_of, gateway_client
from tierstore.local.info import StackInfo
from tierstore.namespace.change_notices import ChangeNotices
from tierstore.namespace.metadata import schema
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.store import open_metadata

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TTL = 600  # far longer than the test: only a notice can make a worker drop what it holds


def _two_stores(tmp_path: Path) -> tuple[CachedMetadataStore, CachedMetadataStore]:
    url = f"sqlite:///{tmp_path / 'namespace.db'}"
    one, other = (open_metadata(url, poll_interval=3600) for _ in range(2))  # polled by hand here
    assert isinstance(one, CachedMetadataStore) and isinstance(other, CachedMetadataStore)
    return one, other


def test_paths_numbered_by_one_store_reach_the_others_listeners(tmp_path: Path) -> None:
    one, other = _two_stores(tmp_path)
    heard: list[list[str] | None] = []
    mine: list[list[str] | None] = []
    other.on_content_changes(heard.append)
    one.on_content_changes(mine.append)
    try:
        notices = ChangeNotices(one)
        for path in ("/b/x", "/b/y", "/b/x"):
            notices.tell(path)
        assert notices.flush()
        notices.close()
        other.poll_once()
        one.poll_once()
        assert heard == [["/b/x", "/b/y"]]  # once each, in one batch
        assert mine == []  # its own changes are not read back
        assert one.content_changes_since(0) == ["/b/x", "/b/y"]
        first, last = one.record_content_changes(["/c"])
        assert (first, last) == (3, 3)
        other.poll_once()
        assert heard[-1] == ["/c"]
    finally:
        one.close()
        other.close()


def test_a_reader_further_behind_than_what_is_kept_forgets_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "CONTENT_CHANGES_KEPT", 3)
    one, other = _two_stores(tmp_path)
    heard: list[list[str] | None] = []
    other.on_content_changes(heard.append)
    try:
        one.record_content_changes(["/a", "/b"])
        assert one.content_changes_since(0) == ["/a", "/b"]
        one.record_content_changes(["/c", "/d", "/e"])
        assert one.content_changes_since(2) == ["/c", "/d", "/e"]
        assert one.content_changes_since(0) is None  # /a and /b are no longer kept
        other.poll_once()
        assert heard == [None]
    finally:
        one.close()
        other.close()


def _keys(client: S3Client, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_workers_see_each_others_writes_in_their_listings_and_stats(
    tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    config = write_server_config(
        tmp_path / "server.yaml", stack, bucket, extra={"tierstore.metadata.cache.ttl": TTL}
    )
    server = start_api_server(config, process=True, workers=2)
    try:
        assert server.s3_url is not None
        key_id, secret = server.add_s3_key(admin_of(server))

        def fresh() -> S3Client:  # a new connection: either worker may take it
            return gateway_client(server.s3_url or "", key_id, secret.reveal())

        fresh().create_bucket(Bucket="shared")
        fresh().put_object(Bucket="shared", Key="first", Body=b"1")
        time.sleep(1)
        for _ in range(8):  # both workers now hold the listing of one key
            assert _keys(fresh(), "shared") == ["first"]
        fresh().put_object(Bucket="shared", Key="second", Body=b"2")
        time.sleep(1)  # the notice's transaction and the other worker's poll (0.25 s)
        for _ in range(8):
            assert _keys(fresh(), "shared") == ["first", "second"]
        fresh().delete_object(Bucket="shared", Key="first")
        time.sleep(1)
        for _ in range(8):
            assert _keys(fresh(), "shared") == ["second"]
    finally:
        server.stop()
