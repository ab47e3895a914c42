"""HeadObject from the namespace cache: a server of one worker on an embedded namespace answers a
HEAD with the head its store last gave it (a HEAD or a GET) for ``tierstore.metadata.cache.ttl``,
as it answers stats and listings; every write through the gateway is seen at once, the caller's
bits are checked every time, and a write straight to the store shows once the ttl has run out.
On the S3 root mount (SeaweedFS) and on a local mount; a write "straight to the store" is a
``put_object`` to SeaweedFS under the root mount, or a file written into the local directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.conftest import Mount, workers_gateway
from tierstore.local.info import StackInfo
from tierstore.server.run import heads_from_cache

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
# Long enough that no test's steps outlast it on a loaded machine; the expiry test has its own.
TTL = 600
SHORT_TTL = 1.0


@pytest.fixture
def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, stack: StackInfo, bucket: str
) -> Iterator[RunningServer]:
    """The gateway with the namespace cache on (``TTL``, or the ttl a test is parametrized with)."""
    ttl = getattr(request, "param", TTL)
    config = write_server_config(
        tmp_path / "server.yaml", stack, bucket, extra={"tierstore.metadata.cache.ttl": ttl}
    )
    server = start_api_server(config)
    yield server
    server.stop()


def write_behind(mount: Mount, key: str, body: bytes) -> None:
    """Replace ``key`` straight in the mount's store, around tierstore."""
    if mount.directory is not None:
        (mount.directory / key).write_bytes(body)
        return
    mount.store.put_object(
        Bucket=mount.store_bucket,
        Key=mount.store_key(key),
        Body=body,
        ContentType="application/x-behind",
        Metadata={"by": "store"},
    )


def head(client: S3Client, bucket: str, key: str) -> tuple[int, str, str, dict[str, str]]:
    answer = client.head_object(Bucket=bucket, Key=key)
    return answer["ContentLength"], answer["ETag"], answer["ContentType"], answer["Metadata"]


def test_a_head_answers_what_the_store_last_gave_and_a_get_reads_afresh(mount: Mount) -> None:
    admin = mount.admin
    admin.put_object(
        Bucket=mount.bucket, Key="k.txt", Body=b"first", ContentType="text/plain", Metadata={"v": "1"}
    )
    first = head(admin, mount.bucket, "k.txt")
    assert first[0] == 5 and first[2] == "text/plain" and first[3] == {"v": "1"}

    write_behind(mount, "k.txt", b"written behind")
    # Proof that the HEAD is the cache's: the store now holds another object.
    assert head(admin, mount.bucket, "k.txt") == first
    # A GET asks the store, and what it answered is what the next HEAD says.
    got = admin.get_object(Bucket=mount.bucket, Key="k.txt")
    assert got["Body"].read() == b"written behind"
    now = head(admin, mount.bucket, "k.txt")
    assert now[0] == len(b"written behind") and now[1] == got["ETag"] and now[1] != first[1]
    if mount.directory is None:  # SeaweedFS keeps what its writer gave; a bare file has none
        assert now[2] == "application/x-behind" and now[3] == {"by": "store"}
    # Conditions and ranges are judged on the cached head too.
    with pytest.raises(ClientError) as refused:
        admin.head_object(Bucket=mount.bucket, Key="k.txt", IfMatch=first[1])
    assert refused.value.response["Error"]["Code"] == "412"
    assert admin.head_object(Bucket=mount.bucket, Key="k.txt", Range="bytes=0-3")["ContentRange"] == (
        f"bytes 0-3/{now[0]}"
    )


def test_every_write_through_the_gateway_is_seen_by_the_next_head(mount: Mount) -> None:
    admin, bucket = mount.admin, mount.bucket
    admin.put_object(Bucket=bucket, Key="w", Body=b"one")
    assert head(admin, bucket, "w")[0] == 3

    admin.put_object(Bucket=bucket, Key="w", Body=b"two!", ContentType="text/x-two", Metadata={"n": "2"})
    assert head(admin, bucket, "w")[0::2] == (4, "text/x-two")

    admin.put_object(Bucket=bucket, Key="source", Body=b"copied here")
    admin.copy_object(Bucket=bucket, Key="w", CopySource={"Bucket": bucket, "Key": "source"})
    assert head(admin, bucket, "w")[0] == len(b"copied here")

    upload = admin.create_multipart_upload(Bucket=bucket, Key="w")["UploadId"]
    part = admin.upload_part(Bucket=bucket, Key="w", UploadId=upload, PartNumber=1, Body=b"p" * MiB)
    admin.complete_multipart_upload(
        Bucket=bucket,
        Key="w",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    size, etag, _, _ = head(admin, bucket, "w")
    assert size == MiB and etag.endswith('-1"')

    admin.delete_object(Bucket=bucket, Key="w")
    with pytest.raises(ClientError) as gone:
        admin.head_object(Bucket=bucket, Key="w")
    assert gone.value.response["Error"]["Code"] == "404"
    admin.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "source"}], "Quiet": True})
    with pytest.raises(ClientError) as also_gone:
        admin.head_object(Bucket=bucket, Key="source")
    assert also_gone.value.response["Error"]["Code"] == "404"


