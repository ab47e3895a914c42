"""Versions of an unversioned bucket: ListObjectVersions and GetBucketVersioning.

tierstore keeps one version of a file, so every bucket is what S3 calls an unversioned bucket
(one whose versioning was never turned on), and these answer as S3 answers for one:

- **GetBucketVersioning**: an empty ``VersioningConfiguration`` (no ``Status``).
- **ListObjectVersions**: every key the listing has, each as its one version, ``null``, the
  latest, with its owner; no delete markers. The keys come from ListObjects' walk
  (:mod:`tierstore.server.s3.handlers.listing`): the same order, ``prefix``, ``delimiter``,
  ``max-keys``, ``encoding-type`` and permissions. ``key-marker`` resumes after that key (its
  one version, and with it the key, is behind the marker, with ``version-id-marker`` ``null`` or
  without one), from the state kept for the page that gave it as ListObjects' markers resume.
  A ``version-id-marker`` other than ``null`` names a version no object has
  (``InvalidArgument``), and one without a ``key-marker`` is ``InvalidArgument`` as in S3.
- **PutBucketVersioning** is ``NotImplemented``: there is nowhere to keep a second version.

``versionId=null`` on GetObject, HeadObject, DeleteObject and in DeleteObjects names the object
itself (:func:`tierstore.server.s3.handlers.objects.check_version`), so clients that empty a
bucket version by version (listing versions, deleting each with its id) work unchanged.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.server.s3 import xml
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers.buckets import bucket_status, xml_response
from tierstore.server.s3.handlers.listing import listing_of, marker_page, parse_query

# The one version id an object of an unversioned bucket has.
NULL_VERSION = "null"


def _version_marker(key_marker: str, given: str) -> None:
    """Refuse a ``version-id-marker`` S3 would refuse (it is echoed as given otherwise)."""
    if not given:
        return
    if not key_marker:
        raise S3Error(
            "InvalidArgument",
            f"A version-id marker cannot be specified without a key marker: version-id-marker={given[:80]!r}",
            details=[("ArgumentName", "version-id-marker"), ("ArgumentValue", given[:80])],
        )
    if given != NULL_VERSION:
        raise S3Error(
            "InvalidArgument",
            f"Invalid version id specified: version-id-marker={given[:80]!r} (tierstore's buckets are "
            "unversioned: every object's one version is 'null').",
            details=[("ArgumentName", "version-id-marker"), ("ArgumentValue", given[:80])],
        )


async def list_object_versions(call: S3Call) -> Response:
    query = parse_query(call.query)
    key_marker = call.query.get("key-marker", "")
    version_id_marker = call.query.get("version-id-marker", "")
    _version_marker(key_marker, version_id_marker)
    page = await run_in_threadpool(marker_page, call, query, key_marker or None)
    listing = listing_of(call.bucket, query, page, owners=True)
    last = page.entries[-1].key if page.entries else None
    return xml_response(
        xml.list_object_versions(
            listing,
            key_marker=key_marker,
            version_id_marker=version_id_marker,
            next_key_marker=last,
            # Given after a common prefix too: clients resume with both markers, and a key
            # marker with version "null" resumes after that key, or prefix, all the same.
            next_version_id_marker=NULL_VERSION if last is not None else None,
        )
    )


async def get_bucket_versioning(call: S3Call) -> Response:
    def check() -> None:
        status = bucket_status(call.fs, call.bucket, call.resource)
        call.fs.check_read(status.path)

    await run_in_threadpool(check)
    return xml_response(xml.versioning_configuration())


async def put_bucket_versioning(call: S3Call) -> Response:
    raise S3Error(
        "NotImplemented",
        f"PutBucketVersioning is not implemented by tierstore's S3 gateway: {call.bucket} keeps one "
        "version of each object (GetBucketVersioning and ListObjectVersions answer as for a bucket "
        "whose versioning was never enabled).",
    )


HANDLERS = {
    "ListObjectVersions": list_object_versions,
    "GetBucketVersioning": get_bucket_versioning,
    "PutBucketVersioning": put_bucket_versioning,
}
