"""Writing through the mount with the tools people use: cp, cp -r, rsync -a, tar, dd, mkdir -p,
mv, rm -r, chmod, shell redirection; what the mount refuses (appends, writes in place, rmdir of a
non-empty directory); and no multipart upload left in either bucket afterwards."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fuse.conftest import Mounted, Namespace
from tests.tools import require_tool
from tierstore.client import Client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024


@pytest.fixture(scope="package")
def admin(namespace: Namespace) -> Client:
    return Client(namespace.server.url, namespace.server.admin_token)


def run(*command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def make_tree(root: Path, files: int = 30) -> dict[str, bytes]:
    chooser = random.Random(3)
    made = {}
    for number in range(files):
        relative = f"d{number % 3}/sub{number % 2}/f{number}.txt"
        data = chooser.randbytes(chooser.choice([0, 10, 5000, 70_000]))
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        made[relative] = data
    return made


def tree_of(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_cp_dd_and_redirection_write_files_read_back_by_the_client(
    workdir: Path, admin: Client, mounted: Mounted, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(20 * MIB + 123)
    source.write_bytes(data)
    run("cp", str(source), str(workdir / "copied.bin"))
    run("dd", f"if={source}", f"of={workdir / 'dd.bin'}", "bs=1M")
    run("sh", "-c", f"echo hello > {workdir / 'echo.txt'}")
    name = f"/{workdir.name}"
    assert hashlib.sha256(admin.read(f"{name}/copied.bin")).digest() == hashlib.sha256(data).digest()
    assert admin.read(f"{name}/dd.bin") == data
    assert admin.read(f"{name}/echo.txt") == b"hello\n"
    assert (workdir / "copied.bin").stat().st_size == len(data)
    # Truncate to 0 and write afresh: '>' on an existing file.
    run("sh", "-c", f"echo again > {workdir / 'echo.txt'}")
    assert (workdir / "echo.txt").read_bytes() == b"again\n"
    # An empty file made by touch exists at once and in the store after close.
    run("touch", str(workdir / "empty"))
    assert admin.stat(f"{name}/empty")["size"] == 0
    run("sha256sum", str(workdir / "copied.bin"))


def test_cp_r_rsync_and_tar_round_trip_a_tree(workdir: Path, tmp_path: Path) -> None:
    original = tmp_path / "tree"
    made = make_tree(original)
    run("cp", "-r", str(original), str(workdir / "cp"))
    assert tree_of(workdir / "cp") == made
    run(str(require_tool("rsync")), "-a", f"{original}/", str(workdir / "rsync"))
    assert tree_of(workdir / "rsync") == made
    archive = tmp_path / "tree.tar"
    run("tar", "cf", str(archive), "-C", str(original), ".")
    (workdir / "untar").mkdir()
    run("tar", "xf", str(archive), "-C", str(workdir / "untar"))
    assert tree_of(workdir / "untar") == made
    out = tmp_path / "out.tar"
    run("tar", "cf", str(out), "-C", str(workdir / "untar"), ".")
    (tmp_path / "back").mkdir()
    run("tar", "xf", str(out), "-C", str(tmp_path / "back"))
    assert tree_of(tmp_path / "back") == made


def test_mkdir_mv_rm_and_rmdir(workdir: Path, mounted: Mounted, admin: Client) -> None:
    run("mkdir", "-p", str(workdir / "x/y/z"))
    assert (workdir / "x/y/z").is_dir()
    (workdir / "x/y/z/f.txt").write_text("moving\n")
    # rmdir of a non-empty directory: ENOTEMPTY.
    with pytest.raises(OSError) as refused:
        os.rmdir(workdir / "x/y/z")
    assert refused.value.errno == errno.ENOTEMPTY
    run("mv", str(workdir / "x/y/z/f.txt"), str(workdir / "x/g.txt"))
    assert (workdir / "x/g.txt").read_text() == "moving\n"
    assert not (workdir / "x/y/z/f.txt").exists()
    os.rmdir(workdir / "x/y/z")
    assert not (workdir / "x/y/z").exists()
    # A directory within one mount moves as the server moves it.
    run("mv", str(workdir / "x"), str(workdir / "moved"))
    assert (workdir / "moved/g.txt").read_text() == "moving\n" and not (workdir / "x").exists()
    # Across mounts a directory is EXDEV, and mv copies it itself.
    with pytest.raises(OSError) as crossing:
        os.rename(workdir / "moved", mounted.path / f"b/{workdir.name}-moved")
    assert crossing.value.errno == errno.EXDEV
    run("mv", str(workdir / "moved"), str(mounted.path / f"b/{workdir.name}-moved"))
    assert (mounted.path / f"b/{workdir.name}-moved/g.txt").read_text() == "moving\n"
    # A file across mounts: the server copies it.
    (workdir / "one.txt").write_text("one\n")
    run("mv", str(workdir / "one.txt"), str(mounted.path / f"local/{workdir.name}-one.txt"))
    assert admin.read(f"/local/{workdir.name}-one.txt") == b"one\n"
    run("rm", "-r", str(mounted.path / f"b/{workdir.name}-moved"))
    assert not (mounted.path / f"b/{workdir.name}-moved").exists()


def test_appends_and_writes_in_place_are_refused(workdir: Path) -> None:
    (workdir / "once.txt").write_text("written once\n")
    with pytest.raises(OSError) as appending, open(workdir / "once.txt", "a") as handle:
        handle.write("more\n")
    assert appending.value.errno == errno.EOPNOTSUPP
    descriptor = os.open(workdir / "once.txt", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as in_place:
            os.pwrite(descriptor, b"X", 3)
        assert in_place.value.errno == errno.EOPNOTSUPP
    finally:
        os.close(descriptor)
    with open(workdir / "new.bin", "wb", buffering=0) as handle:
        handle.write(b"a" * 10)
        with pytest.raises(OSError) as backwards:
            os.pwrite(handle.fileno(), b"b", 2)
        assert backwards.value.errno == errno.EOPNOTSUPP
    assert (workdir / "once.txt").read_text() == "written once\n"
    os.truncate(workdir / "once.txt", 0)
    assert (workdir / "once.txt").read_bytes() == b""


def test_chmod_and_chown_are_kept_in_the_namespace(workdir: Path, admin: Client) -> None:
    (workdir / "modes.txt").write_text("bits\n")
    os.chmod(workdir / "modes.txt", 0o640)
    assert admin.stat(f"/{workdir.name}/modes.txt", sync=True)["mode"] == "0640"
    assert (workdir / "modes.txt").stat().st_mode & 0o777 == 0o640
    os.chown(workdir / "modes.txt", os.getuid(), -1)  # the mounting user stands for the token's
    assert admin.stat(f"/{workdir.name}/modes.txt", sync=True)["owner"] == "admin"
    os.utime(workdir / "modes.txt", (1, 1))  # accepted (touch, cp -p, rsync -a go on)


def test_no_upload_is_left_in_the_stores(namespace: Namespace, admin_s3: S3Client, mounted: Mounted) -> None:
    for bucket in (namespace.bucket_a, namespace.bucket_b):
        assert admin_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
