"""A streaming write's part buffers, counted by the writer, stay within the cap on SeaweedFS.

The settings come from files in each dialect, read by the real settings readers; the object
written is read back and compared by size and SHA-256. Parts are 5 MiB (S3's least) so that a
few of them make a multipart upload, and the writer (copying from memory) fills parts far
faster than the store takes them, so every upload slot is used.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tierstore.errors import ConfigError
from tierstore.local.info import StackInfo
from tierstore.settings import StoreSettings, load_store_settings
from tierstore.settings.model import MultipartSettings
from tierstore.storage.factory import open_store
from tierstore.storage.interface import ObjectWriter, Store
from tierstore.storage.s3.multipart import MultipartWriter
from tierstore.storage.s3.writer import StreamingWriter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
PART = 5 * MiB
# Seven parts and a short one; chunks of 1.5 MiB so that parts are made of several pieces.
CHUNK = 3 * MiB // 2
SIZE = 7 * PART + 123_457

Writer = MultipartWriter | StreamingWriter


def fluss(stack: StackInfo, bucket: str, extra: str) -> tuple[str, str]:
    keys = stack.admin
    return "server.yaml", (
        f"remote.data.dir: s3://{bucket}/base\ns3.endpoint: {stack.endpoint}\ns3.region: {stack.region}\n"
        f"s3.path-style-access: true\ns3.access-key: {keys.access_key_id}\n"
        f"s3.secret-key: {keys.secret_access_key.reveal()}\ns3.multipart.size: 5MB\n"
        f"s3.multipart.concurrency: 4\n{extra}"
    )


def alluxio(stack: StackInfo, bucket: str, extra: str) -> tuple[str, str]:
    keys = stack.admin
    return "alluxio-site.properties", (
        f"alluxio.master.mount.table.root.ufs=s3://{bucket}/base\n"
        f"alluxio.underfs.s3.endpoint={stack.endpoint}\nalluxio.underfs.s3.endpoint.region={stack.region}\n"
        f"alluxio.underfs.s3.disable.dns.buckets=true\naws.accessKeyId={keys.access_key_id}\n"
        f"aws.secretKey={keys.secret_access_key.reveal()}\n"
        "alluxio.underfs.s3.streaming.upload.partition.size=5MB\nalluxio.underfs.s3.upload.threads.max=4\n"
        f"{extra}"
    )


def kafka_connect(stack: StackInfo, bucket: str, extra: str) -> tuple[str, str]:
    keys = stack.admin
    config = {
        "aws.s3.bucket.name": bucket,
        "aws.s3.prefix": "base/",
        "aws.s3.endpoint": stack.endpoint,
        "aws.s3.region": stack.region,
        "aws.s3.path.style.access.enabled": "true",
        "aws.access.key.id": keys.access_key_id,
        "aws.secret.access.key": keys.secret_access_key.reveal(),
        "aws.s3.part.size.bytes": str(PART),
        **dict(line.split("=", 1) for line in extra.splitlines()),
    }
    return "s3-sink.json", json.dumps({"name": "memory", "config": config})


Dialect = Callable[[StackInfo, str, str], tuple[str, str]]


def load(tmp_path: Path, dialect: Dialect, stack: StackInfo, bucket: str, extra: str = "") -> StoreSettings:
    name, text = dialect(stack, bucket, extra)
    path = tmp_path / name
    path.write_text(text)
    loaded = load_store_settings(path)
    assert loaded.warnings == [], loaded.warnings
    return loaded.settings


# Made once, so that the caller's own chunks are no allocation of the write's.
BLOCK = hashlib.sha256(b"tierstore").digest() * (CHUNK // 32)


def stream(writer: ObjectWriter, size: int = SIZE) -> str:
    """Write ``size`` bytes of a known pattern in ``CHUNK`` pieces; their SHA-256."""
    chunks = memoryview(BLOCK)
    digest = hashlib.sha256()
    left = size
    while left:
        chunk = chunks[: min(left, len(chunks))]
        writer.write(chunk)
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


def write(store: Store, key: str) -> tuple[Writer, str]:
    """Stream an object through one writer; the writer (closed) and the object's SHA-256."""
    with store.open_write(key) as writer:
        assert isinstance(writer, MultipartWriter | StreamingWriter)
        digest = stream(writer)
    assert writer.buffer_bytes == 0  # every part let go and taken off the count
    return writer, digest


def check(store: Store, key: str, digest: str) -> None:
    assert store.head(key).size == SIZE
    assert hashlib.sha256(store.get(key)).hexdigest() == digest


def write_and_check(store: Store, key: str) -> Writer:
    writer, digest = write(store, key)
    check(store, key, digest)
    return writer


