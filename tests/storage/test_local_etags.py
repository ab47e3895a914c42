"""ETags of a local directory: the MD5 recorded at write while the file is as written, a
synthetic one once it was changed behind tierstore's back; the same from head, listing, open_read."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import pytest

from tierstore.errors import ConflictError
from tierstore.storage.interface import ObjectAttributes
from tierstore.storage.local import LocalStore


def _md5(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def _everywhere(store: LocalStore, key: str) -> set[str | None]:
    """The key's ETag as head, both listings and open_read give it."""
    by_level = {
        info.key: info.etag
        for page in store.list_pages("", delimiter="/", etags=True)
        for info in page.objects
    }
    by_walk = {info.key: info.etag for page in store.list_pages("", etags=True) for info in page.objects}
    with store.open_read(key) as opened:
        read = opened.info.etag
    return {store.head(key).etag, by_level[key], by_walk[key], read}


def _after_a_tick() -> None:
    # A change within the file system's timestamp tick of the write keeps the mtime (see
    # local_attrs): these tests change files later, as another program would.
    time.sleep(0.05)


def test_the_recorded_md5_is_the_etag_everywhere(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    written = store.put("a.txt", b"hello")
    assert written.etag == _md5(b"hello") and written.etag_kept
    assert _everywhere(store, "a.txt") == {_md5(b"hello")}
    with store.open_write("b.bin") as writer:
        writer.write(b"one ")
        writer.write(b"two")
    assert _everywhere(store, "b.bin") == {_md5(b"one two")}


def test_listings_give_etags_only_when_asked(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a.txt", b"hello")
    assert [info.etag for info in store.list_dir("").objects] == [None]
    assert [info.etag for info in store.list("")] == [None]


@pytest.mark.parametrize("same_size", [True, False])
def test_a_change_behind_our_back_changes_the_etag(tmp_path: Path, same_size: bool) -> None:
    store = LocalStore(tmp_path)
    store.put("a.txt", b"hello", attributes=ObjectAttributes("text/plain"))
    _after_a_tick()
    (tmp_path / "a.txt").write_bytes(b"HELLO" if same_size else b"hello, world")
    changed = _everywhere(store, "a.txt")
    assert len(changed) == 1
    etag = changed.pop()
    assert etag is not None and etag != _md5(b"hello")
    assert etag.startswith('"') and etag.endswith('-L"') and len(etag) == 20
    assert store.head("a.txt").etag == etag  # stable while the file stays as it is
    with store.open_read("a.txt", if_match=etag) as opened:
        assert b"".join(opened.chunks) == (b"HELLO" if same_size else b"hello, world")
    with pytest.raises(ConflictError, match=r"a\.txt"):
        store.open_read("a.txt", if_match=_md5(b"hello"))
    _after_a_tick()
    (tmp_path / "a.txt").write_bytes(b"again")
    assert store.head("a.txt").etag not in (etag, _md5(b"hello"), _md5(b"again"))
    # Written by tierstore again: the recorded MD5 is back.
    store.put("a.txt", b"again")
    assert _everywhere(store, "a.txt") == {_md5(b"again")}


def test_a_file_put_there_by_another_program_has_a_synthetic_etag(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "foreign.txt").write_bytes(b"not ours")
    (etag,) = _everywhere(store, "foreign.txt")
    assert etag is not None and etag.endswith('-L"')
    assert store.head("foreign.txt").content_type is None


def test_a_copy_records_the_md5_of_what_it_wrote(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "foreign.txt").write_bytes(b"not ours")
    store.copy("foreign.txt", "copied.txt")
    assert store.head("copied.txt").etag == _md5(b"not ours")


def test_without_extended_attributes_writes_work_and_drop_them(
    no_xattrs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = no_xattrs / "probe"
    probe.write_bytes(b"")
    with pytest.raises(OSError):
        os.setxattr(probe, "user.test", b"1")
    probe.unlink()
    store = LocalStore(no_xattrs / "store")
    caplog.set_level(logging.DEBUG, logger="tierstore.storage.local_attrs")
    result = store.put("a.txt", b"hello", attributes=ObjectAttributes("text/plain", {"k": "v"}))
    assert result.etag == _md5(b"hello")  # the write's own answer still has the MD5 it computed
    assert not result.etag_kept  # but says that head will not answer it
    dropped = [record for record in caplog.records if "no extended attributes" in record.getMessage()]
    assert len(dropped) == 1
    assert "a.txt" in dropped[0].getMessage()
    info = store.head("a.txt")
    assert (info.size, info.content_type, dict(info.metadata)) == (5, None, {})
    assert info.etag is not None and info.etag.endswith('-L"')
    assert _everywhere(store, "a.txt") == {info.etag}
    store.copy("a.txt", "b.txt")
    assert store.get("b.txt") == b"hello"
