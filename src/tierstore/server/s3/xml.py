"""The XML of S3's API: the answers the gateway renders, and the two request bodies it parses.

**Rendering** writes the documents as strings, escaping each value
(:mod:`~tierstore.server.s3.xmltext`): a 1,000-key ListObjectsV2 page takes about 3 ms, against
8 ms to build the tree with lxml and serialize it and 14 ms with the standard library's
ElementTree (``bench/s3_xml_checksum_bench.py``, best of 7 on the shared 2-core machine), and it
can write what S3 writes for a key holding a control character, which lxml refuses. Names are
URL-encoded where ``encoding-type=url`` asks for it, in exactly the elements botocore decodes
(keys, prefixes, delimiter, markers, start-after; not ListObjects' own ``Prefix``).
ETags are written quoted, dates as ``2009-10-12T17:50:30.000Z``.

**Parsing** (CompleteMultipartUpload, Delete) uses lxml with entity resolution, DTD loading and
the network turned off, comments and processing instructions dropped, and libxml2's default
limits on depth and text size; a document that declares a DTD at all is refused. Every external
load (a DTD's ``SYSTEM`` file, an external entity) is also answered with nothing by a resolver
of our own, so no parser option can make libxml2 open a file: lxml's ``collect_ids=False``, for
one, makes libxml2 2.14 read the external subset named by a DOCTYPE even with ``load_dtd``
off (a test parses a DOCTYPE naming a FIFO, which would block such a read forever). lxml was the
fastest of the three measured (the same bench): a 1,000-key Delete parsed and walked in about
1 ms, as with the standard library's C parser (which has no DTD guard) and 3 times faster than
defusedxml (which guards the standard library's pure-Python parser); a 10,000-part Complete
1.5 and 3.5 times faster than those. It is also not exposed to the quadratic reparsing of large
tokens that expat before 2.6 has (this interpreter's is 2.5). Bodies are
capped before they are parsed (:data:`MAX_DELETE_BODY`, :data:`MAX_COMPLETE_BODY`; read them with
:func:`read_capped`). Anything wrong is ``MalformedXML`` naming what (parts out of order are
``InvalidPartOrder``, as S3 answers). Checking every element costs more than the parse itself
(the same bench: about 3 ms for 1,000 keys, 50 ms for the largest Complete, 10,000 parts, of
which 13 ms is lxml's), so a handler parses a large body in a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from lxml import etree

from tierstore.server.s3.errors import XML_DECLARATION, S3Error
from tierstore.server.s3.xmltext import escape_text, url_encode

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_DELETE_KEYS = 1000
MAX_PARTS = 10_000
# 1,000 keys of 1,024 bytes with every character escaped (``&amp;``), and their markup.
MAX_DELETE_BODY = 6 * 1024 * 1024
# 10,000 parts, each with an ETag and every checksum a part may carry.
MAX_COMPLETE_BODY = 8 * 1024 * 1024
PART_CHECKSUMS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256")


# What the answers are made of.


@dataclass(frozen=True)
class Owner:
    id: str
    display_name: str


@dataclass(frozen=True)
class Bucket:
    name: str
    created: datetime


class ObjectEntry(NamedTuple):
    """One key of a listing (a named tuple: a listing makes one per key, in a quarter of a
    frozen dataclass's time)."""

    key: str
    last_modified: datetime
    etag: str
    size: int
    owner: Owner | None = None
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class Listing:
    """One page of a bucket's listing, as both ListObjects versions share it."""

    bucket: str
    prefix: str = ""
    delimiter: str | None = None
    max_keys: int = 1000
    is_truncated: bool = False
    contents: Sequence[ObjectEntry] = ()
    common_prefixes: Sequence[str] = ()
    url_encoded: bool = False


@dataclass(frozen=True)
class Part:
    number: int
    last_modified: datetime
    etag: str
    size: int


@dataclass(frozen=True)
class Upload:
    key: str
    upload_id: str
    initiated: datetime
    owner: Owner
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class DeleteOutcome:
    """One key of a DeleteObjects request: deleted (``code`` None) or an error."""

    key: str
    version_id: str | None = None
    code: str | None = None
    message: str = ""


# Rendering.


class _Writer:
    def __init__(self, root: str) -> None:
        self._root = root
        self._parts = [f'<{root} xmlns="{NAMESPACE}">']

    def add(self, tag: str, value: str | int | bool | None) -> None:
        """``<tag>value</tag>``; nothing for None."""
        if value is None:
            return
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = escape_text(value)
        self._parts.append(f"<{tag}>{text}</{tag}>")

    def raw(self, markup: str) -> None:
        self._parts.append(markup)

    def done(self) -> bytes:
        self._parts.append(f"</{self._root}>")
        return XML_DECLARATION + "".join(self._parts).encode()


def timestamp(when: datetime) -> str:
    """A date as S3's XML writes it: UTC, milliseconds, ``Z`` (a naive date is taken as UTC)."""
    if when.tzinfo is not None and when.utcoffset():
        when = when.astimezone(UTC)
    # printf-style: 1.5 µs against 2.6 for isoformat and 3.8 for an f-string (measured), paid
    # for every entry of a listing.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        when.microsecond // 1000,
    )


