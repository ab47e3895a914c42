"""open_read: one request for the bytes asked and the object's metadata, on every backend."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers.loopback import OBJECT_BODY, OBJECT_KEY, FlakyS3, Forwarder
from tests.storage.conftest import SettingsFactory
from tests.storage.sockets import established_to
from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import ConflictError, NotFoundError, RangeNotSatisfiableError, StoreError
from tierstore.local.info import StackInfo
from tierstore.settings.loader import settings_from_mapping
from tierstore.storage.interface import ObjectAttributes, OpenedRead, Store
from tierstore.storage.layers import LoggingLayer
from tierstore.storage.local import LocalStore
from tierstore.storage.s3.botocore_store import BotocoreS3Store
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
DIGITS = b"0123456789"


@pytest.fixture(params=["s3", "local", "wire", "layered"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend, and a layered one: the same answers from each."""
    if request.param == "s3":
        yield request.getfixturevalue("s3_store")
    elif request.param == "local":
        yield LocalStore(tmp_path / "store")
    elif request.param == "layered":
        yield LoggingLayer(LocalStore(tmp_path / "store"))
    else:  # the wire-logged store: botocore alone
        settings = request.getfixturevalue("s3_settings")(prefix="base/")
        wire = BotocoreS3Store(settings, credential_source_for(settings))
        yield wire
        wire.close()


def _read(opened: OpenedRead) -> bytes:
    with opened:
        return b"".join(opened.chunks)


def test_whole_object_with_its_metadata(store: Store) -> None:
    written = store.put("d/digits", DIGITS, attributes=ObjectAttributes("text/plain", {"Colour": "blue"}))
    opened = store.open_read("d/digits")
    assert (opened.start, opened.end, opened.length) == (0, 10, 10)
    assert _read(opened) == DIGITS
    info = opened.info
    assert (info.key, info.size, info.etag) == ("d/digits", 10, written.etag)
    assert info.etag is not None and info.etag.startswith('"') and info.etag.endswith('"')
    assert info.last_modified is not None
    assert info.content_type == "text/plain"
    assert dict(info.metadata) == {"colour": "blue"}
    assert info == store.head("d/digits")


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ({"start": 2, "end": 5}, (2, 5)),
        ({"start": 7}, (7, 10)),
        ({"start": 8, "end": 100}, (8, 10)),  # the end is cut to the size
        ({"start": 0, "end": 1}, (0, 1)),
        ({"start": 9}, (9, 10)),
        ({"suffix": 3}, (7, 10)),
        ({"suffix": 100}, (0, 10)),  # more than there is: the whole object
        ({"start": 0}, (0, 10)),
    ],
)
def test_ranges_serve_what_they_say(store: Store, asked: dict[str, int], served: tuple[int, int]) -> None:
    store.put("digits", DIGITS)
    opened = store.open_read("digits", **asked)
    assert (opened.start, opened.end) == served
    assert opened.info.size == 10  # the whole object's, not the range's
    assert _read(opened) == DIGITS[served[0] : served[1]]


@pytest.mark.parametrize("start", [10, 11, 1000])
def test_a_range_past_the_end_is_not_satisfiable_and_says_the_size(store: Store, start: int) -> None:
    store.put("digits", DIGITS)
    with pytest.raises(RangeNotSatisfiableError) as caught:
        store.open_read("digits", start=start)
    assert caught.value.size == 10
    assert "digits" in str(caught.value)


@pytest.mark.parametrize("asked", [{}, {"start": 0}, {"start": 3}, {"suffix": 4}, {"start": 0, "end": 8}])
def test_an_empty_object_reads_as_nothing_whatever_is_asked(store: Store, asked: dict[str, int]) -> None:
    store.put("empty", b"", attributes=ObjectAttributes("application/x-empty"))
    opened = store.open_read("empty", **asked)
    assert (opened.start, opened.end, opened.info.size) == (0, 0, 0)
    assert opened.info.content_type == "application/x-empty"
    assert _read(opened) == b""


def test_if_match(store: Store) -> None:
    etag = store.put("digits", DIGITS).etag
    assert etag is not None
    assert _read(store.open_read("digits", if_match=etag)) == DIGITS
    assert _read(store.open_read("digits", if_match="*", start=5)) == b"56789"
    with pytest.raises(ConflictError) as caught:
        store.open_read("digits", if_match='"0000000000000000000000000000dead"')
    assert "digits" in str(caught.value)


