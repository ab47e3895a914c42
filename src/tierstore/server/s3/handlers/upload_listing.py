"""The listings of multipart uploads: ListParts (one upload's parts) and ListMultipartUploads (a
bucket's uploads in progress), paged as S3 pages them.

ListMultipartUploads lists the uploads of the bucket's directory: on the bucket's own mount
(where a bucket of the root mount is a prefix of the root store) and on every mount inside it,
each store key mapped back to its key in the bucket (:meth:`MultipartFiles.uploads_under`); the
caller must be able to read the bucket, and sees only the uploads below directories they may
read and search. The page is cut here, after S3's ``key-marker`` and ``upload-id-marker``, with
``delimiter`` grouping keys into common prefixes as ListObjects does.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.namespace.multipart import MultipartFiles
from tierstore.server.s3 import xml
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers.buckets import bucket_status, owner_of, xml_response
from tierstore.server.s3.handlers.upload_args import file_key, upload_id_of
from tierstore.storage.uploads import MAX_LISTED, MAX_PART_NUMBER, UploadedPart, UploadInfo, page_of_uploads


def _count(call: S3Call, name: str, default: int, top: int) -> int:
    """A query parameter that counts something: a whole number from 0, capped at ``top``."""
    text = call.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise S3Error(
            "InvalidArgument",
            f"{name} must be a whole number from 0, not {text[:20]!r}",
            details=[("ArgumentName", name), ("ArgumentValue", text[:20])],
        )
    return min(int(text), top)


async def list_parts(call: S3Call) -> Response:
    file_key(call)
    upload_id = upload_id_of(call)
    after = _count(call, "part-number-marker", 0, MAX_PART_NUMBER)
    max_parts = _count(call, "max-parts", MAX_LISTED, MAX_LISTED)

    def listed() -> tuple[list[UploadedPart], bool]:
        bucket_status(call.fs, call.bucket, call.resource)
        files = MultipartFiles(call.fs)
        # max-parts=0 lists nothing, but the upload must still be there (and the caller's).
        parts, more = files.list_parts(call.target.path, upload_id, after=after, limit=max(1, max_parts))
        if max_parts == 0:
            return [], False
        return parts, more

    parts, more = await run_in_threadpool(listed)
    body = xml.list_parts(
        call.bucket,
        call.key,
        upload_id,
        [xml.Part(part.number, part.last_modified, part.etag, part.size) for part in parts],
        owner=owner_of(call),
        part_number_marker=after,
        next_part_number_marker=parts[-1].number if parts else None,
        max_parts=max_parts,
        is_truncated=more,
    )
    return xml_response(body)


async def list_multipart_uploads(call: S3Call) -> Response:
    query = call.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    key_marker = query.get("key-marker", "")
    # S3 reads the upload-id-marker only with a key-marker.
    upload_id_marker = query.get("upload-id-marker", "") if key_marker else ""
    max_uploads = _count(call, "max-uploads", MAX_LISTED, MAX_LISTED)
    if max_uploads == 0:
        # A page of nothing could only say "more follow" with no marker to follow them by.
        raise S3Error(
            "InvalidArgument",
            f"max-uploads must be 1 to {MAX_LISTED}, not 0",
            details=[("ArgumentName", "max-uploads"), ("ArgumentValue", "0")],
        )
    encoding = query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error(
            "InvalidArgument",
            f"encoding-type may only be url, not {encoding[:20]!r}",
            details=[("ArgumentName", "encoding-type"), ("ArgumentValue", encoding[:20])],
        )

    def found() -> list[UploadInfo]:
        directory = bucket_status(call.fs, call.bucket, call.resource).path
        cut = len(directory.rstrip("/")) + 1
        uploads = MultipartFiles(call.fs).uploads_under(directory, prefix)
        return [UploadInfo(path[cut:], upload.upload_id, upload.initiated) for path, upload in uploads]

    everything = await run_in_threadpool(found)
    ordered, _ = page_of_uploads(
        everything,
        after_key=key_marker,
        after_upload_id=upload_id_marker,
        limit=len(everything) + 1,
    )
    page = _page(ordered, prefix, delimiter, key_marker, max_uploads)
    owner = owner_of(call)
    body = xml.list_multipart_uploads(
        call.bucket,
        [xml.Upload(upload.key, upload.upload_id, upload.initiated, owner) for upload in page.uploads],
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        next_key_marker=page.next_key,
        next_upload_id_marker=page.next_upload_id,
        max_uploads=max_uploads,
        is_truncated=page.truncated,
        common_prefixes=page.common_prefixes,
        url_encoded=encoding == "url",
    )
    return xml_response(body)


class _Page:
    def __init__(self) -> None:
        self.uploads: list[UploadInfo] = []
        self.common_prefixes: list[str] = []
        self.truncated = False
        self.next_key: str | None = None
        self.next_upload_id: str | None = None


def _page(
    ordered: list[UploadInfo], prefix: str, delimiter: str | None, key_marker: str, limit: int
) -> _Page:
    """At most ``limit`` uploads and common prefixes (each prefix counts once) from ``ordered``
    (sorted, already after the markers); the next markers when more follow."""
    page = _Page()
    taken = 0
    for upload in ordered:
        common = _common_prefix(upload.key, prefix, delimiter)
        if common is not None and (
            (page.common_prefixes and page.common_prefixes[-1] == common) or common <= key_marker
        ):
            continue  # its prefix was listed already (on this page or, as the marker, an earlier one)
        if taken == limit:
            page.truncated = True
            return page
        taken += 1
        if common is not None:
            page.common_prefixes.append(common)
            page.next_key, page.next_upload_id = common, None
        else:
            page.uploads.append(upload)
            page.next_key, page.next_upload_id = upload.key, upload.upload_id
    page.next_key = page.next_upload_id = None
    return page


def _common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]
