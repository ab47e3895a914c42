"""A local mount never reads, lists, writes or removes a file outside its root, whatever links
are planted in its backing directory (real symlinks on disk, a real server)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.security.conftest import Hostile
from tierstore.errors import StoreError
from tierstore.storage.local import LocalStore

OUTSIDE = b"outside the root\n"


@pytest.fixture
def planted(hostile: Hostile, tmp_path: Path) -> Path:
    """Links in /mnt/local's directory: to a file, a directory and another mount's directory."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_bytes(OUTSIDE)
    other = tmp_path / "other-mount"
    other.mkdir()
    (other / "theirs.txt").write_bytes(b"another mount's file\n")
    added = hostile.admin.post("/v1/mounts", json={"path": "/mnt/other", "uri": f"file://{other}"})
    assert added.status_code == 201, added.text
    root = hostile.local_dir
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "outdir").symlink_to(outside)
    (root / "othermnt").symlink_to(other)
    (root / "loop").symlink_to(".")
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    (root / "real.txt").write_bytes(b"inside\n")
    return tmp_path


def test_links_are_never_read_listed_or_written_through(hostile: Hostile, planted: Path) -> None:
    bob = hostile.bob
    passwd = Path("/etc/passwd").read_bytes()
    for path in ("/mnt/local/passwd", "/mnt/local/outdir/precious.txt", "/mnt/local/othermnt/theirs.txt"):
        answer = bob.get("/v1/data", params={"path": path})
        assert answer.status_code in (400, 404), answer.text
        assert passwd not in answer.content and OUTSIDE not in answer.content
        put = bob.put("/v1/data", params={"path": path}, content=b"overwritten")
        assert put.status_code in (400, 403, 404), put.text
    assert (planted / "elsewhere" / "precious.txt").read_bytes() == OUTSIDE
    assert (planted / "other-mount" / "theirs.txt").read_bytes() == b"another mount's file\n"
    assert Path("/etc/passwd").read_bytes() == passwd
    new = bob.put("/v1/data", params={"path": "/mnt/local/outdir/new.txt"}, content=b"x")
    assert new.status_code in (400, 403), new.text
    assert not (planted / "elsewhere" / "new.txt").exists()
    listed = bob.get("/v1/fs/ls", params={"path": "/mnt/local"})
    assert [e["path"] for e in listed.json()["entries"]] == ["/mnt/local/real.txt"]


def test_a_link_loop_under_a_recursive_listing_answers_at_once(hostile: Hostile, planted: Path) -> None:
    started = time.monotonic()
    answer = hostile.admin.get("/v1/fs/ls", params={"path": "/mnt/local", "recursive": "true"})
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < 2
    assert [e["path"] for e in answer.json()["entries"]] == ["/mnt/local/real.txt"]
    du = hostile.admin.get("/v1/fs/ls", params={"path": "/mnt/local/loop", "recursive": "true"})
    assert du.status_code in (400, 404), du.text


def test_rm_r_never_follows_a_link(hostile: Hostile, planted: Path) -> None:
    hostile.admin.post("/v1/fs/mkdir", json={"path": "/mnt/local/dir"})
    (hostile.local_dir / "dir" / "out").symlink_to(planted / "elsewhere")
    removed = hostile.admin.post("/v1/fs/rm", json={"path": "/mnt/local/dir", "recursive": True})
    assert removed.status_code == 200, removed.text
    assert (planted / "elsewhere" / "precious.txt").read_bytes() == OUTSIDE
    moved = hostile.admin.post("/v1/fs/mv", json={"source": "/mnt/local/outdir", "dest": "/mnt/local/in"})
    assert moved.status_code in (400, 404), moved.text
    assert (planted / "elsewhere" / "precious.txt").read_bytes() == OUTSIDE


def test_a_link_swapped_in_after_the_store_opened_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(OUTSIDE)
    store = LocalStore(root)
    store.put("d/x", b"inside")
    (root / "d" / "x").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to(outside)
    for call in (lambda: store.get("d/x"), lambda: store.head("d/x"), lambda: store.put("d/x", b"w")):
        with pytest.raises(StoreError):
            call()
    assert (outside / "x").read_bytes() == OUTSIDE
    (root / "f").symlink_to(outside / "x")
    with pytest.raises(StoreError):
        store.get("f")
    assert [info.key for info in store.list("")] == []
