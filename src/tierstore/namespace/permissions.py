"""A mount's owner, group and mode, and the POSIX-style permission check (pure logic, no I/O).

Ownership and mode follow Alluxio's S3 under-file-system semantics:

* **owner**: a tierstore user, never a store's or the OS's name by coincidence: the bucket
  ACL owner's canonical id mapped explicitly through
  ``alluxio.underfs.s3.owner.id.to.username.mapping`` (``owner_id_to_username``), else the
  owner the mount was made with (the admin who mounted it, or ``--owner``), else ``""``,
  Alluxio's ``DEFAULT_OWNER``: no caller matches it, so only the "other" bits (and admins)
  decide. An ACL's DisplayName or canonical id is only shown in ``source``.
* **group**: the owner's name (Alluxio gives the group the same value).
* **mode**: only the owner bits, built from the grants that reach the owner: grants to its
  canonical id, to ``AllUsers`` and to ``AuthenticatedUsers``. READ gives ``r-x`` (0o500),
  WRITE adds ``w`` (0o200), FULL_CONTROL gives ``rwx`` (0o700). An ACL with none of those
  grants gives 0o000, as in Alluxio. With no readable ACL, or ``inherit_acl`` off, the mode is
  ``default_mode``. ``shared`` copies the owner bits to group and others (0o500 -> 0o555).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from tierstore.errors import AccessDeniedError
from tierstore.settings.model import PermissionDefaults

Access = Literal["read", "write", "execute"]

ALL_USERS_URI: Final = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS_URI: Final = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
DEFAULT_OWNER: Final = ""

_GROUP_NAMES: Final = {ALL_USERS_URI: "AllUsers", AUTHENTICATED_USERS_URI: "AuthenticatedUsers"}
# Owner bits each S3 permission gives (Alluxio's S3AUtils.translateBucketAcl).
_PERMISSION_BITS: Final = {"READ": 0o500, "WRITE": 0o200, "FULL_CONTROL": 0o700}
_ACCESS_BITS: Final[dict[str, int]] = {"read": 0o4, "write": 0o2, "execute": 0o1}
_MAX_MODE: Final = 0o7777


@dataclass(frozen=True)
class MountPermissions:
    """The owner, group and mode every file and directory of a mount shows.

    ``source`` says where the mode came from, e.g. ``bucket ACL (READ grant to owner)`` or
    ``default mode: ACL not readable (AccessDenied)``.
    """

    owner: str
    group: str
    mode: int
    source: str


@dataclass(frozen=True)
class Caller:
    """Who asks: a user name and the groups it belongs to. ``superuser`` bypasses every check."""

    user: str
    groups: frozenset[str] = frozenset()
    superuser: bool = False


# The server itself, or the CLI run without a named user: never checked.
SUPERUSER: Final = Caller(user="(superuser)", groups=frozenset(), superuser=True)


# -- ownership and mode ---------------------------------------------------------------------


def owner_name(owner: Mapping[str, Any] | None, mapping: Mapping[str, str]) -> str:
    """The tierstore user an ACL ``Owner`` record is mapped to explicitly, else ``""``.

    A store's DisplayName or canonical id never becomes a tierstore identity by itself: a user
    who happened to be called ``admin`` or ``root`` would own the mount.
    """
    if not owner:
        return DEFAULT_OWNER
    owner_id = str(owner.get("ID") or "")
    mapped = mapping.get(owner_id) if owner_id else None
    return mapped or DEFAULT_OWNER


def _grantee_label(grantee: Mapping[str, Any], owner_id: str) -> str | None:
    """``owner``, ``AllUsers`` or ``AuthenticatedUsers`` when the grant reaches the owner, else None."""
    uri = grantee.get("URI")
    if isinstance(uri, str) and uri in _GROUP_NAMES:
        return _GROUP_NAMES[uri]
    grantee_id = grantee.get("ID")
    if owner_id and isinstance(grantee_id, str) and grantee_id == owner_id:
        return "owner"
    return None


def _mode_from_grants(acl: Mapping[str, Any], owner_id: str) -> tuple[int, list[str]]:
    mode = 0
    reasons: list[str] = []
    for grant in acl.get("Grants") or ():
        if not isinstance(grant, Mapping):
            continue
        bits = _PERMISSION_BITS.get(str(grant.get("Permission") or ""))
        grantee = grant.get("Grantee")
        if bits is None or not isinstance(grantee, Mapping):
            continue
        label = _grantee_label(grantee, owner_id)
        if label is None:
            continue
        mode |= bits
        reason = f"{grant['Permission']} grant to {label}"
        if reason not in reasons:
            reasons.append(reason)
    return mode, reasons


def shared_mode(mode: int) -> int:
    """The owner bits copied to group and others (0o700 -> 0o777, 0o500 -> 0o555)."""
    owner_bits = (mode >> 6) & 0o7
    return (mode & ~0o777) | owner_bits * 0o111


def mount_permissions(
    acl: Mapping[str, Any] | None,
    defaults: PermissionDefaults,
    *,
    shared: bool,
    acl_error: str | None = None,
    owner: str | None = None,
) -> MountPermissions:
    """Owner, group and mode of a mount from its bucket's ACL (a GetBucketAcl response).

    ``acl`` None means the ACL was not read; ``acl_error`` then says why (an error code such as
    ``AccessDenied``). The owner comes from ``acl`` whenever one is given; the mode comes from
    its grants only when ``defaults.inherit_acl`` is true, else it is ``defaults.default_mode``.
    """
    if not 0 <= defaults.default_mode <= 0o777:
        raise ValueError(f"default mode {defaults.default_mode:#o} is not a permission mode (0 to 0777)")
    owner_record = acl.get("Owner") if acl is not None else None
    if not isinstance(owner_record, Mapping):
        owner_record = None
    owner = owner_name(owner_record, defaults.owner_id_to_username) or owner or DEFAULT_OWNER

    if not defaults.inherit_acl:
        mode, source = defaults.default_mode, "default mode: inherit_acl is off"
    elif acl is None:
        reason = f"ACL not readable ({acl_error})" if acl_error else "no ACL"
        mode, source = defaults.default_mode, f"default mode: {reason}"
    else:
        owner_id = str(owner_record.get("ID") or "") if owner_record else ""
        bits, reasons = _mode_from_grants(acl, owner_id)
        mode = bits & 0o700
        detail = ", ".join(reasons) if reasons else "no grant to owner, AllUsers or AuthenticatedUsers"
        source = f"bucket ACL ({detail})"

    if shared:
        mode = shared_mode(mode)
        source += "; shared: owner bits copied to group and others"
    return MountPermissions(owner=owner, group=owner, mode=mode, source=source)


# -- the check --------------------------------------------------------------------------------


def check_access(
    caller: Caller | None,
    *,
    owner: str,
    group: str,
    mode: int,
    want: Access,
    path: str,
) -> None:
    """Raise AccessDeniedError unless ``caller`` may ``want`` on ``path``.

    POSIX order, first match decides: the owner bits if the caller is the owner, else the
    group bits if the caller is in the owning group, else the other bits. ``None`` and the
    superuser are never refused.
    """
    if want not in _ACCESS_BITS:
        raise ValueError(f"unknown access {want!r}: use read, write or execute")
    if caller is None or caller.superuser:
        return
    if caller.user == owner:
        shift = 6
    elif group in caller.groups:
        shift = 3
    else:
        shift = 0
    if (mode >> shift) & _ACCESS_BITS[want]:
        return
    # Name the command that would let the caller in: a new user facing a root mount that came
    # out 0700 with no owner otherwise has no idea what to ask an admin for.
    who = "u" if shift == 6 else "g" if shift == 3 else "o"
    raise AccessDeniedError(
        f"{want} {path}: permission denied for user {caller.user} "
        f"(mode {mode & _MAX_MODE:04o}, owner {owner or '(none)'}, group {group or '(none)'}): "
        f"needs the {want} bit; its owner or an admin can grant it: "
        f"tierstore fs chmod {who}+{want[0]} {path} (or tierstore fs chown {caller.user} {path})",
        key=path,
    )


# -- text forms -------------------------------------------------------------------------------


def format_mode(mode: int, is_dir: bool) -> str:
    """``ls -l`` style: ``drwxr-x---``, ``-rw-r--r--`` (setuid/setgid/sticky as s/S and t/T)."""
    chars = ["d" if is_dir else "-"]
    specials = (0o4000, 0o2000, 0o1000)
    for index, shift in enumerate((6, 3, 0)):
        bits = (mode >> shift) & 0o7
        chars.append("r" if bits & 0o4 else "-")
        chars.append("w" if bits & 0o2 else "-")
        execute = bool(bits & 0o1)
        if mode & specials[index]:
            letter = "t" if index == 2 else "s"
            chars.append(letter if execute else letter.upper())
        else:
            chars.append("x" if execute else "-")
    return "".join(chars)


_OCTAL = re.compile(r"[0-7]{1,5}")
_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=][rwx]*)+)")
_ACTION = re.compile(r"([-+=])([rwx]*)")
_WHO_SHIFTS: Final = {"u": (6,), "g": (3,), "o": (0,), "a": (6, 3, 0)}
_PERM_BITS: Final = {"r": 0o4, "w": 0o2, "x": 0o1}
_MODE_HELP: Final = (
    "use octal (755, 0755) or symbolic clauses [ugoa][+-=][rwx], comma-separated "
    "(u+w, go-rwx, a=r, u=rwx,g=rx,o=)"
)


def parse_mode(text: str, current: int) -> int:
    """A new mode from ``chmod``-style text: octal replaces the mode, symbolic edits ``current``.

    Symbolic clauses without a class (``+x``) apply to all classes. Special bits already in
    ``current`` are kept by symbolic changes.
    """
    spec = text.strip()
    if not spec:
        raise ValueError(f"empty mode: {_MODE_HELP}")
    if _OCTAL.fullmatch(spec):
        value = int(spec, 8)
        if value > _MAX_MODE:
            raise ValueError(f"mode {text!r} is out of range (at most 7777): {_MODE_HELP}")
        return value
    if spec.isdigit():
        raise ValueError(f"mode {text!r} is not octal (digits 0-7 only): {_MODE_HELP}")
    mode = current & _MAX_MODE
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(f"invalid mode clause {clause!r} in {text!r}: {_MODE_HELP}")
        who = match.group(1) or "a"
        shifts = sorted({shift for letter in who for shift in _WHO_SHIFTS[letter]}, reverse=True)
        for op, perms in _ACTION.findall(match.group(2)):
            bits = 0
            for letter in perms:
                bits |= _PERM_BITS[letter]
            for shift in shifts:
                if op == "+":
                    mode |= bits << shift
                elif op == "-":
                    mode &= ~(bits << shift)
                else:
                    mode = (mode & ~(0o7 << shift)) | (bits << shift)
    return mode
