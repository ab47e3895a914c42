"""Python's S3 clients through the gateway, on a bucket of the S3 root mount (SeaweedFS) and on a
bucket that is a local mount: s3fs (fsspec, over aiobotocore) and obstore (Rust's object_store).

Refusals are in test_clients_denied.py."""

from __future__ import annotations

import hashlib
import io
import secrets
from pathlib import Path

import obstore
import pytest

from tests.server.s3.conftest import ToolGateway
from tests.server.s3.tool_clients import obstore_of, s3fs_of

MIB = 1024 * 1024


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def test_s3fs_puts_lists_reads_finds_and_removes(
    tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path
) -> None:
    fs = s3fs_of(tool_gateway)
    source = tmp_path / "tree"
    (source / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.txt": b"beta" * 1000, "sub/deeper/c.bin": secrets.token_bytes(70_000)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    fs.put(str(source) + "/", f"{tool_bucket}/tree", recursive=True)
    assert sorted(fs.find(f"{tool_bucket}/tree")) == sorted(f"{tool_bucket}/tree/{name}" for name in files)
    listed = {entry["name"]: entry for entry in fs.ls(f"{tool_bucket}/tree", detail=True)}
    assert sorted(listed) == [f"{tool_bucket}/tree/a.txt", f"{tool_bucket}/tree/sub"]
    assert listed[f"{tool_bucket}/tree/a.txt"]["size"] == 5
    assert listed[f"{tool_bucket}/tree/sub"]["type"] == "directory"
    assert fs.cat(f"{tool_bucket}/tree/sub/b.txt") == files["sub/b.txt"]
    assert (
        fs.cat_file(f"{tool_bucket}/tree/sub/deeper/c.bin", start=10, end=20)
        == files["sub/deeper/c.bin"][10:20]
    )
    info = fs.info(f"{tool_bucket}/tree/sub/deeper/c.bin")
    assert (info["size"], info["ETag"]) == (70_000, md5_etag(files["sub/deeper/c.bin"]))
    assert fs.isdir(f"{tool_bucket}/tree/sub") and not fs.exists(f"{tool_bucket}/tree/nothing")
    # A file written through s3fs's buffered writer in 5 MiB blocks: a multipart upload.
    data = secrets.token_bytes(12 * MIB)
    with fs.open(f"{tool_bucket}/written.bin", "wb", block_size=5 * MIB) as handle:
        for start in range(0, len(data), MIB):
            handle.write(data[start : start + MIB])
    assert fs.info(f"{tool_bucket}/written.bin")["ETag"].endswith('-3"')
    assert fs.cat(f"{tool_bucket}/written.bin") == data
    fs.get(f"{tool_bucket}/tree/", str(tmp_path / "back"), recursive=True)
    assert {name: (tmp_path / "back" / name).read_bytes() for name in files} == files
    fs.rm(f"{tool_bucket}/tree", recursive=True)
    assert fs.find(f"{tool_bucket}/") == [f"{tool_bucket}/written.bin"]
    fs.rm(f"{tool_bucket}/written.bin")
    assert fs.ls(tool_bucket) == []
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{tool_bucket}/written.bin")


def test_obstore_puts_gets_lists_and_deletes(tool_gateway: ToolGateway, tool_bucket: str) -> None:
    store = obstore_of(tool_gateway, tool_bucket)
    small = {"one.txt": b"1", "dir/two.txt": b"22", "dir/sub/three.txt": b"333", "dir-x": b"x"}
    for key, data in small.items():
        result = obstore.put(store, key, data)
        assert result["e_tag"] == md5_etag(data)
    assert bytes(obstore.get(store, "dir/two.txt").bytes()) == b"22"
    ranged = obstore.get(store, "dir/sub/three.txt", options={"range": (1, 3)})
    assert bytes(ranged.bytes()) == b"33"
    head = obstore.head(store, "one.txt")
    assert (head["size"], head["e_tag"]) == (1, md5_etag(b"1"))
    everything = [meta for page in obstore.list(store) for meta in page]
    assert sorted(meta["path"] for meta in everything) == sorted(small)
    assert {meta["path"]: meta["size"] for meta in everything} == {key: len(v) for key, v in small.items()}
    levels = obstore.list_with_delimiter(store, "dir")
    assert levels["common_prefixes"] == ["dir/sub"]
    assert [meta["path"] for meta in levels["objects"]] == ["dir/two.txt"]
    # A multipart put of 12 MiB in 5 MiB parts, sent two at a time.
    data = secrets.token_bytes(12 * MIB)
    obstore.put(store, "big/parts.bin", io.BytesIO(data), chunk_size=5 * MIB, max_concurrency=2)
    big = obstore.head(store, "big/parts.bin")
    assert big["size"] == len(data) and str(big["e_tag"]).endswith('-3"')
    assert bytes(obstore.get(store, "big/parts.bin").bytes()) == data
    # A copy on the gateway; a create-only put is If-None-Match: *.
    obstore.copy(store, "one.txt", "copied.txt")
    assert bytes(obstore.get(store, "copied.txt").bytes()) == b"1"
    with pytest.raises(obstore.exceptions.AlreadyExistsError):
        obstore.put(store, "copied.txt", b"again", mode="create")
    # An update only over the version it was given (If-Match): a stale one is refused.
    seen = obstore.head(store, "copied.txt")["e_tag"]
    obstore.put(store, "copied.txt", b"updated", mode={"e_tag": seen})
    with pytest.raises(obstore.exceptions.PreconditionError):
        obstore.put(store, "copied.txt", b"stale", mode={"e_tag": seen})
    assert bytes(obstore.get(store, "copied.txt").bytes()) == b"updated"
    obstore.delete(store, [*small, "copied.txt", "big/parts.bin"])
    assert [meta for page in obstore.list(store) for meta in page] == []
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "one.txt")
