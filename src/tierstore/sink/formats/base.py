"""What every record encoder offers the runtime."""

from __future__ import annotations

from typing import Protocol

from tierstore.sink.formats.record import SinkRecord


class RecordEncoder(Protocol):
    """Turns the records of one file into its bytes, as a stream.

    The runtime calls ``header()`` once, ``encode(record)`` per record and ``finish()`` once, and
    uploads the concatenation (through a compressor, except for Parquet). ``encode`` may return
    ``b""`` while it buffers (Parquet row groups); ``buffered_bytes`` then says roughly how much
    it holds, so size-based rotation can count it. An encoder serves one file only.
    """

    @property
    def buffered_bytes(self) -> int: ...

    def header(self) -> bytes: ...

    def encode(self, record: SinkRecord) -> bytes: ...

    def finish(self) -> bytes: ...
