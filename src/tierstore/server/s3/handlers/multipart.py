"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts and ListMultipartUploads.

A key's upload lives in the store of the key's mount (:mod:`tierstore.storage.uploads`: an S3
mount's own multipart uploads, or parts staged under a local mount's root), reached through the
caller's view of the namespace (:mod:`tierstore.namespace.multipart`), which checks the caller's
bits before every call, as a write is checked. Upload ids are the store's.

**Parts stream**: UploadPart's body is pulled by the upload thread (the JSON API's upload pool,
within the user's upload slot) and sent to the store as it comes. The body's checks
(``Content-MD5``, ``x-amz-checksum-*``, signatures) give their verdict only at its end, and an
S3 store that received every declared byte of a part keeps it: so the last chunk is held back
until the body has ended cleanly (:func:`_verified`). A part that fails them (``BadDigest``)
reaches the store short, is not kept, and the upload goes on as it was.

UploadPartCopy copies within a store on the store; from another mount, the range is read there
and uploaded as it streams. A range past the source's end is ``InvalidRange``, a malformed one
``InvalidArgument``.

CompleteMultipartUpload sent again for an upload already completed answers as the first did when
the key still holds the object those parts made (its multipart ETag tells).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import quote, unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.errors import NoSuchUploadError, NotFoundError, StoreError
from tierstore.namespace.multipart import Completed, CopySource, MultipartFiles
from tierstore.server.s3 import xml
from tierstore.server.s3.addressing import named
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers import upload_listing
from tierstore.server.s3.handlers.buckets import bucket_status, xml_response
from tierstore.server.s3.handlers.conditions import bare_etag
from tierstore.server.s3.handlers.headers import etag_for, requested_attributes
from tierstore.server.s3.handlers.objects import _pulled, etag_of, explain_conflict
from tierstore.server.s3.handlers.upload_args import file_key, part_number_of, upload_id_of
from tierstore.storage.uploads import UploadedPart


def _files(call: S3Call) -> MultipartFiles:
    return MultipartFiles(call.fs)


async def create_multipart_upload(call: S3Call) -> Response:
    file_key(call)
    attributes = requested_attributes(call.headers)

    def create() -> str:
        bucket_status(call.fs, call.bucket, call.resource)
        return _files(call).create(call.target.path, attributes=attributes)

    upload_id = await run_in_threadpool(create)
    return xml_response(xml.initiate_multipart_upload(call.bucket, call.key, upload_id))


async def upload_part(call: S3Call) -> Response:
    file_key(call)
    upload_id = upload_id_of(call)
    number = part_number_of(call)
    body = call.body()
    if body.length is None:
        # The store is told a part's size before its first byte (a local part is checked
        # against it, an S3 part is one PUT with that Content-Length).
        raise S3Error(
            "MissingContentLength",
            f"Part {number} of {call.resource} needs its length: Content-Length, or "
            "x-amz-decoded-content-length for an aws-chunked body",
        )
    counted = call.state.metrics.data_written.inc
    chunks = _verified(_pulled(body, counted))
    length = body.length

    def send() -> UploadedPart:
        bucket_status(call.fs, call.bucket, call.resource)
        return _files(call).upload_part(call.target.path, upload_id, number, chunks, length)

    with call.state.upload_slot(call.user):
        part = await call.state.upload_pool.run(send)
    return Response(status_code=200, headers={"ETag": xml.quoted_etag(part.etag)})


