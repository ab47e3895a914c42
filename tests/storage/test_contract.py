"""The storage contract, run on the S3 backend (real SeaweedFS) and the local backend alike."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tierstore.errors import NotFoundError
from tierstore.storage.interface import Store

MiB = 1024 * 1024


def test_put_get_head_round_trip(any_store: Store) -> None:
    result = any_store.put("dir/hello.txt", b"hello world")
    assert result.key == "dir/hello.txt"
    assert any_store.get("dir/hello.txt") == b"hello world"
    info = any_store.head("dir/hello.txt")
    assert info.key == "dir/hello.txt"
    assert info.size == 11
    assert info.last_modified is not None


def test_ranged_reads(any_store: Store) -> None:
    any_store.put("digits", b"0123456789")
    assert any_store.get("digits", start=2, end=5) == b"234"
    assert any_store.get("digits", start=7) == b"789"
    assert any_store.get("digits", start=8, end=100) == b"89"
    assert any_store.get("digits", start=0, end=1) == b"0"
    assert any_store.get("digits", start=4, end=4) == b""


def test_streaming_read_in_chunks(any_store: Store) -> None:
    payload = os.urandom(3 * MiB + 17)
    any_store.put("blob", payload)
    chunks = list(any_store.iter_read("blob", chunk_size=MiB))
    assert b"".join(chunks) == payload
    assert len(chunks) >= 3


def test_whole_object_larger_than_a_part_reads_back_exactly(any_store: Store) -> None:
    payload = os.urandom(37 * MiB + 3)
    with any_store.open_write("big.bin") as writer:
        for offset in range(0, len(payload), 3 * MiB):
            writer.write(payload[offset : offset + 3 * MiB])
    assert any_store.head("big.bin").size == len(payload)
    assert any_store.get("big.bin") == payload


def test_streaming_write_from_file_and_iterable(any_store: Store, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    payload = os.urandom(6 * MiB)
    source.write_bytes(payload)
    any_store.upload("from-path", source)
    with source.open("rb") as handle:
        any_store.upload("from-file", handle)
    any_store.upload("from-iter", (payload[i : i + MiB] for i in range(0, len(payload), MiB)))
    for key in ("from-path", "from-file", "from-iter"):
        assert any_store.get(key) == payload


def test_small_streaming_write_is_one_object(any_store: Store) -> None:
    with any_store.open_write("small") as writer:
        writer.write(b"abc")
        writer.write(b"def")
    assert any_store.get("small") == b"abcdef"


def test_failed_streaming_write_leaves_no_object(any_store: Store) -> None:
    with pytest.raises(RuntimeError), any_store.open_write("never") as writer:
        writer.write(os.urandom(11 * MiB))
        raise RuntimeError("the producer failed half-way")
    with pytest.raises(NotFoundError):
        any_store.head("never")
    assert [info.key for info in any_store.list()] == []


def test_missing_object_is_not_found_naming_the_key(any_store: Store) -> None:
    with pytest.raises(NotFoundError) as caught:
        any_store.get("no/such/key")
    assert "no/such/key" in str(caught.value)
    with pytest.raises(NotFoundError):
        any_store.head("no/such/key")


def test_list_is_recursive_sorted_and_paginated(any_store: Store) -> None:
    keys = [f"logs/{i // 50:02d}/part-{i:04d}" for i in range(230)] + ["other/x", "top"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: any_store.put(key, key.encode()), keys))
    pages = list(any_store.list_pages("logs", page_size=100))
    listed = [info.key for page in pages for info in page.objects]
    assert listed == sorted(k for k in keys if k.startswith("logs/"))
    assert len(pages) >= 3
    assert [info.key for info in any_store.list("logs/", start_after="logs/04/part-0219")] == [
        f"logs/04/part-{i:04d}" for i in range(220, 230)
    ]
    everything = [info.key for info in any_store.list()]
    assert everything == sorted(keys)


def test_list_dir_gives_one_level(any_store: Store) -> None:
    for key in ("a/1", "a/2", "a/sub/3", "a/sub2/4", "b/5"):
        any_store.put(key, b"x")
    level = any_store.list_dir("a/")
    assert [info.key for info in level.objects] == ["a/1", "a/2"]
    assert level.prefixes == ["a/sub/", "a/sub2/"]
    root = any_store.list_dir("")
    assert root.prefixes == ["a/", "b/"]


def test_delete_and_delete_many(any_store: Store) -> None:
    for key in ("d/1", "d/2", "d/3", "keep"):
        any_store.put(key, b"x")
    any_store.delete("d/1")
    any_store.delete("d/1")  # deleting a missing key is not an error, as in S3
    any_store.delete_many(["d/2", "d/3"])
    assert [info.key for info in any_store.list()] == ["keep"]


def test_copy(any_store: Store) -> None:
    any_store.put("src", b"payload")
    any_store.copy("src", "copies/dst")
    assert any_store.get("copies/dst") == b"payload"
    assert any_store.get("src") == b"payload"


def test_directory_markers_are_listed_with_their_slash(any_store: Store) -> None:
    any_store.put_directory_marker("empty")
    any_store.put_directory_marker("full/")
    any_store.put("full/file.txt", b"x")
    any_store.put("zero.txt", b"")  # a real empty file stays a file
    assert [info.key for info in any_store.list()] == ["empty/", "full/", "full/file.txt", "zero.txt"]
    root = any_store.list_dir("")
    assert root.prefixes == ["empty/", "full/"]
    assert [info.key for info in root.objects] == ["zero.txt"]
    inside = any_store.list_dir("empty/")
    assert (inside.objects, inside.prefixes) == ([], [])
    assert any_store.head("empty/").size == 0
    any_store.delete("full/file.txt")
    assert "full/" in [info.key for info in any_store.list()]  # the marker outlives its last file
    any_store.delete_many(["empty/", "full/"])
    assert [info.key for info in any_store.list()] == ["zero.txt"]


def test_many_empty_files_beside_markers_keep_their_kind(any_store: Store) -> None:
    keys = [f"e/{index:03d}" for index in range(150)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: any_store.put(key, b""), keys))
    any_store.put_directory_marker("e/050x")
    any_store.put_directory_marker("e/zz")
    listed = [info.key for page in any_store.list_pages("e", page_size=40) for info in page.objects]
    assert listed == sorted([*keys, "e/050x/", "e/zz/"])
