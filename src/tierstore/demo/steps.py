"""What the demo's parts share: numbered, timed steps with notes, and a plain boto3 client.

The boto3 client is the independent observer: it sets up buckets and reads results back
without tierstore's own code in the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tierstore.local.info import StackInfo

Note = Callable[[str], None]


class Steps:
    def __init__(self) -> None:
        self.number = 0

    def section(self, title: str) -> None:
        print(f"\n{title}")

    @contextmanager
    def step(self, title: str) -> Iterator[Note]:
        self.number += 1
        started = time.perf_counter()
        notes: list[str] = []
        yield notes.append
        elapsed = time.perf_counter() - started
        print(f"{self.number:>2}. {title} [{elapsed:.2f} s]")
        for note in notes:
            print(f"      {note}")


def admin_s3(info: StackInfo) -> Any:
    """boto3's S3 client signed with the stack's admin keys (path style)."""
    import boto3
    from botocore.config import Config

    admin = info.admin
    return boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        config=Config(s3={"addressing_style": "path"}),
    )
