"""The ``Range`` header of a download: the one byte range it asks for, or the whole file."""

from __future__ import annotations

from tierstore.server.errors import ApiError


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a single ``bytes=`` range, None to send everything.

    ApiError 416 when the range cannot be satisfied; several ranges are answered whole.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    unsatisfiable = ApiError(416, f"range {header!r} is outside the file ({size} bytes)")
    unsatisfiable.headers["Content-Range"] = f"bytes */{size}"
    try:
        if not dash:
            return None
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise unsatisfiable
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise unsatisfiable
    return start, min(end, size)
