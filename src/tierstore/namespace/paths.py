"""Absolute namespace paths: ``/``, ``/mnt/s3``, ``/mnt/s3/a/b.txt``.

Every path is checked here before anything resolves it, on every door (API, CLI, Python):
no NUL, no lone surrogate (text that is not UTF-8), no ``..``, at most ``PATH_MAX`` bytes.
Names with control characters can still be read (a store may hold such keys, written
straight to it), but never created: :func:`check_creatable`.
"""

from __future__ import annotations

import functools
import re
from typing import Final

# Linux's PATH_MAX: the longest path a local mount (and a FUSE mount) can ever open.
PATH_MAX: Final = 4096
# Linux's NAME_MAX: the longest single name a local directory holds.
NAME_MAX: Final = 255
_CONTROL = re.compile("[\x01-\x1f\x7f]")


class PathError(ValueError):
    """A path tierstore refuses; ``too_long`` marks a size limit (HTTP 414) rather than a bad character."""

    def __init__(self, message: str, *, too_long: bool = False) -> None:
        super().__init__(message)
        self.too_long = too_long


def shown(path: str) -> str:
    """The path as an error message may print it: escapes instead of control or invalid characters."""
    return ascii(path) if not path.isprintable() else repr(path)


# A request normalizes the same path three or four times on its way (its address, where it
# lives, its permission chain): recent answers are kept (a failure is not: it is raised each
# time). A few hundred cover every request in flight; at most PATH_MAX bytes each, the bound
# keeps what a sender of long, distinct paths can make it hold to a few MiB.
NORMALIZED_KEPT = 512


@functools.lru_cache(maxsize=NORMALIZED_KEPT)
def normalize(path: str) -> str:
    """One spelling per path: absolute, single slashes, no trailing slash (but ``/``)."""
    if not path.startswith("/"):
        raise PathError(f"{shown(path)} is not an absolute path: namespace paths start with '/'")
    if "\x00" in path:
        raise PathError(f"{shown(path)}: a NUL character (\\x00) is not allowed in a path")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise PathError(
            f"{shown(path)}: character {error.start} is a lone surrogate ({path[error.start]!a}), "
            "not text: send paths as UTF-8"
        ) from None
    if size > PATH_MAX:
        raise PathError(
            f"{shown(path[:64])}...: the path is {size} bytes long, over the limit of {PATH_MAX} (PATH_MAX)",
            too_long=True,
        )
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise PathError(f"{shown(path)}: '..' is not allowed in namespace paths")
    return "/" + "/".join(parts)


def check_creatable(path: str) -> None:
    """Refuse a new name that holds a control character (U+0001 to U+001F, U+007F).

    Such names break terminals, logs and line-based tools; a store may still hold them (written
    straight to it) and they stay readable, but tierstore never makes one.
    """
    found = _CONTROL.search(path)
    if found is not None:
        raise PathError(
            f"{shown(path)}: the control character {found.group()!a} at position {found.start()} is not "
            "allowed in a new name; rename it without control characters (U+0001-U+001F, U+007F)"
        )


def check_name_lengths(path: str) -> None:
    """Refuse a path with a name over ``NAME_MAX`` bytes (what a local directory can hold)."""
    for part in path.split("/"):
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise PathError(
                f"{shown(path[:64])}...: the name {shown(part[:32])}... is {size} bytes long, over the limit "
                f"of {NAME_MAX} (NAME_MAX)",
                too_long=True,
            )


def join(base: str, name: str) -> str:
    return normalize(f"{base}/{name}")


def child(base: str, name: str) -> str:
    """``join`` for one name of a listing of the normalized ``base``: the common case (a plain
    name, far from PATH_MAX) without normalizing the whole path again."""
    if (
        name
        and name not in (".", "..")
        and "/" not in name
        and "\x00" not in name
        and (len(base) + len(name)) * 4 < PATH_MAX
    ):
        return f"/{name}" if base == "/" else f"{base}/{name}"
    return join(base, name)


def parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def ancestors(path: str) -> list[str]:
    """``path``'s ancestors, from its parent up to ``/`` (none for ``/``)."""
    found: list[str] = []
    while path != "/":
        path = parent(path)
        found.append(path)
    return found


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def is_within(path: str, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or below it (``/a/b`` is within ``/a``; ``/ab`` is not)."""
    return ancestor in ("/", path) or path.startswith(f"{ancestor}/")


def relative(path: str, ancestor: str) -> str:
    """The part of ``path`` below ``ancestor`` ("" for the ancestor itself)."""
    if not is_within(path, ancestor):
        raise ValueError(f"{path} is not under {ancestor}")
    return path[len(ancestor) :].lstrip("/") if ancestor != "/" else path.lstrip("/")