def test_missing_object_and_bad_ranges(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nothing/here"):
        store.open_read("nothing/here")
    store.put("digits", DIGITS)
    for bad in (
        {"start": -1},
        {"start": 5, "end": 5},
        {"start": 5, "end": 2},
        {"suffix": 0},
        {"suffix": 2, "start": 1},
    ):
        with pytest.raises(ValueError):
            store.open_read("digits", **bad)


def test_chunks_are_bounded_and_closing_early_reads_no_more(store: Store) -> None:
    payload = os.urandom(6 * MiB + 5)
    store.put("big.bin", payload)
    opened = store.open_read("big.bin", start=MiB, chunk_size=MiB)
    sizes = []
    got = b""
    for chunk in opened.chunks:
        sizes.append(len(chunk))
        got += chunk
    assert got == payload[MiB:]
    assert max(sizes) <= 2 * MiB  # obstore's min_chunk_size gives at least one, rarely more
    with store.open_read("big.bin") as early:
        first = next(early.chunks)
        assert payload.startswith(first)
    assert list(early.chunks) == []  # closed: nothing more comes


def _settle(port: int, expected: int) -> int:
    """Connections are let go by obstore's runtime thread: give it a moment."""
    deadline = time.monotonic() + 3
    while (count := established_to(port)) > expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


@pytest.mark.parametrize("backend", ["s3", "wire"])
def test_closing_a_read_early_drops_its_connection(backend: str, s3_settings: SettingsFactory) -> None:
    settings = s3_settings(prefix="base/")
    store: Store = (S3Store if backend == "s3" else BotocoreS3Store)(
        settings, credential_source_for(settings)
    )
    port = int(str(settings.endpoint).rsplit(":", 1)[1])
    try:
        store.put("big.bin", os.urandom(24 * MiB))
        store.head("big.bin")  # the pool holds what it keeps idle from here on
        idle = established_to(port)
        reads = [store.open_read("big.bin", chunk_size=MiB) for _ in range(6)]
        for read in reads:
            next(read.chunks)
        assert established_to(port) >= idle + 5  # each read in flight holds its own connection
        for read in reads:
            read.close()
        # Dropped, not drained into the pool: at most the idle ones are left (a drained body
        # would also have taken 6 x 23 MiB of reading).
        assert _settle(port, idle) <= idle
    finally:
        store.close()


def test_transient_failures_before_the_answer_are_tried_again() -> None:
    with FlakyS3(failures=2) as server:
        settings = settings_from_mapping(
            {
                "remote.data.dir": f"s3://{server.bucket}/",
                "s3.endpoint": server.endpoint,
                "s3.access-key": "AKIALOOPBACK",
                "s3.secret-key": "loopback-secret",
                "s3.path-style-access": "true",
                "s3.retry.interval": "20ms",
            },
            "fluss",
            "test.yaml",
        ).settings
        store = S3Store(settings, credential_source_for(settings))
        opened = store.open_read(OBJECT_KEY, start=10)
        assert _read(opened) == OBJECT_BODY[10:]
        assert server.seen["GET"] == 3


def _through(forwarder: Forwarder, stack: StackInfo, bucket: str) -> S3Store:
    admin = stack.admin
    settings = settings_from_mapping(
        {
            "remote.data.dir": f"s3://{bucket}/",
            "s3.endpoint": forwarder.endpoint,
            "s3.access-key": admin.access_key_id,
            "s3.secret-key": admin.secret_access_key.reveal(),
            "s3.retry.interval": "50ms",
        },
        "fluss",
        "t.yaml",
    ).settings
    return S3Store(settings, credential_source_for(settings))


def test_a_body_cut_before_its_first_chunk_is_read_again_from_the_same_version(
    stack: StackInfo, bucket: str
) -> None:
    payload = os.urandom(6 * MiB)
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port, cut_answers=(1, MiB)) as forwarder:
        store = _through(forwarder, stack, bucket)
        store.put("object.bin", payload)
        # The first chunk is 4 MiB: the cut at 1 MiB comes before any byte was given out.
        opened = store.open_read("object.bin", chunk_size=4 * MiB)
        assert _read(opened) == payload
        store.close()
    assert forwarder.cuts == 1
    gets = [request for request in forwarder.requests if request.method == "GET"]
    assert len(gets) == 2
    assert gets[1].headers.get("if-match") == opened.info.etag


def test_a_body_cut_after_bytes_were_given_raises(stack: StackInfo, bucket: str) -> None:
    payload = os.urandom(8 * MiB)
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port, cut_answers=(1, 3 * MiB)) as forwarder:
        store = _through(forwarder, stack, bucket)
        store.put("object.bin", payload)
        opened = store.open_read("object.bin", chunk_size=MiB)
        got = next(opened.chunks)
        with pytest.raises(StoreError, match=r"object\.bin"):
            for chunk in opened.chunks:
                got += chunk
        assert payload.startswith(got) and len(got) < len(payload)
        store.close()
    assert [request.method for request in forwarder.requests].count("GET") == 1


def test_keys_obstore_cannot_name_are_read_through_botocore(
    s3_store: S3Store, admin_s3: S3Client, bucket: str
) -> None:
    key = "ctl\x01key"
    admin_s3.put_object(
        Bucket=bucket, Key=f"base/{key}", Body=DIGITS, ContentType="text/x-odd", Metadata={"a": "b"}
    )
    try:
        opened = s3_store.open_read(key, start=4)
        assert (opened.start, opened.end, opened.info.size) == (4, 10, 10)
        assert (opened.info.content_type, dict(opened.info.metadata)) == ("text/x-odd", {"a": "b"})
        assert _read(opened) == DIGITS[4:]
        with pytest.raises(RangeNotSatisfiableError):
            s3_store.open_read(key, start=10)
    finally:
        admin_s3.delete_object(Bucket=bucket, Key=f"base/{key}")


def test_a_directory_is_no_object_and_keeps_no_descriptor(tmp_path: Path) -> None:
    """A key naming a local directory is missing for every read (the S3 gateway's GET of a folder's
    name without its slash), and the descriptor opened to find that out is closed."""
    store = LocalStore(tmp_path / "store")
    store.put("d/file", DIGITS)
    opened_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with pytest.raises(NotFoundError):
            store.open_read("d")
        with pytest.raises(NotFoundError):
            store.get("d")
    assert len(os.listdir("/proc/self/fd")) <= opened_before
