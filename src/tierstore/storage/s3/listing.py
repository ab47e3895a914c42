"""Listings: botocore's ListObjectsV2 pages, and repairing directory markers in obstore's.

obstore strips the trailing ``/`` of a directory marker (``d/`` comes back as ``d``), so a
marker looks like an empty file. A zero-byte entry followed by entries under it is a marker;
a childless one is asked about with one HEAD. Delimited listings go through botocore, which
keeps markers and common prefixes exactly as the store returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from tierstore.storage.interface import ListPage, ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
Call = Callable[[str, "str | None", Callable[[], T]], T]


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
) -> Iterator[ListPage]:
    directory = prefix.rstrip("/")
    request: dict[str, Any] = {
        "Bucket": bucket,
        "Prefix": f"{base_prefix}{directory}/" if directory else base_prefix,
        "MaxKeys": page_size,
    }
    if delimiter:
        request["Delimiter"] = delimiter
    if start_after:
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
        )
        if not response.get("IsTruncated"):
            return
        request["ContinuationToken"] = response["NextContinuationToken"]
        request.pop("StartAfter", None)


def repair_markers(entries: Iterable[ObjectInfo], is_marker: Callable[[str], bool]) -> Iterator[ObjectInfo]:
    """Give obstore's stripped markers back their ``/``."""
    pending: ObjectInfo | None = None
    for entry in entries:
        if pending is not None:
            if entry.key.startswith(f"{pending.key}/"):
                yield ObjectInfo(f"{pending.key}/", 0, pending.etag, pending.last_modified)
            else:
                yield _resolve(pending, is_marker)
            pending = None
        if entry.size == 0:
            pending = entry
        else:
            yield entry
    if pending is not None:
        yield _resolve(pending, is_marker)


def _resolve(entry: ObjectInfo, is_marker: Callable[[str], bool]) -> ObjectInfo:
    if is_marker(entry.key):
        return ObjectInfo(f"{entry.key}/", 0, entry.etag, entry.last_modified)
    return entry


def pages_of(entries: Iterable[ObjectInfo], page_size: int) -> Iterator[ListPage]:
    page: list[ObjectInfo] = []
    for entry in entries:
        page.append(entry)
        if len(page) == page_size:
            yield ListPage(objects=page)
            page = []
    if page:
        yield ListPage(objects=page)
