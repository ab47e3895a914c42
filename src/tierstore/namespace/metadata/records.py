"""The records the metadata store keeps, and how their secret parts are kept out of output."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tierstore.settings.secret import Secret, mask_key_id

MAX_MODE = 0o7777
_HIDDEN = "****"
# Matched against the option key lower-cased with its punctuation removed, so "aws.secretKey",
# "fs.s3a.secret.key", "session_token" and "db-password" all count.
_SECRET_WORDS = ("secret", "password", "token")
_KEY_ID_WORDS = ("accesskeyid", "accesskey")


def is_secret_option(key: str) -> bool:
    """True for an option whose value must never be shown (secret keys, tokens, passwords)."""
    folded = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in folded for word in _SECRET_WORDS)


def _is_key_id_option(key: str) -> bool:
    folded = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in folded for word in _KEY_ID_WORDS)


def redact_options(options: Mapping[str, str]) -> dict[str, str]:
    """Options as they may appear in a repr or a log line: secrets hidden, key ids cut to 4 chars."""
    shown: dict[str, str] = {}
    for key, value in options.items():
        if is_secret_option(key):
            shown[key] = _HIDDEN
        elif _is_key_id_option(key):
            shown[key] = mask_key_id(value)
        else:
            shown[key] = value
    return shown


def redact_uri(uri: str) -> str:
    """A mount URI with any password in its user-info part hidden (``s3://id:secret@bucket``)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    user = mask_key_id(parts.username) if parts.username else ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{_HIDDEN}@{host}"))


def check_path(path: str, what: str = "path") -> str:
    """``path`` if it is a canonical absolute namespace path, else ValueError saying why.

    Canonical means: starts with "/", no empty, "." or ".." components, no trailing "/" except
    for the root itself. The store compares paths as plain strings ("/a" is the parent of "/a/b"),
    so two spellings of one path would be two different rows.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{what} {path!r} is not absolute: namespace paths start with '/'")
    if "\x00" in path:
        raise ValueError(f"{what} {path!r} contains a NUL character, which no path may hold")
    if path == "/":
        return path
    components = path[1:].split("/")
    if any(part in ("", ".", "..") for part in components):
        canonical = "/" + "/".join(part for part in components if part not in ("", "."))
        raise ValueError(
            f"{what} {path!r} is not canonical: remove empty, '.' and '..' components and any "
            f"trailing '/' (for example {canonical!r})"
        )
    return path


def check_mode(mode: int, what: str = "mode") -> int:
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= MAX_MODE:
        raise ValueError(f"{what} {mode!r} is not a permission mode: give an int from 0 to 0o7777")
    return mode


@dataclass(frozen=True, repr=False)
class MountRecord:
    """One entry of the mount table: ``uri`` (e.g. ``s3://bucket/prefix``) is mounted at ``path``.

    ``options`` are Alluxio-style mount options and may hold credentials, so ``repr`` hides
    every secret value and cuts access key ids to 4 characters.
    """

    path: str
    uri: str
    options: Mapping[str, str]
    readonly: bool
    shared: bool
    owner: str
    group: str
    mode: int
    created_at: datetime

    def __post_init__(self) -> None:
        check_path(self.path, "mount path")
        if not self.uri:
            raise ValueError(f"mount at {self.path}: uri is empty; give the location to mount")
        for key, value in self.options.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(
                    f"mount at {self.path}: option {key!r} must map a str to a str "
                    f"(got a {type(value).__name__} value)"
                )
        check_mode(self.mode, f"mount at {self.path}: mode")
        if self.created_at.tzinfo is None:
            raise ValueError(
                f"mount at {self.path}: created_at has no time zone; give an aware datetime "
                "(e.g. datetime.now(UTC))"
            )
        # A read-only view of a private copy: the caller's dict can change without changing us.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def __repr__(self) -> str:
        return (
            f"MountRecord(path={self.path!r}, uri={redact_uri(self.uri)!r}, "
            f"options={redact_options(self.options)!r}, readonly={self.readonly!r}, "
            f"shared={self.shared!r}, owner={self.owner!r}, group={self.group!r}, "
            f"mode={self.mode:#o}, created_at={self.created_at.isoformat()!r})"
        )

    __str__ = __repr__

    def as_dict(self) -> dict[str, Any]:
        """The record for JSON output: options redacted as in ``repr``."""
        return {
            "path": self.path,
            "uri": redact_uri(self.uri),
            "readonly": self.readonly,
            "shared": self.shared,
            "owner": self.owner,
            "group": self.group,
            "mode": f"{self.mode:04o}",
            "options": redact_options(self.options),
        }

    def __hash__(self) -> int:
        # The generated hash would fail on the options mapping; hash its items instead.
        return hash((self.path, self.uri, frozenset(self.options.items()), self.created_at))


@dataclass(frozen=True)
class PathAttributes:
    """What chmod, chown and chgrp set on one path; None for what was never set there."""

    path: str
    owner: str | None
    group: str | None
    mode: int | None


@dataclass(frozen=True, repr=False)
class UserRecord:
    """A user of the API server. ``token_sha256`` is the hex SHA-256 of its bearer token.

    The hash is not the token, but ``repr`` leaves it out all the same: nothing about a
    credential belongs in a log line.
    """

    name: str
    token_sha256: str
    groups: tuple[str, ...]
    admin: bool
    created_at: datetime

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", self.name or ""):
            raise ValueError(
                f"user name {self.name!r} is not allowed: use 1 to 64 letters, digits, '_', '.', '@' or '-'"
            )
        if not re.fullmatch(r"[0-9a-f]{64}", self.token_sha256):
            raise ValueError(f"user {self.name}: token_sha256 must be 64 lower-case hex digits")
        for group in self.groups:
            if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", group or ""):
                raise ValueError(
                    f"user {self.name}: group name {group!r} is not allowed: "
                    "use 1 to 64 letters, digits, '_', '.', '@' or '-'"
                )
        if self.created_at.tzinfo is None:
            raise ValueError(f"user {self.name}: created_at has no time zone; give an aware datetime")

    def __repr__(self) -> str:
        return f"UserRecord(name={self.name!r}, groups={self.groups!r}, admin={self.admin!r})"

    __str__ = __repr__


# -- S3 access keys ------------------------------------------------------------------------------

# Our access key ids look like AWS's (20 upper-case letters and digits) with a prefix of their
# own, so a key id pasted into the wrong place is told apart from an AWS one at a glance, and
# the server refuses anything else without a query.
S3_KEY_ID_PREFIX = "TSK3"
S3_KEY_ID_LENGTH = 20
S3_KEY_ID_PATTERN = re.compile(rf"{S3_KEY_ID_PREFIX}[A-Z0-9]{{{S3_KEY_ID_LENGTH - len(S3_KEY_ID_PREFIX)}}}")
_USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def is_s3_key_id(value: str) -> bool:
    """True for a string shaped like one of our access key ids (it may still be unknown)."""
    return S3_KEY_ID_PATTERN.fullmatch(value) is not None


def _check_s3_key(access_key_id: str, user: str, created_at: datetime) -> None:
    if not is_s3_key_id(access_key_id):
        raise ValueError(
            f"access key id {mask_key_id(access_key_id)} is not one of tierstore's: they are "
            f"{S3_KEY_ID_PREFIX} followed by {S3_KEY_ID_LENGTH - len(S3_KEY_ID_PREFIX)} upper-case "
            "letters and digits"
        )
    if not _USER_NAME.fullmatch(user or ""):
        raise ValueError(
            f"user name {user!r} is not allowed: use 1 to 64 letters, digits, '_', '.', '@' or '-'"
        )
    if created_at.tzinfo is None:
        raise ValueError(
            f"S3 key {mask_key_id(access_key_id)}: created_at has no time zone; give an aware datetime"
        )


@dataclass(frozen=True, repr=False)
class S3KeyInfo:
    """An S3 access key as listings show it: never its secret.

    The key id is not a secret and ``as_dict`` gives it whole; ``repr`` (what logs see) cuts
    it to 4 characters all the same, as every key id in tierstore's output is.
    """

    access_key_id: str
    user: str
    created_at: datetime

    def __post_init__(self) -> None:
        _check_s3_key(self.access_key_id, self.user, self.created_at)

    def __repr__(self) -> str:
        return (
            f"S3KeyInfo(access_key_id={mask_key_id(self.access_key_id)!r}, user={self.user!r}, "
            f"created_at={self.created_at.isoformat()!r})"
        )

    __str__ = __repr__

    def as_dict(self) -> dict[str, str]:
        return {
            "access_key_id": self.access_key_id,
            "user": self.user,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, repr=False)
class S3KeyRecord:
    """An S3 access key of ``user``, with its secret: the server signs requests' keys with it, so
    it is kept encrypted at rest (see ``metadata.s3_key_rows``) rather than hashed as tokens are."""

    access_key_id: str
    user: str
    secret: Secret
    created_at: datetime

    def __post_init__(self) -> None:
        _check_s3_key(self.access_key_id, self.user, self.created_at)
        if not isinstance(self.secret, Secret) or not self.secret:
            raise ValueError(
                f"S3 key {mask_key_id(self.access_key_id)}: give its secret as a non-empty Secret"
            )

    def __repr__(self) -> str:
        return f"S3KeyRecord(access_key_id={mask_key_id(self.access_key_id)!r}, user={self.user!r})"

    __str__ = __repr__

    def info(self) -> S3KeyInfo:
        return S3KeyInfo(self.access_key_id, self.user, self.created_at)
