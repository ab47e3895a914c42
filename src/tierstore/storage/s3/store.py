"""The S3 backend: data through obstore (Rust object_store), control calls through botocore.

Measured against SeaweedFS on a 2-core machine, boto3 moves data at about half of obstore's
rate because it signs payloads with SHA-256, adds CRC32 checksums and parses XML in Python;
obstore does all of that in Rust and releases the GIL, so every data call goes through it.
botocore is kept for what obstore lacks: ACLs, multipart-upload listing and abort, bucket checks.
Large uploads are driven part by part (:mod:`.multipart`) so that a failure costs one part.
Delimiter listings, which obstore cannot page, are tierstore's own requests (:mod:`.list_requests`:
botocore signs, urllib3 sends, lxml reads). Deletes remove the folders they leave empty
(:mod:`.folders`), so that a listing needs nothing beyond the store's own pages.

Every data request is tried by :mod:`.retry` (obstore is given no retries of its own), so the
attempts are counted once and a transfer picks up where it stopped: a read from the byte it
reached, a listing after the last key it gave, an upload with the part that failed.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore.exceptions
import obstore
import obstore.exceptions as obstore_errors
from obstore.store import S3Store as ObstoreS3Store

from tierstore.blocking import on_thread
from tierstore.credentials.source import CredentialSource, StaticSource
from tierstore.errors import NotFoundError, StoreError
from tierstore.settings.model import StoreSettings
from tierstore.storage.interface import (
    HttpMethod,
    Kind,
    ListPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectWriter,
    OpenedRead,
    PartSpan,
    PutResult,
    Store,
    WriteCondition,
)
from tierstore.storage.ranges import ByteRange
from tierstore.storage.s3 import attributes as s3_attributes
from tierstore.storage.s3 import botocore_reads
from tierstore.storage.s3 import errors as error_map
from tierstore.storage.s3.botocore_client import build_s3_client, sse_request_fields
from tierstore.storage.s3.bulk_read import BulkReader
from tierstore.storage.s3.conditions import botocore_condition, quoted
from tierstore.storage.s3.folders import emptied_folders, parent_folder
from tierstore.storage.s3.http_pool import pool_for
from tierstore.storage.s3.list_requests import Lister
from tierstore.storage.s3.list_signing import BucketAddress, ListSigner, SignedRequest
from tierstore.storage.s3.listing import pages_of
from tierstore.storage.s3.multipart import MultipartWriter, UploadTarget, upload_buffer
from tierstore.storage.s3.reads import HeadersRefused, NotSatisfiable, ObstoreReads, open_checked
from tierstore.storage.s3.retry import RetryPolicy
from tierstore.storage.s3.upload_journal import UploadJournal

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from obstore.store import ClientConfig, S3Config, S3Credential

    from tierstore.storage.uploads import MultipartUploads

LOGGER = logging.getLogger(__name__)

# Objects up to this size are read by obstore in one request; larger ones through bulk_read.
_SMALL_OBJECT_BYTES = 4 * 1024 * 1024
# obstore's paths refuse ASCII control characters (object_store's Path rules); such keys can
# still exist, written straight to the store, and are read through botocore instead.
_OBSTORE_REFUSES = re.compile("[\x00-\x1f\x7f]")
T = TypeVar("T")

_DELETE_BATCH = 1000
# Names listed at once to learn what a key is (Store.kind): the key, its directory, and as many
# siblings sorting between them (``key.txt``, ``key-1``) as commonly sit in one directory.
_KIND_PAGE = 100


def _just_before(key: str) -> str:
    """A key that sorts after every key less than ``key`` that a listing could give, and before
    ``key``: its last character one less, then the highest character (no key has a character
    above it, and keys are far shorter than the several such characters it would take)."""
    previous = ord(key[-1]) - 1
    if 0xD800 <= previous <= 0xDFFF:  # surrogates are not characters: step over them
        previous = 0xD7FF
    return f"{key[:-1]}{chr(previous)}\U0010ffff"


# obstore's limit on one whole request. Reads and writes are bounded by the read timeout between
# two bytes instead; a whole large transfer may rightly take hours.
_WHOLE_REQUEST = timedelta(days=1)


@dataclass(frozen=True)
class UploadInfo:
    """An in-progress multipart upload: key relative to the store, id, when it was started."""

    key: str
    upload_id: str
    initiated: datetime | None


class S3Store(Store):
    def __init__(
        self,
        settings: StoreSettings,
        credentials: CredentialSource,
        *,
        journal: UploadJournal | None = None,
    ) -> None:
        if settings.location.scheme != "s3":
            raise ValueError(f"S3Store needs an s3:// location, not {settings.location.uri}")
        self._settings = settings
        self._credentials = credentials
        self.bucket = settings.location.bucket
        self.base_prefix = settings.location.prefix
        config = _obstore_config(settings)
        provider: Callable[[], S3Credential] | None = self._obstore_credentials
        if isinstance(credentials, StaticSource):
            # Keys that never change go to obstore directly: a Python callback on every request
            # costs the GIL and measurably slows small operations.
            static = credentials.credentials()
            config["access_key_id"] = static.access_key_id
            config["secret_access_key"] = static.secret_access_key.reveal()
            if static.session_token is not None:
                config["session_token"] = static.session_token.reveal()
            provider = None
        self._store = ObstoreS3Store(
            self.bucket,
            prefix=self.base_prefix.rstrip("/") or None,
            config=cast("S3Config", config),
            client_options=cast("ClientConfig", _obstore_client_options(settings)),
            retry_config={"max_retries": 0},
            credential_provider=provider,
        )
        self._policy = RetryPolicy.from_settings(settings)
        self._reads = ObstoreReads(self._store, self._once, self._policy, self.bucket, self.base_prefix)
        self._journal = journal
        self._control: S3Client | None = None
        self._bulk: BulkReader | None = None
        self._pool: Any = None
        self._lister: Lister | None = None
        self._list_signer: ListSigner | None = None
        # Guards the lazily made parts above: threads sharing the store (a tree copy's workers)
        # would otherwise each make one, and all but one would never be closed.
        self._making = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return self._settings.location.uri

    @property
    def settings(self) -> StoreSettings:
        return self._settings

    @property
    def control(self) -> S3Client:
        """The botocore client for control calls (created on first use)."""
        control = self._control
        if control is None:
            with self._making:
                if self._control is None:
                    self._control = build_s3_client(self._settings, self._credentials)
                control = self._control
        return control

    def full_key(self, key: str) -> str:
        return f"{self.base_prefix}{key}"

    def _http(self) -> Any:
        """The urllib3 pool for what tierstore sends itself: part uploads and listings."""
        pool = self._pool
        if pool is None:
            with self._making:
                if self._pool is None:
                    self._pool = pool_for(
                        self._settings, connections=self._settings.multipart.concurrency * 2
                    )
                pool = self._pool
        return pool

    def _obstore_credentials(self) -> S3Credential:
        creds = self._credentials.credentials()
        # obstore asks again only when the expiry it was given draws near: give it the time we
        # want to be asked, so a refresh at a fraction of the lifetime reaches the data path.
        due = self._credentials.refresh_due_at()
        expires_at = (
            creds.expires_at if due is None or creds.expires_at is None else min(due, creds.expires_at)
        )
        return {
            "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key.reveal(),
            "token": creds.session_token.reveal() if creds.session_token else None,
            "expires_at": expires_at,
        }

    @property
    def retry_endpoint(self) -> str:
        """The endpoint as errors and the upload journal name it."""
        return self._policy.endpoint

    @property
    def journal(self) -> UploadJournal:
        """Where uploads that could not be aborted are recorded."""
        journal = self._journal
        if journal is None:
            with self._making:
                if self._journal is None:
                    self._journal = UploadJournal()
                journal = self._journal
        return journal

    def _call(self, operation: str, key: str | None, action: Callable[[], T]) -> T:
        """One request, tried as the retry policy says."""
        return self._policy.run(lambda: self._once(operation, key, action))

    def _once(self, operation: str, key: str | None, action: Callable[[], T]) -> T:
        """One attempt, its failure mapped to tierstore's errors."""
        try:
            return action()
        except (obstore_errors.BaseError, OSError, ValueError) as error:
            raise self._mapped(error, operation, key) from None

    async def _once_async(self, operation: str, key: str | None, action: Callable[[], Awaitable[T]]) -> T:
        """:meth:`_once` of an awaited attempt."""
        try:
            return await action()
        except (obstore_errors.BaseError, OSError, ValueError) as error:
            raise self._mapped(error, operation, key) from None

    def _mapped(self, error: Exception, operation: str, key: str | None) -> StoreError:
        if isinstance(error, obstore_errors.BaseError | OSError):  # FileNotFoundError is an OSError
            return error_map.from_obstore(error, operation, self.bucket, self._display(key))
        # A ValueError: a key obstore's path rules refuse.
        return StoreError(
            f"{operation} s3://{self.bucket}/{self._display(key)!r}: the key cannot be used: {error}",
            bucket=self.bucket,
            key=key,
        )

    def _display(self, key: str | None) -> str | None:
        return None if key is None else self.full_key(key)

    # -- reads ----------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        if key.endswith("/"):
            return self._marker(key)
        if _OBSTORE_REFUSES.search(key):
            return self._botocore_head(key)
        try:
            return self._reads.head(key)
        except HeadersRefused:
            return self._botocore_head(key)

    async def head_async(self, key: str) -> ObjectInfo:
        if key.endswith("/") or _OBSTORE_REFUSES.search(key):
            return await super().head_async(key)
        try:
            return await self._reads.head_async(key, self._once_async)
        except HeadersRefused:
            return await on_thread(self._botocore_head, key)

    def part_span(self, key: str, number: int) -> PartSpan:
        """A HEAD with ``PartNumber`` through botocore (obstore cannot ask for a part)."""
        return botocore_reads.part_span(
            self.control,
            self._control_call,
            bucket=self.bucket,
            full_key=self.full_key(key),
            key=key,
            number=number,
        )

    def kind(self, key: str) -> tuple[Kind, ObjectInfo | None] | None:
        """One delimiter listing answers both questions at once: the object ``key`` sorts first
        of every key that starts with it, and right after it and its siblings ``key.txt`` or
        ``key-1`` comes its directory as the prefix ``key/`` (objects below it, its marker, or a
        SeaweedFS folder emptied on the store alike). A write asks this of every new key, where a
        HEAD and then a listing took two requests.

        The listing's prefix is ``key`` less its last character, started just before ``key``:
        SeaweedFS leaves an emptied folder out of a listing whose prefix is exactly its name, and
        shows it to one whose prefix is shorter. Only when the page ends before ``key/`` (more
        than a page of names between the two) is the directory asked for on its own."""
        if key == "" or key.endswith("/") or _OBSTORE_REFUSES.search(key):
            return super().kind(key)
        answer = self._listing().first(
            key[:-1], delimiter="/", start_after=_just_before(key), max_keys=_KIND_PAGE
        )
        found = next((info for info in answer.objects if info.key == key), None)
        if found is not None:
            return ("file", found)
        directory = f"{key}/"
        if directory in answer.prefixes:
            return ("dir", None)
        last = max([info.key for info in answer.objects[-1:]] + answer.prefixes[-1:], default="")
        if not answer.truncated or last >= directory:
            return None
        below = self._listing().first(directory, delimiter="/", max_keys=1)
        return ("dir", None) if below.objects or below.prefixes else None

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
        wanted = ByteRange(start, end, suffix)

        def through_botocore() -> OpenedRead:
            return botocore_reads.open_read(
                self.control,
                self._control_call,
                bucket=self.bucket,
                full_key=self.full_key(key),
                key=key,
                wanted=wanted,
                if_match=if_match,
                chunk_size=chunk_size,
            )

        def opened() -> OpenedRead:
            if _OBSTORE_REFUSES.search(key):
                return through_botocore()
            try:
                return self._reads.open(key, wanted, if_match=if_match, chunk_size=chunk_size)
            except HeadersRefused:
                return through_botocore()

        return open_checked(opened, lambda: self.head(key), wanted, (self.bucket, self.full_key(key)))

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
        # The rare answers (a 416, headers obstore cannot read, keys it refuses) are opened again
        # the way open_read opens them, on a worker thread.
        if not _OBSTORE_REFUSES.search(key):
            wanted = ByteRange(start, end, suffix)
            try:
                return await self._reads.open_async(
                    key, wanted, if_match=if_match, chunk_size=chunk_size, once=self._once_async
                )
            except (HeadersRefused, NotSatisfiable):
                pass
        return await super().open_read_async(
            key, start=start, end=end, suffix=suffix, if_match=if_match, chunk_size=chunk_size
        )

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        if _OBSTORE_REFUSES.search(key):
            return b"".join(self._botocore_read(key, start=start, end=end))
        if start is None and end is None:
            return self._get_whole(key)
        return bytes(self._get_range(key, start or 0, end))

    def get_view(self, key: str, *, start: int | None = None, end: int | None = None) -> memoryview:
        if _OBSTORE_REFUSES.search(key) or (start is None and end is None):
            return memoryview(self.get(key, start=start, end=end))
        # obstore's own buffer, not copied into a bytes object: on a loaded machine that copy
        # (into freshly mapped pages) costs about as much as receiving the range did, all of it
        # holding the GIL that every other fetch and the FUSE mount's callbacks wait for.
        return self._get_range(key, start or 0, end)

    def _get_range(self, key: str, first: int, end: int | None) -> memoryview:
        if end is not None and end <= first:
            return memoryview(b"")
        if end is None:
            options: dict[str, Any] = {"range": {"offset": first}}
        else:
            options = {"range": (first, end)}

        def ranged() -> memoryview:
            # One attempt is the request and its body: a body cut short is asked for again.
            result = obstore.get(self._store, key, options=options)  # type: ignore[arg-type]
            return memoryview(result.bytes())

        try:
            return self._call("GET", key, ranged)
        except StoreError as error:
            if end is not None and "416" in str(error):
                return memoryview(b"")
            raise

    def _get_whole(self, key: str) -> bytes:
        # Small objects: one obstore GET of the first bytes, which is the whole object. Larger
        # ones: a presigned GET read straight into one bytes object (see bulk_read), which
        # saves the full copy out of obstore's buffer.
        def first_range() -> tuple[dict[str, Any], bytes | None]:
            result = obstore.get(self._store, key, options={"range": (0, _SMALL_OBJECT_BYTES)})
            meta: dict[str, Any] = dict(result.meta)
            if int(meta["size"]) <= _SMALL_OBJECT_BYTES:
                return meta, bytes(result.bytes())
            return meta, None  # its connection is dropped: at most the first range was buffered

        try:
            meta, small = self._call("GET", key, first_range)
        except StoreError as error:
            if "416" not in str(error):  # an empty object has no first byte to range over
                raise
            return self._call("GET", key, lambda: bytes(obstore.get(self._store, key).bytes()))
        if small is not None:
            return small
        return self._bulk_reader().fetch(
            lambda: self.presign("GET", key, expires_seconds=900),
            size=int(meta["size"]),
            etag=meta.get("e_tag"),
            bucket=self.bucket,
            key=self.full_key(key),
        )

    def _bulk_reader(self) -> BulkReader:
        bulk = self._bulk
        if bulk is None:
            with self._making:
                if self._bulk is None:
                    self._bulk = BulkReader(self._settings)
                bulk = self._bulk
        return bulk

    def iter_read(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
        if _OBSTORE_REFUSES.search(key):
            yield from self._botocore_read(key, chunk_size=chunk_size)
            return
        reached = 0
        etag: str | None = None
        attempts = self._policy.attempts()
        while True:
            options: dict[str, Any] = {}
            if reached:
                options["range"] = {"offset": reached}
            if etag:
                options["if_match"] = etag  # a resumed read must go on with the same version
            try:
                opened = functools.partial(obstore.get, self._store, key, options=options)  # type: ignore[arg-type]
                result = self._once("GET", key, opened)
                etag = etag or result.meta.get("e_tag")
                stream = result.stream(min_chunk_size=chunk_size)
                while True:
                    try:
                        chunk = self._once("GET", key, functools.partial(next, stream))
                    except StopIteration:
                        return
                    reached += len(chunk)
                    attempts.progressed()
                    yield bytes(chunk)
            except StoreError as error:
                if reached and "416" in str(error):  # the failure came after the last byte
                    return
                attempts.failed(error)

    # -- writes ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        if condition is not None:
            return self._conditional_put(key, data, attributes, condition)
        part_size = self._settings.multipart.part_size
        if len(data) > part_size:
            # Parts that are views of the caller's buffer: nothing is copied.
            return upload_buffer(self._multipart_writer(key, attributes), data)
        if not s3_attributes.obstore_can_write(attributes):
            return self._botocore_put(key, data, attributes)
        given = s3_attributes.for_obstore(attributes)
        result = self._call(
            "PUT", key, lambda: obstore.put(self._store, key, data, use_multipart=False, attributes=given)
        )
        return PutResult(key=key, etag=result.get("e_tag"))

    async def put_async(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        attributes: ObjectAttributes | None = None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        """:meth:`put` with obstore's async client, for a body small enough to be one request
        that obstore can send as asked; anything else goes as :meth:`put` on a worker thread."""
        if (
            (len(data) > self._settings.multipart.part_size and condition is None)
            or _OBSTORE_REFUSES.search(key)
            or not s3_attributes.obstore_can_write(attributes)
        ):
            return await super().put_async(key, data, attributes=attributes, condition=condition)
        given = s3_attributes.for_obstore(attributes)
        mode = _obstore_mode(condition)
        result = await self._policy.run_async(
            lambda: self._once_async(
                "PUT",
                key,
                lambda: obstore.put_async(
                    self._store, key, data, use_multipart=False, attributes=given, mode=mode
                ),
            )
        )
        return PutResult(key=key, etag=result.get("e_tag"))

    def _conditional_put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        attributes: ObjectAttributes | None,
        condition: WriteCondition,
    ) -> PutResult:
        """One PUT whose condition the store judges (S3's conditional writes: ``If-None-Match:
        *`` or ``If-Match``), never a multipart upload, whose parts could not carry it."""
        if _OBSTORE_REFUSES.search(key) or not s3_attributes.obstore_can_write(attributes):
            return self._botocore_put(key, data, attributes, condition)
        given = s3_attributes.for_obstore(attributes)
        mode = _obstore_mode(condition)
        result = self._call(
            "PUT",
            key,
            lambda: obstore.put(self._store, key, data, use_multipart=False, attributes=given, mode=mode),
        )
        return PutResult(key=key, etag=result.get("e_tag"))

    def _botocore_put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        attributes: ObjectAttributes | None,
        condition: WriteCondition | None = None,
    ) -> PutResult:
        """A PUT obstore cannot send as asked (see :mod:`.attributes`); botocore retries it."""
        fields = {
            **sse_request_fields(self._settings),
            **s3_attributes.for_botocore(attributes),
            **botocore_condition(condition),
        }
        body = bytes(data)
        response = self._control_call(
            "PUT",
            key,
            lambda: self.control.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=body, **fields),
        )
        return PutResult(key=key, etag=response.get("ETag"))

    def open_write(self, key: str, *, attributes: ObjectAttributes | None = None) -> ObjectWriter:
        return self._multipart_writer(key, attributes)

    def _multipart_writer(self, key: str, attributes: ObjectAttributes | None) -> MultipartWriter:
        if _OBSTORE_REFUSES.search(key):
            raise StoreError(
                f"PUT s3://{self.bucket}/{self.full_key(key)!r}: the key cannot be used: "
                "it holds control characters",
                bucket=self.bucket,
                key=key,
            )
        multipart = self._settings.multipart
        create_fields = {**sse_request_fields(self._settings), **s3_attributes.for_botocore(attributes)}
        checksums = self._settings.checksum_mode == "when_supported"
        if checksums:
            create_fields["ChecksumAlgorithm"] = "CRC32"
        target = UploadTarget(
            control=self.control,
            control_call=self._control_call,
            pool=self._http(),
            policy=self._policy,
            bucket=self.bucket,
            key=key,
            full_key=self.full_key(key),
            create_fields=create_fields,
            checksums=checksums,
            journal=lambda: self.journal,
            endpoint=self._policy.endpoint,
        )
        return MultipartWriter(
            target,
            plan=multipart.plan(),
            upload_single=functools.partial(self.put, key, attributes=attributes),
        )

    def copy(self, source_key: str, dest_key: str, *, attributes: ObjectAttributes | None = None) -> None:
        operation = f"COPY from {self.full_key(source_key)} to"
        if attributes is None:  # CopyObject's own default, MetadataDirective COPY: the source's
            self._call(
                operation, dest_key, lambda: obstore.copy(self._store, source_key, dest_key, overwrite=True)
            )
            return
        # obstore's copy cannot replace metadata: CopyObject with REPLACE through botocore.
        fields = {**sse_request_fields(self._settings), **s3_attributes.for_botocore(attributes)}
        source: Any = {"Bucket": self.bucket, "Key": self.full_key(source_key)}
        self._control_call(
            operation,
            dest_key,
            lambda: self.control.copy_object(
                Bucket=self.bucket,
                Key=self.full_key(dest_key),
                CopySource=source,
                MetadataDirective="REPLACE",
                **fields,
            ),
        )

    def delete(self, key: str) -> None:
        if key.endswith("/"):
            self._delete_folders([key])
        else:
            try:
                self._call("DELETE", key, lambda: obstore.delete(self._store, key))
            except StoreError as error:
                if not isinstance(error, NotFoundError):
                    raise
        self._remove_emptied_folders({parent_folder(key)})

    def delete_many(self, keys: Iterable[str]) -> None:
        batch: list[str] = []
        markers: list[str] = []
        parents: set[str] = set()
        for key in keys:
            parents.add(parent_folder(key))
            if key.endswith("/"):
                markers.append(key)  # after the objects: SeaweedFS keeps a folder that holds any
                continue
            batch.append(key)
            if len(batch) == _DELETE_BATCH:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)
        if markers:
            self._delete_folders(sorted(markers, key=lambda marker: (-marker.count("/"), marker)))
        self._remove_emptied_folders(parents)

    def _delete_batch(self, keys: list[str]) -> None:
        shown = keys[0] if len(keys) == 1 else f"{{{keys[0]} … {len(keys)} keys}}"
        self._call("DELETE", shown, lambda: obstore.delete(self._store, keys))

    def _delete_folders(self, folders: list[str]) -> None:
        """Delete keys ending in ``/`` (obstore cannot name them), in this order, batched.

        A marker goes; on SeaweedFS an empty folder goes too, and a folder holding anything stays
        (the delete is a no-op there), which is what makes removing emptied folders safe.
        """
        for start in range(0, len(folders), _DELETE_BATCH):
            batch = folders[start : start + _DELETE_BATCH]
            request: Any = {"Objects": [{"Key": self.full_key(folder)} for folder in batch]}
            delete = functools.partial(self.control.delete_objects, Bucket=self.bucket, Delete=request)
            response = self._control_call("DELETE", batch[0], delete)
            failed = response.get("Errors", [])
            if failed:
                first = failed[0]
                raise error_map.from_status(
                    first.get("Code"),
                    None,
                    f"DELETE ({len(failed)} of {len(batch)} keys failed, the first)",
                    self.bucket,
                    first.get("Key"),
                )

    def _remove_emptied_folders(self, parents: set[str]) -> None:
        """Delete the folders left holding nothing: see :mod:`.folders`.

        The objects are gone by now; a failure here leaves at worst an empty folder that lists as
        an empty directory, so it is logged rather than raised.
        """
        parents.discard("")
        if not parents:
            return
        try:
            empty = emptied_folders(parents, self._folder_holds_anything)
            if empty:
                self._delete_folders(empty)
        except StoreError as error:
            LOGGER.warning("could not remove the folders a delete left empty: %s", error)

    def _folder_holds_anything(self, folder: str) -> bool:
        """Whether any object or marker lies below ``folder``: one recursive LIST of one key."""
        return bool(self._listing().first(folder).objects)

    # -- listing --------------------------------------------------------------------------

    def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
        etags: bool = False,  # S3 lists every ETag anyway
    ) -> Iterator[ListPage]:
        if delimiter is not None:
            if delimiter != "/":
                raise ValueError(f"delimiter {delimiter!r} is not supported: use '/' or none")
            return self._delimiter_pages(prefix, start_after, page_size, resume)
        return pages_of(self._recursive_entries(prefix, start_after, page_size), page_size)

    def _listing(self) -> Lister:
        if self._lister is None:
            self._lister = Lister(
                sign=self._sign_list,
                pool=self._http(),
                policy=self._policy,
                bucket=self.bucket,
                base_prefix=self.base_prefix,
            )
        return self._lister

    def _sign_list(self, params: dict[str, Any], seconds: int) -> SignedRequest:
        signer = self._list_signer
        if signer is None:
            url = self._presign_list(params, seconds)
            address = BucketAddress.from_presigned(url)
            if address is None:  # not a SigV4 URL botocore made: let it sign every request
                return SignedRequest(url)
            with self._making:
                if self._list_signer is None:
                    self._list_signer = ListSigner(address, self._credentials)
                signer = self._list_signer
        return signer(params, seconds)

    def _presign_list(self, params: dict[str, Any], seconds: int) -> str:
        where = str(params["Prefix"])[len(self.base_prefix) :] or None
        url: str = self._control_call(
            "LIST",
            where,
            lambda: self.control.generate_presigned_url("list_objects_v2", Params=params, ExpiresIn=seconds),
        )
        return url

    def _delimiter_pages(
        self, prefix: str, start_after: str | None, page_size: int, resume: str | None
    ) -> Iterator[ListPage]:
        directory = prefix.rstrip("/")
        listed = f"{directory}/" if directory else ""
        answers = self._listing().pages(
            listed, delimiter="/", start_after=start_after, page_size=page_size, resume=resume
        )
        # The directory's own key sorts before every key below it, so the first page of a
        # listing from the start holds it when it exists (as _marker finds it, with one entry).
        from_start = bool(listed) and start_after is None and resume is None
        for answer in answers:
            marker = next((info for info in answer.objects if info.key == listed), None)
            yield ListPage(
                # The directory's own marker (or, on SeaweedFS, its emptied folder) is the
                # directory, not an entry in it.
                objects=[info for info in answer.objects if info.key != listed],
                prefixes=answer.prefixes,
                resume=answer.next_token if answer.truncated else None,
                marker=marker if from_start else None,
                marker_known=from_start,
            )
            from_start = False

    def _recursive_entries(
        self, prefix: str, start_after: str | None, page_size: int
    ) -> Iterator[ObjectInfo]:
        """obstore's fast listing, with directory markers given back their ``/``.

        obstore strips the ``/`` of a marker, so it looks like an empty file. For each page that
        holds zero-byte entries, one ListObjectsV2 over the same key range says which are markers.
        """
        directory = prefix.rstrip("/") or None
        resume_after = start_after
        stream = obstore.list(self._store, directory, offset=resume_after, chunk_size=page_size)
        attempts = self._policy.attempts()
        while True:
            try:
                chunk = self._once("LIST", prefix or None, functools.partial(next, stream))
            except StopIteration:
                return
            except StoreError as error:
                attempts.failed(error)
                # A new listing after the last key given out: nothing twice, nothing missed.
                stream = obstore.list(self._store, directory, offset=resume_after, chunk_size=page_size)
                continue
            attempts.progressed()
            infos = [_info(meta) for meta in chunk]
            empty = [info.key for info in infos if info.size == 0]
            markers = self._markers_between(directory, resume_after, empty[-1]) if empty else set()
            for info in infos:
                if info.size == 0 and f"{info.key}/" in markers:
                    yield replace(info, key=f"{info.key}/")
                else:
                    yield info
            if infos:
                resume_after = infos[-1].key

    def _markers_between(self, directory: str | None, after: str | None, last: str) -> set[str]:
        """The marker keys (relative, ending in ``/``) listed after ``after`` up to ``last/``."""
        end = f"{last}/"
        found: set[str] = set()
        pages = self._listing().pages(f"{directory}/" if directory else "", start_after=after)
        for answer in pages:
            keys = [info.key for info in answer.objects]
            found.update(key for key in keys if key.endswith("/") and key <= end)
            if keys and keys[-1] >= end:
                break
        return found

    def _marker(self, key: str) -> ObjectInfo:
        """A directory marker, found by listing: obstore cannot name a key ending in "/", and
        SeaweedFS answers HEAD on any folder, marker or not, with 200.

        A delimiter listing of the directory shows its own key first when it is a marker, and on
        SeaweedFS also when it is an empty folder (one emptied straight on the store): such a
        folder is listed by its parent, so it is a directory here too, and deleting it removes it.
        """
        answer = self._listing().first(key, delimiter="/")
        for info in answer.objects:
            if info.key == key:
                return info
        full = self.full_key(key)
        raise NotFoundError(
            f"HEAD s3://{self.bucket}/{full} failed: no such directory marker", bucket=self.bucket, key=full
        )

    def put_directory_marker(self, prefix: str) -> None:
        marker = f"{prefix.rstrip('/')}/"
        self._control_call(
            "PUT (directory marker)",
            marker,
            lambda: self.control.put_object(
                Bucket=self.bucket, Key=self.full_key(marker), Body=b"", **sse_request_fields(self._settings)
            ),
        )

    # -- reads obstore cannot address (keys with control characters) -----------------------

    def _botocore_head(self, key: str) -> ObjectInfo:
        return botocore_reads.head(
            self.control, self._control_call, bucket=self.bucket, full_key=self.full_key(key), key=key
        )

    def _botocore_read(
        self, key: str, *, start: int | None = None, end: int | None = None, chunk_size: int = 1024 * 1024
    ) -> Iterator[bytes]:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.full_key(key)}
        if start is not None or end is not None:
            if end is not None and end <= (start or 0):
                return
            request["Range"] = f"bytes={start or 0}-{'' if end is None else end - 1}"
        response = self._control_call("GET", key, lambda: self.control.get_object(**request))
        body = response["Body"]
        try:
            while True:
                chunk = self._control_call("GET", key, lambda: body.read(chunk_size))
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    # -- control calls (botocore) --------------------------------------------------------

    def _control_call(self, operation: str, key: str | None, action: Callable[[], T]) -> T:
        try:
            return action()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise error_map.from_botocore(error, operation, self.bucket, self._display(key)) from None

    def ensure_bucket(self) -> bool:
        """Create the bucket unless it exists; True when it was created."""
        try:
            self._control_call("HEAD bucket", None, lambda: self.control.head_bucket(Bucket=self.bucket))
            return False
        except NotFoundError:
            pass
        self._control_call("CREATE bucket", None, lambda: self.control.create_bucket(Bucket=self.bucket))
        return True

    def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        """In-progress multipart uploads under ``prefix`` as (key, upload id) pairs."""
        return [(upload.key, upload.upload_id) for upload in self.unfinished_uploads(prefix)]

    def unfinished_uploads(self, prefix: str = "") -> list[UploadInfo]:
        """In-progress multipart uploads under ``prefix``, with when each was started."""
        found: list[UploadInfo] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.full_key(prefix)}
        cut = len(self.base_prefix)
        while True:
            response = self._control_call(
                "LIST multipart uploads",
                prefix or None,
                lambda: self.control.list_multipart_uploads(**request),
            )
            found.extend(
                UploadInfo(upload["Key"][cut:], upload["UploadId"], upload.get("Initiated"))
                for upload in response.get("Uploads", [])
            )
            if not response.get("IsTruncated"):
                return found
            request["KeyMarker"] = response["NextKeyMarker"]
            request["UploadIdMarker"] = response["NextUploadIdMarker"]

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._control_call(
            "ABORT multipart upload",
            key,
            lambda: self.control.abort_multipart_upload(
                Bucket=self.bucket, Key=self.full_key(key), UploadId=upload_id
            ),
        )

    def multipart_uploads(self) -> MultipartUploads:
        """The bucket's own multipart uploads, driven by the caller (:mod:`.uploads`)."""
        from tierstore.storage.s3.uploads import S3MultipartUploads

        return S3MultipartUploads(
            self._settings, control=lambda: self.control, pool=self._http, policy=self._policy
        )

    # -- presign --------------------------------------------------------------------------

    def presign(self, method: HttpMethod, key: str, *, expires_seconds: int = 3600) -> str:
        if not 1 <= expires_seconds <= 7 * 24 * 3600:
            raise ValueError(f"expires_seconds={expires_seconds}: a presigned URL lives 1 s to 7 days")
        return self._call(
            f"PRESIGN {method}",
            key,
            lambda: obstore.sign(self._store, method, key, timedelta(seconds=expires_seconds)),
        )

    def close(self) -> None:
        if self._bulk is not None:
            self._bulk.close()
            self._bulk = None
        if self._pool is not None:
            self._pool.clear()
            self._pool = None
        self._lister = None
        if self._control is not None:
            self._control.close()
            self._control = None

    def __repr__(self) -> str:
        return (
            f"S3Store({self.description}, endpoint={self._settings.endpoint}, "
            f"credentials={self._credentials.name})"
        )


