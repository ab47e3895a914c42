"""``head`` and ``open_read`` through botocore: the wire-logged store's only way, and the S3
store's for what obstore cannot do (keys with control characters, answers whose metadata obstore
refuses). botocore retries a request that failed before its answer; its body is read as it
comes, and a failure there is raised."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import urllib3.exceptions

from tierstore.errors import InvalidPartNumberError, StoreError
from tierstore.storage.chunks import ReaderChunks
from tierstore.storage.interface import ObjectInfo, OpenedRead, PartSpan
from tierstore.storage.ranges import ByteRange
from tierstore.storage.s3 import attributes as s3_attributes
from tierstore.storage.s3.reads import NotSatisfiable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# (operation, key, call): the call's botocore failures mapped to tierstore's errors
ControlCall = Callable[[str, str, Callable[[], Any]], Any]
_TOTAL = re.compile(r"/(\d+)$")
_SERVED = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_BODY_ERRORS = (
    botocore.exceptions.BotoCoreError,
    urllib3.exceptions.HTTPError,
    OSError,
)


def head(control: S3Client, call: ControlCall, *, bucket: str, full_key: str, key: str) -> ObjectInfo:
    response = call("HEAD", key, lambda: control.head_object(Bucket=bucket, Key=full_key))
    content_type, metadata = s3_attributes.from_botocore(response)
    return ObjectInfo(
        key=key,
        size=int(response["ContentLength"]),
        etag=response.get("ETag"),
        last_modified=response.get("LastModified"),
        content_type=content_type,
        metadata=metadata,
        headers=s3_attributes.headers_from_botocore(response),
    )


def part_span(
    control: S3Client, call: ControlCall, *, bucket: str, full_key: str, key: str, number: int
) -> PartSpan:
    """HeadObject with ``PartNumber``: the part's range in ``Content-Range`` and the object's
    part count in ``x-amz-mp-parts-count`` (absent for an object written in one piece; obstore
    cannot ask this). A part the object lacks is 416 (AWS, SeaweedFS): InvalidPartNumberError."""

    def head() -> Any:
        try:
            return control.head_object(Bucket=bucket, Key=full_key, PartNumber=number)
        except botocore.exceptions.ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 416:
                raise InvalidPartNumberError(
                    f"HEAD s3://{bucket}/{full_key} part {number}: the object has fewer parts",
                    bucket=bucket,
                    key=key,
                ) from None
            raise

    response = call("HEAD", key, head)
    content_type, metadata = s3_attributes.from_botocore(response)
    length = int(response["ContentLength"])
    served = _SERVED.fullmatch(str(response.get("ContentRange") or ""))
    if served is None:  # a store that answers the whole object without saying which bytes
        first, size = 0, length
    else:
        first, size = int(served.group(1)), int(served.group(3))
    info = ObjectInfo(
        key=key,
        size=size,
        etag=response.get("ETag"),
        last_modified=response.get("LastModified"),
        content_type=content_type,
        metadata=metadata,
        headers=s3_attributes.headers_from_botocore(response),
    )
    count = int(response.get("PartsCount") or 1)
    return PartSpan(number=number, start=first, end=first + length, count=count, info=info)


def open_read(
    control: S3Client,
    call: ControlCall,
    *,
    bucket: str,
    full_key: str,
    key: str,
    wanted: ByteRange,
    if_match: str | None,
    chunk_size: int,
) -> OpenedRead:
    """One GetObject; raises :class:`~tierstore.storage.s3.reads.NotSatisfiable` on 416."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": full_key}
    header = wanted.header()
    if header is not None:
        request["Range"] = header
    if if_match is not None:
        request["IfMatch"] = if_match

    def get() -> Any:
        try:
            return control.get_object(**request)
        except botocore.exceptions.ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 416:
                raise NotSatisfiable(str(error)) from None
            raise

    response = call("GET", key, get)
    content_type, metadata = s3_attributes.from_botocore(response)
    length = int(response["ContentLength"])
    served = response.get("ContentRange")  # "bytes 0-9/100" for a ranged answer
    total = _TOTAL.search(served) if served else None
    first = int(served.split(" ")[1].split("-")[0]) if served else 0
    info = ObjectInfo(
        key=key,
        size=int(total.group(1)) if total else length,
        etag=response.get("ETag"),
        last_modified=response.get("LastModified"),
        content_type=content_type,
        metadata=metadata,
        headers=s3_attributes.headers_from_botocore(response),
    )
    where = f"s3://{bucket}/{full_key}"
    chunks = ReaderChunks(
        response["Body"],
        length,
        chunk_size,
        short=lambda: StoreError(f"GET {where} failed: the body ended early", bucket=bucket, key=full_key),
        failed=lambda error: StoreError(
            f"GET {where} failed while its body was read ({type(error).__name__})",
            bucket=bucket,
            key=full_key,
        ),
        errors=_BODY_ERRORS,
    )
    return OpenedRead(info=info, start=first, end=first + length, chunks=chunks)
