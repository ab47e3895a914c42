"""Multipart uploads driven by the caller, part by part, as S3's API exposes them.

The S3 gateway's CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts and ListMultipartUploads map onto :class:`MultipartUploads`,
which a store gives with ``store.multipart_uploads()``:

- on an S3 store (:mod:`tierstore.storage.s3.uploads`) they are the bucket's own multipart
  uploads, with the store's upload ids;
- on a local directory (:mod:`tierstore.storage.local_uploads`) parts are staged in a hidden
  directory under the root and assembled into the object on completion.

This is not how tierstore writes large objects itself (``open_write``, which cuts its own parts
and aborts on failure): here the client owns the upload, may take days between parts, and
retries a failed part itself, so nothing is aborted or retried behind its back.

Keys are store-relative as everywhere in :class:`~tierstore.storage.interface.Store`. The rules
are S3's, checked the same way on both backends: part numbers 1..10000; every part but the last
at least 5 MiB (:data:`MIN_PART_SIZE`); a completion lists its parts in strictly ascending order
with the ETags their uploads returned (compared without quotes); the object appears whole or not
at all, and a failed completion leaves the upload as it was, to be completed again or aborted.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from tierstore.errors import InvalidArgumentError, InvalidPartOrderError
from tierstore.storage.interface import PutResult

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's EntityTooSmall limit for every part but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024  # S3's limit on one part
MAX_PART_NUMBER = 10_000
MAX_LISTED = 1000  # S3's cap on one page of ListParts and ListMultipartUploads


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str  # quoted, as S3 gives it: '"<md5 hex>"' for a part uploaded whole
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class UploadInfo:
    key: str
    upload_id: str
    initiated: datetime


class MultipartUploads(abc.ABC):
    """A store's multipart uploads. Every method raises a :class:`~tierstore.errors.StoreError`:
    :class:`~tierstore.errors.NoSuchUploadError` for an upload id that is unknown, aborted,
    completed or another key's; the caller's own exceptions (from ``chunks``) pass unchanged."""

    @abc.abstractmethod
    def create(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Begin an upload of ``key``; its upload id. ``headers``: the standard headers the object
        keeps (``ObjectAttributes.headers``)."""

    @abc.abstractmethod
    def upload_part(
        self, key: str, upload_id: str, number: int, chunks: Iterable[bytes], length: int
    ) -> UploadedPart:
        """Store part ``number`` from ``chunks``, which must add up to exactly ``length`` bytes.

        The chunks are sent as they come, never held whole. A part uploaded again replaces the
        earlier one. Nothing is retried once a chunk was taken: the client sends the part again.
        """

    @abc.abstractmethod
    def copy_part(  # noqa: PLR0917 - the gateway's API, field for field as S3's request
        self, key: str, upload_id: str, number: int, source_key: str, start: int | None, end: int | None
    ) -> UploadedPart:
        """Part ``number`` from the bytes ``[start, end)`` of ``source_key`` in the same store
        (the whole object when both are None). A copy from another store is the caller's: it
        reads there and calls :meth:`upload_part`."""

    @abc.abstractmethod
    def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> PutResult:
        """Assemble the object from ``parts``, (number, ETag) in the client's order.

        Raises InvalidPartOrderError, InvalidPartError or EntityTooSmallError naming the part at
        fault; then neither the object nor the upload has changed. The result's ETag is S3's
        ``"<md5 of the parts' md5s>-<count>"``.
        """

    @abc.abstractmethod
    def abort(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts."""

    @abc.abstractmethod
    def list_parts(
        self, key: str, upload_id: str, *, after: int = 0, limit: int = MAX_LISTED
    ) -> tuple[list[UploadedPart], bool]:
        """The parts numbered above ``after``, ascending, at most ``limit``; and whether more follow."""

    @abc.abstractmethod
    def list_uploads(
        self, prefix: str = "", *, after_key: str = "", after_upload_id: str = "", limit: int = MAX_LISTED
    ) -> tuple[list[UploadInfo], bool]:
        """Uploads whose key starts with ``prefix`` (a plain string prefix, as S3's), by key and
        then by when they began, at most ``limit``; and whether more follow.

        ``after_key`` alone starts after every upload of that key; with ``after_upload_id`` it
        starts after that upload of it (S3's key-marker and upload-id-marker).
        """


# -- rules both backends check the same way ------------------------------------------------


def check_part_number(number: int, where: str) -> None:
    # bool is an int: True would pass as part 1.
    if isinstance(number, bool) or not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidArgumentError(
            f"{where}: part number {number!r} is out of range: parts are numbered 1 to {MAX_PART_NUMBER}"
        )


def check_part_length(length: int, where: str) -> None:
    if isinstance(length, bool) or not 0 <= length <= MAX_PART_SIZE:
        raise InvalidArgumentError(f"{where}: a part holds 0 to {MAX_PART_SIZE} bytes, not {length!r}")


def check_limit(limit: int, where: str) -> None:
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LISTED:
        raise InvalidArgumentError(f"{where}: a page lists 1 to {MAX_LISTED} entries, not {limit!r}")


def check_completion(parts: Sequence[tuple[int, str]], where: str, *, key: str, upload_id: str) -> None:
    """Some parts, each numbered in range, strictly ascending (S3's InvalidPartOrder).

    Checked here on both backends: SeaweedFS completes a list holding one number twice (it keeps
    one of them), where S3 refuses it.
    """
    if not parts:
        raise InvalidArgumentError(f"{where}: a completion lists at least one part")
    previous = 0
    for number, _etag in parts:
        check_part_number(number, where)
        if number <= previous:
            raise InvalidPartOrderError(
                f"{where}: part {number} is listed after part {previous}: parts must be listed in "
                "strictly ascending order of their numbers",
                key=key,
                upload_id=upload_id,
                part_number=number,
            )
        previous = number


def bare_etag(etag: str) -> str:
    """An ETag without its quotes, for comparing: clients send them quoted or not."""
    return etag.strip().strip('"').lower()


def quoted(etag: str) -> str:
    """An ETag in quotes, as S3 gives it (SeaweedFS's UploadPartCopy answers it bare)."""
    return f'"{bare_etag(etag)}"'


def multipart_etag(digests: Iterable[bytes]) -> str:
    """S3's ETag of a multipart object: the MD5 of its parts' MD5s (binary), then ``-<count>``."""
    combined = hashlib.md5(usedforsecurity=False)
    count = 0
    for digest in digests:
        combined.update(digest)
        count += 1
    return f'"{combined.hexdigest()}-{count}"'


# -- the layers' pass-through ------------------------------------------------------------


class Enter(Protocol):
    """A store layer's way into the store: ``(operation, key, call) -> call()``."""

    def __call__(self, operation: str, key: str, call: Callable[[], T]) -> T: ...


class LayeredUploads(MultipartUploads):
    """The inner store's uploads, every call going through the layer (its logging, and the
    refusal of blocking calls on the server's event loop) as the store's own calls do."""

    def __init__(self, inner: MultipartUploads, enter: Enter) -> None:
        self.inner = inner
        self._enter = enter

    def create(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        return self._enter(
            "create_upload",
            key,
            lambda: self.inner.create(key, content_type=content_type, metadata=metadata, headers=headers),
        )

    def upload_part(
        self, key: str, upload_id: str, number: int, chunks: Iterable[bytes], length: int
    ) -> UploadedPart:
        return self._enter(
            "upload_part", key, lambda: self.inner.upload_part(key, upload_id, number, chunks, length)
        )

    def copy_part(  # noqa: PLR0917 - the gateway's API, field for field as S3's request
        self, key: str, upload_id: str, number: int, source_key: str, start: int | None, end: int | None
    ) -> UploadedPart:
        return self._enter(
            "copy_part",
            key,
            lambda: self.inner.copy_part(key, upload_id, number, source_key, start, end),
        )

    def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> PutResult:
        return self._enter("complete_upload", key, lambda: self.inner.complete(key, upload_id, parts))

    def abort(self, key: str, upload_id: str) -> None:
        self._enter("abort_upload", key, lambda: self.inner.abort(key, upload_id))

    def list_parts(
        self, key: str, upload_id: str, *, after: int = 0, limit: int = MAX_LISTED
    ) -> tuple[list[UploadedPart], bool]:
        return self._enter(
            "list_parts", key, lambda: self.inner.list_parts(key, upload_id, after=after, limit=limit)
        )

    def list_uploads(
        self, prefix: str = "", *, after_key: str = "", after_upload_id: str = "", limit: int = MAX_LISTED
    ) -> tuple[list[UploadInfo], bool]:
        return self._enter(
            "list_uploads",
            prefix,
            lambda: self.inner.list_uploads(
                prefix, after_key=after_key, after_upload_id=after_upload_id, limit=limit
            ),
        )


def page_of_uploads(
    uploads: Iterable[UploadInfo], *, after_key: str, after_upload_id: str, limit: int
) -> tuple[list[UploadInfo], bool]:
    """One page of uploads sorted by (key, initiated, upload id), after S3's two markers.

    The marked upload may be gone (aborted since the last page): the page then starts after the
    uploads of that key whose ids sort before the marker, as S3 documents its upload-id-marker.
    """
    ordered = sorted(uploads, key=lambda upload: (upload.key, upload.initiated, upload.upload_id))
    start = 0
    if after_key:
        if after_upload_id:
            marked = [
                index
                for index, upload in enumerate(ordered)
                if upload.key == after_key and upload.upload_id == after_upload_id
            ]
            if marked:
                start = marked[0] + 1
            else:
                start = next(
                    (
                        index
                        for index, upload in enumerate(ordered)
                        if upload.key > after_key
                        or (upload.key == after_key and upload.upload_id > after_upload_id)
                    ),
                    len(ordered),
                )
        else:
            start = next(
                (index for index, upload in enumerate(ordered) if upload.key > after_key), len(ordered)
            )
    page = ordered[start : start + limit]
    return page, start + limit < len(ordered)
