"""Which S3 operation a request is: from its method, whether it names a bucket and a key, and
its sub-resource (the query parameter without a value that S3 uses as an operation's name).

Anything S3 has that the gateway does not (ACLs, versioning, lifecycle, policies, tagging, ...)
is named here too and answered ``NotImplemented`` in S3's error shape, never mistaken for a plain
GET or PUT of the object or bucket (a ``PUT ?acl`` must not overwrite an object with an ACL).
"""

from __future__ import annotations

from collections.abc import Mapping

# Sub-resources of S3's API the gateway does not implement (bucket or object level).
UNSUPPORTED = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "logging", "metadataConfiguration", "metadataTable",
        "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
        "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
        "session", "tagging", "torrent", "website", "renameObject",
    }
)  # fmt: skip
# Sub-resources of a bucket only: an unversioned bucket answers them (ListObjectVersions,
# GetBucketVersioning); on an object they name nothing the gateway has.
BUCKET_ONLY = frozenset({"versioning", "versions"})


def operation(
    method: str, bucket: str | None, key: str | None, query: Mapping[str, str], *, copy_source: bool = False
) -> str:
    """The operation's name (``GetObject``, ``ListObjectsV2``, ...), ``NotImplemented`` for a
    known S3 operation the gateway lacks, or ``MethodNotAllowed``."""
    if any(name in UNSUPPORTED for name in query):
        return "NotImplemented"
    if key is not None and any(name in BUCKET_ONLY for name in query):
        return "NotImplemented"
    if bucket is None:
        return "ListBuckets" if method in ("GET", "HEAD") else "MethodNotAllowed"
    if key is None:
        return _bucket_operation(method, query)
    return _object_operation(method, query, copy_source)


def _bucket_operation(method: str, query: Mapping[str, str]) -> str:
    if any(name in BUCKET_ONLY for name in query):
        # Never a plain operation on the bucket: a DELETE ?versioning must not delete it.
        return _versions_operation(method, query)
    if method == "GET":
        if "location" in query:
            return "GetBucketLocation"
        if "uploads" in query:
            return "ListMultipartUploads"
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return "CreateBucket"
    if method == "DELETE":
        return "DeleteBucket"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        return "NotImplemented"  # browser-form uploads (POST policy)
    return "MethodNotAllowed"


def _versions_operation(method: str, query: Mapping[str, str]) -> str:
    if method == "GET":
        return "ListObjectVersions" if "versions" in query else "GetBucketVersioning"
    if method == "PUT" and "versioning" in query:
        return "PutBucketVersioning"
    return "NotImplemented"


def _object_operation(method: str, query: Mapping[str, str], copy_source: bool) -> str:
    upload = "uploadId" in query
    if method == "GET":
        return "ListParts" if upload else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if upload or "partNumber" in query:
            return "UploadPartCopy" if copy_source else "UploadPart"
        return "CopyObject" if copy_source else "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if upload else "DeleteObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if upload:
            return "CompleteMultipartUpload"
        return "NotImplemented"
    return "MethodNotAllowed"
