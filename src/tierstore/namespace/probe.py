"""What a mount's own identity may really do, asked of the store at mount time.

Stores whose access comes from IAM-style policies (SeaweedFS, MinIO, Ceph with policies, an
AWS bucket policy) show an ACL that does not describe the identity: SeaweedFS answers every
GetBucketAcl with one FULL_CONTROL grant to the bucket's creator, whatever the caller's actions
(measured). So the mode is checked against the store itself:

* **who**: the identity's canonical id, ListBuckets' ``Owner.ID`` (what Alluxio uses; SeaweedFS
  gives the identity's account id, AWS the account's canonical id). GetCallerIdentity is no help:
  on AWS its ids are not canonical ids, and many stores have no STS.
* **list**: ListObjectsV2 of one key under the mount's prefix.
* **write**: PUT of a zero-byte object ``<prefix>.tierstore-write-probe-<random>``, deleted at
  once (by its version when the bucket keeps versions, so no version or delete marker stays).
  If the delete is refused the object stays: the result says so and a warning names the key.

No call here raises: a failure is a :class:`Failure` whose reason is an error code or type name.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

from tierstore.namespace.permissions import AccessProbe, ProbeResult
from tierstore.namespace.reasons import CALL_FAILURES, Failure, failure_of
from tierstore.storage.s3.botocore_client import sse_request_fields
from tierstore.storage.s3.store import S3Store

LOGGER = logging.getLogger(__name__)

WRITE_PROBE_PREFIX: Final = ".tierstore-write-probe-"


def identity_id(store: S3Store) -> str | Failure:
    """The canonical id of the identity ``store`` signs as, or why it is unknown."""
    try:
        # One bucket is enough: only the Owner record is wanted.
        response = store.control.list_buckets(MaxBuckets=1)
    except CALL_FAILURES as error:
        return failure_of(error)
    found = (response.get("Owner") or {}).get("ID")
    return str(found) if found else Failure("no Owner in ListBuckets")


def _result(error: Exception) -> ProbeResult:
    failure = failure_of(error)
    return ProbeResult(allowed=False if failure.refused else None, reason=failure.reason)


def probe_list(store: S3Store) -> ProbeResult:
    try:
        store.control.list_objects_v2(Bucket=store.bucket, Prefix=store.base_prefix, MaxKeys=1)
    except CALL_FAILURES as error:
        return _result(error)
    return ProbeResult(allowed=True)


def probe_write(store: S3Store) -> tuple[ProbeResult, str]:
    """(whether a PUT is allowed, why its object could not be removed: "" when it was)."""
    key = store.full_key(f"{WRITE_PROBE_PREFIX}{secrets.token_hex(8)}")
    try:
        # The store's SSE settings too: a bucket policy demanding encryption refuses a bare PUT.
        response = store.control.put_object(
            Bucket=store.bucket, Key=key, Body=b"", **sse_request_fields(store.settings)
        )
    except CALL_FAILURES as error:
        result = _result(error)
        if result.allowed is None:
            # No clear answer (a timeout, a 5xx): the object may have been stored all the same.
            _delete(store, key, None)
        return result, ""
    return ProbeResult(allowed=True), _remove(store, key, response.get("VersionId"))


def _delete(store: S3Store, key: str, version_id: str | None) -> Failure | None:
    request: dict[str, Any] = {"Bucket": store.bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    try:
        store.control.delete_object(**request)
    except CALL_FAILURES as error:
        return failure_of(error)
    return None


def _remove(store: S3Store, key: str, version_id: str | None) -> str:
    # Deleting the version itself removes it for good; a plain delete in a versioned bucket
    # would only hide it behind a delete marker.
    failure = _delete(store, key, version_id)
    if failure is None:
        return ""
    hidden = ""
    if version_id and _delete(store, key, None) is None:
        # The version is kept (object lock, no DeleteObjectVersion): a delete marker at least
        # keeps it out of listings, so no mount shows it.
        hidden = ", hidden behind a delete marker"
    LOGGER.warning(
        "the write probe object s3://%s/%s (version %s) could not be deleted (%s)%s: delete it by hand",
        store.bucket,
        key,
        version_id or "none",
        failure.reason,
        hidden,
    )
    return failure.reason


def probe_access(store: S3Store, *, write: bool) -> AccessProbe:
    """List, then (unless ``write`` is false: a read-only mount is never written to) write."""
    listing = probe_list(store)
    if not write:
        return AccessProbe(listing=listing, write=None)
    written, left_behind = probe_write(store)
    return AccessProbe(listing=listing, write=written, left_behind=left_behind)
