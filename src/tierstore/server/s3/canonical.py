"""The canonical forms of a request that Signature Version 4 signs, rebuilt from what arrived.

Clients sign their own encoding of the path and query, and HTTP lets them send another (a
``~`` or ``!`` raw or escaped, a space as ``+`` or ``%20``), so the server never signs the
bytes it received: it decodes them and encodes them again the one way AWS defines.

- **URI**: the path as sent, percent-decoded, then every byte but letters, digits, ``-_.~`` and
  ``/`` percent-encoded with upper-case hex. S3 does not normalize paths (``//``, ``.`` and
  ``..`` stay as they are: they are part of keys) and encodes them once, not twice.
- **Query**: each ``name=value`` (split on ``&`` only: a raw ``;`` is part of a value),
  percent-decoded with ``+`` read as a space (as S3 reads it), encoded as above with ``/`` too,
  sorted by name and then value; a parameter without ``=`` has an empty value.
- **Headers**: the signed ones, in the order ``SignedHeaders`` lists them, each
  ``name:value\\n`` with repeated fields joined by ``,`` and runs of white space in a value
  collapsed to one space. Values are kept as the bytes that arrived, since clients sign the
  UTF-8 (or ASCII) they send.

Everything works on bytes: a path or query that is not UTF-8 is still canonicalized the way the
client would have, and refusing it is for the handlers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote_from_bytes, unquote_to_bytes

Fields = Mapping[bytes, Sequence[bytes]]
# A path made only of what the canonical URI keeps as it is (letters, digits, -_.~ and /).
_UNRESERVED_PATH = re.compile(rb"[A-Za-z0-9\-_.~/]*")


def canonical_uri(raw_path: bytes) -> str:
    if not raw_path:
        return "/"
    if _UNRESERVED_PATH.fullmatch(raw_path):  # nothing to decode or encode: most paths
        return raw_path.decode("ascii")
    return quote_from_bytes(unquote_to_bytes(raw_path), safe="/")


def parse_query(raw_query: bytes) -> list[tuple[bytes, bytes]]:
    """The decoded ``(name, value)`` pairs of a query string, in the order they came."""
    pairs: list[tuple[bytes, bytes]] = []
    for piece in raw_query.split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        pairs.append(
            (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    return pairs


def canonical_query(pairs: Sequence[tuple[bytes, bytes]], *, leave_out: bytes | None = None) -> str:
    """The canonical query string of decoded pairs, without the parameter named ``leave_out``
    (a presigned URL's ``X-Amz-Signature``, which cannot sign itself)."""
    if not pairs:
        return ""  # most requests have no query
    encoded = sorted(
        (quote_from_bytes(name, safe=""), quote_from_bytes(value, safe=""))
        for name, value in pairs
        if name != leave_out
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def header_fields(headers: Sequence[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Header fields by lower-case name, every value kept in the order they came."""
    fields: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        fields.setdefault(name.lower(), []).append(value)
    return fields


def canonical_value(values: Sequence[bytes]) -> bytes:
    if len(values) == 1:
        value = values[0]
        # Most values have no white space to collapse; they are kept as they are.
        if b"  " not in value and b"\t" not in value and value == value.strip():
            return value
    return b",".join(b" ".join(value.split()) for value in values)
