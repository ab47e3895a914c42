"""The store client part of the demo: objects written and read back on the local stack.

A single put, a streamed multipart write, a ranged read, copy, listing, a presigned URL and a
write refused for the read-only user, all through ``tierstore.storage``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import urllib.request

from tierstore.demo.steps import Steps
from tierstore.errors import AccessDeniedError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, Encryption, MultipartSettings, StoreLocation, StoreSettings
from tierstore.storage.factory import open_backend
from tierstore.storage.s3.store import S3Store

MiB = 1024 * 1024


def _settings(info: StackInfo, bucket: str, user: str, **changes: object) -> StoreSettings:
    keys = info.users[user]
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket=bucket, prefix="demo/"),
        endpoint=info.endpoint,
        region=info.region,
        keys=AccessKeys(keys.access_key_id, keys.secret_access_key),
        multipart=MultipartSettings(part_size=8 * MiB, concurrency=4),
        **changes,  # type: ignore[arg-type]
    )


def run_store_part(info: StackInfo, steps: Steps, *, size: int) -> None:
    bucket = f"demo-{secrets.token_hex(4)}"
    settings = _settings(info, bucket, "admin", encryption=Encryption("AES256"))
    store = open_backend(settings)
    assert isinstance(store, S3Store)
    with store:
        with steps.step(f"bucket s3://{bucket} created") as note:
            store.ensure_bucket()
            note("path-style addressing (endpoint is an IP address), SSE-S3 (AES256) on every write")

        with steps.step("put demo/notes/hello.txt") as note:
            result = store.put("notes/hello.txt", b"hello from tierstore\n")
            note(f"etag {result.etag}")

        payload = os.urandom(size)
        with steps.step(f"streamed write demo/data/big.bin ({size // MiB} MiB in 8 MiB parts)") as note:
            started = time.perf_counter()
            with store.open_write("data/big.bin") as writer:
                for offset in range(0, size, 4 * MiB):
                    writer.write(payload[offset : offset + 4 * MiB])
            note(f"{size / MiB / (time.perf_counter() - started):.0f} MiB/s, etag {writer.close().etag}")

        with steps.step("read back big.bin") as note:
            started = time.perf_counter()
            data = store.get("data/big.bin")
            rate = size / MiB / (time.perf_counter() - started)
            same = hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
            note(f"{rate:.0f} MiB/s, sha256 {'matches' if same else 'DIFFERS'}")
            if not same:
                raise SystemExit("read-back mismatch")

        with steps.step("ranged read of bytes [1000, 1100)") as note:
            ranged = store.get("data/big.bin", start=1000, end=1100)
            note(f"{len(ranged)} bytes, {'match' if ranged == payload[1000:1100] else 'DIFFER'}")

        with steps.step("copy, list and presign") as note:
            store.copy("notes/hello.txt", "notes/copy.txt")
            listed = [f"{item.key} ({item.size} B)" for item in store.list()]
            note("objects: " + ", ".join(listed))
            url = store.presign("GET", "notes/copy.txt", expires_seconds=300)
            with urllib.request.urlopen(url, timeout=10) as response:
                note(f"presigned GET answered {response.status}: {response.read().decode().strip()!r}")

        with (
            steps.step("read-only user tries to write") as note,
            open_backend(_settings(info, bucket, "reader")) as reader,
        ):
            try:
                reader.put("notes/forbidden.txt", b"no")
                note("UNEXPECTED: the write was allowed")
            except AccessDeniedError as error:
                note(f"refused as expected: {error}")

        with steps.step("clean up") as note:
            store.delete_many([item.key for item in store.list()])
            left = store.list_multipart_uploads()
            note(f"objects deleted; {len(left)} multipart uploads left behind")
            store.control.delete_bucket(Bucket=bucket)
