"""Whole-object reads of large objects into one buffer, resumed from the byte reached.

obstore reads fast but hands back its own buffer, and turning that into ``bytes`` costs a full
copy: measured here, 2.2 CPU s/GiB and ~400 MiB/s against ~650 MiB/s for a client that reads the
body straight into memory of its own. So a large whole-object read fetches a URL that obstore
signs (locally, with the same credentials and session token) through urllib3, reading into one
preallocated buffer. When the store fails mid-body, the next attempt asks only for the bytes not
yet read (``Range``), of the same version (``If-Match`` on the ETag).
"""

from __future__ import annotations

from collections.abc import Callable

import urllib3

from tierstore.errors import ConflictError, StoreError
from tierstore.settings.model import StoreSettings
from tierstore.storage.s3.http_pool import answer_error, pool_for, unreachable
from tierstore.storage.s3.retry import RetryPolicy

_READ_INTO = 8 * 1024 * 1024


class _Progress:
    def __init__(self) -> None:
        self.reached = 0


class BulkReader:
    def __init__(self, settings: StoreSettings) -> None:
        self._pool = pool_for(settings, connections=8)
        self._policy = RetryPolicy.from_settings(settings)

    def fetch(self, sign: Callable[[], str], *, size: int, etag: str | None, bucket: str, key: str) -> bytes:
        """The object's ``size`` bytes from presigned URLs ``sign()`` makes, as one ``bytes``."""
        buffer = bytearray(size)
        progress = _Progress()
        attempts = self._policy.attempts()
        with memoryview(buffer) as view:
            while progress.reached < size:
                before = progress.reached
                try:
                    self._read_into(sign(), view, progress, etag=etag, where=(bucket, key))
                except StoreError as error:
                    if progress.reached > before:
                        attempts.progressed()
                    attempts.failed(error)
        return bytes(buffer)

    def _read_into(
        self, url: str, view: memoryview, progress: _Progress, *, etag: str | None, where: tuple[str, str]
    ) -> None:
        bucket, key = where
        headers = {}
        if progress.reached:
            headers["Range"] = f"bytes={progress.reached}-"
        if etag:
            headers["If-Match"] = etag
        try:
            response = self._pool.request("GET", url, headers=headers, preload_content=False)
        except urllib3.exceptions.HTTPError as error:
            raise unreachable(error, "GET", bucket, key) from None
        try:
            if response.status == 412:
                raise ConflictError(
                    f"GET s3://{bucket}/{key} failed: the object changed while it was read; read it again",
                    bucket=bucket,
                    key=key,
                )
            if response.status not in (200, 206):
                raise answer_error(response, "GET", bucket, key)
            while progress.reached < len(view):
                end = min(len(view), progress.reached + _READ_INTO)
                try:
                    got = response.readinto(view[progress.reached : end])
                except (urllib3.exceptions.HTTPError, OSError) as error:
                    raise unreachable(error, "GET", bucket, key) from None
                if not got:
                    raise unreachable(ConnectionError("the body ended early"), "GET", bucket, key)
                progress.reached += got
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pool.clear()
