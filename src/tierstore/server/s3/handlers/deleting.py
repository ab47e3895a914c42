"""DeleteObjects: ``POST /bucket?delete`` with up to 1,000 keys.

As S3 requires, the body must come with ``Content-MD5`` or an ``x-amz-checksum-*`` header (or
trailer), checked as it streams (:mod:`tierstore.server.s3.payload`); without one the request is
``InvalidRequest`` before a byte is read. The body is capped (:data:`xml.MAX_DELETE_BODY`) and
parsed off the event loop; more than 1,000 keys, or none, is ``MalformedXML``.

Each key is deleted as DeleteObject deletes it (:func:`FileSystem.delete_object`: the caller's
bits on its directory decide, a missing key counts as deleted), ``concurrency`` keys at a time
(the namespace's ``fs`` concurrency): one key's failure (``AccessDenied`` for a key the caller
may not delete, ``InvalidArgument`` for a key the namespace cannot hold) is reported as that
key's ``<Error>`` and the others are still deleted. ``Quiet`` leaves the deleted keys out of the
answer. The request's one audit line counts what was ``deleted`` and what ``failed``; the keys
themselves (up to 1,000 of them) stay out of it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.server.s3 import xml
from tierstore.server.s3.addressing import named
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.failures import s3_error
from tierstore.server.s3.handlers.buckets import bucket_status, xml_response

LOGGER = logging.getLogger("tierstore.server")
# Headers under x-amz-checksum- that carry no checksum.
_NOT_CHECKSUMS = frozenset({"x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm"})


def check_integrity_header(call: S3Call) -> None:
    """S3's rule for DeleteObjects: the body's MD5 or a checksum must come with it."""
    headers = call.headers
    if "content-md5" in headers:
        return
    if any(name.startswith("x-amz-checksum-") and name not in _NOT_CHECKSUMS for name in headers):
        return
    if (headers.get("x-amz-trailer") or "").strip().lower().startswith("x-amz-checksum-"):
        return
    raise S3Error(
        "InvalidRequest",
        "Missing required header for this request: Content-MD5 or x-amz-checksum-* (DeleteObjects "
        "needs one to check its body).",
    )


def _delete_one(call: S3Call, item: xml.ObjectToDelete) -> xml.DeleteOutcome:
    resource = f"/{call.bucket}/{item.key}"
    try:
        if item.version_id is not None and item.version_id != "null":
            raise S3Error(
                "InvalidArgument",
                f"Invalid version id specified: {item.version_id[:80]!r} (tierstore's buckets are "
                "unversioned).",
            )
        target = named(call.bucket, item.key)
        call.fs.delete_object(target.path, directory=item.key.endswith("/"))
    except Exception as error:  # one key's failure is its own <Error>, never the request's
        failure = s3_error(error, resource)
        if failure is None:
            LOGGER.error("S3 DeleteObjects %s (request %s) failed", resource, call.request_id, exc_info=error)
            failure = S3Error("InternalError", resource=resource)
        return xml.DeleteOutcome(item.key, item.version_id, failure.code, failure.message)
    return xml.DeleteOutcome(item.key, item.version_id)


def _delete_all(call: S3Call, request: xml.DeleteRequest) -> list[xml.DeleteOutcome]:
    workers = max(1, min(call.fs.concurrency, len(request.objects)))
    with ThreadPoolExecutor(workers, thread_name_prefix="s3-delete") as pool:
        return list(pool.map(lambda item: _delete_one(call, item), request.objects))


async def delete_objects(call: S3Call) -> Response:
    check_integrity_header(call)
    await run_in_threadpool(bucket_status, call.fs, call.bucket, call.resource)
    body = await xml.read_capped(call.body().chunks, xml.MAX_DELETE_BODY, "Delete")
    request = await run_in_threadpool(xml.parse_delete, body)
    outcomes = await run_in_threadpool(_delete_all, call, request)
    failed = sum(1 for outcome in outcomes if outcome.code is not None)
    call.audit.update(deleted=len(outcomes) - failed, failed=failed)
    return xml_response(xml.delete_result(outcomes, quiet=request.quiet))


HANDLERS = {"DeleteObjects": delete_objects}