def _verified(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks, each passed on once the next one came, the last once the body ended without
    an error: a body that fails its checks never gives the store every byte it declared."""
    held: bytes | None = None
    for chunk in chunks:
        if held is not None:
            yield held
        held = chunk
    if held is not None:
        yield held


async def upload_part_copy(call: S3Call) -> Response:
    file_key(call)
    upload_id = upload_id_of(call)
    number = part_number_of(call)
    source_path = _copy_source(call)
    wanted = call.header("x-amz-copy-source-range")
    files = _files(call)

    def copy() -> UploadedPart:
        bucket_status(call.fs, call.bucket, call.resource)
        source = files.copy_source(source_path)
        start, end = _copy_range(wanted, source)
        return files.copy_part(call.target.path, upload_id, number, source, start, end)

    with call.state.upload_slot(call.user):
        part = await call.state.upload_pool.run(copy)
    return xml_response(xml.copy_object_result(part.etag, part.last_modified, part=True))


def _copy_source(call: S3Call) -> str:
    """The namespace path of ``x-amz-copy-source`` (``[/]bucket/key``, URL-encoded), refused as
    a request's own path would be."""
    header = call.header("x-amz-copy-source") or ""
    raw, _, query = header.partition("?")
    if query:
        version = dict(pair.partition("=")[::2] for pair in query.split("&")).get("versionId")
        if version not in (None, "null"):
            raise S3Error(
                "InvalidArgument",
                f"x-amz-copy-source names the version {version!r}: tierstore keeps no versions",
                details=[("ArgumentName", "x-amz-copy-source")],
            )
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    bucket, slash, key = text.removeprefix("/").partition("/")
    if not bucket or not slash or not key or key.endswith("/"):
        raise S3Error(
            "InvalidArgument",
            "x-amz-copy-source must name a bucket and the key of a file in it, as bucket/key: "
            f"{header[:200]!r}",
            details=[("ArgumentName", "x-amz-copy-source")],
        )
    return named(bucket, key).path


def _copy_range(wanted: str | None, source: CopySource) -> tuple[int, int]:
    """``x-amz-copy-source-range`` (``bytes=first-last``, both given, within the source) as
    ``[start, end)``; the whole source when it is not given."""
    if wanted is None:
        return 0, source.size
    spec = wanted.strip()
    first, dash, last = spec.removeprefix("bytes=").partition("-")
    valid = (
        spec.startswith("bytes=")
        and dash
        and first.isascii()
        and first.isdigit()
        and last.isascii()
        and last.isdigit()
    )
    if valid and int(first) <= int(last) and int(last) >= source.size:
        # Well formed, but past the source's end: the range is not satisfiable, as S3 answers
        # (a malformed one below is InvalidArgument).
        raise S3Error(
            "InvalidRange",
            f"The x-amz-copy-source-range {spec[:100]!r} is not satisfiable: the source object "
            f"{source.path} has {source.size} bytes",
            details=[("RangeRequested", spec[:100]), ("ActualObjectSize", str(source.size))],
        )
    if not valid or int(first) > int(last):
        raise S3Error(
            "InvalidArgument",
            f"The x-amz-copy-source-range {spec[:100]!r} is not valid for the source object "
            f"{source.path} of size {source.size}: give bytes=first-last within it",
            details=[("ArgumentName", "x-amz-copy-source-range"), ("ArgumentValue", spec[:100])],
        )
    return int(first), int(last) + 1


async def complete_multipart_upload(call: S3Call) -> Response:
    file_key(call)
    upload_id = upload_id_of(call)
    body = await xml.read_capped(call.body().__aiter__(), xml.MAX_COMPLETE_BODY, "CompleteMultipartUpload")
    # Checking a 10,000-part document costs tens of milliseconds: off the event loop.
    listed = await run_in_threadpool(xml.parse_complete_multipart_upload, body)
    parts = [(part.number, part.etag) for part in listed]

    def complete() -> Completed | str:
        bucket_status(call.fs, call.bucket, call.resource)
        try:
            return _files(call).complete(call.target.path, upload_id, parts)
        except NoSuchUploadError:
            done = _completed_already(call, parts)
            if done is None:
                raise
            return done

    try:
        done = await run_in_threadpool(complete)
    except StoreError as error:
        raise await explain_conflict(call, error) from None
    etag = done if isinstance(done, str) else done.etag or etag_of(done.status)
    location = str(call.request.base_url).rstrip("/") + quote(call.resource)
    return xml_response(xml.complete_multipart_upload(location, call.bucket, call.key, etag))


def _completed_already(call: S3Call, parts: list[tuple[int, str]]) -> str | None:
    """The ETag of the object these parts made, when the key holds it: a completion sent again
    (its answer lost, or a client that completes twice) is answered as the first was, as S3
    answers it, without keeping any record of the upload. The object's ETag is S3's multipart
    ETag, the MD5 of the parts' MD5s with their count, which only these parts give."""
    try:
        digests = b"".join(bytes.fromhex(etag) for _, etag in parts)
    except ValueError:
        return None  # a part ETag that is no MD5: nothing to compare with
    expected = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"
    try:
        info = call.fs.object_info(call.target.path)
    except NotFoundError:
        return None
    etag = etag_for(call.target.path, info)
    return etag if bare_etag(etag) == expected else None


async def abort_multipart_upload(call: S3Call) -> Response:
    file_key(call)
    upload_id = upload_id_of(call)

    def abort() -> None:
        bucket_status(call.fs, call.bucket, call.resource)
        _files(call).abort(call.target.path, upload_id)

    await run_in_threadpool(abort)
    return Response(status_code=204)


HANDLERS = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": upload_listing.list_parts,
    "ListMultipartUploads": upload_listing.list_multipart_uploads,
}
