"""A listing through the gateway shows what was just written or removed through it (S3 is
strongly consistent for read-after-write and listings), whatever the namespace's cache holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _names(client: S3Client, bucket: str, prefix: str) -> list[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    keys = [item["Key"] for item in answer.get("Contents", [])]
    return keys + [item["Prefix"] for item in answer.get("CommonPrefixes", [])]


def test_a_listing_shows_the_writes_and_deletes_just_made(
    gateway_admin: str, s3_for: Callable[[str], S3Client]
) -> None:
    admin = s3_for(gateway_admin)
    admin.create_bucket(Bucket="fresh")
    admin.put_object(Bucket="fresh", Key="dir/a.txt", Body=b"a")
    assert _names(admin, "fresh", "dir/") == ["dir/a.txt"]  # now cached
    assert _names(admin, "fresh", "") == ["dir/"]
    admin.put_object(Bucket="fresh", Key="dir/b.txt", Body=b"b")
    admin.put_object(Bucket="fresh", Key="dir/sub/c.txt", Body=b"c")
    admin.put_object(Bucket="fresh", Key="top.txt", Body=b"t")
    assert _names(admin, "fresh", "dir/") == ["dir/a.txt", "dir/b.txt", "dir/sub/"]
    assert _names(admin, "fresh", "") == ["top.txt", "dir/"]
    admin.delete_object(Bucket="fresh", Key="dir/a.txt")
    assert _names(admin, "fresh", "dir/") == ["dir/b.txt", "dir/sub/"]
    admin.copy_object(Bucket="fresh", Key="dir/d.txt", CopySource={"Bucket": "fresh", "Key": "top.txt"})
    assert _names(admin, "fresh", "dir/") == ["dir/b.txt", "dir/d.txt", "dir/sub/"]
