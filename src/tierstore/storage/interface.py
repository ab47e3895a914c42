"""The one storage interface every backend (S3, local directory) and every layer implements.

Keys are relative to the store's location: for ``s3://bucket/base/`` the key ``a/b.txt``
is the object ``base/a/b.txt`` in ``bucket``. Ranges are half-open: ``start`` inclusive,
``end`` exclusive, as in Python slices. A listing prefix is a directory: ``logs`` and ``logs/``
both mean everything under ``logs/``. Keys ending in ``/`` are directory markers.

ETags are given as HTTP carries them, in double quotes (``"9a0364b9e99bb480dd25e1f0284c8555"``),
by every backend: S3 passes the store's own; a local directory gives the MD5 tierstore recorded
when it wrote the file, or a synthetic one when the file was changed behind its back (see
:mod:`tierstore.storage.local_attrs`).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal, Self

if TYPE_CHECKING:
    from tierstore.storage.uploads import MultipartUploads

from tierstore.blocking import on_thread
from tierstore.errors import NotFoundError, UnsupportedError
from tierstore.storage.attributes import checked_content_type, checked_headers, checked_metadata, no_metadata

HttpMethod = Literal["GET", "PUT", "HEAD", "DELETE"]
Kind = Literal["file", "dir"]
WriteSource = bytes | bytearray | memoryview | IO[bytes] | Path | Iterable[bytes]


@dataclass(frozen=True)
class ObjectAttributes:
    """What a writer says about an object besides its bytes: its type, user metadata and the
    standard headers S3 keeps with it.

    User metadata names are case-insensitive (lower-cased here) and given without the
    ``x-amz-meta-`` prefix. Values must be printable ASCII, and names and values together at
    most 2 KiB, as S3 takes them over HTTP; anything else is refused with ValueError here,
    before any store sees it. ``headers``: Cache-Control, Content-Disposition, Content-Encoding
    and Content-Language (``attributes.KEPT_HEADERS``, canonical names). ``metadata`` and
    ``headers`` are left out of the hash.
    """

    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=no_metadata, hash=False)
    headers: Mapping[str, str] = field(default_factory=no_metadata, hash=False)

    def __post_init__(self) -> None:
        # Frozen: the checked, read-only forms are put in place of what was given.
        object.__setattr__(self, "content_type", checked_content_type(self.content_type))
        object.__setattr__(self, "metadata", checked_metadata(self.metadata))
        object.__setattr__(self, "headers", checked_headers(self.headers))

    @property
    def empty(self) -> bool:
        return self.content_type is None and not self.metadata and not self.headers


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and version, and where the store gave them, its attributes.

    ``content_type`` and ``metadata`` (user metadata, names lower-cased without ``x-amz-meta-``)
    come from ``head`` and ``open_read``; listings leave them empty (S3 lists neither).
    ``metadata`` is left out of the hash, so that an info stays usable as a set member.
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=no_metadata, hash=False)
    # The standard headers kept with it (ObjectAttributes.headers), from head and open_read.
    headers: Mapping[str, str] = field(default_factory=no_metadata, hash=False)


@dataclass(frozen=True)
class PartSpan:
    """Where part ``number`` of an object lies: its bytes ``[start, end)``, one of ``count``
    parts. An object written in one piece has one part, the whole object; one completed from a
    multipart upload has the parts it was completed with, whose boundaries only its store knows.
    ``info`` is the whole object's (its size, ETag and attributes)."""

    number: int
    start: int
    end: int
    count: int
    info: ObjectInfo

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects, and with a delimiter the common prefixes (ending in it).

    ``resume`` (delimiter listings) is the store's own token for the page after this one (S3's
    continuation token), ``None`` on the last page: ``list_pages(..., resume=token)`` starts
    there. A reader can stop after any page and come back later without the store's order
    mattering (SeaweedFS orders a folder by its name, S3 by its key with the ``/``).

    ``marker_known`` (the first page of a delimiter listing from the start, on stores whose
    listing shows it, S3's): the page says whether the listed directory's own ``prefix/`` key
    exists, which ``objects`` leave out; ``marker`` is that key's entry, or None when there is
    none. A caller then need not ask ``head("prefix/")`` for it, which lists the same page again.
    """

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    resume: str | None = None
    marker: ObjectInfo | None = None
    marker_known: bool = False


@dataclass(frozen=True)
class WriteCondition:
    """A whole-object write made only if the key holds no object (``absent``: S3's
    ``If-None-Match: *``) or holds one whose ETag is ``etag`` (``If-Match``), judged by the store
    with the write itself, so two writers can never both pass: ConflictError when it does not
    hold, and nothing is written."""

    absent: bool = False
    etag: str | None = None

    def __post_init__(self) -> None:
        if self.absent == (self.etag is not None):
            raise ValueError("a write condition is either absent=True or an etag, not both or neither")


@dataclass(frozen=True)
class PutResult:
    key: str
    etag: str | None = None
    # Whether ``etag`` is also what head() and listings will answer for the object: not on a
    # local file system without extended attributes, where they answer a synthetic one.
    etag_kept: bool = True


class ChunkStream(Iterator[bytes], abc.ABC):
    """The body of one read, chunk by chunk; ``close()`` lets go of its connection or file.

    Closing before the end reads nothing more: the connection is dropped (not drained) and a
    file is closed. The stream closes itself at its end and when a chunk fails.
    """

    def __iter__(self) -> Self:
        return self

    @abc.abstractmethod
    def __next__(self) -> bytes: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    async def next_async(self) -> bytes | None:
        """The next chunk for an event loop, None at the end; a stream without an async client
        reads it on a worker thread."""
        return await on_thread(next, self, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class OpenedRead:
    """One read opened with one store request: what the object is, and the bytes asked for.

    ``info`` describes the whole object (its size, not the range's). ``[start, end)`` is the
    range actually served, cut to the size; ``chunks`` gives exactly ``end - start`` bytes.
    """

    info: ObjectInfo
    start: int
    end: int
    chunks: ChunkStream

    @property
    def length(self) -> int:
        return self.end - self.start

    def close(self) -> None:
        self.chunks.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ObjectWriter(abc.ABC):
    """A streaming write. ``close()`` makes the object visible; ``abort()`` leaves nothing behind.

    Used as a context manager it commits on a clean exit and aborts when the block raises.
    """

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    @abc.abstractmethod
    def close(self) -> PutResult: ...

    @abc.abstractmethod
    def abort(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Store(abc.ABC):
    """Object storage. Every method raises a :class:`tierstore.errors.StoreError` subclass."""

    @property
    def kinds_are_requests(self) -> bool:
        """Whether each :meth:`kind` is a request to a service (a listing on S3), which is worth
        sparing with what a listing of the directory already said; a local directory answers
        from a ``stat``."""
        return True

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Where this store points, for messages: ``s3://bucket/prefix`` or ``file:///dir``."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """The object's size, ETag, last change, content type and user metadata (one request)."""

    async def head_async(self, key: str) -> ObjectInfo:
        """:meth:`head` for an event loop; a store without an async client runs it on a thread."""
        return await on_thread(self.head, key)

    def part_span(self, key: str, number: int) -> PartSpan:
        """Where part ``number`` (from 1) of the object lies, and how many parts it has (one
        request). :class:`~tierstore.errors.InvalidPartNumberError` when it has fewer parts;
        :class:`~tierstore.errors.UnsupportedError` from a store that cannot tell."""
        raise UnsupportedError(f"{self.description}: this store cannot tell an object's parts", key=key)

    async def part_span_async(self, key: str, number: int) -> PartSpan:
        """:meth:`part_span` for an event loop (on a worker thread)."""
        return await on_thread(self.part_span, key, number)

    @abc.abstractmethod
    def open_read(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> OpenedRead:
        """Open a read of the whole object or of a range, with its metadata, in one request.

        ``[start, end)`` (``end`` past the size is cut to it) or ``suffix``, the last bytes; an
        empty object has nothing to range over and serves ``[0, 0)`` whatever is asked. A range
        starting at or past the end of a non-empty object raises
        :class:`~tierstore.errors.RangeNotSatisfiableError` (with the size). ``if_match``: an
        ETag (or ``*``); when the object's differs, :class:`~tierstore.errors.ConflictError`.
        Transient failures before the first byte are tried again; after it, they raise.
        """

    async def open_read_async(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> OpenedRead:
        """:meth:`open_read` for an event loop (its chunks: ``ChunkStream.next_async``); a store
        without an async client opens it on a worker thread."""
        opening = functools.partial(
            self.open_read, key, start=start, end=end, suffix=suffix, if_match=if_match, chunk_size=chunk_size
        )
        return await on_thread(opening)

    @abc.abstractmethod
    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """The whole object, or the bytes ``[start, end)``; ``end`` past the size is cut to it."""

    def get_view(self, key: str, *, start: int | None = None, end: int | None = None) -> memoryview:
        """``get``'s bytes as a read-only view, which a store may give without copying them out
        of its own buffer (S3: obstore's); the view keeps that buffer alive."""
        return memoryview(self.get(key, start=start, end=end))

    @abc.abstractmethod
    def iter_read(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        """Stream the object in chunks without holding it all in memory."""

    @abc.abstractmethod
    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        """Write the whole object; ``attributes`` are stored with it (none when ``None``);
        ``condition`` is judged with the write (ConflictError when it does not hold)."""

    async def put_async(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        """:meth:`put` for an event loop; a store without an async client runs it on a thread."""
        return await on_thread(
            functools.partial(self.put, key, data, attributes=attributes, condition=condition)
        )

    @abc.abstractmethod
    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        """A streaming write (multipart on S3) holding at most part size x (concurrency + 1)."""

    def upload(
        self,
        key: str,
        source: WriteSource,
        *,
        chunk_size: int = 8 * 1024 * 1024,
        attributes: ObjectAttributes | None = None,
    ) -> PutResult:
        """Write from bytes, a binary file object, a local path or an iterable of chunks."""
        if isinstance(source, bytes | bytearray | memoryview):
            return self.put(key, source, attributes=attributes)
        with self.open_write(key, attributes=attributes) as writer:
            for chunk in _chunks_of(source, chunk_size):
                writer.write(chunk)
        return writer.close()

    @abc.abstractmethod
    def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
        etags: bool = False,
    ) -> Iterator[ListPage]:
        """Pages of keys under ``prefix`` in the store's order, fetched lazily as consumed.

        ``resume`` (with a delimiter only) is a page's ``resume`` token from an earlier listing of
        the same prefix: the listing starts with the page after that one.

        ``etags``: S3 lists every ETag anyway; a local directory gives them only when asked,
        since each costs an extended-attribute read (most of a listing's time again, measured).
        """

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, recursively, in key order."""
        for page in self.list_pages(prefix, start_after=start_after):
            yield from page.objects

    def list_dir(self, prefix: str = "") -> ListPage:
        """One directory level: the objects directly under ``prefix`` and its sub-prefixes."""
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        for page in self.list_pages(prefix, delimiter="/"):
            objects.extend(page.objects)
            prefixes.extend(page.prefixes)
        return ListPage(objects=objects, prefixes=prefixes)

    def kind(self, key: str) -> tuple[Kind, ObjectInfo | None] | None:
        """What ``key`` is when the store is seen as a file system: ``("file", its info)``,
        ``("dir", its marker's info or None)``, or None when nothing is there.

        Directories are prefixes: a key is a directory when objects exist below it, when its
        zero-byte ``key/`` marker exists (an empty directory made with mkdir), or on a store that
        keeps folders (SeaweedFS) when its folder is there though emptied by a delete made straight
        on the store (``head("key/")`` finds such a folder). A key that is both (S3 allows it) is
        a file. Here: a HEAD, then the directory's first listing page; a store that can answer
        both at once overrides this.
        """
        if key == "":
            return ("dir", None)
        try:
            return ("file", self.head(key))
        except NotFoundError:
            pass
        # Not just the first page: a page may hold only the directory's own marker, which a
        # listing leaves out; the page says so where the store can (S3), else head("key/") below
        # finds it.
        marker_absent = False
        for page in self.list_pages(key, delimiter="/", page_size=100):
            if page.objects or page.prefixes:
                return ("dir", None)
            if page.marker is not None:
                return ("dir", page.marker)
            marker_absent = marker_absent or page.marker_known
        if marker_absent:  # head("key/") would only list the same first page again
            return None
        try:
            return ("dir", self.head(f"{key}/"))
        except NotFoundError:
            return None

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing key is not an error (as in S3)."""

    @abc.abstractmethod
    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete in batches; raises naming the keys that could not be deleted."""

    @abc.abstractmethod
    def copy(self, source_key: str, dest_key: str, *, attributes: ObjectAttributes | None = None) -> None:
        """Copy an object within the store. ``attributes=None`` keeps the source's; given, they
        replace them (S3's ``MetadataDirective: REPLACE``)."""

    @abc.abstractmethod
    def put_directory_marker(self, prefix: str) -> None:
        """Make an empty directory visible: the zero-byte ``prefix/`` object S3 tools use.

        Listings show a marker as an object whose key ends in ``/``; ``delete("prefix/")``
        removes it.
        """

    @abc.abstractmethod
    def presign(self, method: HttpMethod, key: str, *, expires_seconds: int = 3600) -> str: ...

    def multipart_uploads(self) -> MultipartUploads:
        """Multipart uploads the caller drives part by part (the S3 gateway's): see
        :mod:`tierstore.storage.uploads`. A backend without them raises UnsupportedError."""
        from tierstore.errors import UnsupportedError

        raise UnsupportedError(f"{self.description} does not support multipart uploads")

    def close(self) -> None:  # noqa: B027 - backends without resources need nothing here
        """Release connections and background resources."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _chunks_of(source: IO[bytes] | Path | Iterable[bytes], chunk_size: int) -> Iterator[bytes]:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield from iter(lambda: handle.read(chunk_size), b"")
    elif hasattr(source, "read"):
        reader: IO[bytes] = source  # type: ignore[assignment]
        yield from iter(lambda: reader.read(chunk_size), b"")
    else:
        yield from source