def quoted_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _owner(owner: Owner, tag: str = "Owner") -> str:
    name = escape_text(owner.display_name)
    return f"<{tag}><ID>{escape_text(owner.id)}</ID><DisplayName>{name}</DisplayName></{tag}>"


def list_buckets(owner: Owner, buckets: Iterable[Bucket], *, region: str | None = None) -> bytes:
    out = _Writer("ListAllMyBucketsResult")
    out.raw(_owner(owner))
    out.raw("<Buckets>")
    for bucket in buckets:
        region_element = f"<BucketRegion>{escape_text(region)}</BucketRegion>" if region else ""
        out.raw(
            f"<Bucket><Name>{escape_text(bucket.name)}</Name>"
            f"<CreationDate>{timestamp(bucket.created)}</CreationDate>{region_element}</Bucket>"
        )
    out.raw("</Buckets>")
    return out.done()


def _name(listing_url_encoded: bool, name: str) -> str:
    return url_encode(name) if listing_url_encoded else name


def _entries(out: _Writer, listing: Listing, *, with_owner: bool) -> None:
    encode = url_encode if listing.url_encoded else escape_text
    for entry in listing.contents:
        owner = _owner(entry.owner) if with_owner and entry.owner is not None else ""
        out.raw(
            f"<Contents><Key>{encode(entry.key)}</Key>"
            f"<LastModified>{timestamp(entry.last_modified)}</LastModified>"
            f"<ETag>{escape_text(quoted_etag(entry.etag))}</ETag><Size>{entry.size}</Size>"
            f"{owner}<StorageClass>{escape_text(entry.storage_class)}</StorageClass></Contents>"
        )
    for prefix in listing.common_prefixes:
        out.raw(f"<CommonPrefixes><Prefix>{encode(prefix)}</Prefix></CommonPrefixes>")


def list_objects_v2(
    listing: Listing,
    *,
    continuation_token: str | None = None,
    next_continuation_token: str | None = None,
    start_after: str | None = None,
    fetch_owner: bool = False,
) -> bytes:
    encoded = listing.url_encoded
    out = _Writer("ListBucketResult")
    out.add("Name", listing.bucket)
    out.add("Prefix", _name(encoded, listing.prefix))
    out.add("ContinuationToken", continuation_token)
    out.add("NextContinuationToken", next_continuation_token if listing.is_truncated else None)
    out.add("KeyCount", len(listing.contents) + len(listing.common_prefixes))
    out.add("MaxKeys", listing.max_keys)
    out.add("Delimiter", None if listing.delimiter is None else _name(encoded, listing.delimiter))
    out.add("EncodingType", "url" if encoded else None)
    out.add("IsTruncated", listing.is_truncated)
    out.add("StartAfter", None if start_after is None else _name(encoded, start_after))
    _entries(out, listing, with_owner=fetch_owner)
    return out.done()


def list_objects_v1(listing: Listing, *, marker: str = "", next_marker: str | None = None) -> bytes:
    """ListObjects (version 1). S3 sends ``NextMarker`` only with a delimiter; without one a
    client continues from the last key, so it is left out then. The ``Prefix`` is given back as
    sent even with ``encoding-type=url``, as S3 does in version 1 (botocore decodes every other
    name there, not it)."""
    encoded = listing.url_encoded
    out = _Writer("ListBucketResult")
    out.add("Name", listing.bucket)
    out.add("Prefix", listing.prefix)
    out.add("Marker", _name(encoded, marker))
    if listing.is_truncated and listing.delimiter is not None and next_marker is not None:
        out.add("NextMarker", _name(encoded, next_marker))
    out.add("MaxKeys", listing.max_keys)
    out.add("Delimiter", None if listing.delimiter is None else _name(encoded, listing.delimiter))
    out.add("EncodingType", "url" if encoded else None)
    out.add("IsTruncated", listing.is_truncated)
    _entries(out, listing, with_owner=True)
    return out.done()


