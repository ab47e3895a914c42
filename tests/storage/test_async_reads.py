"""``Store.head_async``, ``Store.open_read_async`` and ``Store.put_async``: the S3 gateway's HEAD,
GET and small PUT on the event loop (obstore's async client on S3, a worker thread elsewhere),
answering as ``head``, ``open_read`` and ``put`` do, against SeaweedFS and a local directory."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.storage.conftest import SettingsFactory
from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import ConflictError, NotFoundError, RangeNotSatisfiableError, StoreUnavailableError
from tierstore.settings.model import RetrySettings
from tierstore.storage.interface import ObjectAttributes, Store
from tierstore.storage.layers import LoggingLayer
from tierstore.storage.s3.store import S3Store


def test_it_answers_what_head_answers(any_store: Store) -> None:
    attributes = ObjectAttributes(content_type="text/csv", metadata={"origin": "test"})
    any_store.put("dir/data.csv", b"a,b\n1,2\n", attributes=attributes)
    any_store.put_directory_marker("empty")
    for key in ("dir/data.csv", "empty/"):
        assert asyncio.run(any_store.head_async(key)) == any_store.head(key), key
    found = asyncio.run(any_store.head_async("dir/data.csv"))
    assert (found.size, found.content_type, found.metadata) == (8, "text/csv", {"origin": "test"})
    with pytest.raises(NotFoundError):
        asyncio.run(any_store.head_async("dir/missing.csv"))


def test_an_async_put_writes_what_put_writes(any_store: Store) -> None:
    attributes = ObjectAttributes(content_type="text/csv", metadata={"origin": "async"})
    written = asyncio.run(any_store.put_async("put/async.csv", b"a,b\n", attributes=attributes))
    found = any_store.head("put/async.csv")
    assert (found.size, found.content_type, found.metadata) == (4, "text/csv", {"origin": "async"})
    assert written.key == "put/async.csv" and written.etag
    if written.etag_kept:
        assert written.etag == found.etag
    assert b"".join(any_store.iter_read("put/async.csv")) == b"a,b\n"
    # Attributes obstore cannot send as asked (user metadata under one of its own names) go as
    # put sends them (on S3 botocore's PUT), on a worker thread.
    odd = ObjectAttributes(content_type="text/plain", metadata={"cache-control": "kept"})
    asyncio.run(any_store.put_async("put/odd.txt", b"odd", attributes=odd))
    assert any_store.head("put/odd.txt").metadata == {"cache-control": "kept"}


def test_through_the_logging_layer_each_head_is_logged(
    any_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    any_store.put("logged", b"x")
    layered = LoggingLayer(any_store)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    assert asyncio.run(layered.head_async("logged")).size == 1
    with pytest.raises(NotFoundError):
        asyncio.run(layered.head_async("not-there"))
    messages = [record.getMessage() for record in caplog.records if record.name == "tierstore.storage"]
    assert messages[0].startswith("head ") and messages[0].endswith(" ms")
    assert messages[1].startswith("head ") and "failed" in messages[1]


def test_with_nothing_to_log_the_layer_hands_back_the_stores_own_call(
    any_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A layer with nothing to do around an async call adds no frame to await (the gateway's
    GET, HEAD and PUT each await one less coroutine a layer)."""
    any_store.put("passed", b"xy")
    layered = LoggingLayer(any_store)
    caplog.set_level(logging.WARNING, logger="tierstore.storage")
    for pending, inner in (
        (layered.head_async("passed"), type(any_store).head_async),
        (layered.open_read_async("passed"), type(any_store).open_read_async),
        (layered.put_async("passed", b"yz"), type(any_store).put_async),
    ):
        assert pending.cr_code is inner.__code__, pending  # type: ignore[attr-defined]
        asyncio.run(pending)
    assert any_store.get("passed") == b"yz"
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    logged = layered.head_async("passed")
    assert logged.cr_code is not type(any_store).head_async.__code__  # type: ignore[attr-defined]
    assert asyncio.run(logged).size == 2


def test_its_retries_wait_without_blocking_the_event_loop(s3_settings: SettingsFactory) -> None:
    # Nothing listens on port 9: every attempt fails at once, and the policy waits between them.
    settings = s3_settings(
        endpoint="http://127.0.0.1:9",
        retry=RetrySettings(max_attempts=4, interval_seconds=0.2, max_interval_seconds=0.2),
    )
    store = S3Store(settings, credential_source_for(settings))

    async def head_while_ticking() -> tuple[float, int]:
        ticks = 0
        head = asyncio.ensure_future(store.head_async("any"))
        began = time.monotonic()
        while not head.done():
            await asyncio.sleep(0.01)
            ticks += 1
        with pytest.raises(StoreUnavailableError, match="after 4 attempts"):
            head.result()
        return time.monotonic() - began, ticks

    try:
        elapsed, ticks = asyncio.run(head_while_ticking())
    finally:
        store.close()
    assert elapsed >= 0.3  # three waits of 0.1 to 0.2 s
    assert ticks >= elapsed / 0.01 / 3  # the loop went on meanwhile


async def _read_all(store: Store, key: str, **wanted: int) -> tuple[object, int, int, bytes]:
    opened = await store.open_read_async(key, chunk_size=64 * 1024, **wanted)
    parts = []
    while (chunk := await opened.chunks.next_async()) is not None:
        parts.append(chunk)
    return opened.info, opened.start, opened.end, b"".join(parts)


def _read_sync(store: Store, key: str, **wanted: int) -> tuple[object, int, int, bytes]:
    with store.open_read(key, chunk_size=64 * 1024, **wanted) as opened:
        return opened.info, opened.start, opened.end, b"".join(opened.chunks)


def test_an_async_read_gives_what_open_read_gives(any_store: Store) -> None:
    # Whole, ranges, a suffix and a range past the end, over several chunks of 64 KiB.
    body = bytes(range(256)) * 1024  # 256 KiB
    any_store.put("big.bin", body)
    any_store.put("empty.bin", b"")
    cases: list[dict[str, int]] = [{}, {"start": 1000, "end": 200_000}, {"start": 250_000}, {"suffix": 5}]
    for wanted in cases:
        got = asyncio.run(_read_all(any_store, "big.bin", **wanted))
        assert got == _read_sync(any_store, "big.bin", **wanted), wanted
    assert asyncio.run(_read_all(any_store, "big.bin"))[3] == body
    assert asyncio.run(_read_all(any_store, "empty.bin"))[3] == b""
    with pytest.raises(RangeNotSatisfiableError) as caught:
        asyncio.run(_read_all(any_store, "big.bin", start=len(body)))
    assert caught.value.size == len(body)
    with pytest.raises(NotFoundError):
        asyncio.run(_read_all(any_store, "missing.bin"))


def test_an_async_read_holds_to_if_match(s3_store: S3Store) -> None:
    s3_store.put("versioned", b"one")
    etag = s3_store.head("versioned").etag
    assert etag is not None

    async def read(if_match: str) -> bytes:
        opened = await s3_store.open_read_async("versioned", if_match=if_match)
        first = await opened.chunks.next_async()
        assert await opened.chunks.next_async() is None
        return first or b""

    assert asyncio.run(read(etag)) == b"one"
    with pytest.raises(ConflictError):
        asyncio.run(read('"0123456789abcdef0123456789abcdef"'))
