"""What part of an object a GET or HEAD asks for: one ``Range``, or a ``partNumber``.

**Range** (RFC 9110, as S3 reads it): ``bytes=first-last``, ``bytes=first-`` or
``bytes=-suffix``. Anything else is not an error but ignored, the whole object answered: a
unit other than bytes, a syntax that does not parse, a last before the first, and several
ranges (S3 serves only one). A range starting past the end of the object is ``InvalidRange``
(416, ``Content-Range: bytes */size``), and so is any range of an empty object, which has no byte
to start one at (RFC 9110; S3 answers so, and ceph/s3-tests checks it).

**partNumber** (1 to 10,000, else ``InvalidArgument``; never with a Range, ``InvalidRequest``):
the bytes of that part and 206 with their Content-Range. An object written in one piece has one
part, the whole object, answered without ``x-amz-mp-parts-count``; one completed from a multipart
upload (an ETag ending ``-N``) has the parts it was completed with, whose boundaries its store
gives (``Store.part_span``: a HEAD with ``partNumber`` on S3, the sizes recorded at completion
on a local mount), answered with ``x-amz-mp-parts-count: N``. A number past the last part is
``InvalidPartNumber`` (416).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tierstore.server.s3.errors import S3Error

MAX_PART_NUMBER = 10_000
_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")
_MULTIPART_ETAG = re.compile(r'"?[0-9a-fA-F]+-(\d+)"?')


@dataclass(frozen=True)
class WantedRange:
    """``[start, end)``, or the last ``suffix`` bytes."""

    start: int | None = None
    end: int | None = None
    suffix: int | None = None

    def resolve(self, size: int) -> tuple[int, int] | None:
        """The range served from ``size`` bytes, None when it cannot be (past the end, or an
        empty object)."""
        if size == 0:
            return None
        if self.suffix is not None:
            return (max(0, size - self.suffix), size) if self.suffix > 0 else None
        first = self.start or 0
        if first >= size:
            return None
        return first, size if self.end is None else min(self.end, size)


def requested_range(header: str | None) -> WantedRange | None:
    """The one range asked for; None for the whole object (see the module's docstring)."""
    if not header:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    found = _SPEC.fullmatch(spec)
    if found is None:
        return None
    first, last = found.group(1), found.group(2)
    if not first:
        return WantedRange(suffix=int(last)) if last else None
    start = int(first)
    if not last:
        return WantedRange(start=start)
    if int(last) < start:
        return None
    return WantedRange(start=start, end=int(last) + 1)


def invalid_range(header: str | None, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        f"The requested range {header!r} is not satisfiable: the object has {size} bytes.",
        details=[("RangeRequested", header or ""), ("ActualObjectSize", str(size))],
        headers={"Content-Range": f"bytes */{size}"},
    )


def part_number(query: Mapping[str, str], range_header: str | None) -> int | None:
    """The ``partNumber`` asked for, checked; None when none is."""
    text = query.get("partNumber")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise S3Error(
            "InvalidArgument",
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive: {text[:20]!r}",
            details=[("ArgumentName", "partNumber"), ("ArgumentValue", text[:20])],
        )
    if range_header:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    return int(text)


def is_multipart(etag: str) -> bool:
    """Whether ``etag`` is that of an object completed from a multipart upload (``"<hex>-N"``)."""
    return _MULTIPART_ETAG.fullmatch(etag) is not None


def invalid_part(number: int, key: str, detail: str) -> S3Error:
    """``InvalidPartNumber`` for a part ``key`` does not have."""
    return S3Error(
        "InvalidPartNumber",
        f"The requested partnumber is not satisfiable: {key} has no part {number} ({detail}).",
        details=[("PartNumberRequested", str(number))],
    )
