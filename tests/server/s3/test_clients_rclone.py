"""rclone through the gateway, on a bucket of the S3 root mount (SeaweedFS) and on a bucket that is
a local mount: ``copy`` up (each upload's MD5 checked against the ETag answered, its modification
time kept in ``x-amz-meta-mtime``), ``lsf -R``, ``check``, ``sync`` both ways (a second sync
transfers nothing), ``copy`` down, all with rclone's checks on.

Refusals are in test_clients_denied.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
from datetime import datetime
from pathlib import Path

from tests.server.s3.conftest import Keys, ToolGateway
from tests.tools import RCLONE_REMOTE, run_rclone

MIB = 1024 * 1024


def rclone(gateway: ToolGateway, *args: str, keys: Keys | None = None) -> subprocess.CompletedProcess[str]:
    who = keys or gateway.admin
    return run_rclone(gateway.endpoint, who.key_id, who.secret, *args)


def rclone_ok(gateway: ToolGateway, *args: str) -> str:
    """rclone's standard output; its log (stderr, with ``-v``) must show no error."""
    done = rclone(gateway, *args)
    assert done.returncode == 0, f"rclone {' '.join(args)}: {done.stderr}"
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def transferred(log: str) -> list[str]:
    """The files rclone says it copied (``-v`` logs ``NAME: Copied (new)`` and ``(replaced ...)``)."""
    return sorted(line.split(": ")[-2].split()[-1] for line in log.splitlines() if ": Copied (" in line)


def make_tree(root: Path) -> None:
    for relative, size in {
        "a.txt": 12,
        "empty.txt": 0,
        "sub/b.bin": 100_000,
        "sub/deeper/c.bin": 2 * MIB,
        "sub-file.txt": 3,
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(size))
    # An old time, so that a kept one is told from the upload's.
    os.utime(root / "a.txt", (1_600_000_000, 1_600_000_000))


def test_copy_lsf_check_and_sync_both_ways(
    tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    make_tree(source)
    remote = f"{RCLONE_REMOTE}:{tool_bucket}/data"
    up = rclone(tool_gateway, "copy", "-v", str(source), remote)
    assert up.returncode == 0 and "ERROR" not in up.stderr, up.stderr
    assert transferred(up.stderr) == sorted(tree(source)), up.stderr
    listed = rclone_ok(tool_gateway, "lsf", "-R", remote)
    assert sorted(listed.splitlines()) == sorted([*tree(source), "sub/", "sub/deeper/"])
    with_sizes = rclone_ok(tool_gateway, "lsf", "-R", "--files-only", "--format", "ps", remote)
    assert sorted(with_sizes.splitlines()) == sorted(
        f"{name};{len(data)}" for name, data in tree(source).items()
    )
    # rclone's own comparison: every file's size and MD5 (the ETag) against the source's.
    rclone_ok(tool_gateway, "check", str(source), remote)
    # The modification time came back from x-amz-meta-mtime.
    # (lsjson: an RFC 3339 time with its offset, whatever the machine's time zone.)
    listed_json = json.loads(rclone_ok(tool_gateway, "lsjson", "--files-only", remote))
    times = {entry["Path"]: datetime.fromisoformat(entry["ModTime"]) for entry in listed_json}
    assert times["a.txt"].timestamp() == 1_600_000_000, times
    again = rclone(tool_gateway, "sync", "-v", str(source), remote)
    assert again.returncode == 0 and transferred(again.stderr) == [], again.stderr

    # Changed, removed and added files: sync sends the new ones and deletes the removed one.
    (source / "sub" / "b.bin").write_bytes(b"changed")
    (source / "empty.txt").unlink()
    (source / "new.txt").write_bytes(b"new")
    changed = rclone(tool_gateway, "sync", "-v", str(source), remote)
    assert changed.returncode == 0, changed.stderr
    assert transferred(changed.stderr) == ["new.txt", "sub/b.bin"], changed.stderr
    assert "empty.txt: Deleted" in changed.stderr
    rclone_ok(tool_gateway, "check", str(source), remote)

    # And back: sync the bucket into a new directory, then once more (nothing to do).
    back = tmp_path / "back"
    down = rclone(tool_gateway, "sync", "-v", remote, str(back))
    assert down.returncode == 0 and "ERROR" not in down.stderr, down.stderr
    assert tree(back) == tree(source)
    assert (back / "a.txt").stat().st_mtime == 1_600_000_000
    quiet = rclone(tool_gateway, "sync", "-v", remote, str(back))
    assert quiet.returncode == 0 and transferred(quiet.stderr) == [], quiet.stderr
    single = tmp_path / "single"
    rclone_ok(tool_gateway, "copy", f"{remote}/sub/deeper/c.bin", str(single))
    assert (single / "c.bin").read_bytes() == (source / "sub" / "deeper" / "c.bin").read_bytes()
    rclone_ok(tool_gateway, "purge", remote)
    assert rclone_ok(tool_gateway, "lsf", "-R", f"{RCLONE_REMOTE}:{tool_bucket}") == ""


def test_multipart_uploads_keep_the_md5_rclone_checks(
    tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path
) -> None:
    """A file over rclone's upload cutoff goes up in parts: its ETag is no MD5, so rclone keeps
    the MD5 in ``x-amz-meta-md5chksum`` at CreateMultipartUpload and checks against that."""
    source = tmp_path / "big"
    source.mkdir()
    data = secrets.token_bytes(12 * MIB)
    (source / "big.bin").write_bytes(data)
    remote = f"{RCLONE_REMOTE}:{tool_bucket}/parts"
    rclone_ok(tool_gateway, "copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(source), remote)
    head = tool_gateway.boto.head_object(Bucket=tool_bucket, Key="parts/big.bin")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)
    md5 = hashlib.md5(data, usedforsecurity=False)
    assert base64.b64decode(head["Metadata"]["md5chksum"]) == md5.digest()
    assert rclone_ok(tool_gateway, "md5sum", remote).split() == [md5.hexdigest(), "big.bin"]
    rclone_ok(tool_gateway, "check", str(source), remote)
    back = tmp_path / "back"
    rclone_ok(tool_gateway, "copy", remote, str(back))
    assert (back / "big.bin").read_bytes() == data