def test_the_callers_bits_are_checked_for_a_cached_head(
    mount: Mount, gateway: RunningServer, s3_for: Callable[[str], S3Client]
) -> None:
    admin, bucket = mount.admin, mount.bucket
    admin.put_object(Bucket=bucket, Key="private/file", Body=b"secret")
    head(admin, bucket, "private/file")  # cached now
    gateway.add_user("mallory")
    mallory = s3_for("mallory")
    mount.chmod("/", "0711")
    mount.chmod(f"/{bucket}", "0755")
    mount.chmod(f"/{bucket}/private", "0700")
    with pytest.raises(ClientError) as refused:
        mallory.head_object(Bucket=bucket, Key="private/file")
    assert refused.value.response["Error"]["Code"] == "403"
    mount.chmod(f"/{bucket}/private", "0755")
    mount.chmod(f"/{bucket}/private/file", "0644")
    assert head(mallory, bucket, "private/file")[0] == len(b"secret")


def test_a_put_into_a_cached_bucket_is_still_checked_and_a_deleted_bucket_is_gone(
    mount: Mount, gateway: RunningServer, s3_for: Callable[[str], S3Client]
) -> None:
    """A PUT skips the bucket's stat when the cache holds the bucket as a directory; the write's
    own checks still ask search on every ancestor, and a bucket deleted through the server is
    NoSuchBucket at once."""
    admin, bucket = mount.admin, mount.bucket
    gateway.add_user("mallory")
    mallory = s3_for("mallory")
    mount.chmod("/", "0711")
    mount.chmod(f"/{bucket}", "0777")
    mallory.put_object(Bucket=bucket, Key="first", Body=b"1")  # the bucket's stat is cached now
    mount.chmod("/", "0700")
    with pytest.raises(ClientError) as refused:
        mallory.put_object(Bucket=bucket, Key="second", Body=b"2")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    mount.chmod("/", "0711")
    mallory.put_object(Bucket=bucket, Key="second", Body=b"2")
    admin.create_bucket(Bucket="brief")
    admin.put_object(Bucket="brief", Key="k", Body=b"k")
    admin.delete_object(Bucket="brief", Key="k")
    admin.delete_bucket(Bucket="brief")
    with pytest.raises(ClientError) as missing:
        admin.put_object(Bucket="brief", Key="k", Body=b"again")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"


def test_a_stat_asked_afresh_drops_the_cached_head(mount: Mount, gateway: RunningServer) -> None:
    """What the tierstore client and the FUSE mount do after their own writes straight to the
    store (with vended credentials): their next stat asks afresh (``sync``), and the gateway's
    HEAD then asks the store too."""
    admin = mount.admin
    admin.put_object(Bucket=mount.bucket, Key="s", Body=b"old")
    assert head(admin, mount.bucket, "s")[0] == 3
    write_behind(mount, "s", b"written by a client")
    assert head(admin, mount.bucket, "s")[0] == 3  # the server has not seen that write
    stat = httpx.get(
        f"{gateway.url}/v1/fs/stat",
        params={"path": f"/{mount.bucket}/s", "sync": "true"},
        headers=gateway.auth(),
        timeout=30,
    )
    assert stat.status_code == 200, stat.text
    assert stat.json()["size"] == len(b"written by a client")
    assert head(admin, mount.bucket, "s")[0] == len(b"written by a client")


@pytest.mark.parametrize("gateway", [SHORT_TTL], indirect=True)
def test_a_write_straight_to_the_store_shows_once_the_ttl_has_run_out(mount: Mount) -> None:
    admin = mount.admin
    admin.put_object(Bucket=mount.bucket, Key="t", Body=b"before")
    assert head(admin, mount.bucket, "t")[0] == len(b"before")
    write_behind(mount, "t", b"after the ttl")
    time.sleep(SHORT_TTL + 0.2)
    assert head(admin, mount.bucket, "t")[0] == len(b"after the ttl")


@pytest.mark.parametrize("gateway", [0], indirect=True)
def test_without_the_cache_every_head_asks_the_store(mount: Mount) -> None:
    admin = mount.admin
    admin.put_object(Bucket=mount.bucket, Key="c", Body=b"cached?")
    assert head(admin, mount.bucket, "c")[0] == len(b"cached?")
    write_behind(mount, "c", b"no: asked again")
    assert head(admin, mount.bucket, "c")[0] == len(b"no: asked again")


def test_workers_and_shared_namespaces_ask_the_store_for_every_head(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    """A worker of ``--workers`` does not see its siblings' writes, so its HEAD never answers from
    its cache."""
    with workers_gateway(tmp_path, stack, bucket, TTL) as fresh:  # each a new connection
        admin = fresh()
        admin.create_bucket(Bucket="many")
        admin.put_object(Bucket="many", Key="k", Body=b"one")
        # Every worker has now had a HEAD of it (new connections land on either worker).
        for _ in range(6):
            assert fresh().head_object(Bucket="many", Key="k")["ContentLength"] == 3
        admin_s3.put_object(Bucket=bucket, Key="root/many/k", Body=b"written behind")
        for _ in range(6):
            assert fresh().head_object(Bucket="many", Key="k")["ContentLength"] == len(b"written behind")


def test_only_a_sole_server_on_an_embedded_namespace_answers_heads_from_its_cache() -> None:
    assert heads_from_cache("sqlite:////srv/tierstore/namespace.db", sole=True)
    assert not heads_from_cache("sqlite:////srv/tierstore/namespace.db", sole=False)  # a worker
    # Servers sharing one namespace do not see each other's writes at once.
    assert not heads_from_cache("postgresql+psycopg://tierstore@db:5432/tierstore", sole=True)
