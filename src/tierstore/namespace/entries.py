"""What a key is in a store seen as a file system: a file, a directory, or nothing.

Directories are prefixes: a key is a directory when its parent's listing shows it as one: when
objects exist below it, when its zero-byte ``key/`` marker exists (an empty directory made with
mkdir), or on a store that keeps folders (SeaweedFS) when its folder is there though emptied by a
delete made straight on the store (``head("key/")`` finds such a folder; tierstore's own deletes
remove the folders they empty).
"""

from __future__ import annotations

from typing import Literal

from tierstore.errors import NotFoundError
from tierstore.storage.interface import ObjectInfo, Store

Kind = Literal["file", "dir"]


def kind_of(store: Store, key: str) -> tuple[Kind, ObjectInfo | None] | None:
    if key == "":
        return ("dir", None)
    try:
        return ("file", store.head(key))
    except NotFoundError:
        pass
    # Not just the first page: a page may hold only the directory's own marker, which a
    # listing leaves out; the page says so where the store can (S3), else head("key/") below
    # finds it.
    marker_absent = False
    for page in store.list_pages(key, delimiter="/", page_size=100):
        if page.objects or page.prefixes:
            return ("dir", None)
        if page.marker is not None:
            return ("dir", page.marker)
        marker_absent = marker_absent or page.marker_known
    if marker_absent:  # head("key/") would only list the same first page again
        return None
    try:
        return ("dir", store.head(f"{key}/"))
    except NotFoundError:
        return None
