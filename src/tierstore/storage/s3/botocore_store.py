"""The S3 backend over botocore alone: the traced transport used when wire logging is on.

obstore's Rust HTTP client exposes no hook to see requests, so with ``wire_log`` on every call
goes through botocore, whose events let each request and response be logged (redacted). It is
slower than the obstore path and meant for diagnosing a store, not for moving bulk data.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions

from tierstore.credentials.source import CredentialSource
from tierstore.errors import NotFoundError, StoreError
from tierstore.settings.model import StoreSettings
from tierstore.storage.interface import (
    HttpMethod,
    ListPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectWriter,
    OpenedRead,
    PartSpan,
    PutResult,
    Store,
    WriteCondition,
)
from tierstore.storage.ranges import ByteRange
from tierstore.storage.s3 import attributes as s3_attributes
from tierstore.storage.s3 import botocore_reads
from tierstore.storage.s3 import errors as error_map
from tierstore.storage.s3.botocore_client import build_s3_client, sse_request_fields
from tierstore.storage.s3.conditions import botocore_condition
from tierstore.storage.s3.listing import botocore_pages
from tierstore.storage.s3.parts import HeldPart, forget_locals
from tierstore.storage.s3.reads import open_checked
from tierstore.storage.s3.writer import StreamingWriter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
_DELETE_BATCH = 1000


class BotocoreS3Store(Store):
    def __init__(self, settings: StoreSettings, credentials: CredentialSource) -> None:
        self._settings = settings
        self._credentials = credentials
        self.bucket = settings.location.bucket
        self.base_prefix = settings.location.prefix
        self.control: S3Client = build_s3_client(settings, credentials)

    @property
    def description(self) -> str:
        return self._settings.location.uri

    def full_key(self, key: str) -> str:
        return f"{self.base_prefix}{key}"

    def _call(self, operation: str, key: str | None, action: Callable[[], T]) -> T:
        try:
            return action()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            shown = None if key is None else self.full_key(key)
            raise error_map.from_botocore(error, operation, self.bucket, shown) from None

    def _sse(self) -> dict[str, Any]:
        return sse_request_fields(self._settings)

    def head(self, key: str) -> ObjectInfo:
        return botocore_reads.head(
            self.control, self._call, bucket=self.bucket, full_key=self.full_key(key), key=key
        )

    def part_span(self, key: str, number: int) -> PartSpan:
        return botocore_reads.part_span(
            self.control, self._call, bucket=self.bucket, full_key=self.full_key(key), key=key, number=number
        )

    def open_read(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> OpenedRead:
        wanted = ByteRange(start, end, suffix)
        full_key = self.full_key(key)
        return open_checked(
            lambda: botocore_reads.open_read(
                self.control,
                self._call,
                bucket=self.bucket,
                full_key=full_key,
                key=key,
                wanted=wanted,
                if_match=if_match,
                chunk_size=chunk_size,
            ),
            lambda: self.head(key),
            wanted,
            (self.bucket, full_key),
        )

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        extra: dict[str, Any] = {}
        if start is not None or end is not None:
            first = start or 0
            if end is not None and end <= first:
                return b""
            extra["Range"] = f"bytes={first}-" if end is None else f"bytes={first}-{end - 1}"
        try:
            response = self._call(
                "GET",
                key,
                lambda: self.control.get_object(Bucket=self.bucket, Key=self.full_key(key), **extra),
            )
        except StoreError as error:
            if "InvalidRange" in str(error):
                return b""
            raise
        return response["Body"].read()

    def iter_read(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        response = self._call(
            "GET", key, lambda: self.control.get_object(Bucket=self.bucket, Key=self.full_key(key))
        )
        yield from response["Body"].iter_chunks(chunk_size)

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        body = bytes(data)
        fields = {**self._sse(), **s3_attributes.for_botocore(attributes), **botocore_condition(condition)}
        response = self._call(
            "PUT",
            key,
            lambda: self.control.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=body, **fields),
        )
        return PutResult(key=key, etag=response.get("ETag"))

    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        return StreamingWriter(
            plan=self._settings.multipart.plan(),
            upload_parts=functools.partial(self._upload_parts, key, attributes),
            upload_single=functools.partial(self.put, key, attributes=attributes),
        )

    def _upload_parts(
        self, key: str, attributes: ObjectAttributes | None, parts: Iterator[HeldPart[bytes]]
    ) -> PutResult:
        full = self.full_key(key)
        fields = {**self._sse(), **s3_attributes.for_botocore(attributes)}
        created = self._call(
            "PUT (multipart)",
            key,
            lambda: self.control.create_multipart_upload(Bucket=self.bucket, Key=full, **fields),
        )
        upload_id = created["UploadId"]
        concurrency = self._settings.multipart.plan().concurrency
        try:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="tierstore-part") as pool:
                pending: list[Future[dict[str, Any]]] = []
                for number, part in enumerate(parts, start=1):
                    pending.append(pool.submit(self._upload_part, key, upload_id, number, part))
                    # Wait for the oldest part when the window is full, so that no part waits
                    # in the pool's queue (the writer's tickets bound the memory).
                    while sum(not future.done() for future in pending) >= concurrency:
                        next(future for future in pending if not future.done()).result()
                completed = [future.result() for future in pending]
            response = self._call(
                "PUT (multipart complete)",
                key,
                lambda: self.control.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": completed},  # type: ignore[typeddict-item]
                ),
            )
        except BaseException:
            self._abort(full, upload_id)
            raise
        return PutResult(key=key, etag=response.get("ETag"))

    def _upload_part(self, key: str, upload_id: str, number: int, part: HeldPart[bytes]) -> dict[str, Any]:
        try:
            return self._send_part(key, upload_id, number, part)
        except BaseException as error:
            forget_locals(error)
            raise
        finally:
            # Only now is the frame that held the bytes gone: off the count, ticket back.
            part.release()

    def _send_part(self, key: str, upload_id: str, number: int, part: HeldPart[bytes]) -> dict[str, Any]:
        data = part.take()
        response = self._call(
            "PUT (part)",
            key,
            lambda: self.control.upload_part(
                Bucket=self.bucket, Key=self.full_key(key), UploadId=upload_id, PartNumber=number, Body=data
            ),
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _abort(self, full_key: str, upload_id: str) -> None:
        # The original failure is what the caller needs to see; the upload id is in the wire log.
        with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            self.control.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)

    def copy(self, source_key: str, dest_key: str, *, attributes: ObjectAttributes | None = None) -> None:
        source = {"Bucket": self.bucket, "Key": self.full_key(source_key)}
        fields = self._sse()
        if attributes is not None:
            fields.update(MetadataDirective="REPLACE", **s3_attributes.for_botocore(attributes))
        self._call(
            f"COPY from {self.full_key(source_key)} to",
            dest_key,
            lambda: self.control.copy_object(
                Bucket=self.bucket,
                Key=self.full_key(dest_key),
                CopySource=source,  # type: ignore[arg-type]
                **fields,
            ),
        )

    def delete(self, key: str) -> None:
        try:
            self._call(
                "DELETE", key, lambda: self.control.delete_object(Bucket=self.bucket, Key=self.full_key(key))
            )
        except NotFoundError:
            return

    def delete_many(self, keys: Iterable[str]) -> None:
        batch: list[str] = []
        for key in [*keys, None]:
            if key is not None:
                batch.append(key)
            if batch and (key is None or len(batch) == _DELETE_BATCH):
                self._delete_batch(batch)
                batch = []

    def _delete_batch(self, keys: list[str]) -> None:
        objects = [{"Key": self.full_key(key)} for key in keys]
        response = self._call(
            "DELETE",
            keys[0],
            lambda: self.control.delete_objects(Bucket=self.bucket, Delete={"Objects": objects}),  # type: ignore[typeddict-item]
        )
        failed = response.get("Errors", [])
        if failed:
            first = failed[0]
            error = botocore.exceptions.ClientError(
                {"Error": {"Code": first.get("Code", ""), "Message": ""}}, "DeleteObjects"
            )
            raise error_map.from_botocore(
                error, f"DELETE ({len(failed)} keys failed)", self.bucket, first.get("Key")
            )

    def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
        etags: bool = False,  # S3 lists every ETag anyway
    ) -> Iterator[ListPage]:
        if delimiter is not None and delimiter != "/":
            raise ValueError(f"delimiter {delimiter!r} is not supported: use '/' or none")
        return botocore_pages(
            self.control,
            lambda action: self._call("LIST", prefix or None, action),
            bucket=self.bucket,
            base_prefix=self.base_prefix,
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            page_size=page_size,
            resume=resume,
        )

    def put_directory_marker(self, prefix: str) -> None:
        marker = f"{prefix.rstrip('/')}/"
        self._call(
            "PUT (directory marker)",
            marker,
            lambda: self.control.put_object(
                Bucket=self.bucket, Key=self.full_key(marker), Body=b"", **self._sse()
            ),
        )

    def presign(self, method: HttpMethod, key: str, *, expires_seconds: int = 3600) -> str:
        operation = {
            "GET": "get_object",
            "PUT": "put_object",
            "HEAD": "head_object",
            "DELETE": "delete_object",
        }[method]
        return self._call(
            f"PRESIGN {method}",
            key,
            lambda: self.control.generate_presigned_url(
                operation,
                Params={"Bucket": self.bucket, "Key": self.full_key(key)},
                ExpiresIn=expires_seconds,
            ),
        )

    def close(self) -> None:
        self.control.close()

    def __repr__(self) -> str:
        return (
            f"BotocoreS3Store({self.description}, endpoint={self._settings.endpoint}, "
            f"credentials={self._credentials.name})"
        )
