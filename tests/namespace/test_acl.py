"""Mount permissions from a real bucket ACL on the local SeaweedFS.

What SeaweedFS returns (measured): the owner is the creating identity's ``account`` record,
``{"ID": "admin", "DisplayName": "admin"}`` for the stack's admin, with one FULL_CONTROL grant
to it; PutBucketAcl grants come back as given (CanonicalUser grantees gain a DisplayName).
GetBucketAcl needs the ``ReadAcp`` action: the stack's writer lacks it and gets AccessDenied.
ListBuckets' Owner.ID, the mount identity's canonical id, is each identity's own account id.
The grants are not enforced: access comes from each identity's actions (test_mount_modes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tierstore.credentials.resolve import credential_source_for
from tierstore.local.info import StackInfo
from tierstore.namespace.acl import permissions_for, read_bucket_acl
from tierstore.namespace.permissions import ALL_USERS_URI, MountPermissions
from tierstore.settings.model import AccessKeys, PermissionDefaults, StoreLocation, StoreSettings
from tierstore.settings.secret import Secret
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GrantTypeDef

StoreFactory = Callable[..., S3Store]
DEFAULTS = PermissionDefaults()
ADMIN_GRANTEE = {"Type": "CanonicalUser", "ID": "admin", "DisplayName": "admin"}
PROBE_OFF = PermissionDefaults(access_probe=False)
ALL_ALLOWED = "access probe: list allowed, write allowed"


@pytest.fixture
def store_for(stack: StackInfo, bucket: str) -> Iterator[StoreFactory]:
    """An S3Store on this test's bucket signed by a stack user (optionally with another secret)."""
    opened: list[S3Store] = []

    def make(user: str = "admin", secret: str | None = None) -> S3Store:
        keys = stack.users[user]
        settings = StoreSettings(
            location=StoreLocation(scheme="s3", bucket=bucket),
            endpoint=stack.endpoint,
            region=stack.region,
            path_style=True,
            keys=AccessKeys(keys.access_key_id, Secret(secret) if secret else keys.secret_access_key),
        )
        store = S3Store(settings, credential_source_for(settings))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def put_grants(admin_s3: S3Client, bucket: str, *grants: GrantTypeDef) -> None:
    admin_s3.put_bucket_acl(
        Bucket=bucket,
        AccessControlPolicy={"Owner": {"ID": "admin"}, "Grants": list(grants)},
    )


def test_the_creators_default_acl_gives_full_control(store_for: StoreFactory) -> None:
    store = store_for("admin")
    acl, reason = read_bucket_acl(store)
    assert reason is None
    assert acl == {
        "Owner": {"ID": "admin", "DisplayName": "admin"},
        "Grants": [{"Grantee": ADMIN_GRANTEE, "Permission": "FULL_CONTROL"}],
    }
    # The ACL's owner ("admin", SeaweedFS's account) is no tierstore user: the mount has none.
    assert permissions_for(store, DEFAULTS, shared=False) == MountPermissions(
        owner="",
        group="",
        mode=0o700,
        source=f"bucket ACL (FULL_CONTROL grant to mount identity); {ALL_ALLOWED}",
    )
    assert permissions_for(store, DEFAULTS, shared=False, owner="ops").owner == "ops"
    assert permissions_for(store, DEFAULTS, shared=True).mode == 0o777


def test_a_read_only_grant_to_the_owner_gives_0500(
    store_for: StoreFactory, admin_s3: S3Client, bucket: str
) -> None:
    put_grants(admin_s3, bucket, {"Grantee": {"Type": "CanonicalUser", "ID": "admin"}, "Permission": "READ"})
    store = store_for("admin")
    acl, _ = read_bucket_acl(store)
    assert acl is not None
    assert acl["Grants"] == [{"Grantee": ADMIN_GRANTEE, "Permission": "READ"}]
    result = permissions_for(store, DEFAULTS, shared=False)
    # The grant reaching the identity caps the mode, although SeaweedFS lets the admin write.
    assert (result.mode, result.source) == (
        0o500,
        f"bucket ACL (READ grant to mount identity); {ALL_ALLOWED}",
    )
    assert permissions_for(store, DEFAULTS, shared=True).mode == 0o555


def test_group_grants_count_for_the_mount_identity(
    store_for: StoreFactory, admin_s3: S3Client, bucket: str
) -> None:
    put_grants(
        admin_s3,
        bucket,
        {"Grantee": {"Type": "Group", "URI": ALL_USERS_URI}, "Permission": "READ"},
        # A grant to another identity does not reach the admin.
        {"Grantee": {"Type": "CanonicalUser", "ID": "reader"}, "Permission": "FULL_CONTROL"},
    )
    result = permissions_for(store_for("admin"), DEFAULTS, shared=False)
    assert (result.mode, result.source) == (0o500, f"bucket ACL (READ grant to AllUsers); {ALL_ALLOWED}")


def test_the_mode_is_the_mount_identitys_not_the_bucket_owners(store_for: StoreFactory) -> None:
    # The reader has ReadAcp and sees the admin's ACL, whose grant is the admin's, not the
    # reader's (the old rule gave the reader's mount 0700). Alluxio's rule alone gives nothing.
    acl_only = permissions_for(store_for("reader"), PROBE_OFF, shared=False)
    assert (acl_only.owner, acl_only.group, acl_only.mode) == ("", "", 0o000)
    # The ACL says nothing about the reader: what the probes find decides.
    probed = permissions_for(store_for("reader"), DEFAULTS, shared=False)
    assert (probed.owner, probed.group, probed.mode) == ("", "", 0o500)


def test_without_read_acp_the_default_mode_is_used(store_for: StoreFactory) -> None:
    store = store_for("writer")
    assert read_bucket_acl(store) == (None, "AccessDenied")
    defaults = PermissionDefaults(default_mode=0o750)
    assert permissions_for(store, defaults, shared=False) == MountPermissions(
        owner="", group="", mode=0o750, source=f"default mode: ACL not readable (AccessDenied); {ALL_ALLOWED}"
    )


def test_rejected_credentials_fall_back_without_leaking_the_secret(
    store_for: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "W" * 40
    store = store_for("reader", secret=wrong)
    result = permissions_for(store, DEFAULTS, shared=False)
    assert (result.mode, result.source) == (0o700, "default mode: ACL not readable (SignatureDoesNotMatch)")
    assert "SignatureDoesNotMatch" in caplog.text
    assert wrong not in caplog.text
    assert wrong not in result.source


def test_inherit_acl_off_asks_nothing_and_uses_the_default_mode(store_for: StoreFactory) -> None:
    # The writer would get AccessDenied: the source shows the ACL was not even requested.
    defaults = PermissionDefaults(inherit_acl=False, default_mode=0o500)
    result = permissions_for(store_for("writer"), defaults, shared=True)
    assert (result.mode, result.source) == (
        0o555,
        "default mode: inherit_acl is off; shared: owner bits copied to group and others",
    )


def test_the_owner_id_mapping_names_the_account(store_for: StoreFactory) -> None:
    defaults = PermissionDefaults(owner_id_to_username={"admin": "alice", "reader": "rita"})
    result = permissions_for(store_for("admin"), defaults, shared=False)
    assert (result.owner, result.group, result.mode) == ("alice", "alice", 0o700)
