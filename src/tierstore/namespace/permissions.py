"""A mount's owner, group and mode, and the POSIX-style permission check (pure logic, no I/O).

Ownership and mode follow Alluxio's S3 under-file-system semantics:

* **owner**: a tierstore user, never a store's or the OS's name by coincidence: the bucket
  ACL owner's canonical id mapped explicitly through
  ``alluxio.underfs.s3.owner.id.to.username.mapping`` (``owner_id_to_username``), else the
  owner the mount was made with (the admin who mounted it, or ``--owner``), else ``""``,
  Alluxio's ``DEFAULT_OWNER``: no caller matches it, so only the "other" bits (and admins)
  decide. An ACL's DisplayName or canonical id is only shown in ``source``.
* **group**: the owner's name (Alluxio gives the group the same value).
* **mode**: only the owner bits, built as Alluxio does from the grants that reach the *mount's
  own identity* (its canonical id, from ListBuckets), ``AllUsers`` and ``AuthenticatedUsers``:
  READ gives ``r-x`` (0o500), WRITE adds ``w`` (0o200), FULL_CONTROL gives ``rwx`` (0o700). An
  ACL with none of those grants gives 0o000, as in Alluxio. With no readable ACL, no known
  identity, or ``inherit_acl`` off, the mode is ``default_mode``.
* **access probe** (``access_probe``, on by default; never with ``inherit_acl`` off): what the
  identity really may do, asked of the store (see :mod:`tierstore.namespace.probe`). A refused
  list removes ``r-x`` and a refused write removes ``w``, whatever the ACL or the default mode
  says. When the ACL was read but has no grant reaching the identity, the ACL does not describe
  it (its access comes from policies, as on SeaweedFS and MinIO), so the probes alone give the
  bits: an allowed list ``r-x``, an allowed write ``w``. A probe that cannot tell (no answer, a
  server error) changes nothing. ``shared`` then copies the owner bits to group and others
  (0o500 -> 0o555).
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

    ``source`` says where the mode came from, e.g. ``bucket ACL (READ grant to mount identity)`` or
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


@dataclass(frozen=True)
class ProbeResult:
    """One probe: ``allowed`` True or False (refused: AccessDenied), None when it could not tell;
    ``reason`` is the error code or failure type when it failed."""

    allowed: bool | None
    reason: str = ""

    def describe(self, what: str) -> str:
        if self.allowed:
            return f"{what} allowed"
        return f"{what} {'refused' if self.allowed is False else 'failed'} ({self.reason})"


@dataclass(frozen=True)
class AccessProbe:
    """What the mount's identity may do, found by asking the store at mount time.

    ``write`` None: not tried (a read-only mount). ``left_behind``: why the write probe's object
    could not be deleted ("" when it was).
    """

    listing: ProbeResult
    write: ProbeResult | None
    left_behind: str = ""

    def describe(self) -> str:
        parts = [self.listing.describe("list")]
        parts.append(self.write.describe("write") if self.write else "write not tried (read-only mount)")
        text = "access probe: " + ", ".join(parts)
        if self.left_behind:
            text += f"; probe object left behind (delete refused: {self.left_behind})"
        return text


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


def _grantee_label(grantee: Mapping[str, Any], identity_id: str) -> str | None:
    """``mount identity``, ``AllUsers`` or ``AuthenticatedUsers`` when the grant reaches the
    mount's identity, else None."""
    uri = grantee.get("URI")
    if isinstance(uri, str) and uri in _GROUP_NAMES:
        return _GROUP_NAMES[uri]
    grantee_id = grantee.get("ID")
    if identity_id and isinstance(grantee_id, str) and grantee_id == identity_id:
        return "mount identity"
    return None


def _mode_from_grants(acl: Mapping[str, Any], identity_id: str) -> tuple[int, list[str]]:
    mode = 0
    reasons: list[str] = []
    for grant in acl.get("Grants") or ():
        if not isinstance(grant, Mapping):
            continue
        bits = _PERMISSION_BITS.get(str(grant.get("Permission") or ""))
        grantee = grant.get("Grantee")
        if bits is None or not isinstance(grantee, Mapping):
            continue
        label = _grantee_label(grantee, identity_id)
        if label is None:
            continue
        mode |= bits
        reason = f"{grant['Permission']} grant to {label}"
        if reason not in reasons:
            reasons.append(reason)
    return mode, reasons


def _probed_mode(mode: int, probe: AccessProbe, *, acl_silent: bool) -> int:
    """``mode`` after the probes: refusals remove bits; with a silent ACL the probes give them."""
    if acl_silent:
        # The ACL names neither this identity nor everyone, yet the identity got this far: its
        # access comes from policies the ACL does not show, so what the probes saw is the access.
        mode = 0
        if probe.listing.allowed:
            mode |= _PERMISSION_BITS["READ"]
        if probe.write is not None and probe.write.allowed:
            mode |= _PERMISSION_BITS["WRITE"]
        return mode
    if probe.listing.allowed is False:
        mode &= ~_PERMISSION_BITS["READ"]
    if probe.write is not None and probe.write.allowed is False:
        mode &= ~_PERMISSION_BITS["WRITE"]
    return mode


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
    identity_id: str | None = None,
    identity_error: str | None = None,
    probe: AccessProbe | None = None,
) -> MountPermissions:
    """Owner, group and mode of a mount from its bucket's ACL (a GetBucketAcl response).

    ``acl`` None means the ACL was not read; ``acl_error`` then says why (an error code such as
    ``AccessDenied``). ``identity_id`` is the canonical id of the identity the mount signs as;
    None means it is unknown (``identity_error`` says why), and the ACL's grants then cannot be
    matched. The owner comes from ``acl`` whenever one is given; the mode comes from its grants
    only when ``defaults.inherit_acl`` is true, else it is ``defaults.default_mode``. ``probe``
    (what the identity really may do) then narrows the mode, or sets it when the ACL is silent
    about the identity; it is ignored with ``inherit_acl`` off.
    """
    if not 0 <= defaults.default_mode <= 0o777:
        raise ValueError(f"default mode {defaults.default_mode:#o} is not a permission mode (0 to 0777)")
    owner_record = acl.get("Owner") if acl is not None else None
    if not isinstance(owner_record, Mapping):
        owner_record = None
    owner = owner_name(owner_record, defaults.owner_id_to_username) or owner or DEFAULT_OWNER

    acl_silent = False
    if not defaults.inherit_acl:
        mode, source = defaults.default_mode, "default mode: inherit_acl is off"
        probe = None
    elif acl is None:
        reason = f"ACL not readable ({acl_error})" if acl_error else "no ACL"
        mode, source = defaults.default_mode, f"default mode: {reason}"
    elif not identity_id:
        reason = f" ({identity_error})" if identity_error else ""
        mode, source = defaults.default_mode, f"default mode: mount identity unknown{reason}"
    else:
        bits, reasons = _mode_from_grants(acl, identity_id)
        mode = bits & 0o700
        acl_silent = not reasons
        detail = ", ".join(reasons) or "no grant to mount identity, AllUsers or AuthenticatedUsers"
        source = f"bucket ACL ({detail})"

    if probe is not None:
        mode = _probed_mode(mode, probe, acl_silent=acl_silent)
        source += f"; {probe.describe()}"
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
