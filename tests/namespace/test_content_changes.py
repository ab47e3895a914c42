"""The "content" change counter and its numbered paths (``SqlMetadataStore.record_content_changes``,
``CachedMetadataStore.on_content_changes``), by which servers sharing a namespace tell each other
the paths they change (``namespace.change_notices``): two stores on one database, SQLite and
PostgreSQL, as two workers or two servers share it. The whole path through a ``--workers 2``
server: ``tests/server/s3/test_change_notices.py``."""

from __future__ import annotations

import pytest

from tierstore.namespace.change_notices import ChangeNotices
from tierstore.namespace.metadata import schema
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.store import open_metadata


def _two_stores(url: str) -> tuple[CachedMetadataStore, CachedMetadataStore]:
    one, other = (open_metadata(url, poll_interval=3600) for _ in range(2))  # polled by hand here
    assert isinstance(one, CachedMetadataStore) and isinstance(other, CachedMetadataStore)
    return one, other


def test_paths_numbered_by_one_store_reach_the_others_listeners(metadata_url: str) -> None:
    one, other = _two_stores(metadata_url)
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
    metadata_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "CONTENT_CHANGES_KEPT", 3)
    one, other = _two_stores(metadata_url)
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