def list_object_versions(
    listing: Listing,
    *,
    key_marker: str = "",
    version_id_marker: str = "",
    next_key_marker: str | None = None,
    next_version_id_marker: str | None = None,
) -> bytes:
    """ListObjectVersions of an unversioned bucket: each object is its one version, ``null``,
    the latest (its owner always given, as S3 does here); there are no delete markers."""
    encoded = listing.url_encoded
    encode = url_encode if encoded else escape_text
    out = _Writer("ListVersionsResult")
    out.add("Name", listing.bucket)
    out.add("Prefix", _name(encoded, listing.prefix))
    out.add("KeyMarker", _name(encoded, key_marker))
    out.add("VersionIdMarker", version_id_marker)
    if listing.is_truncated:
        out.add("NextKeyMarker", None if next_key_marker is None else _name(encoded, next_key_marker))
        out.add("NextVersionIdMarker", next_version_id_marker)
    out.add("MaxKeys", listing.max_keys)
    out.add("Delimiter", None if listing.delimiter is None else _name(encoded, listing.delimiter))
    out.add("EncodingType", "url" if encoded else None)
    out.add("IsTruncated", listing.is_truncated)
    for entry in listing.contents:
        owner = _owner(entry.owner) if entry.owner is not None else ""
        out.raw(
            f"<Version><Key>{encode(entry.key)}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"
            f"<LastModified>{timestamp(entry.last_modified)}</LastModified>"
            f"<ETag>{escape_text(quoted_etag(entry.etag))}</ETag><Size>{entry.size}</Size>"
            f"{owner}<StorageClass>{escape_text(entry.storage_class)}</StorageClass></Version>"
        )
    for prefix in listing.common_prefixes:
        out.raw(f"<CommonPrefixes><Prefix>{encode(prefix)}</Prefix></CommonPrefixes>")
    return out.done()


def versioning_configuration() -> bytes:
    """GetBucketVersioning of a bucket whose versioning was never turned on: no Status at all."""
    return XML_DECLARATION + f'<VersioningConfiguration xmlns="{NAMESPACE}"/>'.encode()


def initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    out = _Writer("InitiateMultipartUploadResult")
    out.add("Bucket", bucket)
    out.add("Key", key)
    out.add("UploadId", upload_id)
    return out.done()


def complete_multipart_upload(
    location: str, bucket: str, key: str, etag: str, checksums: Sequence[tuple[str, str]] = ()
) -> bytes:
    """``checksums``: (element, value) pairs such as ("ChecksumCRC32", "…"), written as given."""
    out = _Writer("CompleteMultipartUploadResult")
    out.add("Location", location)
    out.add("Bucket", bucket)
    out.add("Key", key)
    out.add("ETag", quoted_etag(etag))
    for element, value in checksums:
        out.add(element, value)
    return out.done()


def list_parts(
    bucket: str,
    key: str,
    upload_id: str,
    parts: Iterable[Part],
    *,
    owner: Owner,
    part_number_marker: int = 0,
    next_part_number_marker: int | None = None,
    max_parts: int = 1000,
    is_truncated: bool = False,
    storage_class: str = "STANDARD",
) -> bytes:
    out = _Writer("ListPartsResult")
    out.add("Bucket", bucket)
    out.add("Key", key)
    out.add("UploadId", upload_id)
    out.raw(_owner(owner, "Initiator"))
    out.raw(_owner(owner))
    out.add("StorageClass", storage_class)
    out.add("PartNumberMarker", part_number_marker)
    out.add("NextPartNumberMarker", next_part_number_marker)
    out.add("MaxParts", max_parts)
    out.add("IsTruncated", is_truncated)
    for part in parts:
        out.raw(
            f"<Part><PartNumber>{part.number}</PartNumber>"
            f"<LastModified>{timestamp(part.last_modified)}</LastModified>"
            f"<ETag>{escape_text(quoted_etag(part.etag))}</ETag><Size>{part.size}</Size></Part>"
        )
    return out.done()


