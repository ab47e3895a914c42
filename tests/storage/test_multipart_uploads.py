"""Multipart uploads driven part by part (the S3 gateway's), on SeaweedFS and a local directory.

Each store is wrapped in the standard layers, as a mount's store is, so calls go through them.
What both backends must do alike runs on both; what is the local backend's own (its hidden
staging directory, its upload ids) on it alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.namespace.test_filesystem import write_config
from tierstore.errors import (
    EntityTooSmallError,
    InvalidArgumentError,
    InvalidPartError,
    InvalidPartNumberError,
    InvalidPartOrderError,
    NoSuchUploadError,
    NotFoundError,
    StoreError,
)
from tierstore.local.info import StackInfo
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.uploads import clean_up_stores
from tierstore.storage.interface import Store
from tierstore.storage.layers import LoggingLayer
from tierstore.storage.local import STAGING_DIR, LocalStore
from tierstore.storage.local_uploads import LocalMultipartUploads
from tierstore.storage.s3.store import S3Store
from tierstore.storage.uploads import MultipartUploads, UploadInfo, multipart_etag

MiB = 1024 * 1024
PART = 5 * MiB  # S3's least part size (every part but the last)


@dataclass
class Target:
    store: Store
    uploads: MultipartUploads
    kind: str


@pytest.fixture(params=["s3", "local"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "s3":
        inner: Store = request.getfixturevalue("s3_store")
    else:
        inner = LocalStore(tmp_path / "store")
    store = LoggingLayer(inner)
    return Target(store, store.multipart_uploads(), request.param)


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def chunks_of(data: bytes, size: int = MiB) -> Iterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def send(uploads: MultipartUploads, key: str, upload_id: str, number: int, data: bytes) -> str:
    part = uploads.upload_part(key, upload_id, number, chunks_of(data), len(data))
    assert part.number == number and part.size == len(data)
    assert part.etag == md5(data)
    return part.etag


def three_parts(uploads: MultipartUploads, key: str) -> tuple[str, list[bytes], list[tuple[int, str]]]:
    """An upload of ``key`` holding parts of 5 MiB, 5 MiB and 1 KiB."""
    upload_id = uploads.create(key)
    data = [os.urandom(PART), os.urandom(PART), os.urandom(1024)]
    listed = [(number, send(uploads, key, upload_id, number, part)) for number, part in enumerate(data, 1)]
    return upload_id, data, listed


# -- both backends --------------------------------------------------------------------------


def test_three_parts_make_one_object_with_s3s_etag(target: Target) -> None:
    uploads = target.uploads
    upload_id, data, listed = three_parts(uploads, "dir/object.bin")
    assert [upload.key for upload in uploads.list_uploads()[0]] == ["dir/object.bin"]

    result = uploads.complete("dir/object.bin", upload_id, listed)

    expected = multipart_etag(hashlib.md5(part).digest() for part in data)
    assert re.fullmatch(r'"[0-9a-f]{32}-3"', expected)
    assert result.etag == expected
    assert result.key == "dir/object.bin"
    assert target.store.get("dir/object.bin") == b"".join(data)
    assert target.store.head("dir/object.bin").size == 2 * PART + 1024
    # HEAD answers the ETag the completion did, on both backends.
    assert target.store.head("dir/object.bin").etag == expected
    assert uploads.list_uploads() == ([], False)
    with pytest.raises(NoSuchUploadError) as raised:
        uploads.upload_part("dir/object.bin", upload_id, 4, [b"late"], 4)
    assert upload_id in str(raised.value) and "dir/object.bin" in str(raised.value)


def test_part_spans_of_a_completed_object_and_of_one_written_whole(target: Target) -> None:
    uploads = target.uploads
    upload_id, data, listed = three_parts(uploads, "spans.bin")
    etag = uploads.complete("spans.bin", upload_id, listed).etag
    start = 0
    for number, part in enumerate(data, 1):
        span = target.store.part_span("spans.bin", number)
        assert (span.number, span.start, span.end, span.count) == (number, start, start + len(part), 3)
        assert (span.info.size, span.info.etag) == (2 * PART + 1024, etag)
        assert target.store.get("spans.bin", start=span.start, end=span.end) == part
        start += len(part)
    with pytest.raises(InvalidPartNumberError):
        target.store.part_span("spans.bin", 4)
    target.store.put("whole.bin", b"one piece")
    whole = target.store.part_span("whole.bin", 1)
    assert (whole.start, whole.end, whole.count, whole.info.size) == (0, 9, 1, 9)
    with pytest.raises(InvalidPartNumberError):
        target.store.part_span("whole.bin", 2)
    with pytest.raises(NotFoundError):
        target.store.part_span("absent.bin", 1)


def test_a_local_file_changed_behind_tierstores_back_is_one_part(local: LocalStore) -> None:
    uploads = local.multipart_uploads()
    upload_id, _data, listed = three_parts(uploads, "changed.bin")
    uploads.complete("changed.bin", upload_id, listed)
    assert local.part_span("changed.bin", 2).count == 3
    with (local.root / "changed.bin").open("ab") as handle:  # the recorded sizes no longer add up
        handle.write(b"appended")
    span = local.part_span("changed.bin", 1)
    assert (span.start, span.end, span.count) == (0, 2 * PART + 1024 + 8, 1)
    assert not span.info.etag or not span.info.etag.endswith('-3"')
    with pytest.raises(InvalidPartNumberError):
        local.part_span("changed.bin", 2)


def test_the_content_type_and_metadata_given_at_create_are_the_objects(target: Target) -> None:
    uploads = target.uploads
    upload_id = uploads.create("typed.csv", content_type="text/csv", metadata={"origin": "gateway"})
    part = uploads.upload_part("typed.csv", upload_id, 1, [b"a,b\n"], 4)
    uploads.complete("typed.csv", upload_id, [(1, part.etag)])
    info = target.store.head("typed.csv")
    assert (info.content_type, dict(info.metadata)) == ("text/csv", {"origin": "gateway"})


def test_parts_out_of_order_and_one_sent_again(target: Target) -> None:
    uploads = target.uploads
    key = "shuffled.bin"
    upload_id = uploads.create(key, content_type="application/x-test", metadata={"origin": "gateway"})
    first, second, third, second_again = (os.urandom(PART), os.urandom(PART), b"tail", os.urandom(PART))
    send(uploads, key, upload_id, 3, third)
    send(uploads, key, upload_id, 1, first)
    stale = send(uploads, key, upload_id, 2, second)
    time.sleep(1.1)  # SeaweedFS keeps both and tells the later by its LastModified, to the second
    fresh = send(uploads, key, upload_id, 2, second_again)

    parts, truncated = uploads.list_parts(key, upload_id)
    assert not truncated
    assert [(part.number, part.size, part.etag) for part in parts] == [
        (1, PART, md5(first)),
        (2, PART, fresh),
        (3, 4, md5(third)),
    ]
    if target.kind == "local":  # SeaweedFS completes with the earlier bytes (see s3/uploads.py)
        with pytest.raises(InvalidPartError) as raised:
            uploads.complete(key, upload_id, [(1, md5(first)), (2, stale), (3, md5(third))])
        assert raised.value.part_number == 2

    uploads.complete(key, upload_id, [(1, md5(first)), (2, fresh.strip('"')), (3, md5(third))])
    assert target.store.get(key) == first + second_again + third


def test_list_parts_in_pages(target: Target) -> None:
    uploads = target.uploads
    upload_id = uploads.create("paged")
    sent = {number: os.urandom(100 + number) for number in (1, 2, 3, 4, 5)}
    for number, data in sent.items():
        send(uploads, "paged", upload_id, number, data)

    pages: list[list[int]] = []
    after = 0
    while True:
        parts, truncated = uploads.list_parts("paged", upload_id, after=after, limit=2)
        pages.append([part.number for part in parts])
        for part in parts:
            assert (part.size, part.etag) == (len(sent[part.number]), md5(sent[part.number]))
            assert part.last_modified.tzinfo is not None
        if not truncated:
            break
        after = parts[-1].number
    assert pages == [[1, 2], [3, 4], [5]]
    assert uploads.list_parts("paged", upload_id, after=5) == ([], False)
    with pytest.raises(InvalidArgumentError):
        uploads.list_parts("paged", upload_id, limit=0)
    uploads.abort("paged", upload_id)


def test_list_uploads_by_prefix_in_pages(target: Target) -> None:
    uploads = target.uploads
    made: dict[str, list[str]] = {}
    for key in ("x/b", "x/a", "y/a", "x/c", "x/a", "xa"):
        made.setdefault(key, []).append(uploads.create(key))

    def every_page(prefix: str, limit: int) -> list[list[UploadInfo]]:
        found: list[list[UploadInfo]] = []
        after_key = after_id = ""
        while True:
            page, truncated = uploads.list_uploads(
                prefix, after_key=after_key, after_upload_id=after_id, limit=limit
            )
            found.append(page)
            if not truncated:
                return found
            after_key, after_id = page[-1].key, page[-1].upload_id

    pages = every_page("x/", 2)
    assert [[upload.key for upload in page] for page in pages] == [["x/a", "x/a"], ["x/b", "x/c"]]
    listed = [upload for page in pages for upload in page]
    assert sorted(upload.upload_id for upload in listed[:2]) == sorted(made["x/a"])
    assert listed[0].initiated <= listed[1].initiated
    # A limit that cuts between the two uploads of one key: the second page starts with its other one.
    odd = every_page("x/", 1)
    assert [upload.upload_id for page in odd for upload in page] == [upload.upload_id for upload in listed]
    # A plain string prefix, as S3's: "x" holds "xa" too.
    everything, truncated = uploads.list_uploads("x")
    assert not truncated
    assert [upload.key for upload in everything] == ["x/a", "x/a", "x/b", "x/c", "xa"]
    after_a, _ = uploads.list_uploads("x", after_key="x/a")
    assert [upload.key for upload in after_a] == ["x/b", "x/c", "xa"]
    assert [upload.key for upload in uploads.list_uploads()[0]] == ["x/a", "x/a", "x/b", "x/c", "xa", "y/a"]
    for key, ids in made.items():
        for upload_id in ids:
            uploads.abort(key, upload_id)
    assert uploads.list_uploads() == ([], False)


def test_an_aborted_or_foreign_upload_is_no_such_upload(target: Target) -> None:
    uploads = target.uploads
    upload_id = uploads.create("dropped")
    send(uploads, "dropped", upload_id, 1, b"some bytes")
    other = uploads.create("elsewhere")
    # Another key's upload id is no upload of this key, for every call.
    with pytest.raises(NoSuchUploadError):
        uploads.upload_part("dropped", other, 1, [b"x"], 1)
    with pytest.raises(NoSuchUploadError):
        uploads.list_parts("elsewhere", upload_id)
    with pytest.raises(NoSuchUploadError):
        uploads.complete("elsewhere", upload_id, [(1, md5(b"some bytes"))])
    with pytest.raises(NoSuchUploadError):
        uploads.abort("elsewhere", upload_id)

    uploads.abort("dropped", upload_id)
    target.store.put("a-source", b"copied from")

    with pytest.raises(NoSuchUploadError) as raised:
        uploads.upload_part("dropped", upload_id, 2, chunks_of(b"more"), 4)
    assert raised.value.upload_id == upload_id
    assert isinstance(raised.value, NotFoundError)
    for call in (
        lambda: uploads.list_parts("dropped", upload_id),
        lambda: uploads.complete("dropped", upload_id, [(1, md5(b"some bytes"))]),
        lambda: uploads.copy_part("dropped", upload_id, 1, "a-source", None, None),
    ):
        with pytest.raises(NoSuchUploadError):
            call()
    with pytest.raises(NotFoundError):
        target.store.head("dropped")
    assert [upload.key for upload in uploads.list_uploads()[0]] == ["elsewhere"]
    uploads.abort("elsewhere", other)


def test_failed_completions_keep_the_old_object_and_the_upload(target: Target) -> None:
    uploads, store = target.uploads, target.store
    store.put("kept.bin", b"the old object")
    upload_id, data, listed = three_parts(uploads, "kept.bin")
    wrong = [listed[0], (2, '"0123456789abcdef0123456789abcdef"'), listed[2]]
    unordered = [listed[1], listed[0], listed[2]]
    repeated = [listed[0], listed[0], listed[2]]
    missing = [listed[0], listed[1], (7, listed[2][1])]

    failures: list[tuple[list[tuple[int, str]], type[StoreError], int | None]] = [
        (wrong, InvalidPartError, 2),
        (unordered, InvalidPartOrderError, 1),
        (repeated, InvalidPartOrderError, 1),
        (missing, InvalidPartError, 7),
    ]
    for parts, kind, number in failures:
        with pytest.raises(kind) as raised:
            uploads.complete("kept.bin", upload_id, parts)
        message = str(raised.value)
        assert "kept.bin" in message and upload_id in message, message
        assert getattr(raised.value, "part_number", None) == number
        assert f"part {number}" in message, message
        assert store.get("kept.bin") == b"the old object"
    with pytest.raises(InvalidArgumentError, match="1 to 10000"):
        uploads.complete("kept.bin", upload_id, [(0, listed[0][1])])
    with pytest.raises(InvalidArgumentError):
        uploads.complete("kept.bin", upload_id, [])

    uploads.complete("kept.bin", upload_id, listed)
    assert store.get("kept.bin") == b"".join(data)


def test_a_small_part_before_the_last_is_entity_too_small(target: Target) -> None:
    uploads, store = target.uploads, target.store
    store.put("small.bin", b"before")
    upload_id = uploads.create("small.bin")
    listed = [
        (1, send(uploads, "small.bin", upload_id, 1, os.urandom(MiB))),
        (2, send(uploads, "small.bin", upload_id, 2, b"end")),
    ]
    with pytest.raises(EntityTooSmallError) as raised:
        uploads.complete("small.bin", upload_id, listed)
    assert raised.value.part_number == 1
    assert "part 1" in str(raised.value) and upload_id in str(raised.value)
    assert store.get("small.bin") == b"before"
    # The upload is still there: the last part alone may be small.
    assert [part.number for part in uploads.list_parts("small.bin", upload_id)[0]] == [1, 2]
    uploads.abort("small.bin", upload_id)
    assert store.get("small.bin") == b"before"
    assert uploads.list_uploads() == ([], False)


def test_copy_part_with_a_range_and_whole(target: Target) -> None:
    uploads, store = target.uploads, target.store
    source = os.urandom(6 * MiB + 5)
    store.put("source.bin", source)
    store.put("small.bin", b"a small whole object")
    upload_id = uploads.create("copied.bin")

    first = uploads.copy_part("copied.bin", upload_id, 1, "source.bin", MiB, 6 * MiB)
    whole = uploads.copy_part("copied.bin", upload_id, 2, "small.bin", None, None)
    tail = uploads.copy_part("copied.bin", upload_id, 3, "source.bin", 6 * MiB, None)
    assert [(part.number, part.size) for part in (first, whole, tail)] == [(1, PART), (2, 20), (3, 5)]
    listed, _ = uploads.list_parts("copied.bin", upload_id)
    assert [(part.number, part.size, part.etag) for part in listed] == [
        (part.number, part.size, part.etag) for part in (first, whole, tail)
    ]
    assert whole.etag == md5(b"a small whole object")
    if target.kind == "local":
        # S3's ETag of a copied part is its MD5; SeaweedFS's of a range of a source is not (of a
        # multipart source's it ends in "-<count>"), and its completion takes it all the same.
        assert first.etag == md5(source[MiB : 6 * MiB])
        assert tail.etag == md5(source[6 * MiB :])
    with pytest.raises(InvalidArgumentError):
        uploads.copy_part("copied.bin", upload_id, 4, "source.bin", 0, 7 * MiB)
    with pytest.raises(NotFoundError):
        uploads.copy_part("copied.bin", upload_id, 4, "no-such-source", None, None)

    # Part 2 is under 5 MiB: completed without it.
    uploads.complete("copied.bin", upload_id, [(1, first.etag), (3, tail.etag)])
    assert store.get("copied.bin") == source[MiB : 6 * MiB] + source[6 * MiB :]


def test_part_numbers_and_lengths_are_checked(target: Target) -> None:
    uploads = target.uploads
    upload_id = uploads.create("checked")
    for number in (0, 10_001, -1):
        with pytest.raises(InvalidArgumentError, match="1 to 10000") as raised:
            uploads.upload_part("checked", upload_id, number, [b"x"], 1)
        assert isinstance(raised.value, ValueError)
    with pytest.raises(InvalidArgumentError, match="ended after 3 of the 5 bytes"):
        uploads.upload_part("checked", upload_id, 1, [b"abc"], 5)
    with pytest.raises(InvalidArgumentError, match="more than the 2 bytes"):
        uploads.upload_part("checked", upload_id, 1, [b"ab", b"c"], 2)

    def failing() -> Iterator[bytes]:
        yield b"x" * MiB
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError, match="the client went away"):
        uploads.upload_part("checked", upload_id, 1, failing(), 2 * MiB)
    assert uploads.list_parts("checked", upload_id) == ([], False)
    empty = uploads.upload_part("checked", upload_id, 1, iter(()), 0)
    assert (empty.size, empty.etag) == (0, md5(b""))
    uploads.abort("checked", upload_id)


def test_a_64_mib_part_is_streamed_a_chunk_at_a_time(target: Target) -> None:
    uploads = target.uploads
    upload_id = uploads.create("streamed.bin")
    digest = hashlib.md5()

    def generated() -> Iterator[bytes]:
        for _ in range(64):
            chunk = os.urandom(MiB)  # a new object each time: one held back would show in the peak
            digest.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        part = uploads.upload_part("streamed.bin", upload_id, 1, generated(), 64 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert part.size == 64 * MiB and part.etag == f'"{digest.hexdigest()}"'
    assert peak < 6 * MiB, f"peak {peak / MiB:.1f} MiB for a part of 64 MiB in chunks of 1 MiB"
    uploads.abort("streamed.bin", upload_id)


# -- the local backend's own ------------------------------------------------------------------


def test_the_staging_directory_is_never_listed_nor_addressable(
    local: LocalStore, tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    uploads = local.multipart_uploads()
    local.put("visible.txt", b"a file")
    local.put("dir/inner.txt", b"in a directory")
    upload_id = uploads.create("dir/pending.bin")
    send(uploads, "dir/pending.bin", upload_id, 1, b"staged bytes")
    staging = local.root / STAGING_DIR
    assert (staging / upload_id).is_dir()

    assert [info.key for info in local.list()] == ["dir/inner.txt", "visible.txt"]
    top = local.list_dir("")
    assert [info.key for info in top.objects] == ["visible.txt"] and top.prefixes == ["dir/"]
    pages = list(local.list_pages("", delimiter="/", page_size=1))
    assert [key for page in pages for key in [*page.prefixes, *(o.key for o in page.objects)]] == [
        "dir/",
        "visible.txt",
    ]
    assert list(local.list(STAGING_DIR)) == []
    assert local.list_dir(f"{STAGING_DIR}/").objects == []
    for key in (
        STAGING_DIR,
        f"{STAGING_DIR}/",
        f"{STAGING_DIR}/{upload_id}/manifest.json",
        f"/{STAGING_DIR}/x",
    ):
        with pytest.raises(StoreError, match="reserved"):
            local.head(key)
        with pytest.raises(StoreError, match="reserved"):
            local.put(key, b"planted")
        with pytest.raises(StoreError, match="reserved"):
            local.delete(key)
        with pytest.raises(StoreError, match="reserved"):
            uploads.create(key)
    # Removing every listed object and directory leaves the upload as it was.
    local.delete_many(info.key for info in local.list())
    local.delete("dir/")
    assert list(local.list()) == []
    assert [part.number for part in uploads.list_parts("dir/pending.bin", upload_id)[0]] == [1]

    # The namespace over the same directory: ls, a recursive ls and du see nothing of it.
    local.put("seen.txt", b"seen")
    config = write_config(tmp_path / "server.yaml", stack, bucket, f"sqlite:///{tmp_path / 'm.db'}")
    server = load_server_config(config)
    table = MountTable(server, open_metadata(server.metadata_url))
    try:
        table.sync_root()
        table.add("/local", f"file://{local.root}")
        fs = FileSystem(table)
        assert [entry.path for entry in fs.ls("/local")] == ["/local/seen.txt"]
        assert [entry.path for entry in fs.ls("/local", recursive=True)] == ["/local/seen.txt"]
        assert fs.du("/local") == (4, 1)
    finally:
        table.close()
    uploads.complete("dir/pending.bin", upload_id, [(1, md5(b"staged bytes"))])
    assert local.get("dir/pending.bin") == b"staged bytes"
    assert os.listdir(staging) == []


MALICIOUS_IDS = [
    "../../etc",
    "../victim",
    f"0000000000000000{'A' * 23}/",
    "0000000000000000../../../../victim",
    "/etc/passwd",
    "",
    "." * 40,
]


def test_a_malicious_upload_id_touches_no_file(local: LocalStore, tmp_path: Path) -> None:
    uploads = local.multipart_uploads()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "manifest.json").write_text('{"key": "k"}')
    real = uploads.create("k")
    touched: list[tuple[str, tuple[object, ...]]] = []
    watching = True

    def audit(event: str, args: tuple[object, ...]) -> None:
        # Every file-system event while a malicious id is used (an audit hook cannot be removed:
        # it stops listening when the test ends).
        if watching and event.startswith(("open", "os.", "shutil.")):
            touched.append((event, args))

    sys.addaudithook(audit)
    # The hook sees a real upload's files being read: an empty list below means something.
    uploads.list_parts("k", real)
    assert touched
    touched.clear()
    try:
        for bad in MALICIOUS_IDS:
            for call in (
                lambda bad=bad: uploads.upload_part("k", bad, 1, [b"x"], 1),
                lambda bad=bad: uploads.list_parts("k", bad),
                lambda bad=bad: uploads.complete("k", bad, [(1, md5(b"x"))]),
                lambda bad=bad: uploads.abort("k", bad),
                lambda bad=bad: uploads.copy_part("k", bad, 1, "k", None, None),
            ):
                with pytest.raises(NoSuchUploadError):
                    call()
    finally:
        watching = False
    assert touched == []
    assert (victim / "manifest.json").exists()
    assert [upload.upload_id for upload in uploads.list_uploads()[0]] == [real]


def test_local_upload_ids_are_url_safe_and_concurrent_uploads_of_a_key_coexist(local: LocalStore) -> None:
    uploads = local.multipart_uploads()
    first, second = uploads.create("same"), uploads.create("same")
    assert first != second
    for upload_id in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{40}", upload_id)
    send(uploads, "same", first, 1, b"one")
    send(uploads, "same", second, 1, b"two")
    uploads.complete("same", second, [(1, md5(b"two"))])
    assert local.get("same") == b"two"
    uploads.complete("same", first, [(1, md5(b"one"))])
    assert local.get("same") == b"one"


def test_the_local_minimum_part_size_is_s3s(local: LocalStore) -> None:
    uploads = LocalMultipartUploads(local, min_part_size=10)
    upload_id = uploads.create("tiny")
    listed = [
        (1, send(uploads, "tiny", upload_id, 1, b"0123456789")),
        (2, send(uploads, "tiny", upload_id, 2, b"!")),
    ]
    assert uploads.complete("tiny", upload_id, listed).etag == multipart_etag(
        hashlib.md5(part).digest() for part in (b"0123456789", b"!")
    )
    assert local.get("tiny") == b"0123456789!"


def test_a_failed_assembly_leaves_no_object_and_no_directory(local: LocalStore) -> None:
    uploads = local.multipart_uploads()
    upload_id = uploads.create("deep/new/dir/object.bin")
    etag = send(uploads, "deep/new/dir/object.bin", upload_id, 1, b"bytes")
    # A directory where the object would go: the rename into place fails.
    (local.root / "deep/new/dir/object.bin").mkdir(parents=True)
    with pytest.raises(StoreError):
        uploads.complete("deep/new/dir/object.bin", upload_id, [(1, etag)])
    assert [entry.name for entry in (local.root / "deep/new/dir").iterdir()] == ["object.bin"]
    (local.root / "deep/new/dir/object.bin").rmdir()
    uploads.complete("deep/new/dir/object.bin", upload_id, [(1, etag)])
    assert local.get("deep/new/dir/object.bin") == b"bytes"


def test_clean_up_removes_only_old_staged_uploads(local: LocalStore) -> None:
    uploads = local.multipart_uploads()
    assert isinstance(uploads, LocalMultipartUploads)
    old = uploads.create("old")
    time.sleep(1.1)
    young = uploads.create("young")
    removed = uploads.clean_up(timedelta(seconds=1))
    assert [(upload.key, upload.upload_id) for upload in removed] == [("old", old)]
    assert [upload.upload_id for upload in uploads.list_uploads()[0]] == [young]


# -- the server's start-up clean-up ---------------------------------------------------------------


def test_the_start_up_clean_up_leaves_a_fresh_gateway_upload(
    tmp_path: Path, stack: StackInfo, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both kinds of mount with the age clean-up on: an upload older than the age goes, a
    gateway's upload in progress stays (and is not in the journal the clean-up also empties)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = write_config(tmp_path / "server.yaml", stack, bucket, f"sqlite:///{tmp_path / 'm.db'}")
    config.write_text(config.read_text() + "s3.multipart.purge: true\ns3.multipart.purge.age: 2s\n")
    server = load_server_config(config)
    table = MountTable(server, open_metadata(server.metadata_url))
    try:
        root = table.sync_root()
        cleaned = {
            "alluxio.underfs.cleanup.enabled": "true",
            "alluxio.underfs.s3.intermediate.upload.clean.age": "2s",
        }
        mount = table.add("/local", f"file://{tmp_path / 'local'}", cleaned)
        s3_uploads = table.store_for(root).multipart_uploads()
        local_uploads = table.store_for(mount).multipart_uploads()
        old_s3, old_local = s3_uploads.create("old.bin"), local_uploads.create("old.bin")
        time.sleep(3)
        fresh_s3, fresh_local = s3_uploads.create("fresh.bin"), local_uploads.create("fresh.bin")
        part = os.urandom(1000)
        s3_etag = send(s3_uploads, "fresh.bin", fresh_s3, 1, part)
        local_etag = send(local_uploads, "fresh.bin", fresh_local, 1, part)
        backend = table.store_for(root)
        inner = backend.inner if isinstance(backend, LoggingLayer) else backend
        assert isinstance(inner, S3Store) and inner.journal.entries() == []

        clean_up_stores(table)

        assert [(u.key, u.upload_id) for u in s3_uploads.list_uploads()[0]] == [("fresh.bin", fresh_s3)]
        assert [(u.key, u.upload_id) for u in local_uploads.list_uploads()[0]] == [("fresh.bin", fresh_local)]
        assert old_s3 and old_local
        s3_uploads.complete("fresh.bin", fresh_s3, [(1, s3_etag)])
        local_uploads.complete("fresh.bin", fresh_local, [(1, local_etag)])
        assert table.store_for(root).get("fresh.bin") == part
        assert table.store_for(mount).get("fresh.bin") == part
    finally:
        table.close()


def test_racing_completions_and_aborts_of_one_upload_end_it_once(local: LocalStore) -> None:
    """The manifest's flock: of two completions, or a completion and an abort, one wins and the
    other finds no upload; the object is whole either way."""
    from concurrent.futures import ThreadPoolExecutor

    uploads = local.multipart_uploads()
    for second in ("complete", "abort"):
        upload_id = uploads.create("raced.bin")
        data = os.urandom(3 * MiB)
        etag = send(uploads, "raced.bin", upload_id, 1, data)

        def complete(upload_id: str = upload_id, etag: str = etag) -> str:
            return str(uploads.complete("raced.bin", upload_id, [(1, etag)]).etag)

        def abort(upload_id: str = upload_id) -> str:
            uploads.abort("raced.bin", upload_id)
            return "aborted"

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(complete), pool.submit(complete if second == "complete" else abort)]
            outcomes = [future.exception() or future.result() for future in futures]
        assert sum(isinstance(outcome, NoSuchUploadError) for outcome in outcomes) == 1, outcomes
        assert uploads.list_uploads() == ([], False)
        if any(isinstance(outcome, str) and outcome.endswith('-1"') for outcome in outcomes):
            assert local.get("raced.bin") == data
