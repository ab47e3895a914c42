"""Content type, user metadata and the kept standard headers (Cache-Control, Content-Disposition,
Content-Encoding, Content-Language) between tierstore's ObjectAttributes and the two S3 clients.

obstore takes them as one ``attributes`` dict: a few names are its own (``Content-Type``,
``Cache-Control``, ...) and compared case-insensitively, every other name is sent as
``x-amz-meta-<name>``. A user metadata name equal to one of obstore's own would be sent as that
header instead (checked on SeaweedFS: ``cache-control`` became ``Cache-Control``), so such writes
go through botocore, which keeps ``Metadata`` apart. On reads obstore gives its own names
capitalised and metadata names lower-cased, so the two never mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierstore.storage.attributes import KEPT_HEADERS, no_metadata
from tierstore.storage.interface import ObjectAttributes

# obstore's own attribute names, as it gives them back from a GET.
_OBSTORE_OWN = (
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Type",
    "Cache-Control",
)
_OBSTORE_OWN_ON_WRITE = {name.lower() for name in _OBSTORE_OWN} | {"storage-class"}
_OBSTORE_OWN_ON_READ = {*_OBSTORE_OWN, "Storage-Class"}
# botocore's field for each kept header, in requests and answers alike.
_BOTOCORE_FIELDS = {
    "Cache-Control": "CacheControl",
    "Content-Disposition": "ContentDisposition",
    "Content-Encoding": "ContentEncoding",
    "Content-Language": "ContentLanguage",
}


def obstore_can_write(attributes: ObjectAttributes | None) -> bool:
    """Whether obstore sends these as given (no metadata name it would take for its own)."""
    return attributes is None or not any(name in _OBSTORE_OWN_ON_WRITE for name in attributes.metadata)


def for_obstore(attributes: ObjectAttributes | None) -> dict[str, str] | None:
    if attributes is None or attributes.empty:
        return None
    given: dict[str, str] = dict(attributes.metadata)
    if attributes.content_type is not None:
        given["Content-Type"] = attributes.content_type
    given.update(attributes.headers)  # obstore's own names: sent as those headers
    return given


def for_botocore(attributes: ObjectAttributes | None) -> dict[str, Any]:
    """``ContentType`` and ``Metadata`` for PutObject, CreateMultipartUpload and CopyObject."""
    if attributes is None:
        return {}
    fields: dict[str, Any] = {}
    if attributes.content_type is not None:
        fields["ContentType"] = attributes.content_type
    if attributes.metadata:
        fields["Metadata"] = dict(attributes.metadata)
    for name, value in attributes.headers.items():
        fields[_BOTOCORE_FIELDS[name]] = value
    return fields


def from_obstore(attributes: Mapping[str, str]) -> tuple[str | None, Mapping[str, str]]:
    """The content type and user metadata in a GetResult's ``attributes``."""
    metadata = {name: value for name, value in attributes.items() if name not in _OBSTORE_OWN_ON_READ}
    return attributes.get("Content-Type"), metadata or no_metadata()


def headers_from_obstore(attributes: Mapping[str, str]) -> Mapping[str, str]:
    """The kept standard headers in a GetResult's ``attributes``."""
    found = {name: attributes[name] for name in KEPT_HEADERS if attributes.get(name)}
    return found or no_metadata()


def headers_from_botocore(response: Mapping[str, Any]) -> Mapping[str, str]:
    """The kept standard headers of a HeadObject or GetObject answer."""
    found = {name: str(response[field]) for name, field in _BOTOCORE_FIELDS.items() if response.get(field)}
    return found or no_metadata()


def from_botocore(response: Mapping[str, Any]) -> tuple[str | None, Mapping[str, str]]:
    """The content type and user metadata of a HeadObject or GetObject answer.

    http.client reads header bytes as Latin-1; metadata another client wrote as UTF-8 bytes is
    given back as the text it was (S3 keeps metadata ASCII, SeaweedFS keeps any bytes).
    """
    metadata = {name.lower(): _as_utf8(value) for name, value in response.get("Metadata", {}).items()}
    return response.get("ContentType"), metadata or no_metadata()


def _as_utf8(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
