"""``head`` through botocore: the wire-logged store's only way, and the S3
store's for what obstore cannot do (keys with control characters, answers whose metadata obstore
refuses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tierstore.storage.interface import ObjectInfo
from tierstore.storage.s3 import attributes as s3_attributes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# (operation, key, call): the call's botocore failures mapped to tierstore's errors
ControlCall = Callable[[str, str, Callable[[], Any]], Any]


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
    )