def _info(meta: Any) -> ObjectInfo:
    modified = meta.get("last_modified")
    return ObjectInfo(
        key=str(meta["path"]),
        size=int(meta["size"]),
        etag=meta.get("e_tag"),
        last_modified=modified if isinstance(modified, datetime) else None,
    )


def _obstore_mode(condition: WriteCondition | None) -> Any:
    """obstore's PutMode for ``condition``: ``create`` sends If-None-Match: *, an ETag If-Match."""
    if condition is None:
        return "overwrite"
    if condition.absent:
        return "create"
    return {"e_tag": quoted(condition.etag or "")}


def _obstore_config(settings: StoreSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "region": settings.effective_region,
        "virtual_hosted_style_request": not settings.uses_path_style,
    }
    if settings.endpoint:
        config["endpoint"] = settings.endpoint
    if settings.checksum_mode == "when_supported":
        # object_store sends SHA-256 (or CRC64NVME) checksums; SHA-256 it computes anyway to sign.
        config["checksum_algorithm"] = "SHA256"
    if settings.encryption is not None:
        config["server_side_encryption"] = settings.encryption.algorithm
        if settings.encryption.kms_key_id:
            config["sse_kms_key_id"] = settings.encryption.kms_key_id
    return config


def _obstore_client_options(settings: StoreSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=settings.timeouts.connect_seconds),
        "read_timeout": timedelta(seconds=settings.timeouts.read_seconds),
        "timeout": _WHOLE_REQUEST,
        "pool_max_idle_per_host": str(max(16, settings.multipart.concurrency * 2)),
    }
    if settings.endpoint and settings.endpoint.startswith("http://"):
        options["allow_http"] = True
    if settings.proxy is not None:
        options["proxy_url"] = settings.proxy.url()
    return options
