"""Which folders a delete left empty, so that the store can remove them.

Some stores (SeaweedFS) keep a real folder for every ``a/b/`` a key passed through and list an
emptied one as a common prefix long after its last object went (recursive listings do not show
it); AWS S3 never lists an empty prefix. Rather than one extra request per listed prefix to
hide such folders, the deletes made through tierstore remove the folders they empty: listings
then cost what the store's own listing costs, and the price is paid once per delete.

Folders are relative keys ending in ``/``; the store's own location (``""``) is never one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable


def parent_folder(key: str) -> str:
    """``a/b/c`` and ``a/b/c/`` -> ``a/b/``; a top-level key -> ``""``."""
    return key[: key.rstrip("/").rfind("/") + 1]


def emptied_folders(folders: Iterable[str], holds_anything: Callable[[str], bool]) -> list[str]:
    """The folders among ``folders`` and their ancestors that hold nothing, deepest first.

    ``holds_anything(folder)`` asks the store (one recursive listing of at most one key) whether
    any object or marker lies below ``folder``. A folder that holds something has ancestors that
    do too, so no question is asked above it; a folder that holds nothing has nothing below it
    either, so when the deepest folder holding all the others is empty (a whole tree went), it
    is the only question asked for them.
    """
    candidates: set[str] = set()
    for start in folders:
        folder = start
        while folder and folder not in candidates:
            candidates.add(folder)
            folder = parent_folder(folder)
    full: set[str] = set()
    empty: set[str] = set()

    def mark_full(folder: str) -> None:
        while folder and folder not in full:
            full.add(folder)
            folder = parent_folder(folder)

    top = _common_folder(candidates)
    if top:  # every candidate lies in it, and it is one of them
        if holds_anything(top):
            mark_full(top)
        else:
            empty.update(folder for folder in candidates if folder.startswith(top))
    for folder in _deepest_first(candidates):
        if folder in full or folder in empty:
            continue
        if holds_anything(folder):
            mark_full(folder)
        else:
            empty.add(folder)
    return _deepest_first(empty)


def _common_folder(folders: set[str]) -> str:
    if not folders:
        return ""
    # Keys, not OS paths: commonpath would fold "a//b/" into "a/b".
    common = os.path.commonprefix(list(folders))  # noqa: RUF071
    return common[: common.rfind("/") + 1]


def _deepest_first(folders: Iterable[str]) -> list[str]:
    # SeaweedFS removes a folder only once it is empty: children go before their parents.
    return sorted(folders, key=lambda folder: (-folder.count("/"), folder))
