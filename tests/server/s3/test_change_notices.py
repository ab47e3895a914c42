"""Servers sharing a namespace tell each other the paths they change (``namespace.change_notices``).

The workers of ``tierstore serve --workers N`` (and servers on one PostgreSQL) each keep their own
namespace cache; without a notice, a file written through one worker stayed out of another's cached
listing for the whole ttl. Here the whole path, against a real ``--workers 2`` server over
SeaweedFS, whose new connections land on either worker; the metadata side on both databases is
``tests/namespace/test_content_changes.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.server.s3.conftest import workers_gateway
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TTL = 600  # far longer than the test: only a notice can make a worker drop what it holds


def _keys(client: S3Client, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_workers_see_each_others_writes_in_their_listings_and_stats(
    tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    with workers_gateway(tmp_path, stack, bucket, TTL) as fresh:  # each a new connection
        fresh().create_bucket(Bucket="shared")
        fresh().put_object(Bucket="shared", Key="first", Body=b"1")
        time.sleep(1)
        for _ in range(8):  # both workers now hold the listing of one key
            assert _keys(fresh(), "shared") == ["first"]
        fresh().put_object(Bucket="shared", Key="second", Body=b"2")
        time.sleep(1)  # the notice's transaction and the other worker's poll (0.25 s)
        for _ in range(8):
            assert _keys(fresh(), "shared") == ["first", "second"]
        fresh().delete_object(Bucket="shared", Key="first")
        time.sleep(1)
        for _ in range(8):
            assert _keys(fresh(), "shared") == ["second"]
