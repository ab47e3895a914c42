"""Left-over multipart uploads: ``tierstore fs uploads`` and the server's start-up clean-up,
against SeaweedFS (uploads made with boto3, as a crashed writer would leave them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.namespace.test_filesystem import user_options
from tests.namespace.test_fs_cli import option_args, tierstore
from tests.server.harness import start_api_server
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _config(tmp_path: Path, stack: StackInfo, bucket: str, *extra: str) -> Path:
    admin = stack.admin
    path = tmp_path / "server.yaml"
    path.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {stack.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\n"
        f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
        f"tierstore.secrets.key-file: {tmp_path / 'secrets.key'}\n" + "".join(f"{line}\n" for line in extra)
    )
    return path


def _left_over(s3: S3Client, bucket: str, key: str) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part")
    return upload_id


def _uploads(s3: S3Client, bucket: str) -> list[str]:
    return sorted(upload["Key"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def test_fs_uploads_lists_and_aborts_below_a_path(
    tmp_path: Path, stack: StackInfo, bucket: str, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    other = make_bucket()
    config = _config(tmp_path, stack, bucket)
    mounted = tierstore(
        config, "fs", "mount", *option_args(user_options(stack, "admin")), "/mnt/other", f"s3://{other}/data"
    )
    assert mounted.returncode == 0, mounted.stderr
    _left_over(admin_s3, bucket, "root/top.bin")
    _left_over(admin_s3, bucket, "root/logs/day1.bin")
    _left_over(admin_s3, bucket, "root/logs2/not-below.bin")
    _left_over(admin_s3, bucket, "outside/not-in-the-namespace.bin")
    nested = _left_over(admin_s3, other, "data/deep/file.bin")

    everything = json.loads(tierstore(config, "fs", "uploads", "--json", "/").stdout)
    assert sorted(entry["path"] for entry in everything) == [
        "/logs/day1.bin",
        "/logs2/not-below.bin",
        "/mnt/other/deep/file.bin",
        "/top.bin",
    ]
    assert {entry["upload_id"] for entry in everything} >= {nested}
    assert all(entry["initiated"] and not entry["aborted"] for entry in everything)

    below = json.loads(tierstore(config, "fs", "uploads", "--json", "/logs").stdout)
    assert [entry["path"] for entry in below] == ["/logs/day1.bin"]
    young = tierstore(config, "fs", "uploads", "--older-than", "1d", "/")
    assert young.returncode == 0, young.stderr
    assert young.stdout.strip() == "no unfinished uploads at or below /"
    bad_age = tierstore(config, "fs", "uploads", "--older-than", "soon", "/")
    assert bad_age.returncode == 2 and "--older-than" in bad_age.stderr and "'soon'" in bad_age.stderr

    aborted = tierstore(config, "fs", "uploads", "--abort", "/logs")
    assert aborted.returncode == 0, aborted.stderr
    assert "1 upload aborted" in aborted.stdout
    assert _uploads(admin_s3, bucket) == [
        "outside/not-in-the-namespace.bin",
        "root/logs2/not-below.bin",
        "root/top.bin",
    ]
    assert tierstore(config, "fs", "uploads", "--abort", "/").returncode == 0
    assert _uploads(admin_s3, bucket) == ["outside/not-in-the-namespace.bin"]
    assert _uploads(admin_s3, other) == []


def test_a_user_aborts_only_where_they_may_write(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    config = _config(tmp_path, stack, bucket)
    assert tierstore(config, "fs", "mkdir", "/private").returncode == 0
    assert tierstore(config, "fs", "chmod", "0755", "/private").returncode == 0
    assert tierstore(config, "fs", "chmod", "0711", "/").returncode == 0
    _left_over(admin_s3, bucket, "root/private/file.bin")
    denied = tierstore(config, "fs", "uploads", "--user", "mallory", "--abort", "/private")
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr
    assert _uploads(admin_s3, bucket) == ["root/private/file.bin"]


def test_the_server_start_aborts_old_uploads_where_asked(
    tmp_path: Path, stack: StackInfo, bucket: str, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    """Fluss keys on the root mount (s3.multipart.purge), Alluxio's on a nested mount
    (alluxio.underfs.cleanup.enabled); a third mount without them keeps its uploads."""
    cleaned, kept = make_bucket(), make_bucket()
    config = _config(tmp_path, stack, bucket, "s3.multipart.purge: true", "s3.multipart.purge.age: 2s")
    alluxio = {
        **user_options(stack, "admin"),
        "alluxio.underfs.cleanup.enabled": "true",
        "alluxio.underfs.s3.intermediate.upload.clean.age": "2s",
    }
    assert (
        tierstore(config, "fs", "mount", *option_args(alluxio), "/cleaned", f"s3://{cleaned}").returncode == 0
    )
    plain = option_args(user_options(stack, "admin"))
    assert tierstore(config, "fs", "mount", *plain, "/kept", f"s3://{kept}").returncode == 0
    _left_over(admin_s3, bucket, "root/old.bin")
    _left_over(admin_s3, cleaned, "old.bin")
    _left_over(admin_s3, kept, "old.bin")
    time.sleep(2.5)
    _left_over(admin_s3, bucket, "root/young.bin")  # younger than the age: a write in progress
    server = start_api_server(config)
    try:
        cleanup = server.built.upload_cleanup
        assert cleanup is not None
        cleanup.join(timeout=60)
        assert not cleanup.is_alive()
    finally:
        server.stop()
    assert _uploads(admin_s3, bucket) == ["root/young.bin"]
    assert _uploads(admin_s3, cleaned) == []
    assert _uploads(admin_s3, kept) == ["old.bin"]
