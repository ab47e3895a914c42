"""Namespace stats (the server's ``{"type", "size", "modified", "owner", "group", "mode"}``) as
the ``struct stat`` fields mfusepy fills in, and the identity that decides their uid and gid.

Owners and groups in the namespace are tierstore users and groups, never the OS's by coincidence
(README, the namespace). So a path the mounting user owns shows as theirs (the mounting process's
uid); any other owner shows as ``nobody``; the group is the mounting process's gid when the user
belongs to it (or it is their own name), else ``nogroup``. The mode bits are the namespace's, and
the server enforces them on every call: the kernel's ``default_permissions`` is not used.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NOBODY = 65534
BLOCK = 512
# What `stat` reports as the best I/O size: large, so cp and dd move whole parts per call.
IO_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Identity:
    """Who the mount acts as: the token's tierstore user, mapped onto this process's uid and gid."""

    user: str
    groups: frozenset[str]
    admin: bool
    uid: int
    gid: int

    @classmethod
    def from_whoami(cls, answer: dict[str, Any]) -> Identity:
        return cls(
            user=str(answer["user"]),
            groups=frozenset(str(g) for g in answer.get("groups") or ()),
            admin=bool(answer.get("admin")),
            uid=os.getuid(),
            gid=os.getgid(),
        )

    def uid_of(self, owner: str | None) -> int:
        return self.uid if owner and owner == self.user else NOBODY

    def gid_of(self, group: str | None) -> int:
        if group and (group in self.groups or group == self.user):
            return self.gid
        return NOBODY

    def may(self, attrs: dict[str, Any], want: int) -> bool:
        """Whether ``access(2)`` with ``want`` (R_OK, W_OK, X_OK bits) would pass: the namespace's
        owner / group / other bits, an admin passing every check but execute on a plain file."""
        mode = int(attrs["st_mode"])
        if self.admin:
            return not (want & os.X_OK) or stat.S_ISDIR(mode) or bool(mode & 0o111)
        if attrs["st_uid"] == self.uid and attrs.get("owned", False):
            bits = (mode >> 6) & 7
        elif attrs["st_gid"] == self.gid and attrs.get("grouped", False):
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bool(bits & want == want)


def _nanoseconds(modified: str | None, fallback: int) -> int:
    if not modified:
        return fallback
    try:
        return int(datetime.fromisoformat(modified).timestamp() * 1_000_000_000)
    except ValueError:
        return fallback


def to_stat(entry: dict[str, Any], identity: Identity, *, started_ns: int) -> dict[str, Any]:
    """The ``struct stat`` of one stat or listing entry (times in nanoseconds: ``use_ns``)."""
    is_dir = entry.get("type") == "directory"
    mode = int(str(entry.get("mode") or ("0755" if is_dir else "0644")), 8) & 0o7777
    size = 0 if is_dir else int(entry.get("size") or 0)
    when = _nanoseconds(entry.get("modified"), started_ns)
    owner, group = entry.get("owner") or None, entry.get("group") or None
    return {
        "st_mode": (stat.S_IFDIR if is_dir else stat.S_IFREG) | mode,
        "st_nlink": 2 if is_dir else 1,
        "st_size": size,
        "st_uid": identity.uid_of(owner),
        "st_gid": identity.gid_of(group),
        "st_mtime": when,
        "st_ctime": when,
        "st_atime": when,
        "st_blocks": (size + BLOCK - 1) // BLOCK,
        "st_blksize": IO_BLOCK,
        # Kept for access(2): whether the uid and gid above are really the user's and group's.
        "owned": owner is not None and owner == identity.user,
        "grouped": identity.gid_of(group) == identity.gid,
    }


def new_file(identity: Identity, mode: int, size: int = 0) -> dict[str, Any]:
    """A file being written through this mount, before the store has it."""
    now = time.time_ns()
    return {
        "st_mode": stat.S_IFREG | (mode & 0o7777),
        "st_nlink": 1,
        "st_size": size,
        "st_uid": identity.uid,
        "st_gid": identity.gid,
        "st_mtime": now,
        "st_ctime": now,
        "st_atime": now,
        "st_blocks": (size + BLOCK - 1) // BLOCK,
        "st_blksize": IO_BLOCK,
        "owned": True,
        "grouped": True,
    }


def public(attrs: dict[str, Any]) -> dict[str, Any]:
    """The fields mfusepy copies into ``struct stat`` (it sets every key it is given)."""
    return {key: value for key, value in attrs.items() if key.startswith("st_")}