@pytest.mark.parametrize(
    "case",
    [
        (fluss, "tierstore.upload.buffer.max: 15MB\n", 2),
        (fluss, "s3.fast.upload.active.blocks: 1\n", 1),
        (fluss, "fs.s3a.fast.upload.active.blocks: 3\n", 3),
        (alluxio, "tierstore.upload.buffer.max=15MB\n", 2),
        # No concurrency key in a Kafka Connect config: the default 4, lowered to 2.
        (kafka_connect, f"tierstore.upload.buffer.max={3 * PART}", 2),
    ],
    ids=["fluss-buffer-max", "fluss-active-blocks", "s3a-active-blocks", "alluxio", "kafka-connect"],
)
def test_each_dialects_cap_lowers_the_concurrency_and_bounds_the_buffers(
    tmp_path: Path, stack: StackInfo, bucket: str, case: tuple[Dialect, str, int]
) -> None:
    dialect, extra, concurrency = case
    settings = load(tmp_path, dialect, stack, bucket, extra)
    with open_store(settings) as store:
        writer = write_and_check(store, "big.bin")
    assert writer.concurrency == concurrency
    held = concurrency + 1  # those uploading and the one being filled
    assert PART <= writer.buffer_high_water <= held * PART


@pytest.mark.parametrize("wire_log", [False, True], ids=["obstore-store", "botocore-store"])
def test_without_a_cap_the_write_holds_concurrency_plus_one_parts(
    tmp_path: Path, stack: StackInfo, bucket: str, wire_log: bool
) -> None:
    extra = f"s3.wire.logging: {str(wire_log).lower()}\n"
    settings = load(tmp_path, fluss, stack, bucket, extra)
    with open_store(settings) as store:
        writer = write_and_check(store, "big.bin")
    assert isinstance(writer, StreamingWriter if wire_log else MultipartWriter)
    assert writer.concurrency == 4
    # The bound holds; and the write did use more than the capped tests allow it, so the caps
    # above are what kept them lower.
    assert 3 * PART < writer.buffer_high_water <= 5 * PART


@pytest.mark.parametrize(
    ("wire_log", "slack"),
    # Under one part either way, so that a whole part the writer forgot to count shows.
    [(False, 1 * MiB), (True, 9 * MiB // 2)],
    ids=["obstore-store", "botocore-store"],
)
def test_the_count_is_what_python_really_held(
    tmp_path: Path, stack: StackInfo, bucket: str, wire_log: bool, slack: int
) -> None:
    """tracemalloc sees every Python allocation: a copy the writer forgot to count shows here.

    ``slack`` is what the clients allocate besides the parts: measured, about 100 KiB on
    obstore's path, and 2 to 3 MiB with botocore (about 2 MiB per request in flight).
    """
    extra = f"tierstore.upload.buffer.max: 15MB\ns3.wire.logging: {str(wire_log).lower()}\n"
    settings = load(tmp_path, fluss, stack, bucket, extra)
    with open_store(settings) as store:
        write_and_check(store, "warm-up.bin")  # clients, pools and threads made beforehand
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            writer, digest = write(store, "big.bin")
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        check(store, "big.bin", digest)
    assert writer.buffer_high_water <= 3 * PART
    assert peak <= writer.buffer_high_water + slack, peak - writer.buffer_high_water


def test_put_of_bytes_in_memory_sends_views_at_the_lowered_concurrency(
    tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    settings = load(tmp_path, fluss, stack, bucket, "tierstore.upload.buffer.max: 15MB\n")
    data = hashlib.sha256(b"put").digest() * (SIZE // 32)
    with open_store(settings) as store:
        store.put("put.bin", data)
        assert hashlib.sha256(store.get("put.bin")).digest() == hashlib.sha256(data).digest()


def test_an_aborted_write_lets_every_buffer_go(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    settings = load(tmp_path, fluss, stack, bucket, "tierstore.upload.buffer.max: 15MB\n")
    with open_store(settings) as store:
        writer = store.open_write("aborted.bin")
        assert isinstance(writer, MultipartWriter)
        stream(writer, 4 * PART + MiB)
        assert writer.buffer_bytes > 0
        writer.abort()
    assert writer.buffer_bytes == 0
    assert admin_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_cap_below_two_parts_is_refused_when_the_write_opens(
    tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    """Settings built in code skip the readers' checks; the writer still names the key."""
    settings = load(tmp_path, fluss, stack, bucket)
    multipart = MultipartSettings(part_size=8 * MiB, concurrency=4, buffer_max=12 * MiB)
    with open_store(replace(settings, multipart=multipart)) as store, pytest.raises(ConfigError) as caught:
        store.open_write("never.bin")
    message = str(caught.value)
    assert message.startswith("tierstore.upload.buffer.max (multipart.buffer_max): 12 MiB is below")
    assert "use at least 16 MiB (16777216 bytes)" in message
