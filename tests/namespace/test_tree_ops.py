"""Tree operations many files at once (``cp -r``, ``mv``, ``rm -r``, ``du``), against SeaweedFS
and a local mount: what they copy, count and remove, and how a failing file is reported."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.namespace.test_filesystem import user_options, write_config
from tests.namespace.test_fs_cli import tierstore
from tierstore.errors import AccessDeniedError, ConfigError, StoreError
from tierstore.local.info import StackInfo
from tierstore.namespace.batch import TreeFailedError
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
ALICE = Caller(user="alice")


@pytest.fixture
def config(tmp_path: Path, stack: StackInfo, bucket: str, sqlite_url: str) -> Path:
    return write_config(tmp_path / "server.yaml", stack, bucket, sqlite_url)


@pytest.fixture
def table(config: Path, tmp_path: Path) -> Iterator[MountTable]:
    """The S3 root mount (``bucket``/root) and a local mount at ``/local`` (``tmp_path``/local)."""
    server = load_server_config(config)
    table = MountTable(server, open_metadata(server.metadata_url))
    table.sync_root()
    table.add("/local", f"file://{tmp_path / 'local'}")
    yield table
    table.close()


def make_tree(root: Path, count: int) -> dict[str, bytes]:
    """``count`` files in nested directories on disk, of varied sizes (an empty one, and one
    large enough to be streamed in chunks); returns them by path relative to ``root``."""
    files: dict[str, bytes] = {}
    for number in range(count):
        relative = f"d{number % 7}/e{number % 3}/f{number:04d}.bin"
        files[relative] = os.urandom((number * 37) % 5000)
    files["big/stream.bin"] = os.urandom(3 * MiB + 11)
    files["top.txt"] = b"at the top"
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def tree_of(fs: FileSystem, top: str) -> dict[str, bytes]:
    """Every file below ``top`` as ``ls -R`` shows it, read back through the namespace."""
    return {
        entry.path[len(top) + 1 :]: b"".join(fs.read(entry.path))
        for entry in fs.ls(top, recursive=True, sync=True)
        if not entry.is_dir
    }


def test_cp_r_with_one_unreadable_file_copies_the_rest_names_it_and_exits_non_zero(
    table: MountTable, config: Path, tmp_path: Path
) -> None:
    fs = FileSystem(table)
    for number in range(20):
        fs.write(f"/src/{'ab'[number % 2]}/f{number:02d}.txt", [f"file {number}".encode()])
    fs.write("/src/b/secret.txt", [b"for bob only"])
    fs.chmod("/", "o+x")
    fs.chown("/src", "alice")
    fs.chown("/src/b/secret.txt", "bob")
    fs.chmod("/src/b/secret.txt", "0600")
    fs.chown("/local", "alice")

    result = tierstore(config, "fs", "cp", "--user", "alice", "-r", "--json", "/src", "/local/out")
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["files"] == 20
    assert [failure["path"] for failure in answer["failed"]] == ["/src/b/secret.txt"]
    assert "permission denied for user alice" in answer["failed"][0]["reason"]
    assert "/src/b/secret.txt" in result.stderr
    assert "cp -r /src /local/out: 20 done, 1 failed" in result.stderr
    copied = sorted(path.name for path in (tmp_path / "local" / "out").rglob("*") if path.is_file())
    assert copied == [f"f{number:02d}.txt" for number in range(20)]
    assert (tmp_path / "local/out/a/f04.txt").read_bytes() == b"file 4"
    # What alice created is hers, with the umask's mode.
    status = fs.stat("/local/out/b/f05.txt", sync=True)
    assert (status.owner, status.mode) == ("alice", 0o644)

    text = tierstore(config, "fs", "cp", "--user", "alice", "-r", "/src", "/local/again")
    assert text.returncode == 1
    assert text.stdout.strip().endswith("bytes copied (20 files)")
    assert "tierstore: /src/b/secret.txt: read /src/b/secret.txt: permission denied" in text.stderr
    assert "Traceback" not in text.stderr


def test_concurrent_copies_s3_and_local_give_identical_trees(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], tmp_path: Path
) -> None:
    table.add("/other", f"s3://{make_bucket()}/copies", user_options(stack, "admin"))
    fs = FileSystem(table)
    original = make_tree(tmp_path / "local" / "orig", 300)
    size = sum(len(data) for data in original.values())

    assert fs.copy("/local/orig", "/t1", recursive=True, concurrency=16) == size  # local -> S3
    assert fs.copy("/t1", "/local/t2", recursive=True, concurrency=16) == size  # S3 -> local
    assert fs.copy("/t1", "/other/t3", recursive=True, concurrency=16) == size  # S3 -> S3, two buckets
    assert fs.copy("/t1", "/t4", recursive=True, concurrency=16) == size  # one mount: server-side

    for top in ("/t1", "/local/t2", "/other/t3", "/t4"):
        assert tree_of(fs, top) == original, top
    on_disk = tmp_path / "local" / "t2"
    assert {
        str(path.relative_to(on_disk)): path.read_bytes() for path in on_disk.rglob("*") if path.is_file()
    } == original


def test_a_failed_file_stops_no_other_and_mv_then_keeps_its_source(table: MountTable, tmp_path: Path) -> None:
    fs = FileSystem(table)
    for number in range(10):
        fs.write(f"/mv/f{number}.txt", [b"x" * number])
    # A directory where one file would go: the local store cannot replace it with the file.
    (tmp_path / "local" / "dest" / "f3.txt").mkdir(parents=True)

    with pytest.raises(TreeFailedError) as caught:
        fs.move("/mv", "/local/dest", concurrency=4)
    report = caught.value.report
    assert [failure.path for failure in report.failures] == ["/mv/f3.txt"]
    assert "f3.txt failed: Is a directory" in report.failures[0].reason
    assert (report.files, report.size) == (9, 45 - 3)
    assert "1 failed: /mv/f3.txt" in str(caught.value)
    # Nothing of the source was removed, and the copies of the others are there.
    assert sorted(entry.name for entry in fs.ls("/mv", sync=True)) == [f"f{n}.txt" for n in range(10)]
    assert len([path for path in (tmp_path / "local" / "dest").iterdir() if path.is_file()]) == 9
    assert not [path for path in (tmp_path / "local" / "dest").rglob(".tierstore-tmp-*")]


def test_cp_r_into_a_read_only_mount_is_one_refusal_not_one_per_file(
    table: MountTable, tmp_path: Path
) -> None:
    table.add("/ro", f"file://{tmp_path / 'ro'}", readonly=True)
    fs = FileSystem(table)
    for number in range(5):
        fs.write(f"/few/f{number}.txt", [b"x"])
    with pytest.raises(AccessDeniedError, match=r"write /ro/copy: the mount /ro .* is read-only"):
        fs.copy("/few", "/ro/copy", recursive=True)
    assert not list((tmp_path / "ro").iterdir())


def test_rm_r_of_thousands_of_keys_removes_them_all(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    fs = FileSystem(table)
    store = table.store_for(table.resolve("/")[0])
    keys = [f"big/d{number % 13}/k{number:05d}" for number in range(3000)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"k"), keys))
    fs.mkdir("/big/empty", parents=True)
    fs.write("/kept.txt", [b"not below /big"])

    assert fs.remove("/big", recursive=True, concurrency=8) == 3000 + 1 + 1  # the markers too
    left = admin_s3.list_objects_v2(Bucket=bucket, Prefix="root/big")
    assert left.get("KeyCount") == 0, left.get("Contents", [])[:5]
    # No folder is left behind either (SeaweedFS lists an emptied one as a directory).
    folders = admin_s3.list_objects_v2(Bucket=bucket, Prefix="root/", Delimiter="/")
    assert [entry["Prefix"] for entry in folders.get("CommonPrefixes", [])] == []
    assert sorted(entry.path for entry in fs.ls("/", sync=True)) == ["/kept.txt", "/local"]


def _sequential_du(fs: FileSystem, top: str) -> tuple[int, int]:
    """What du counted before it was concurrent: ``ls -R``, directory by directory."""
    files = [entry for entry in fs.ls(top, recursive=True, sync=True) if not entry.is_dir]
    return sum(entry.size for entry in files), len(files)


def test_du_agrees_with_a_sequential_count_for_an_admin_and_a_named_user(
    table: MountTable, tmp_path: Path
) -> None:
    fs = FileSystem(table, cache_ttl=0)
    for number in range(60):
        fs.write(f"/data/pub/d{number % 4}/f{number}.bin", [b"p" * number])
        fs.write(f"/data/private/f{number}.bin", [b"q" * (number + 1)])
    fs.write("/data/top.bin", [b"t" * 5])
    table.add("/data/loc", f"file://{tmp_path / 'nested'}")
    make_tree(tmp_path / "nested", 40)
    fs.chmod("/", "o+x")
    fs.chown("/data", "alice")
    fs.chown("/data/private", "bob")
    fs.chmod("/data/private", "0700")
    fs.chmod("/data/loc", "0755")
    alice = fs.as_caller(ALICE)

    everything = _sequential_du(fs, "/data")
    hers = _sequential_du(alice, "/data")
    private = sum(number + 1 for number in range(60))
    assert everything[1] - hers[1] == 60 and everything[0] - hers[0] == private  # the rule bites
    for concurrency in (1, 16):
        assert fs.du("/data", concurrency=concurrency) == everything
        assert alice.du("/data", concurrency=concurrency) == hers
    # Nothing below it of its own and no mount: one recursive listing, the same count.
    assert fs.du("/data/pub") == alice.du("/data/pub") == _sequential_du(fs, "/data/pub")
    assert fs.du("/data/loc") == _sequential_du(fs, "/data/loc")
    assert fs.du("/data/top.bin") == (5, 1)
    # cp -r copies what du counts, the nested mount's files too.
    assert fs.copy("/data", "/local/all", recursive=True) == everything[0]
    assert fs.du("/local/all") == everything
    # A move would end by removing a tree with a mount inside, which is refused: before copying.
    with pytest.raises(StoreError, match="a mount lies inside it; unmount it first"):
        fs.move("/data", "/moved")
    assert "/moved" not in [entry.path for entry in fs.ls("/", sync=True)]


def test_a_bad_concurrency_is_a_clear_error(config: Path, table: MountTable) -> None:
    for value, why in (("0", "0 is out of range"), ("lots", "'lots' is not a whole number")):
        result = tierstore(config, "fs", "cp", "-r", "--concurrency", value, "/a", "/b")
        assert result.returncode == 2
        assert "argument --concurrency" in result.stderr and why in result.stderr, result.stderr
    bad = config.parent / "bad.yaml"
    bad.write_text(config.read_text() + "tierstore.fs.concurrency: many\n")
    result = tierstore(bad, "fs", "du", "/")
    assert result.returncode == 2
    assert f"{bad}: tierstore.fs.concurrency: 'many' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr
    good = config.parent / "good.yaml"
    good.write_text(config.read_text() + "tierstore.fs.concurrency: 4\n")
    assert load_server_config(good).fs_concurrency == 4
    huge = config.parent / "huge.yaml"
    huge.write_text(config.read_text() + "tierstore.fs.concurrency: 100000\n")
    with pytest.raises(ConfigError, match=r"tierstore.fs.concurrency: 100000 is out of range; use 1"):
        load_server_config(huge)
