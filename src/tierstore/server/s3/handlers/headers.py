"""An object's headers both ways: the ``Content-Type`` and ``x-amz-meta-*`` a PUT or a
REPLACE copy asks to keep, and what a GET or HEAD answers (ETag, Last-Modified, Content-Type,
user metadata, and the ``response-*`` overrides of the query).

User metadata follows S3's rules for it over HTTP: names are case-insensitive (kept
lower-cased), a name given twice has its values joined with ``,`` (as HTTP joins repeated
headers), values are printable ASCII (S3's SDKs send anything else RFC 2047-encoded, which the
gateway keeps as sent), and names and values together are at most 2 KiB (``MetadataTooLarge``).
Both kinds of mount keep them (``ObjectAttributes``: an S3 mount as the object's own, a local
mount in extended attributes), and so the standard headers S3 keeps with an object:
Cache-Control, Content-Disposition, Content-Encoding (less the ``aws-chunked`` an SDK's streaming
upload adds, which describes the request's framing, not the object, and which S3 drops too) and
Content-Language, answered by GET and HEAD unless a ``response-*`` override says otherwise.
Expires is not kept (obstore, the data client, neither writes nor reads it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime

from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers.conditions import http_date
from tierstore.server.s3.request_headers import RequestHeaders
from tierstore.storage.attributes import KEPT_HEADERS
from tierstore.storage.interface import ObjectAttributes, ObjectInfo

# S3's content type for an object stored without one.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
# The ETag of an empty object (a directory, answered as S3 answers its folder marker).
EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
META_PREFIX = "x-amz-meta-"
_META_PREFIX_BYTES = META_PREFIX.encode()
MAX_METADATA_BYTES = 2048
# The query parameters that set an answer's header, and the header each sets.
OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
# KEPT_HEADERS as the request's header index holds them (lower case, bytes).
_KEPT_FIELDS = frozenset(name.lower().encode("latin-1") for name in KEPT_HEADERS)
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


def requested_attributes(headers: RequestHeaders) -> ObjectAttributes:
    """The ``Content-Type``, ``x-amz-meta-*`` and kept standard headers of a request, checked
    (``InvalidArgument`` naming the header at fault, ``MetadataTooLarge``). Without a
    Content-Type the object is ``binary/octet-stream``, as S3 stores it: said to the store,
    which would otherwise choose (SeaweedFS guesses one from the bytes)."""
    content_type = (headers.get("content-type") or "").strip() or DEFAULT_CONTENT_TYPE
    if not _PRINTABLE.fullmatch(content_type):
        raise _invalid("Content-Type", f"{content_type[:60]!r} is not printable ASCII text")
    metadata: dict[str, str] = {}
    # Most writes carry no metadata: the names searched at once (a match may lie inside a name,
    # which the loop then passes over) rather than each one's start looked at.
    fields = headers.fields if _META_PREFIX_BYTES in b"\n".join(headers.fields) else {}
    for raw_name, raw_values in fields.items():
        if not raw_name.startswith(_META_PREFIX_BYTES):
            continue
        name = raw_name.decode("latin-1")
        short = name[len(META_PREFIX) :]
        if not short or not _TOKEN.fullmatch(short):
            raise _invalid(name, "is not a metadata name: give x-amz-meta- and an HTTP token")
        values = [raw_value.decode("latin-1").strip() for raw_value in raw_values]
        for value in values:
            if not _PRINTABLE.fullmatch(value):
                raise _invalid(name, f"{value[:60]!r} is not printable ASCII (encode it as RFC 2047 says)")
        metadata[short] = ",".join(values)
    size = sum(len(name) + len(value) for name, value in metadata.items()) if metadata else 0
    if size > MAX_METADATA_BYTES:
        raise S3Error(
            "MetadataTooLarge",
            f"Your metadata headers are {size} bytes, more than the {MAX_METADATA_BYTES} allowed "
            "(names without x-amz-meta- and values together).",
            details=[("Size", str(size)), ("MaxSizeAllowed", str(MAX_METADATA_BYTES))],
        )
    try:
        return ObjectAttributes(content_type, metadata, _kept_headers(headers))
    except ValueError as error:  # the storage layer's own checks, which the ones above meet
        raise S3Error("InvalidArgument", f"{error}.") from None


def _kept_headers(headers: RequestHeaders) -> dict[str, str]:
    """The request's Cache-Control, Content-Disposition, Content-Encoding (without
    ``aws-chunked``) and Content-Language, each printable ASCII."""
    kept: dict[str, str] = {}
    if headers.fields.keys().isdisjoint(_KEPT_FIELDS):
        return kept  # most writes send none of them: one look at the request's header index
    for name in KEPT_HEADERS:
        value = (headers.get(name) or "").strip()
        if name == "Content-Encoding":
            codings = [coding.strip() for coding in value.split(",")]
            value = ", ".join(coding for coding in codings if coding and coding.lower() != "aws-chunked")
        if not value:
            continue
        if not _PRINTABLE.fullmatch(value):
            raise _invalid(name, f"{value[:60]!r} is not printable ASCII text")
        kept[name] = value
    return kept


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """The headers the ``response-*`` query parameters set, each checked (no control characters:
    a value becomes a header line)."""
    found: dict[str, str] = {}
    for parameter, header in OVERRIDES.items():
        value = query.get(parameter)
        if value is None:
            continue
        if not _PRINTABLE.fullmatch(value):
            raise _invalid(parameter, f"{value[:60]!r} is not printable ASCII text")
        found[header] = value
    return found


def etag_for(path: str, info: ObjectInfo) -> str:
    """The object's ETag, quoted: the store's, else one made from its path, size and time (a
    local file written before tierstore recorded ETags)."""
    if info.etag:
        return info.etag if info.etag.startswith('"') else f'"{info.etag}"'
    return synthetic_etag(path, info.size, info.last_modified)


def synthetic_etag(path: str, size: int, modified: datetime | None) -> str:
    stamp = modified.timestamp() if modified else 0
    digest = hashlib.sha256(f"{path}\0{size}\0{stamp}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def object_headers(
    etag: str,
    modified: datetime | None,
    *,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    kept: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A GET's or HEAD's headers for an object (without its length and range): ``kept``, the
    standard headers stored with it; ``overrides``, the ``response-*`` ones, over everything."""
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Type": content_type or DEFAULT_CONTENT_TYPE}
    if modified is not None:
        headers["Last-Modified"] = http_date(modified)
    for name, value in (metadata or {}).items():
        headers[META_PREFIX + name] = value
    headers.update(kept or {})
    headers.update(overrides or {})
    return headers


def _invalid(name: str, why: str) -> S3Error:
    return S3Error("InvalidArgument", f"{name}: {why}.", details=[("ArgumentName", name)])
