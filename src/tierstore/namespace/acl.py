"""Reading a bucket's ACL through an S3Store's botocore client, and the mount permissions it gives.

Any failure to read the ACL (AccessDenied without ``ReadAcp``, NotImplemented on stores without
ACLs, rejected credentials, an unreachable store) is not an error for the mount: like Alluxio,
it falls back to the default mode and says why in ``MountPermissions.source``.
"""

from __future__ import annotations

import logging
from typing import Any

import botocore.exceptions

from tierstore.errors import TierstoreError
from tierstore.namespace.permissions import MountPermissions, mount_permissions
from tierstore.settings.model import PermissionDefaults
from tierstore.storage.s3.store import S3Store

LOGGER = logging.getLogger(__name__)


def read_bucket_acl(store: S3Store) -> tuple[dict[str, Any] | None, str | None]:
    """``(GetBucketAcl response without ResponseMetadata, None)``, or ``(None, reason)``.

    The reason is the store's error code (``AccessDenied``, ``NotImplemented``,
    ``SignatureDoesNotMatch``…) or the failure's type name; never a message, so never a key.
    """
    try:
        response = store.control.get_bucket_acl(Bucket=store.bucket)
    except botocore.exceptions.ClientError as error:
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = str(details.get("Code") or "") or (f"HTTP {status}" if status else "ClientError")
    except (botocore.exceptions.BotoCoreError, TierstoreError) as error:
        reason = type(error).__name__
    else:
        acl: dict[str, Any] = {key: value for key, value in response.items() if key != "ResponseMetadata"}
        return acl, None
    LOGGER.warning("cannot read the ACL of s3://%s (%s): using the default mode", store.bucket, reason)
    return None, reason


def permissions_for(
    store: S3Store, defaults: PermissionDefaults, *, shared: bool, owner: str | None = None
) -> MountPermissions:
    """The owner, group and mode of a mount of ``store``'s bucket.

    With ``inherit_acl`` off no ACL is requested (as in Alluxio): the mode is the default one
    and the owner is empty.
    """
    if not defaults.inherit_acl:
        return mount_permissions(None, defaults, shared=shared, owner=owner)
    acl, reason = read_bucket_acl(store)
    return mount_permissions(acl, defaults, shared=shared, acl_error=reason, owner=owner)
