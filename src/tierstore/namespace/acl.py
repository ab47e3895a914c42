"""A mount's permissions from its bucket's ACL and its identity's real access.

Any failure to read the ACL (AccessDenied without ``ReadAcp``, NotImplemented on stores without
ACLs, rejected credentials, an unreachable store) is not an error for the mount: like Alluxio,
it falls back to the default mode and says why in ``MountPermissions.source``. The same holds
for the identity lookup and the access probes (:mod:`tierstore.namespace.probe`).
"""

from __future__ import annotations

import logging
from typing import Any

from tierstore.namespace.permissions import MountPermissions, mount_permissions
from tierstore.namespace.probe import identity_id, probe_access
from tierstore.namespace.reasons import CALL_FAILURES, Failure, failure_of
from tierstore.settings.model import PermissionDefaults
from tierstore.storage.s3.store import S3Store

LOGGER = logging.getLogger(__name__)


def _read_acl(store: S3Store) -> dict[str, Any] | Failure:
    try:
        response = store.control.get_bucket_acl(Bucket=store.bucket)
    except CALL_FAILURES as error:
        failure = failure_of(error)
        LOGGER.warning(
            "cannot read the ACL of s3://%s (%s): using the default mode", store.bucket, failure.reason
        )
        return failure
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def read_bucket_acl(store: S3Store) -> tuple[dict[str, Any] | None, str | None]:
    """``(GetBucketAcl response without ResponseMetadata, None)``, or ``(None, reason)``.

    The reason is the store's error code (``AccessDenied``, ``NotImplemented``,
    ``SignatureDoesNotMatch``…) or the failure's type name; never a message, so never a key.
    """
    acl = _read_acl(store)
    if isinstance(acl, Failure):
        return None, acl.reason
    return acl, None


def permissions_for(
    store: S3Store,
    defaults: PermissionDefaults,
    *,
    shared: bool,
    owner: str | None = None,
    write_probe: bool = True,
) -> MountPermissions:
    """The owner, group and mode of a mount of ``store``'s bucket.

    With ``inherit_acl`` off nothing is requested (as in Alluxio): the mode is the default one
    and the owner is empty. ``write_probe`` false (a read-only mount) keeps the access probe
    from writing.
    """
    if not defaults.inherit_acl:
        return mount_permissions(None, defaults, shared=shared, owner=owner)
    acl = _read_acl(store)
    if isinstance(acl, Failure) and acl.hopeless:
        # Unreachable, a server error or rejected keys: every other call would fail alike.
        return mount_permissions(None, defaults, shared=shared, acl_error=acl.reason, owner=owner)
    identity = identity_id(store) if not isinstance(acl, Failure) else None
    probe = probe_access(store, write=write_probe) if defaults.access_probe else None
    return mount_permissions(
        None if isinstance(acl, Failure) else acl,
        defaults,
        shared=shared,
        acl_error=acl.reason if isinstance(acl, Failure) else None,
        owner=owner,
        identity_id=identity if isinstance(identity, str) else None,
        identity_error=identity.reason if isinstance(identity, Failure) else None,
        probe=probe,
    )
