"""Mount ownership and mode from a bucket ACL and access probes, the POSIX-style check, and mode
text (pure logic)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tierstore.errors import AccessDeniedError, StoreError
from tierstore.namespace.permissions import (
    ALL_USERS_URI,
    AUTHENTICATED_USERS_URI,
    SUPERUSER,
    AccessProbe,
    Caller,
    MountPermissions,
    ProbeResult,
    check_access,
    format_mode,
    mount_permissions,
    parse_mode,
)
from tierstore.settings.model import PermissionDefaults

DEFAULTS = PermissionDefaults()
# The mount identity's canonical id; the ACL's owner too unless a test says otherwise.
IDENTITY = "id-alice"


def identity_grant(permission: str, owner_id: str = IDENTITY) -> dict[str, Any]:
    return {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": permission}


def group_grant(uri: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def acl(*grants: dict[str, Any], owner: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {"ID": "id-alice", "DisplayName": "alice"} if owner is None else owner
    return {"Owner": record, "Grants": list(grants)}


# -- ownership ----------------------------------------------------------------------------------


def test_owner_id_mapping_wins_over_the_display_name() -> None:
    defaults = PermissionDefaults(owner_id_to_username={"id-alice": "alice-posix", "other": "x"})
    result = mount_permissions(acl(identity_grant("FULL_CONTROL")), defaults, shared=False)
    assert (result.owner, result.group) == ("alice-posix", "alice-posix")


def test_an_unmapped_store_owner_never_becomes_a_tierstore_owner() -> None:
    # A tierstore user who happened to be called like the store's account would own the mount.
    defaults = PermissionDefaults(owner_id_to_username={"someone-else": "bob"})
    result = mount_permissions(acl(identity_grant("FULL_CONTROL")), defaults, shared=False)
    assert (result.owner, result.group) == ("", "")
    for owner in ({"ID": "id-alice"}, {"ID": "id-alice", "DisplayName": ""}):
        result = mount_permissions(acl(identity_grant("READ"), owner=owner), DEFAULTS, shared=False)
        assert (result.owner, result.group) == ("", "")


def test_the_mounting_user_owns_an_unmapped_mount_and_a_mapping_wins() -> None:
    result = mount_permissions(acl(identity_grant("READ")), DEFAULTS, shared=False, owner="ops")
    assert (result.owner, result.group) == ("ops", "ops")
    mapped = PermissionDefaults(owner_id_to_username={"id-alice": "alice-posix"})
    assert mount_permissions(acl(), mapped, shared=False, owner="ops").owner == "alice-posix"
    assert (
        mount_permissions(
            acl(), PermissionDefaults(owner_id_to_username={"id-alice": ""}), shared=False
        ).owner
        == ""
    )


def test_no_acl_gives_alluxios_empty_default_owner() -> None:
    result = mount_permissions(None, DEFAULTS, shared=False, acl_error="AccessDenied")
    assert (result.owner, result.group) == ("", "")


# -- mode from grants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grants", "mode", "detail"),
    [
        ([identity_grant("READ")], 0o500, "READ grant to mount identity"),
        ([identity_grant("WRITE")], 0o200, "WRITE grant to mount identity"),
        (
            [identity_grant("READ"), identity_grant("WRITE")],
            0o700,
            "READ grant to mount identity, WRITE grant to mount identity",
        ),
        ([identity_grant("FULL_CONTROL")], 0o700, "FULL_CONTROL grant to mount identity"),
        ([group_grant(ALL_USERS_URI, "READ")], 0o500, "READ grant to AllUsers"),
        ([group_grant(AUTHENTICATED_USERS_URI, "WRITE")], 0o200, "WRITE grant to AuthenticatedUsers"),
        (
            [identity_grant("READ"), group_grant(AUTHENTICATED_USERS_URI, "WRITE")],
            0o700,
            "READ grant to mount identity, WRITE grant to AuthenticatedUsers",
        ),
        ([group_grant(ALL_USERS_URI, "FULL_CONTROL")], 0o700, "FULL_CONTROL grant to AllUsers"),
    ],
)
def test_grants_reaching_the_mount_identity_set_the_owner_bits(
    grants: list[dict[str, Any]], mode: int, detail: str
) -> None:
    result = mount_permissions(acl(*grants), DEFAULTS, shared=False, identity_id=IDENTITY, owner="ops")
    assert result == MountPermissions(owner="ops", group="ops", mode=mode, source=f"bucket ACL ({detail})")


def test_an_acl_without_a_relevant_grant_gives_mode_0() -> None:
    # Alluxio starts from 0 and only adds bits: grants to other users, READ_ACP/WRITE_ACP and
    # an empty grant list all leave nothing.
    grants = [
        identity_grant("FULL_CONTROL", owner_id="id-bob"),
        identity_grant("READ_ACP"),
        identity_grant("WRITE_ACP"),
        group_grant("http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"),
    ]
    for candidate in (acl(*grants), acl()):
        result = mount_permissions(candidate, DEFAULTS, shared=False, identity_id=IDENTITY)
        assert result.mode == 0o000
        assert result.source == "bucket ACL (no grant to mount identity, AllUsers or AuthenticatedUsers)"


def test_grants_are_matched_on_the_mount_identitys_id_not_the_display_name() -> None:
    grant = {
        "Grantee": {"Type": "CanonicalUser", "DisplayName": "alice", "ID": "id-other"},
        "Permission": "READ",
    }
    assert mount_permissions(acl(grant), DEFAULTS, shared=False, identity_id=IDENTITY).mode == 0o000


def test_repeated_grants_are_named_once() -> None:
    result = mount_permissions(
        acl(identity_grant("READ"), identity_grant("READ")), DEFAULTS, shared=False, identity_id=IDENTITY
    )
    assert (result.mode, result.source) == (0o500, "bucket ACL (READ grant to mount identity)")


def test_grants_to_the_bucket_owner_do_not_reach_another_identity() -> None:
    # Alluxio's rule: the mount's own identity, not the bucket's owner (the old rule gave 0700).
    full_to_owner = acl(identity_grant("FULL_CONTROL"))
    result = mount_permissions(full_to_owner, DEFAULTS, shared=False, identity_id="id-bob")
    assert (result.mode, result.source) == (
        0o000,
        "bucket ACL (no grant to mount identity, AllUsers or AuthenticatedUsers)",
    )


def test_an_unknown_identity_gives_the_default_mode_and_says_why() -> None:
    defaults = PermissionDefaults(default_mode=0o750)
    result = mount_permissions(
        acl(identity_grant("READ")), defaults, shared=False, identity_error="AccessDenied"
    )
    assert (result.mode, result.source) == (0o750, "default mode: mount identity unknown (AccessDenied)")


@pytest.mark.parametrize(
    ("grants", "mode"),
    [
        ([identity_grant("FULL_CONTROL")], 0o777),
        ([identity_grant("READ")], 0o555),
        ([identity_grant("WRITE")], 0o222),
        ([], 0o000),
    ],
)
def test_shared_copies_the_owner_bits_to_group_and_others(grants: list[dict[str, Any]], mode: int) -> None:
    result = mount_permissions(acl(*grants), DEFAULTS, shared=True, identity_id=IDENTITY)
    assert result.mode == mode
    assert result.source.endswith("; shared: owner bits copied to group and others")


# -- access probe -------------------------------------------------------------------------------

ALLOWED = ProbeResult(allowed=True)
REFUSED = ProbeResult(allowed=False, reason="AccessDenied")
UNKNOWN = ProbeResult(allowed=None, reason="HTTP 500")


@pytest.mark.parametrize(
    ("grants", "probe", "mode"),
    [
        # Grants reaching the identity: refusals remove bits, allowed probes add none.
        ([identity_grant("FULL_CONTROL")], AccessProbe(ALLOWED, REFUSED), 0o500),
        ([identity_grant("FULL_CONTROL")], AccessProbe(REFUSED, REFUSED), 0o000),
        ([identity_grant("FULL_CONTROL")], AccessProbe(ALLOWED, ALLOWED), 0o700),
        ([identity_grant("READ")], AccessProbe(ALLOWED, ALLOWED), 0o500),
        ([group_grant(ALL_USERS_URI, "WRITE")], AccessProbe(ALLOWED, REFUSED), 0o000),
        # A probe that could not tell, or was not tried, changes nothing.
        ([identity_grant("FULL_CONTROL")], AccessProbe(UNKNOWN, UNKNOWN), 0o700),
        ([identity_grant("FULL_CONTROL")], AccessProbe(ALLOWED, None), 0o700),
        # An ACL silent about the identity: the probes give the bits.
        ([], AccessProbe(ALLOWED, REFUSED), 0o500),
        ([], AccessProbe(ALLOWED, ALLOWED), 0o700),
        ([identity_grant("FULL_CONTROL", owner_id="id-bob")], AccessProbe(ALLOWED, UNKNOWN), 0o500),
        ([], AccessProbe(ALLOWED, None), 0o500),
        ([], AccessProbe(REFUSED, ALLOWED), 0o200),
    ],
)
def test_the_probe_narrows_the_acl_or_decides_when_it_is_silent(
    grants: list[dict[str, Any]], probe: AccessProbe, mode: int
) -> None:
    result = mount_permissions(acl(*grants), DEFAULTS, shared=False, identity_id=IDENTITY, probe=probe)
    assert result.mode == mode
    assert result.source.endswith(f"; {probe.describe()}")


def test_a_refused_write_probe_narrows_the_default_mode_too() -> None:
    probe = AccessProbe(ALLOWED, REFUSED)
    unreadable = mount_permissions(None, DEFAULTS, shared=False, acl_error="AccessDenied", probe=probe)
    assert (unreadable.mode, unreadable.source) == (
        0o500,
        "default mode: ACL not readable (AccessDenied); "
        "access probe: list allowed, write refused (AccessDenied)",
    )
    unknown = mount_permissions(
        acl(identity_grant("FULL_CONTROL")), DEFAULTS, shared=True, identity_error="AccessDenied", probe=probe
    )
    assert unknown.mode == 0o555


def test_the_probe_is_ignored_with_inherit_acl_off() -> None:
    defaults = PermissionDefaults(inherit_acl=False)
    result = mount_permissions(None, defaults, shared=False, probe=AccessProbe(REFUSED, REFUSED))
    assert (result.mode, result.source) == (0o700, "default mode: inherit_acl is off")


def test_what_the_probe_says_in_the_source() -> None:
    assert AccessProbe(ALLOWED, None).describe() == (
        "access probe: list allowed, write not tried (read-only mount)"
    )
    assert AccessProbe(UNKNOWN, ALLOWED, left_behind="AccessDenied").describe() == (
        "access probe: list failed (HTTP 500), write allowed; "
        "probe object left behind (delete refused: AccessDenied)"
    )


# -- default mode -------------------------------------------------------------------------------


def test_inherit_acl_off_uses_the_default_mode_even_with_an_acl() -> None:
    defaults = PermissionDefaults(inherit_acl=False, default_mode=0o750)
    result = mount_permissions(
        acl(identity_grant("READ")), defaults, shared=False, identity_id=IDENTITY, owner="ops"
    )
    assert (result.mode, result.source) == (0o750, "default mode: inherit_acl is off")
    assert result.owner == "ops"


@pytest.mark.parametrize("reason", ["AccessDenied", "NotImplemented", "SignatureDoesNotMatch"])
def test_an_unreadable_acl_uses_the_default_mode_and_says_why(reason: str) -> None:
    result = mount_permissions(None, DEFAULTS, shared=False, acl_error=reason)
    assert (result.mode, result.source) == (0o700, f"default mode: ACL not readable ({reason})")


def test_the_default_mode_is_shared_too() -> None:
    defaults = PermissionDefaults(default_mode=0o500)
    result = mount_permissions(None, defaults, shared=True, acl_error="AccessDenied")
    assert result.mode == 0o555
    assert result.source == (
        "default mode: ACL not readable (AccessDenied); shared: owner bits copied to group and others"
    )
    assert mount_permissions(None, DEFAULTS, shared=True).mode == 0o777


def test_no_acl_and_no_reason() -> None:
    assert mount_permissions(None, DEFAULTS, shared=False).source == "default mode: no ACL"


def test_a_default_mode_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="not a permission mode"):
        mount_permissions(None, PermissionDefaults(default_mode=0o1777), shared=False)


# -- the check ----------------------------------------------------------------------------------

ALICE = Caller("alice", frozenset({"staff"}))
BOB_IN_ALICE = Caller("bob", frozenset({"alice"}))
CAROL = Caller("carol", frozenset({"users"}))


def allowed(caller: Caller | None, mode: int, want: Any) -> bool:
    try:
        check_access(caller, owner="alice", group="alice", mode=mode, want=want, path="/mnt/s3/a.txt")
    except AccessDeniedError:
        return False
    return True


@pytest.mark.parametrize(
    ("caller", "mode", "want", "expected"),
    [
        (ALICE, 0o700, "write", True),
        (ALICE, 0o500, "read", True),
        (ALICE, 0o500, "execute", True),
        (ALICE, 0o500, "write", False),
        # First match decides: the owner is refused by its own bits even if others may.
        (ALICE, 0o077, "read", False),
        (BOB_IN_ALICE, 0o070, "write", True),
        (BOB_IN_ALICE, 0o700, "read", False),
        # A group member is refused by the group bits even when others may.
        (BOB_IN_ALICE, 0o607, "read", False),
        (CAROL, 0o004, "read", True),
        (CAROL, 0o770, "read", False),
        (CAROL, 0o001, "execute", True),
        (CAROL, 0o006, "execute", False),
    ],
)
def test_owner_then_group_then_other(caller: Caller, mode: int, want: str, expected: bool) -> None:
    assert allowed(caller, mode, want) is expected


def test_the_superuser_and_no_caller_are_never_checked() -> None:
    for want in ("read", "write", "execute"):
        assert allowed(None, 0o000, want)
        assert allowed(SUPERUSER, 0o000, want)
    # A user merely named like the superuser gets no bypass.
    assert not allowed(Caller(SUPERUSER.user), 0o000, "read")


def test_a_refusal_names_the_path_user_mode_owner_group_and_bit() -> None:
    bob = Caller("bob", frozenset({"staff"}))
    with pytest.raises(AccessDeniedError) as caught:
        check_access(bob, owner="alice", group="alice", mode=0o500, want="write", path="/mnt/s3/a.txt")
    assert str(caught.value) == (
        "write /mnt/s3/a.txt: permission denied for user bob (mode 0500, owner alice, group alice): "
        "needs the write bit; its owner or an admin can grant it: "
        "tierstore fs chmod o+w /mnt/s3/a.txt (or tierstore fs chown bob /mnt/s3/a.txt)"
    )
    assert isinstance(caught.value, StoreError)
    assert caught.value.key == "/mnt/s3/a.txt"


def test_an_empty_owner_matches_nobody_named() -> None:
    with pytest.raises(AccessDeniedError, match=r"owner \(none\), group \(none\)"):
        check_access(CAROL, owner="", group="", mode=0o700, want="read", path="/m")


def test_an_unknown_access_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown access 'delete'"):
        check_access(ALICE, owner="alice", group="alice", mode=0o777, want="delete", path="/m")  # type: ignore[arg-type]


# -- text forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "is_dir", "text"),
    [
        (0o750, True, "drwxr-x---"),
        (0o644, False, "-rw-r--r--"),
        (0o000, False, "----------"),
        (0o777, True, "drwxrwxrwx"),
        (0o500, True, "dr-x------"),
        (0o4755, False, "-rwsr-xr-x"),
        (0o2640, False, "-rw-r-S---"),
        (0o1777, True, "drwxrwxrwt"),
        (0o1770, True, "drwxrwx--T"),
    ],
)
def test_format_mode(mode: int, is_dir: bool, text: str) -> None:
    assert format_mode(mode, is_dir) == text


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("755", 0o000, 0o755),
        ("0755", 0o000, 0o755),
        ("0", 0o777, 0o000),
        ("1777", 0o000, 0o1777),
        (" 640 ", 0o777, 0o640),
        ("u+w", 0o500, 0o700),
        ("go-rwx", 0o777, 0o700),
        ("a=r", 0o751, 0o444),
        ("u=rwx,g=rx,o=", 0o000, 0o750),
        ("u=rwx,g=rx,o=", 0o777, 0o750),
        ("+x", 0o644, 0o755),
        ("o+r-w", 0o002, 0o004),
        ("ug=rw", 0o7, 0o667),
        ("u-w", 0o4755, 0o4555),
        ("a-rwx", 0o777, 0o000),
        ("g=", 0o775, 0o705),
    ],
)
def test_parse_mode(text: str, current: int, expected: int) -> None:
    assert parse_mode(text, current) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty mode"),
        ("   ", "empty mode"),
        ("8", "not octal"),
        ("0789", "not octal"),
        ("17777", "out of range"),
        ("u+q", "invalid mode clause 'u+q'"),
        ("z+r", "invalid mode clause 'z+r'"),
        ("u", "invalid mode clause 'u'"),
        ("rwx", "invalid mode clause 'rwx'"),
        ("u+w,", "invalid mode clause ''"),
        ("rwxr-xr-x", "invalid mode clause"),
        ("0o755", "invalid mode clause"),
    ],
)
def test_parse_mode_refuses_anything_else(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_mode(text, 0o644)
    assert "use octal (755, 0755) or symbolic" in str(caught.value)
