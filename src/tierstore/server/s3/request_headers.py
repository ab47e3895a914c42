"""A request's header fields, indexed once.

Every S3 request's headers are read a dozen times (the signature, the body's checks, the
refused features, the attributes to keep, the conditions). Starlette's ``Headers`` scans the
whole list and encodes the name again on every look-up; this reads the list once into a dict
by lower-case name, which SigV4's canonical headers (``fields``) share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from tierstore.server.s3.canonical import Fields, header_fields


class RequestHeaders(Mapping[str, str]):
    """Header fields by lower-case name: ``get`` gives a name's first value (as Starlette's
    ``Headers`` does), ``raw`` every field as it arrived, in order, ``fields`` every value of
    each name (bytes, for SigV4)."""

    __slots__ = ("fields", "raw")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self.fields: Fields = header_fields(raw)

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        values = self.fields.get(name.lower().encode("latin-1"))
        return default if values is None else values[0].decode("latin-1")

    def __getitem__(self, name: str) -> str:
        values = self.fields.get(name.lower().encode("latin-1"))
        if values is None:
            raise KeyError(name)
        return values[0].decode("latin-1")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower().encode("latin-1") in self.fields

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name in self.fields)

    def __len__(self) -> int:
        return len(self.fields)
