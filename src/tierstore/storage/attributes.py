"""Checks of the attributes a writer gives an object (content type, user metadata, the standard
headers S3 keeps with it).

They are checked once, where :class:`~tierstore.storage.interface.ObjectAttributes` is made, so
that every backend stores the same things and a bad value is refused before any bytes move.
The rules are S3's for metadata sent as HTTP headers: a name is an HTTP token, a value printable
ASCII (obstore cannot even read back an object whose metadata holds anything else), and names
and values together at most 2 KiB. A local directory keeps them in extended attributes, whose
room (one 4 KiB block on ext4) the same limit fits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn, Self

# The standard headers an object keeps besides its content type, as S3 keeps them from the PUT
# and answers them on GET and HEAD (obstore writes and reads these four; Expires it cannot).
KEPT_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language")
_KEPT_BY_LOWER = {name.lower(): name for name in KEPT_HEADERS}
# At most this many bytes per header value (S3's whole header block is 8 KiB).
MAX_HEADER_BYTES = 2048
# S3's limit on user metadata: the UTF-8 bytes of every name and value together.
MAX_METADATA_BYTES = 2048
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


class FrozenMetadata(dict[str, str]):
    """Read-only user metadata that still pickles, deep-copies and serialises as a dict.

    A ``MappingProxyType`` would be read-only too, but an ObjectInfo holding one could no
    longer be pickled, deep-copied or passed through ``dataclasses.asdict``.
    """

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("object metadata is read-only: make new ObjectAttributes instead")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[Self], tuple[dict[str, str]]]:
        return type(self), (dict(self),)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


_NO_METADATA = FrozenMetadata()


def no_metadata() -> Mapping[str, str]:
    """The empty metadata every attribute-less object shares (read-only)."""
    return _NO_METADATA


def checked_content_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    if not isinstance(content_type, str) or not content_type or not _PRINTABLE.fullmatch(content_type):
        raise ValueError(f"content type {content_type!r}: give a non-empty printable ASCII text")
    return content_type


def checked_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    """``metadata`` with lower-cased names, read-only; ValueError naming what is wrong."""
    if metadata is _NO_METADATA or not metadata:
        return _NO_METADATA
    checked: dict[str, str] = {}
    total = 0
    for name, value in metadata.items():
        lowered = name.lower() if isinstance(name, str) else name
        if not isinstance(lowered, str) or not _TOKEN.fullmatch(lowered):
            raise ValueError(
                f"metadata name {name!r}: use letters, digits and !#$%&'*+-.^_`|~ (an HTTP header "
                "name, given without the x-amz-meta- prefix)"
            )
        if lowered in checked:
            raise ValueError(f"metadata name {name!r} is given twice (names are case-insensitive)")
        if not isinstance(value, str) or not _PRINTABLE.fullmatch(value):
            raise ValueError(f"metadata {lowered!r}: its value {value!r} must be printable ASCII text")
        checked[lowered] = value
        total += len(lowered) + len(value)
    if total > MAX_METADATA_BYTES:
        raise ValueError(
            f"user metadata of {total} bytes (names and values): S3 takes at most {MAX_METADATA_BYTES}"
        )
    return FrozenMetadata(checked)


def checked_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` (of :data:`KEPT_HEADERS`, any case) under their canonical names, read-only;
    ValueError naming what is wrong."""
    if headers is _NO_METADATA or not headers:
        return _NO_METADATA
    checked: dict[str, str] = {}
    for name, value in headers.items():
        canonical = _KEPT_BY_LOWER.get(name.lower()) if isinstance(name, str) else None
        if canonical is None:
            raise ValueError(f"header {name!r}: an object keeps only {', '.join(KEPT_HEADERS)}")
        if canonical in checked:
            raise ValueError(f"header {canonical} is given twice")
        if not isinstance(value, str) or not value or not _PRINTABLE.fullmatch(value):
            raise ValueError(f"header {canonical}: its value {value!r} must be non-empty printable ASCII")
        if len(value) > MAX_HEADER_BYTES:
            raise ValueError(f"header {canonical}: {len(value)} bytes, more than {MAX_HEADER_BYTES}")
        checked[canonical] = value
    return FrozenMetadata(checked)
