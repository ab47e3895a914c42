"""What a key is in a store seen as a file system: a file, a directory, or nothing.

Directories are prefixes: a key is a directory when objects exist below it or when its
zero-byte ``key/`` marker exists (an empty directory made with mkdir).
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
    # Not just the first page: a store may hand back empty pages before the first entry
    # (SeaweedFS keeps folders of deleted objects, which the S3 backend filters out).
    for page in store.list_pages(key, delimiter="/", page_size=100):
        if page.objects or page.prefixes:
            return ("dir", None)
    try:
        return ("dir", store.head(f"{key}/"))
    except NotFoundError:
        return None
