"""The AWS CLI through the gateway, on a bucket of the S3 root mount (SeaweedFS) and on a bucket
that is a local mount: ``s3 cp`` up and down, ``s3 sync`` there and back (and a second sync that
finds nothing to do), ``s3 ls``, ``s3 rm --recursive``, and ``s3api`` calls with their JSON.

The 100 MiB multipart ``cp`` is in test_multipart.py; refusals are in test_clients_denied.py."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.server.s3.conftest import Keys, ToolGateway
from tests.tools import run_aws

MIB = 1024 * 1024


def aws(gateway: ToolGateway, *args: str, keys: Keys | None = None) -> subprocess.CompletedProcess[str]:
    who = keys or gateway.admin
    return run_aws(gateway.endpoint, who.key_id, who.secret, *args)


def aws_ok(gateway: ToolGateway, *args: str) -> str:
    done = aws(gateway, *args)
    assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
    return done.stdout


def aws_json(gateway: ToolGateway, *args: str) -> Any:
    return json.loads(aws_ok(gateway, *args))


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by its relative path, with its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_cp_up_and_down_with_attributes(tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path) -> None:
    data = secrets.token_bytes(3 * MIB + 17)
    (tmp_path / "up.bin").write_bytes(data)
    target = f"s3://{tool_bucket}/deep/er/up.bin"
    aws_ok(
        tool_gateway,
        "s3", "cp", "--no-progress", str(tmp_path / "up.bin"), target,
        "--content-type", "application/x-test", "--metadata", "origin=cli,round=1",
    )  # fmt: skip
    # What the CLI did is looked at with boto3 (each CLI run costs half a CPU-second to start).
    head = tool_gateway.boto.head_object(Bucket=tool_bucket, Key="deep/er/up.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"origin": "cli", "round": "1"}
    aws_ok(tool_gateway, "s3", "cp", "--no-progress", target, str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == data
    # Within the gateway: CopyObject, the attributes copied with the bytes.
    aws_ok(tool_gateway, "s3", "cp", "--no-progress", target, f"s3://{tool_bucket}/copy.bin")
    copied = tool_gateway.boto.head_object(Bucket=tool_bucket, Key="copy.bin")
    assert (copied["ETag"], copied["Metadata"]) == (head["ETag"], head["Metadata"])
    # A missing key is the CLI's 404, said as S3 says it.
    missing = aws(tool_gateway, "s3", "cp", f"s3://{tool_bucket}/nothing.bin", str(tmp_path / "no.bin"))
    assert missing.returncode == 1 and "404" in missing.stderr, missing.stderr
    assert not (tmp_path / "no.bin").exists()


def test_s3api_put_head_get_list_delete(tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello from s3api\n")
    put = aws_json(
        tool_gateway,
        "s3api", "put-object", "--bucket", tool_bucket, "--key", "docs/a b+c.txt", "--body", str(body),
        "--content-type", "text/plain", "--metadata", "Author=someone,kind=note",
    )  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(body.read_bytes(), usedforsecurity=False).hexdigest()}"'
    head = aws_json(tool_gateway, "s3api", "head-object", "--bucket", tool_bucket, "--key", "docs/a b+c.txt")
    # S3 keeps metadata names in lower case.
    assert head["Metadata"] == {"author": "someone", "kind": "note"}
    assert (head["ContentType"], head["ContentLength"], head["ETag"]) == ("text/plain", 17, put["ETag"])
    got = aws_json(
        tool_gateway,
        "s3api", "get-object", "--bucket", tool_bucket, "--key", "docs/a b+c.txt", "--range", "bytes=6-9",
        str(tmp_path / "part.txt"),
    )  # fmt: skip
    assert (got["ContentRange"], got["ContentLength"]) == ("bytes 6-9/17", 4)
    assert (tmp_path / "part.txt").read_bytes() == b"from"
    tool_gateway.boto.put_object(Bucket=tool_bucket, Key="top.txt", Body=body.read_bytes())
    listed = aws_json(tool_gateway, "s3api", "list-objects-v2", "--bucket", tool_bucket)
    assert [(item["Key"], item["Size"]) for item in listed["Contents"]] == [
        ("docs/a b+c.txt", 17),
        ("top.txt", 17),
    ]
    assert listed["Contents"][0]["ETag"] == put["ETag"]
    levels = aws_json(tool_gateway, "s3api", "list-objects-v2", "--bucket", tool_bucket, "--delimiter", "/")
    assert [prefix["Prefix"] for prefix in levels["CommonPrefixes"]] == ["docs/"]
    assert [item["Key"] for item in levels["Contents"]] == ["top.txt"]
    aws_ok(tool_gateway, "s3api", "delete-object", "--bucket", tool_bucket, "--key", "top.txt")
    gone = aws(tool_gateway, "s3api", "head-object", "--bucket", tool_bucket, "--key", "top.txt")
    assert gone.returncode != 0 and "404" in gone.stderr, gone.stderr


def test_sync_there_and_back_then_nothing_to_do(
    tool_gateway: ToolGateway, tool_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    for relative, size in {
        "a.txt": 10,
        "empty.txt": 0,
        "sub/b.bin": 70_000,
        "sub/deeper/c.bin": 1 * MIB,
        "sub-file.txt": 5,  # sorts between "sub" and "sub/": S3's order is by bytes
        "z/last.txt": 3,
    }.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(size))
        # sync sends a file whose time is after the object's LastModified, which SeaweedFS (as
        # S3) keeps to the second: a file written in the second of its upload would look newer.
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    up = aws_ok(tool_gateway, "s3", "sync", "--no-progress", str(source), f"s3://{tool_bucket}/data")
    assert up.count("upload:") == 6, up
    again = aws_ok(tool_gateway, "s3", "sync", "--no-progress", str(source), f"s3://{tool_bucket}/data")
    assert again == "", again
    back = tmp_path / "back"
    down = aws_ok(tool_gateway, "s3", "sync", "--no-progress", f"s3://{tool_bucket}/data", str(back))
    assert down.count("download:") == 6, down
    assert tree(back) == tree(source)
    assert aws_ok(tool_gateway, "s3", "sync", "--no-progress", f"s3://{tool_bucket}/data", str(back)) == ""
    # A changed file is sent again, and only it; with --delete, a file gone is deleted.
    (source / "sub" / "b.bin").write_bytes(b"changed")
    (source / "empty.txt").unlink()
    changed = aws_ok(
        tool_gateway, "s3", "sync", "--no-progress", "--delete", str(source), f"s3://{tool_bucket}/data"
    )
    assert sorted(line.split()[0] for line in changed.splitlines()) == ["delete:", "upload:"], changed
    assert f"delete: s3://{tool_bucket}/data/empty.txt" in changed.splitlines()
    assert f"/sub/b.bin to s3://{tool_bucket}/data/sub/b.bin" in changed

    top = aws_ok(tool_gateway, "s3", "ls", f"s3://{tool_bucket}/data/")
    assert [line.split()[-1] for line in top.splitlines()] == ["sub/", "z/", "a.txt", "sub-file.txt"]
    everything = aws_ok(tool_gateway, "s3", "ls", "--recursive", f"s3://{tool_bucket}/")
    keys = [line.split()[-1] for line in everything.splitlines()]
    assert keys == sorted(f"data/{name}" for name in tree(source))
    buckets = aws_ok(tool_gateway, "s3", "ls")
    assert tool_bucket in [line.split()[-1] for line in buckets.splitlines()]

    removed = aws_ok(tool_gateway, "s3", "rm", "--recursive", f"s3://{tool_bucket}/data/sub/")
    assert sorted(removed.splitlines()) == [
        f"delete: s3://{tool_bucket}/data/sub/b.bin",
        f"delete: s3://{tool_bucket}/data/sub/deeper/c.bin",
    ]
    rest = tool_gateway.boto.list_objects_v2(Bucket=tool_bucket)["Contents"]
    assert [item["Key"] for item in rest] == ["data/a.txt", "data/sub-file.txt", "data/z/last.txt"]


def test_mb_presign_and_rb(tool_gateway: ToolGateway) -> None:
    """Buckets are the root mount's top-level directories: ``s3 mb`` makes one, ``s3 rb --force``
    empties and deletes it. ``s3 presign`` signs with Signature V2 unless told otherwise (the
    gateway, as S3 in every newer region, takes V4 only): with ``signature_version = s3v4``."""
    bucket = f"made-by-cli-{secrets.token_hex(3)}"
    assert aws_ok(tool_gateway, "s3", "mb", f"s3://{bucket}") == f"make_bucket: {bucket}\n"
    tool_gateway.boto.put_object(Bucket=bucket, Key="dir/shared.txt", Body=b"shared")
    admin = tool_gateway.admin
    signed = run_aws(
        tool_gateway.endpoint, admin.key_id, admin.secret,
        "s3", "presign", "--expires-in", "60", f"s3://{bucket}/dir/shared.txt",
        config="[default]\ns3 =\n  signature_version = s3v4\n",
    )  # fmt: skip
    assert signed.returncode == 0 and "X-Amz-Signature=" in signed.stdout, signed.stderr
    assert httpx.get(signed.stdout.strip(), timeout=30).content == b"shared"
    removed = aws_ok(tool_gateway, "s3", "rb", "--force", f"s3://{bucket}")
    assert removed.splitlines() == [f"delete: s3://{bucket}/dir/shared.txt", f"remove_bucket: {bucket}"]
    assert bucket not in [entry["Name"] for entry in tool_gateway.boto.list_buckets()["Buckets"]]
