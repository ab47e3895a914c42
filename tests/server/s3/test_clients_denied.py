"""Refusals as every client tool shows them: a user without the read bit on a directory (its
files read, its listing) gets AccessDenied (403) from the AWS CLI, s3fs, obstore, pyarrow, DuckDB
and rclone, on a bucket of the S3 root mount (SeaweedFS) and on a bucket that is a local mount,
while what the user may read still reads; and a read-only mount refuses a multipart upload at
CreateMultipartUpload (the AWS CLI's ``cp`` of a file over its 8 MiB threshold, obstore's
multipart put), leaving nothing behind."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import obstore
import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from obstore.exceptions import BaseError, PermissionDeniedError
from pyarrow.fs import FileSelector  # type: ignore[import-untyped]

from tests.server.s3.conftest import ADMIN_API_TIMEOUT, Keys, ToolGateway
from tests.server.s3.tool_clients import obstore_of, s3fs_of
from tests.tools import RCLONE_REMOTE, duckdb_connection, pyarrow_s3, run_aws, run_rclone

MIB = 1024 * 1024


@dataclass(frozen=True)
class Guarded:
    """A bucket whose ``private/`` directory (0700, the admin's) ``bob`` may not read, beside an
    ``open/`` one he may."""

    bucket: str
    bob: Keys


@pytest.fixture
def guarded(tool_gateway: ToolGateway, tool_bucket: str) -> Guarded:
    boto = tool_gateway.boto
    table = pd.DataFrame({"n": range(10)})
    parquet = io.BytesIO()
    table.to_parquet(parquet, index=False)
    for directory in ("open", "private"):
        boto.put_object(Bucket=tool_bucket, Key=f"{directory}/notes.txt", Body=b"notes")
        boto.put_object(Bucket=tool_bucket, Key=f"{directory}/table.parquet", Body=parquet.getvalue())
    # What an admin writes keeps no bits of its own (it shows its directory's): the namespace's
    # root is its owner's alone (0700) until opened; the bucket is opened to all, private/ not.
    tool_gateway.chmod("/", "0711")
    tool_gateway.chmod(f"/{tool_bucket}", "0755")
    tool_gateway.chmod(f"/{tool_bucket}/private", "0700")
    return Guarded(tool_bucket, tool_gateway.keys("bob"))


def test_aws_cli(tool_gateway: ToolGateway, guarded: Guarded, tmp_path: Path) -> None:
    bob, bucket = guarded.bob, guarded.bucket

    def aws(*args: str) -> tuple[int, str]:
        done = run_aws(tool_gateway.endpoint, bob.key_id, bob.secret, *args)
        return done.returncode, done.stderr

    assert (
        aws("s3", "cp", "--no-progress", f"s3://{bucket}/open/notes.txt", str(tmp_path / "open.txt"))[0] == 0
    )
    # s3 cp asks HeadObject first: a HEAD's 403 has no body, so the CLI names the status only.
    code, said = aws("s3", "cp", f"s3://{bucket}/private/notes.txt", str(tmp_path / "private.txt"))
    assert code == 1 and "(403) when calling the HeadObject operation: Forbidden" in said, said
    assert not (tmp_path / "private.txt").exists()
    code, said = aws(
        "s3api", "get-object", "--bucket", bucket, "--key", "private/notes.txt", str(tmp_path / "x")
    )
    assert code == 255 and "(AccessDenied) when calling the GetObject operation" in said, said
    assert "private/notes.txt" in said  # the message names what was refused
    code, said = aws("s3", "ls", f"s3://{bucket}/private/")
    assert code == 255 and "(AccessDenied) when calling the ListObjectsV2 operation" in said, said


def test_s3fs(tool_gateway: ToolGateway, guarded: Guarded) -> None:
    fs = s3fs_of(tool_gateway, guarded.bob)
    assert fs.cat(f"{guarded.bucket}/open/notes.txt") == b"notes"
    with pytest.raises(PermissionError):
        fs.cat(f"{guarded.bucket}/private/notes.txt")
    with pytest.raises(PermissionError):
        fs.ls(f"{guarded.bucket}/private")


def test_obstore(tool_gateway: ToolGateway, guarded: Guarded) -> None:
    store = obstore_of(tool_gateway, guarded.bucket, guarded.bob)
    assert bytes(obstore.get(store, "open/notes.txt").bytes()) == b"notes"
    with pytest.raises(PermissionDeniedError, match="AccessDenied"):
        obstore.get(store, "private/notes.txt")
    # object_store names no kind for a failed listing: its error carries S3's answer.
    with pytest.raises(BaseError, match=r"(?s)403 Forbidden.*<Code>AccessDenied</Code>"):
        obstore.list(store, "private").collect()


def test_pyarrow(tool_gateway: ToolGateway, guarded: Guarded) -> None:
    bob, bucket = guarded.bob, guarded.bucket
    fs = pyarrow_s3(tool_gateway.endpoint, bob.key_id, bob.secret)
    assert pq.read_table(f"{bucket}/open/table.parquet", filesystem=fs).num_rows == 10
    # A file is looked at with HeadObject, whose 403 has no body: the SDK names the status only.
    with pytest.raises(OSError, match="ACCESS_DENIED during HeadObject") as read:
        pq.read_table(f"{bucket}/private/table.parquet", filesystem=fs)
    assert "private/table.parquet" in str(read.value)
    # A listing's refusal carries S3's error document, the gateway's reason in it.
    with pytest.raises(OSError, match=r"ACCESS_DENIED during ListObjectsV2 operation: read /.*/private"):
        fs.get_file_info(FileSelector(f"{bucket}/private", recursive=True))


def test_duckdb(tool_gateway: ToolGateway, guarded: Guarded) -> None:
    bob, bucket = guarded.bob, guarded.bucket
    duck = duckdb_connection(tool_gateway.endpoint, bob.key_id, bob.secret)
    try:
        assert duck.execute(f"SELECT count(*) FROM 's3://{bucket}/open/table.parquet'").fetchone() == (10,)
        with pytest.raises(duckdb.Error, match="403") as read:
            duck.execute(f"SELECT count(*) FROM 's3://{bucket}/private/table.parquet'").fetchone()
        assert "private/table.parquet" in str(read.value)
        with pytest.raises(duckdb.Error, match="403"):
            duck.execute(f"SELECT count(*) FROM 's3://{bucket}/private/*.parquet'").fetchone()
    finally:
        duck.close()


def test_rclone(tool_gateway: ToolGateway, guarded: Guarded) -> None:
    bob, bucket = guarded.bob, guarded.bucket

    def rclone(*args: str) -> tuple[int, str, str]:
        done = run_rclone(tool_gateway.endpoint, bob.key_id, bob.secret, *args)
        return done.returncode, done.stdout, done.stderr

    assert rclone("cat", f"{RCLONE_REMOTE}:{bucket}/open/notes.txt")[:2] == (0, "notes")
    code, out, said = rclone("cat", f"{RCLONE_REMOTE}:{bucket}/private/notes.txt")
    assert code != 0 and out == "" and "AccessDenied" in said, said
    code, out, said = rclone("lsf", f"{RCLONE_REMOTE}:{bucket}/private")
    assert code != 0 and out == "" and "AccessDenied" in said, said


def test_a_read_only_mount_refuses_multipart_uploads_at_create(
    tool_gateway: ToolGateway, tmp_path: Path
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    (directory / "there.txt").write_bytes(b"there")
    bucket = f"read-only-{secrets.token_hex(3)}"
    added = httpx.post(
        f"{tool_gateway.server.url}/v1/mounts",
        json={"path": f"/{bucket}", "uri": directory.as_uri(), "readonly": True},
        headers=tool_gateway.server.auth(),
        timeout=ADMIN_API_TIMEOUT,
    )
    assert added.status_code == 201, added.text
    admin = tool_gateway.admin
    big = tmp_path / "big.bin"
    big.write_bytes(secrets.token_bytes(9 * MIB))  # over the CLI's 8 MiB multipart threshold
    refused = run_aws(
        tool_gateway.endpoint,
        admin.key_id,
        admin.secret,
        "s3",
        "cp",
        "--no-progress",
        str(big),
        f"s3://{bucket}/big.bin",
    )
    assert refused.returncode == 1, refused.stderr
    assert "(AccessDenied) when calling the CreateMultipartUpload operation" in refused.stderr
    assert "read-only" in refused.stderr
    store = obstore_of(tool_gateway, bucket)
    with pytest.raises(PermissionDeniedError, match="read-only"):
        obstore.put(store, "parts.bin", io.BytesIO(big.read_bytes()), chunk_size=5 * MIB)
    assert sorted(path.name for path in directory.iterdir()) == ["there.txt"]
    assert tool_gateway.boto.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Reads still work.
    assert bytes(obstore.get(store, "there.txt").bytes()) == b"there"