def list_multipart_uploads(
    bucket: str,
    uploads: Iterable[Upload],
    *,
    prefix: str = "",
    delimiter: str | None = None,
    key_marker: str = "",
    upload_id_marker: str = "",
    next_key_marker: str | None = None,
    next_upload_id_marker: str | None = None,
    max_uploads: int = 1000,
    is_truncated: bool = False,
    common_prefixes: Sequence[str] = (),
    url_encoded: bool = False,
) -> bytes:
    encode = url_encode if url_encoded else escape_text
    out = _Writer("ListMultipartUploadsResult")
    out.add("Bucket", bucket)
    out.add("KeyMarker", _name(url_encoded, key_marker))
    out.add("UploadIdMarker", upload_id_marker)
    out.add("NextKeyMarker", None if next_key_marker is None else _name(url_encoded, next_key_marker))
    out.add("NextUploadIdMarker", next_upload_id_marker)
    out.add("Prefix", _name(url_encoded, prefix))
    out.add("Delimiter", None if delimiter is None else _name(url_encoded, delimiter))
    out.add("EncodingType", "url" if url_encoded else None)
    out.add("MaxUploads", max_uploads)
    out.add("IsTruncated", is_truncated)
    for upload in uploads:
        out.raw(
            f"<Upload><Key>{encode(upload.key)}</Key><UploadId>{escape_text(upload.upload_id)}</UploadId>"
            f"{_owner(upload.owner, 'Initiator')}{_owner(upload.owner)}"
            f"<StorageClass>{escape_text(upload.storage_class)}</StorageClass>"
            f"<Initiated>{timestamp(upload.initiated)}</Initiated></Upload>"
        )
    for common in common_prefixes:
        out.raw(f"<CommonPrefixes><Prefix>{encode(common)}</Prefix></CommonPrefixes>")
    return out.done()


def copy_object_result(etag: str, last_modified: datetime, *, part: bool = False) -> bytes:
    """CopyObject's answer, or UploadPartCopy's (``part``), which has the same fields."""
    out = _Writer("CopyPartResult" if part else "CopyObjectResult")
    out.add("LastModified", timestamp(last_modified))
    out.add("ETag", quoted_etag(etag))
    return out.done()


def delete_result(outcomes: Iterable[DeleteOutcome], *, quiet: bool = False) -> bytes:
    """DeleteObjects' answer; ``quiet`` leaves out the keys that were deleted, as S3 does."""
    out = _Writer("DeleteResult")
    for outcome in outcomes:
        if outcome.code is None:
            if not quiet:
                out.raw("<Deleted>")
                out.add("Key", outcome.key)
                out.add("VersionId", outcome.version_id)
                out.raw("</Deleted>")
            continue
        out.raw("<Error>")
        out.add("Key", outcome.key)
        out.add("VersionId", outcome.version_id)
        out.add("Code", outcome.code)
        out.add("Message", outcome.message)
        out.raw("</Error>")
    return out.done()


def location_constraint(region: str) -> bytes:
    """GetBucketLocation's answer: empty for us-east-1, as S3 answers."""
    value = "" if region == "us-east-1" else escape_text(region)
    return XML_DECLARATION + f'<LocationConstraint xmlns="{NAMESPACE}">{value}</LocationConstraint>'.encode()


# Parsing.


@dataclass(frozen=True)
class ObjectToDelete:
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class DeleteRequest:
    objects: tuple[ObjectToDelete, ...]
    quiet: bool = False


@dataclass(frozen=True)
class CompletedPart:
    number: int
    etag: str  # without its quotes
    checksums: dict[str, str] = field(default_factory=dict)


