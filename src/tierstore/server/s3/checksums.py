"""The checksums S3 clients send with a body (``x-amz-checksum-<name>``, as a header or as an
aws-chunked trailer): each one's header name and how to compute it, base64 of the big-endian
digest, as S3 compares them.

| algorithm | computed with | measured here (1 MiB pieces) |
|---|---|---|
| CRC32 | zlib-ng's ``crc32`` (already a dependency, for gzip) | about 11 GB/s, 3 times zlib's |
| CRC32C | google-crc32c (hardware instructions, Apache-2.0) | about 12 GB/s |
| CRC64NVME | anycrc's ``CRC64-NVME`` model (crcany, carry-less multiplication, Zlib licence) | about 8 GB/s |
| SHA1, SHA256 | ``hashlib`` | about 1.6 GB/s |

All run far faster than a body arrives. For CRC32C, the ``crc32c`` package was a little faster
(about 15 GB/s) but is LGPL, and awscrt (about 7 GB/s, and the only other CRC64NVME) would also
make every botocore client of the process sign through the CRT (botocore switches to it when
awscrt is importable), so it stays out.
``bench/s3_xml_checksum_bench.py`` repeats the measurement. CRC64NVME is the default checksum of
the newer AWS SDKs (the C++ SDK in pyarrow's ``S3FileSystem`` sends it on every PUT and part).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import anycrc  # type: ignore[import-untyped]
import google_crc32c
from zlib_ng import zlib_ng

_CRC64NVME = anycrc.Model("CRC64-NVME")


class Checksum(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib_ng.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Crc64Nvme:
    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: int | None = None  # None: the model's initial value (nothing hashed yet)

    def update(self, data: bytes, /) -> None:
        # anycrc's second argument carries on from the CRC of what came before.
        self._value = _CRC64NVME.calc(data, self._value)

    def digest(self) -> bytes:
        value = 0 if self._value is None else self._value  # the CRC of nothing is 0
        return int(value).to_bytes(8, "big")


@dataclass(frozen=True)
class ChecksumAlgorithm:
    name: str
    new: Callable[[], Checksum]

    @property
    def header(self) -> str:
        """The header (or trailer) that carries it: ``x-amz-checksum-crc32`` and so on."""
        return f"x-amz-checksum-{self.name.lower()}"

    def encode(self, checksum: Checksum) -> str:
        """The value as clients send it: base64 of the digest."""
        return base64.b64encode(checksum.digest()).decode("ascii")


ALGORITHMS: Mapping[str, ChecksumAlgorithm] = {
    algorithm.header: algorithm
    for algorithm in (
        ChecksumAlgorithm("CRC32", _Crc32),
        ChecksumAlgorithm("CRC32C", google_crc32c.Checksum),
        ChecksumAlgorithm("CRC64NVME", _Crc64Nvme),
        ChecksumAlgorithm("SHA1", hashlib.sha1),
        ChecksumAlgorithm("SHA256", hashlib.sha256),
    )
}


def algorithm_for(header: str) -> ChecksumAlgorithm | None:
    """The algorithm a header or trailer name (any case) carries, or None if it names none."""
    return ALGORITHMS.get(header.strip().lower())
