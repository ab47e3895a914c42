"""Listings through botocore's ListObjectsV2, which keeps directory markers and common prefixes
exactly as the store returns them, and paging for listings made entry by entry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from tierstore.storage.interface import ListPage, ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def botocore_pages(
    client: S3Client,
    call: Callable[[Callable[[], Any]], Any],
    *,
    bucket: str,
    base_prefix: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    page_size: int,
    resume: str | None = None,
) -> Iterator[ListPage]:
    directory = prefix.rstrip("/")
    request: dict[str, Any] = {
        "Bucket": bucket,
        "Prefix": f"{base_prefix}{directory}/" if directory else base_prefix,
        "MaxKeys": page_size,
    }
    if delimiter:
        request["Delimiter"] = delimiter
    if resume:
        request["ContinuationToken"] = resume
    elif start_after:
        request["StartAfter"] = f"{base_prefix}{start_after}"
    cut = len(base_prefix)
    own_marker = request["Prefix"]
    while True:
        response = call(lambda: client.list_objects_v2(**request))
        yield ListPage(
            objects=[
                ObjectInfo(
                    key=item["Key"][cut:],
                    size=item["Size"],
                    etag=item.get("ETag"),
                    last_modified=item.get("LastModified"),
                )
                for item in response.get("Contents", [])
                # The directory's own marker is the directory, not an entry in it.
                if item["Key"] != own_marker
            ],
            prefixes=[entry["Prefix"][cut:] for entry in response.get("CommonPrefixes", [])],
            resume=response.get("NextContinuationToken") if response.get("IsTruncated") else None,
        )
        if not response.get("IsTruncated"):
            return
        request["ContinuationToken"] = response["NextContinuationToken"]
        request.pop("StartAfter", None)


def pages_of(entries: Iterable[ObjectInfo], page_size: int) -> Iterator[ListPage]:
    page: list[ObjectInfo] = []
    for entry in entries:
        page.append(entry)
        if len(page) == page_size:
            yield ListPage(objects=page)
            page = []
    if page:
        yield ListPage(objects=page)