async def read_capped(chunks: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    """A whole (small) request body, refused as soon as it passes ``limit`` bytes."""
    received = bytearray()
    async for piece in chunks:
        received += piece
        if len(received) > limit:
            raise _malformed(f"the {what} body is larger than {limit} bytes")
    return bytes(received)


def _malformed(why: str) -> S3Error:
    return S3Error(
        "MalformedXML",
        f"The XML you provided was not well-formed or did not validate against our published schema: {why}.",
    )


class _NoExternalLoads(etree.Resolver):
    """Answers every request for an external document (DTD, entity) with an empty one."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> Any:
        return self.resolve_string("", context)


def _parse(body: bytes, root_name: str, limit: int) -> etree._Element:
    if len(body) > limit:
        raise _malformed(f"the body is larger than {limit} bytes")
    if not body.strip():
        raise _malformed("the body is empty")
    # A parser per document: lxml parsers must not be shared between threads.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    parser.resolvers.add(_NoExternalLoads())
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        raise _malformed(str(error.msg or error)) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise _malformed("a document type declaration (DTD) is not allowed")
    name = _local(root, root_name)
    if name != root_name:
        raise _malformed(f"the root element is {name!r}, not {root_name!r}")
    return root


def _local(element: etree._Element, parent: str) -> str:
    """An element's name without the S3 namespace (any other namespace is refused)."""
    tag = element.tag
    if not isinstance(tag, str):
        raise _malformed(f"{parent} holds something other than elements")
    namespace, brace, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if brace and namespace != NAMESPACE:
        raise _malformed(f"the element {local!r} is in the namespace {namespace!r}, not S3's")
    return local


def _names(*names: str) -> dict[object, str]:
    """Each allowed element's tag, with and without S3's namespace, to its name: one dict lookup
    an element, which is what keeps a 10,000-part document's checks near the parse's own cost."""
    return {**{name: name for name in names}, **{f"{{{NAMESPACE}}}{name}": name for name in names}}


_DELETE_CHILDREN = _names("Object", "Quiet")
_OBJECT_FIELDS = _names("Key", "VersionId", "ETag", "LastModifiedTime", "Size")
_COMPLETE_CHILDREN = _names("Part")
_PART_FIELDS = _names("PartNumber", "ETag", *PART_CHECKSUMS)


def _fields(element: etree._Element, parent: str, allowed: dict[object, str]) -> dict[str, str]:
    """The text of each child of ``element``, by name: each allowed, each once, text only."""
    text = element.text
    if text and not text.isspace():
        raise _malformed(f"{parent} holds text outside its elements")
    found: dict[str, str] = {}
    for child in element:
        name = allowed.get(child.tag)
        if name is None:
            local = _local(child, parent)
            raise _malformed(
                f"{parent} may not hold {local!r} (only {', '.join(sorted(set(allowed.values())))})"
            )
        if name in found:
            raise _malformed(f"{parent} has more than one {name}")
        if len(child):
            raise _malformed(f"{name} holds elements instead of text")
        tail = child.tail
        if tail and not tail.isspace():
            raise _malformed(f"{parent} holds text outside its elements")
        found[name] = child.text or ""
    return found


def _children(
    element: etree._Element, parent: str, allowed: dict[object, str]
) -> Iterator[tuple[str, etree._Element]]:
    text = element.text
    if text and not text.isspace():
        raise _malformed(f"{parent} holds text outside its elements")
    for child in element:
        name = allowed.get(child.tag)
        if name is None:
            local = _local(child, parent)
            raise _malformed(
                f"{parent} may not hold {local!r} (only {', '.join(sorted(set(allowed.values())))})"
            )
        tail = child.tail
        if tail and not tail.isspace():
            raise _malformed(f"{parent} holds text outside its elements")
        yield name, child


def parse_delete(body: bytes) -> DeleteRequest:
    """A DeleteObjects request body: at most 1,000 keys."""
    root = _parse(body, "Delete", MAX_DELETE_BODY)
    objects: list[ObjectToDelete] = []
    quiet = False
    for name, child in _children(root, "Delete", _DELETE_CHILDREN):
        if name == "Quiet":
            if len(child):
                raise _malformed("Quiet holds elements instead of text")
            value = (child.text or "").strip().lower()
            if value not in ("true", "false"):
                raise _malformed(f"Quiet is {value[:20]!r}, not true or false")
            quiet = value == "true"
            continue
        if len(objects) == MAX_DELETE_KEYS:
            raise _malformed(f"a Delete may name at most {MAX_DELETE_KEYS} objects")
        fields = _fields(child, "Object", _OBJECT_FIELDS)
        key = fields.get("Key")
        if not key:
            raise _malformed("an Object has no Key")
        objects.append(ObjectToDelete(key, fields.get("VersionId")))
    if not objects:
        raise _malformed("a Delete must name at least one Object")
    return DeleteRequest(tuple(objects), quiet)


def parse_complete_multipart_upload(body: bytes) -> list[CompletedPart]:
    """A CompleteMultipartUpload request body: 1 to 10,000 parts in ascending order of number."""
    root = _parse(body, "CompleteMultipartUpload", MAX_COMPLETE_BODY)
    parts: list[CompletedPart] = []
    previous = 0
    for _, child in _children(root, "CompleteMultipartUpload", _COMPLETE_CHILDREN):
        if len(parts) == MAX_PARTS:
            raise _malformed(f"a multipart upload has at most {MAX_PARTS} parts")
        fields = _fields(child, "Part", _PART_FIELDS)
        number_text = fields.pop("PartNumber", None)
        if number_text is None:
            raise _malformed("a Part has no PartNumber")
        number_text = number_text.strip()
        if not (number_text.isascii() and number_text.isdigit()) or not 1 <= int(number_text) <= MAX_PARTS:
            raise _malformed(f"the PartNumber {number_text[:20]!r} is not a number from 1 to {MAX_PARTS}")
        etag = fields.pop("ETag", "").strip().strip('"')
        if not etag:
            raise _malformed(f"part {number_text} has no ETag")
        number = int(number_text)
        if number <= previous:
            raise S3Error(
                "InvalidPartOrder",
                f"The list of parts was not in ascending order: part {number} follows part {previous}.",
            )
        previous = number
        parts.append(CompletedPart(number, etag, {name: value.strip() for name, value in fields.items()}))
    if not parts:
        raise _malformed("you must specify at least one part")
    return parts
