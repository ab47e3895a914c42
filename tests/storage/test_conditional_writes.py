"""Conditional whole-object writes (``Store.put(condition=...)``): create only (``If-None-Match:
*``) or replace only one ETag (``If-Match``), judged by the store with the write, so that of
writers racing for one key exactly one wins and nothing else is written. On SeaweedFS (which
enforces both conditions on PutObject: obstore's client, botocore's, and obstore's with
attributes only botocore can send) and on a local directory (a hard link for create-only; the
directory locked for If-Match)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tierstore.errors import ConflictError
from tierstore.storage.interface import ObjectAttributes, Store, WriteCondition

CREATE = WriteCondition(absent=True)
RACERS = 8


def test_create_only_writes_a_new_key_and_refuses_an_existing_one(store: Store) -> None:
    store.put("new.txt", b"first", condition=CREATE)
    assert store.get("new.txt") == b"first"
    with pytest.raises(ConflictError):
        store.put("new.txt", b"second", condition=CREATE)
    with pytest.raises(ConflictError):
        asyncio.run(store.put_async("new.txt", b"third", condition=CREATE))
    assert store.get("new.txt") == b"first"
    asyncio.run(store.put_async("other.txt", b"async", condition=CREATE))
    assert store.get("other.txt") == b"async"


def test_replace_only_holds_to_the_etag(store: Store) -> None:
    written = store.put("doc.json", b'{"v": 1}')
    assert written.etag is not None
    with pytest.raises(ConflictError):
        store.put(
            "doc.json", b'{"v": 0}', condition=WriteCondition(etag='"0123456789abcdef0123456789abcdef"')
        )
    with pytest.raises(ConflictError):  # nothing there: nothing to replace
        store.put("missing.json", b"{}", condition=WriteCondition(etag=written.etag))
    second = store.put("doc.json", b'{"v": 2}', condition=WriteCondition(etag=written.etag))
    assert store.get("doc.json") == b'{"v": 2}'
    # The ETag unquoted is the same ETag.
    third = asyncio.run(
        store.put_async(
            "doc.json", b'{"v": 3}', condition=WriteCondition(etag=(second.etag or "").strip('"'))
        )
    )
    with pytest.raises(ConflictError):  # the first version is gone
        store.put("doc.json", b'{"v": 4}', condition=WriteCondition(etag=written.etag))
    assert store.get("doc.json") == b'{"v": 3}'
    assert store.head("doc.json").etag == third.etag


def test_attributes_travel_with_a_conditional_write(store: Store) -> None:
    kept = ObjectAttributes("application/json", {"commit": "7"})
    store.put("meta.json", b"{}", attributes=kept, condition=CREATE)
    info = store.head("meta.json")
    assert info.content_type == "application/json" and dict(info.metadata) == {"commit": "7"}
    # Metadata obstore would take for its own goes through botocore: the condition goes along.
    odd = ObjectAttributes("text/plain", {"storage-class": "cold"})
    store.put("odd.txt", b"a", attributes=odd, condition=CREATE)
    with pytest.raises(ConflictError):
        store.put("odd.txt", b"b", attributes=odd, condition=CREATE)
    with pytest.raises(ConflictError):
        asyncio.run(store.put_async("odd.txt", b"c", attributes=odd, condition=CREATE))
    assert store.get("odd.txt") == b"a"
    assert dict(store.head("odd.txt").metadata) == {"storage-class": "cold"}


def _race(store: Store, key: str, condition: WriteCondition) -> bytes:
    """RACERS writers putting ``key`` under ``condition`` at once: exactly one may win; its body."""
    start = threading.Barrier(RACERS)

    def race(number: int) -> int | None:
        start.wait()
        try:
            store.put(key, f"by writer {number}".encode(), condition=condition)
        except ConflictError:
            return None
        return number

    with ThreadPoolExecutor(RACERS) as pool:
        winners = [number for number in pool.map(race, range(RACERS)) if number is not None]
    assert len(winners) == 1, winners
    return f"by writer {winners[0]}".encode()


def test_of_writers_racing_to_create_one_key_exactly_one_wins(store: Store) -> None:
    winner = _race(store, "commit/00001.json", CREATE)
    assert store.get("commit/00001.json") == winner


def test_of_writers_replacing_one_version_exactly_one_wins(store: Store) -> None:
    base = store.put("table/version", b"v0").etag
    assert base is not None
    winner = _race(store, "table/version", WriteCondition(etag=base))
    assert store.get("table/version") == winner


def test_a_write_condition_is_one_thing_or_the_other() -> None:
    with pytest.raises(ValueError, match="either"):
        WriteCondition()
    with pytest.raises(ValueError, match="either"):
        WriteCondition(absent=True, etag='"x"')
