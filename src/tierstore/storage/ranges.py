"""The byte range a read asks for, checked once and resolved against the object's size.

Every backend resolves ranges here, so that local directories and S3 serve the same bytes and
refuse the same requests: ``[start, end)`` with ``end`` cut to the size, or the last ``suffix``
bytes; a range starting at or past the end of a non-empty object is not satisfiable; an empty
object serves ``[0, 0)`` whatever is asked (it has no byte to start a range at).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ByteRange:
    start: int | None = None
    end: int | None = None
    suffix: int | None = None

    def __post_init__(self) -> None:
        if self.suffix is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either suffix or start/end, not both")
            if self.suffix < 1:
                raise ValueError(f"suffix={self.suffix}: ask for at least the last byte")
            return
        if self.start is not None and self.start < 0:
            raise ValueError(f"start={self.start}: a range starts at 0 or after")
        if self.end is not None and self.end <= (self.start or 0):
            raise ValueError(f"end={self.end}: a range ends after its start ({self.start or 0})")

    @property
    def whole(self) -> bool:
        """Whether this asks for every byte (so the request needs no Range at all)."""
        return self.suffix is None and not self.start and self.end is None

    def resolve(self, size: int) -> tuple[int, int] | None:
        """The half-open range served from an object of ``size`` bytes; None if unsatisfiable."""
        if size == 0:
            return 0, 0
        if self.suffix is not None:
            return max(0, size - self.suffix), size
        first = self.start or 0
        if first >= size:
            return None
        return first, size if self.end is None else min(self.end, size)

    def header(self) -> str | None:
        """The HTTP ``Range`` value asking for this, or None for the whole object."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        if self.whole:
            return None
        first = self.start or 0
        return f"bytes={first}-" if self.end is None else f"bytes={first}-{self.end - 1}"
