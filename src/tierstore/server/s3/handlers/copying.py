"""CopyObject: ``PUT /bucket/key`` with ``x-amz-copy-source: /bucket/key``.

The source is named URL-encoded, with or without its leading ``/``, optionally followed by
``?versionId=`` (``null`` only: buckets are unversioned). The namespace does the copy
(:meth:`FileSystem.copy_object`): read on the source and write on the destination are checked as
``cp`` checks them; within a mount the store copies (no byte passes through the gateway),
across mounts and stores the bytes stream through it a chunk at a time (bounded memory,
whatever the size), and a failure leaves the destination as it was.

``x-amz-metadata-directive``: ``COPY`` (the default) keeps the source's content type and user
metadata, ``REPLACE`` takes the request's. Copying an object onto itself is only allowed with
``REPLACE`` (``InvalidRequest`` otherwise, as S3 answers). The ``x-amz-copy-source-if-*``
conditions are judged on the source (:mod:`.conditions`, every failure 412); across stores
the source is then read only if it still has the ETag they were judged on.

A key ending in ``/`` is a directory: copying one directory key onto another makes the
destination directory; a directory cannot be copied onto a file's key or a file onto one.
The answer is CopyObjectResult with the new object's ETag and time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.responses import Response

from tierstore.errors import ConflictError, NotFoundError, StoreError
from tierstore.namespace.filesystem import FileStatus
from tierstore.server.s3 import xml
from tierstore.server.s3.addressing import Addressed, named
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.failures import missing
from tierstore.server.s3.handlers.buckets import bucket_status, xml_response
from tierstore.server.s3.handlers.conditions import Preconditions, copy_source_conditions
from tierstore.server.s3.handlers.headers import EMPTY_ETAG, etag_for, requested_attributes
from tierstore.server.s3.handlers.objects import check_version, etag_of, explain_conflict
from tierstore.storage.interface import ObjectAttributes

DIRECTIVES = ("COPY", "REPLACE")


@dataclass(frozen=True)
class CopyRequest:
    source: Addressed
    # The copy's content type and metadata with REPLACE; None: the source's (COPY).
    attributes: ObjectAttributes | None
    conditions: Preconditions

    @property
    def source_path(self) -> str:
        return self.source.path


def copy_source(header: str | None) -> Addressed:
    """The bucket and key ``x-amz-copy-source`` names (``InvalidArgument`` naming it else)."""
    if header is None:
        raise _invalid("x-amz-copy-source is missing")
    text, _, query = header.strip().partition("?")
    try:
        decoded = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{header[:120]!r} is not UTF-8 once decoded") from None
    bucket, slash, key = decoded.removeprefix("/").partition("/")
    if not bucket or not slash or not key:
        raise _invalid(
            f"{header[:120]!r}: Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name != "versionId":
            raise _invalid(f"{header[:120]!r}: only versionId may follow the key, not {name[:40]!r}")
        _version(value)
    return named(bucket, key)


def _version(value: str) -> None:
    if value != "null":
        raise S3Error(
            "InvalidArgument",
            f"Invalid version id specified: {value[:80]!r} (tierstore's buckets are unversioned).",
            details=[("ArgumentName", "x-amz-copy-source"), ("ArgumentValue", value[:80])],
        )


def _invalid(why: str) -> S3Error:
    return S3Error(
        "InvalidArgument", f"x-amz-copy-source: {why}.", details=[("ArgumentName", "x-amz-copy-source")]
    )


def copy_request(call: S3Call) -> CopyRequest:
    """The copy asked for, every header checked before anything is looked up."""
    check_version(call)
    source = copy_source(call.header("x-amz-copy-source"))
    directive = (call.header("x-amz-metadata-directive") or "COPY").strip().upper()
    if directive not in DIRECTIVES:
        raise S3Error(
            "InvalidArgument",
            f"Unknown metadata directive {directive[:40]!r}: give COPY or REPLACE.",
            details=[("ArgumentName", "x-amz-metadata-directive"), ("ArgumentValue", directive[:40])],
        )
    replace = directive == "REPLACE"
    attributes = requested_attributes(call.headers) if replace else None
    if source == call.target and not replace:
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without "
            "changing the object's metadata, storage class, website redirect location or encryption "
            f"attributes: {call.key}",
        )
    if source.key is not None and source.key.endswith("/") != call.key.endswith("/"):
        raise S3Error(
            "InvalidRequest",
            f"A key ending in '/' is a directory: {source.key!r} cannot be copied to {call.key!r} (copy a "
            "directory onto a directory key, a file onto a file's).",
        )
    return CopyRequest(source, attributes, copy_source_conditions(call.headers))


def _missing_source(call: S3Call, source: Addressed) -> S3Error:
    resource = source.resource
    assert source.bucket is not None and source.key is not None
    bucket_status(call.fs, source.bucket, resource)
    return missing("NoSuchKey", source.key, resource)


def _copy(call: S3Call, request: CopyRequest) -> FileStatus:
    """The copy (blocks): the destination's bucket, the source's conditions, then the namespace's
    copy, which checks the caller's bits."""
    fs, source = call.fs, request.source
    bucket_status(fs, call.bucket, call.resource)
    if call.key.endswith("/"):
        return _copy_directory(call, request)
    source_etag: str | None = None
    try:
        if request.conditions.given:
            info = fs.object_info(request.source_path)
            request.conditions.check(etag_for(request.source_path, info), info.last_modified)
            source_etag = info.etag
        return fs.copy_object(
            request.source_path, call.target.path, attributes=request.attributes, source_etag=source_etag
        )
    except NotFoundError as error:
        if error.key != request.source_path:
            raise
        raise _missing_source(call, source) from None


def _copy_directory(call: S3Call, request: CopyRequest) -> FileStatus:
    fs = call.fs
    try:
        status = fs.stat(request.source_path)
    except NotFoundError:
        raise _missing_source(call, request.source) from None
    if not status.is_dir:
        raise _missing_source(call, request.source)
    fs.check_read(status.path)
    request.conditions.check(EMPTY_ETAG, None)
    return fs.mkdir(call.target.path, parents=True)


async def copy_object(call: S3Call) -> Response:
    request = copy_request(call)
    call.audit["source"] = request.source.resource
    try:
        with call.state.upload_slot(call.user):
            status = await call.state.upload_pool.run(lambda: _copy(call, request))
    except ConflictError:
        if request.conditions.given:
            raise S3Error(
                "PreconditionFailed",
                f"{request.source.resource} changed while it was being copied: its ETag is no longer the "
                "one the x-amz-copy-source conditions held for.",
                details=[("Condition", "x-amz-copy-source-If-Match")],
            ) from None
        raise
    except StoreError as error:
        raise await explain_conflict(call, error) from None
    etag = EMPTY_ETAG if status.is_dir else etag_of(status)
    return xml_response(xml.copy_object_result(etag, status.modified or datetime.now(UTC)))


HANDLERS = {"CopyObject": copy_object}
