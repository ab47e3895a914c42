"""Absolute namespace paths: ``/``, ``/mnt/s3``, ``/mnt/s3/a/b.txt``."""

from __future__ import annotations


def normalize(path: str) -> str:
    """One spelling per path: absolute, single slashes, no trailing slash (but ``/``)."""
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path: namespace paths start with '/'")
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise ValueError(f"{path!r}: '..' is not allowed in namespace paths")
    return "/" + "/".join(parts)


def join(base: str, name: str) -> str:
    return normalize(f"{base}/{name}")


def parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


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
