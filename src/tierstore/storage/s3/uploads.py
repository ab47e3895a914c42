"""The S3 gateway's multipart uploads on an S3 store: the bucket's own multipart uploads.

Control calls (create, copy a part, complete, abort, list) go through botocore, as in
:mod:`.multipart`. A part's bytes go as one PUT to a URL botocore presigns, sent by the store's
urllib3 pool from the caller's chunks as they come (``Content-Length`` set, so never held whole);
its MD5 is computed on the way and checked against the ETag the store answers (unless the store
encrypts with settings that make ETags something else), so a part damaged in flight is refused
and the client sends it again. Once the first chunk was taken nothing is retried: the chunks
cannot be read twice, and the client retries the part. No part carries a CRC32 checksum (the
tierstore writer's ``checksum_mode``): it would have to be known before the first byte is sent.

Nothing here aborts an upload on its own or records it in the upload journal: the client owns
it. Left-over ones go by the store's lifecycle rules or the server's age-based clean-up
(:mod:`tierstore.namespace.uploads`), which never touches an upload younger than its age.

What SeaweedFS (4.48) answers, measured against it, and what is done about it:

- Upload ids are ``<40 hex of the key's hash>_<uuid>``: any call naming another key's upload id
  answers ``NoSuchUpload`` (404), as do unknown, aborted and completed ids.
- A part number outside 1..10000 answers ``InvalidPart`` (400) at UploadPart; checked here
  first, as S3's ``InvalidArgument``.
- CompleteMultipartUpload: a missing part or a wrong ETag is ``InvalidPart``, descending numbers
  ``InvalidPartOrder``, a small part other than the last ``EntityTooSmall`` (checked before the
  ETags, where S3 checks them after: a missing part or a wrong ETag is then said first here, as
  S3 would), all 400 with messages that name no part: the part at fault is found with ListParts.
  A list naming one number twice is accepted (one copy kept) where S3 refuses it, so the order is
  checked here before the call. An empty list answers ``NoSuchUpload``: refused here first.
  Completing a completed upload again answers 200 with the same ETag, so a retried complete whose
  first answer was lost succeeds.
- AbortMultipartUpload of a completed upload answers 200 (S3 answers NoSuchUpload).
- UploadPartCopy answers its ETag without quotes (quoted here); a range past the source's end is
  ``InvalidRange`` (416).
- A part sent again is stored beside the earlier one: ListParts lists both (in no order, their
  LastModified to the second), and CompleteMultipartUpload takes the ETag of either. Here
  ListParts gives the one modified last (which one of two sent within the same second is not
  known), and a completion naming the earlier ETag completes with the earlier bytes where S3
  refuses it as ``InvalidPart``: checking it here would need that unknowable order.
- ListMultipartUploads lists by upload id, not by key, answers no ``NextKeyMarker`` and reads its
  key-marker in its own way: the uploads under the prefix are listed whole (following its own
  markers) and sorted and cut into S3's pages here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions
import urllib3

from tierstore.errors import (
    EntityTooSmallError,
    InvalidArgumentError,
    InvalidPartError,
    InvalidPartOrderError,
    MultipartError,
    NoSuchUploadError,
    StoreError,
)
from tierstore.settings.model import StoreSettings
from tierstore.storage.interface import ObjectAttributes, PutResult
from tierstore.storage.s3 import attributes as s3_attributes
from tierstore.storage.s3 import errors as error_map
from tierstore.storage.s3.botocore_client import sse_request_fields
from tierstore.storage.s3.http_pool import unreachable
from tierstore.storage.s3.retry import RetryPolicy
from tierstore.storage.uploads import (
    MAX_LISTED,
    MIN_PART_SIZE,
    MultipartUploads,
    UploadedPart,
    UploadInfo,
    bare_etag,
    check_completion,
    check_limit,
    check_part_length,
    check_part_number,
    page_of_uploads,
    quoted,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
_URL_SECONDS = 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class S3MultipartUploads(MultipartUploads):
    def __init__(
        self,
        settings: StoreSettings,
        *,
        control: Callable[[], S3Client],
        pool: Callable[[], urllib3.PoolManager],
        policy: RetryPolicy,
    ) -> None:
        # Callables: the store makes its botocore client and pool on first use.
        self._control = control
        self._pool = pool
        self._policy = policy
        self.bucket = settings.location.bucket
        self.base_prefix = settings.location.prefix
        self._create_fields = sse_request_fields(settings)
        # With SSE-KMS (and SSE-C) S3's part ETags are not the parts' MD5s; SeaweedFS's with SSE
        # were not measured. Without encryption they are, on S3 and SeaweedFS alike.
        self._etag_is_md5 = settings.encryption is None

    # -- uploads ------------------------------------------------------------------------------

    def create(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key), **self._create_fields}
        if content_type is not None:
            request["ContentType"] = content_type
        if metadata:
            request["Metadata"] = dict(metadata)
        request |= s3_attributes.for_botocore(ObjectAttributes(headers=headers or {}))
        response = self._call(
            "CREATE multipart upload", key, None, lambda: self._control().create_multipart_upload(**request)
        )
        upload_id: str = response["UploadId"]
        return upload_id

    def upload_part(
        self, key: str, upload_id: str, number: int, chunks: Iterable[bytes], length: int
    ) -> UploadedPart:
        operation = f"PUT part {number} of"
        where = self._where(operation, key, upload_id)
        check_part_number(number, where)
        check_part_length(length, where)
        params = {"Bucket": self.bucket, "Key": self._full(key), "UploadId": upload_id, "PartNumber": number}
        url: str = self._call(
            operation,
            key,
            upload_id,
            lambda: self._control().generate_presigned_url(
                "upload_part", Params=params, ExpiresIn=_URL_SECONDS
            ),
        )
        body = _ExactBody(chunks, length, where)
        attempts = self._policy.attempts()
        while True:
            try:
                response = self._pool().request(
                    "PUT", url, body=body.stream(), headers={"Content-Length": str(length)}
                )
            except Exception as error:
                if body.failure is not None:
                    # The caller's chunks failed (its client went away, say): its exception, as it was.
                    raise body.failure from None
                if not isinstance(error, urllib3.exceptions.HTTPError):
                    raise
                failure = unreachable(error, operation, self.bucket, self._full(key))
                if body.started:
                    raise failure from None  # the chunks taken are gone: the client sends the part again
                attempts.failed(failure)
                continue
            break
        if response.status != 200:
            # An answer comes after the body was sent: not tried again whatever it says.
            code = error_map.error_code_in((response.data or b"").decode("utf-8", "replace"))
            fallback = error_map.from_status(code, response.status, operation, self.bucket, self._full(key))
            raise self._mapped(code, fallback, operation, key, upload_id=upload_id, part=number)
        etag = response.headers.get("ETag")
        if not etag:
            raise StoreError(f"{where}: the store answered without an ETag", bucket=self.bucket, key=key)
        if self._etag_is_md5 and bare_etag(etag) != body.md5.hexdigest():
            raise StoreError(
                f"{where}: the store's ETag {etag} is not the MD5 of the {length} bytes sent "
                f"({body.md5.hexdigest()}): the part was damaged on the way; send it again",
                bucket=self.bucket,
                key=key,
            )
        return UploadedPart(number=number, etag=quoted(etag), size=length, last_modified=datetime.now(UTC))

    def copy_part(  # noqa: PLR0917 - the gateway's API, field for field as S3's request
        self, key: str, upload_id: str, number: int, source_key: str, start: int | None, end: int | None
    ) -> UploadedPart:
        operation = f"COPY part {number} from {self._full(source_key)} to"
        where = self._where(operation, key, upload_id)
        check_part_number(number, where)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            "UploadId": upload_id,
            "PartNumber": number,
            "CopySource": {"Bucket": self.bucket, "Key": self._full(source_key)},
        }
        size: int | None = None
        if start is not None or end is not None:
            first = start or 0
            if end is None:
                # S3 takes no open-ended CopySourceRange: the source's size closes it.
                end = self._source_size(source_key)
            if first < 0 or end <= first:
                raise InvalidArgumentError(
                    f"{where}: the range [{start}, {end}) of {source_key!r} holds no byte",
                    bucket=self.bucket,
                    key=key,
                )
            request["CopySourceRange"] = f"bytes={first}-{end - 1}"
            size = end - first
        response = self._call(
            operation, key, upload_id, lambda: self._control().upload_part_copy(**request), part=number
        )
        result = response.get("CopyPartResult", {})
        etag = result.get("ETag")
        if not etag:
            raise StoreError(f"{where}: the store answered without an ETag", bucket=self.bucket, key=key)
        if size is None:
            # The whole source: its size as the store copied it, not as a HEAD before saw it.
            size = self._part_size(key, upload_id, number)
        modified = result.get("LastModified")
        return UploadedPart(
            number=number,
            etag=quoted(etag),
            size=size,
            last_modified=modified.astimezone(UTC) if isinstance(modified, datetime) else datetime.now(UTC),
        )

    def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> PutResult:
        operation = "COMPLETE multipart upload"
        check_completion(parts, self._where(operation, key, upload_id), key=key, upload_id=upload_id)
        listed: Any = {"Parts": [{"PartNumber": number, "ETag": quoted(etag)} for number, etag in parts]}
        try:
            response = self._call(
                operation,
                key,
                upload_id,
                lambda: self._control().complete_multipart_upload(
                    Bucket=self.bucket, Key=self._full(key), UploadId=upload_id, MultipartUpload=listed
                ),
            )
        except MultipartError as error:
            raise self._diagnosed(error, operation, key, upload_id, parts) from None
        etag = response.get("ETag")
        return PutResult(key=key, etag=quoted(etag) if etag else None)

    def abort(self, key: str, upload_id: str) -> None:
        self._call(
            "ABORT multipart upload",
            key,
            upload_id,
            lambda: self._control().abort_multipart_upload(
                Bucket=self.bucket, Key=self._full(key), UploadId=upload_id
            ),
        )

    def list_parts(
        self, key: str, upload_id: str, *, after: int = 0, limit: int = MAX_LISTED
    ) -> tuple[list[UploadedPart], bool]:
        operation = "LIST parts of"
        check_limit(limit, self._where(operation, key, upload_id))
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            "UploadId": upload_id,
            "MaxParts": limit,
        }
        if after:
            request["PartNumberMarker"] = after
        response = self._call(operation, key, upload_id, lambda: self._control().list_parts(**request))
        # SeaweedFS lists every upload of a part sent again, in no order: the latest is the part.
        latest: dict[int, UploadedPart] = {}
        for listed in response.get("Parts", []):
            part = UploadedPart(
                number=int(listed["PartNumber"]),
                etag=quoted(listed["ETag"]),
                size=int(listed["Size"]),
                last_modified=_utc(listed.get("LastModified")),
            )
            earlier = latest.get(part.number)
            if earlier is None or part.last_modified > earlier.last_modified:
                latest[part.number] = part
        return sorted(latest.values(), key=lambda part: part.number), bool(response.get("IsTruncated"))

    def list_uploads(
        self, prefix: str = "", *, after_key: str = "", after_upload_id: str = "", limit: int = MAX_LISTED
    ) -> tuple[list[UploadInfo], bool]:
        check_limit(limit, f"LIST multipart uploads s3://{self.bucket}/{self._full(prefix)}")
        return page_of_uploads(
            self._all_uploads(prefix), after_key=after_key, after_upload_id=after_upload_id, limit=limit
        )

    # -- helpers ------------------------------------------------------------------------------

    def _all_uploads(self, prefix: str) -> Iterator[UploadInfo]:
        """Every upload under ``prefix``, following the store's own markers whatever they are."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._full(prefix)}
        cut = len(self.base_prefix)
        while True:
            response = self._call(
                "LIST multipart uploads",
                prefix,
                None,
                lambda: self._control().list_multipart_uploads(**request),
            )
            for upload in response.get("Uploads", []):
                yield UploadInfo(
                    key=upload["Key"][cut:],
                    upload_id=upload["UploadId"],
                    initiated=_utc(upload.get("Initiated")),
                )
            # S3 gives both markers; SeaweedFS only the upload id's, and pages by it alone.
            markers: dict[str, str] = {}
            if response.get("NextKeyMarker"):
                markers["KeyMarker"] = response["NextKeyMarker"]
            if response.get("NextUploadIdMarker"):
                markers["UploadIdMarker"] = response["NextUploadIdMarker"]
            if not response.get("IsTruncated") or all(request.get(n) == v for n, v in markers.items()):
                return  # the last page, or markers that would ask for the same page again
            request.update(markers)

    def _source_size(self, source_key: str) -> int:
        head = self._call(
            "HEAD",
            source_key,
            None,
            lambda: self._control().head_object(Bucket=self.bucket, Key=self._full(source_key)),
        )
        return int(head["ContentLength"])

    def _part_size(self, key: str, upload_id: str, number: int) -> int:
        parts, _more = self.list_parts(key, upload_id, after=number - 1, limit=1)
        if not parts or parts[0].number != number:
            raise StoreError(
                f"{self._where('COPY part', key, upload_id)}: part {number} is not listed after its copy",
                bucket=self.bucket,
                key=key,
            )
        return parts[0].size

    def _diagnosed(
        self,
        error: MultipartError,
        operation: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
    ) -> MultipartError:
        """The store's refusal, naming the part at fault (SeaweedFS's messages name none)."""
        where = self._where(operation, key, upload_id)
        try:
            stored = self._every_part(key, upload_id)
        except StoreError:
            return error  # the refusal as the store gave it
        # SeaweedFS checks the sizes before the ETags; S3 (and the local backend) the ETags first.
        if isinstance(error, InvalidPartError | EntityTooSmallError):
            for number, etag in parts:
                found = stored.get(number)
                if found is None:
                    return InvalidPartError(
                        f"{where}: part {number} was never uploaded",
                        bucket=self.bucket,
                        key=key,
                        upload_id=upload_id,
                        part_number=number,
                    )
                if bare_etag(found.etag) != bare_etag(etag):
                    return InvalidPartError(
                        f"{where}: part {number}'s ETag is {found.etag}, not {quoted(etag)}",
                        bucket=self.bucket,
                        key=key,
                        upload_id=upload_id,
                        part_number=number,
                    )
        if isinstance(error, EntityTooSmallError):
            for number, _etag in parts[:-1]:
                found = stored.get(number)
                if found is not None and found.size < MIN_PART_SIZE:
                    return EntityTooSmallError(
                        f"{where}: part {number} holds {found.size} bytes: every part but the last "
                        f"must hold at least {MIN_PART_SIZE} (5 MiB)",
                        bucket=self.bucket,
                        key=key,
                        upload_id=upload_id,
                        part_number=number,
                    )
        return error

    def _every_part(self, key: str, upload_id: str) -> dict[int, UploadedPart]:
        found: dict[int, UploadedPart] = {}
        after = 0
        while True:
            parts, more = self.list_parts(key, upload_id, after=after)
            found.update((part.number, part) for part in parts)
            if not more or not parts:
                return found
            after = parts[-1].number

    def _call(
        self,
        operation: str,
        key: str,
        upload_id: str | None,
        action: Callable[[], T],
        *,
        part: int | None = None,
    ) -> T:
        """One control call (botocore retries it), its failure as tierstore's error."""
        try:
            return action()
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code") or "") or None
            fallback = error_map.from_botocore(error, operation, self.bucket, self._full(key))
            raise self._mapped(code, fallback, operation, key, upload_id=upload_id, part=part) from None
        except botocore.exceptions.BotoCoreError as error:
            raise error_map.from_botocore(error, operation, self.bucket, self._full(key)) from None

    def _mapped(
        self,
        code: str | None,
        fallback: StoreError,
        operation: str,
        key: str,
        *,
        upload_id: str | None,
        part: int | None,
    ) -> StoreError:
        """The store's answer as the upload errors S3's API names, else as any store error."""
        where = self._where(operation, key, upload_id)
        if code == "NoSuchUpload" and upload_id is not None:
            return NoSuchUploadError(
                f"{where}: no such upload (unknown, aborted, completed, or begun for another key)",
                bucket=self.bucket,
                key=key,
                upload_id=upload_id,
            )
        kinds: dict[str, tuple[type[MultipartError], str]] = {
            "InvalidPart": (InvalidPartError, "a listed part is missing or its ETag differs"),
            "InvalidPartOrder": (InvalidPartOrderError, "the parts are not listed in ascending order"),
            "EntityTooSmall": (
                EntityTooSmallError,
                f"a part other than the last holds less than {MIN_PART_SIZE} bytes (5 MiB)",
            ),
        }
        if code in kinds:
            kind, reason = kinds[code]
            message = f"{where}: {reason} ({code})"
            return kind(message, bucket=self.bucket, key=key, upload_id=upload_id, part_number=part)
        if code in ("InvalidRange", "InvalidArgument"):
            return InvalidArgumentError(str(fallback), bucket=self.bucket, key=key)
        return fallback

    def _full(self, key: str) -> str:
        return f"{self.base_prefix}{key}"

    def _where(self, operation: str, key: str, upload_id: str | None) -> str:
        upload = f" upload {upload_id}" if upload_id is not None else ""
        return f"{operation} s3://{self.bucket}/{self._full(key)}{upload}"


class _ExactBody:
    """The caller's chunks as a request body of exactly ``length`` bytes, hashed on the way.

    More bytes than declared are refused before the chunk that overflows is sent, fewer when the
    chunks end (the request is then cut, and the store stores no part). ``failure`` keeps what
    the caller's iterator raised, which urllib3 may wrap.
    """

    def __init__(self, chunks: Iterable[bytes], length: int, where: str) -> None:
        self._chunks = chunks
        self._length = length
        self._where = where
        self.started = False
        self.failure: BaseException | None = None
        self.md5 = hashlib.md5(usedforsecurity=False)

    def stream(self) -> Iterator[bytes]:
        self.started = True
        sent = 0
        iterator = iter(self._chunks)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            except BaseException as error:
                self.failure = error
                raise
            if not chunk:
                continue
            sent += len(chunk)
            if sent > self._length:
                self.failure = InvalidArgumentError(
                    f"{self._where}: the part's body holds more than the {self._length} bytes declared"
                )
                raise self.failure
            self.md5.update(chunk)
            yield chunk
        if sent < self._length:
            self.failure = InvalidArgumentError(
                f"{self._where}: the part's body ended after {sent} of the {self._length} bytes declared"
            )
            raise self.failure


def _utc(value: object) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else _EPOCH
