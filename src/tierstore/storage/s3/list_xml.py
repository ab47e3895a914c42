"""One ListObjectsV2 answer (the store's XML) read into keys, sizes and common prefixes.

lxml, because it was the fastest of the parsers measured on real SeaweedFS pages of 1,000 entries
(``bench/list_parsers.py``, CPU per page of 1,000 objects / 1,000 common prefixes: lxml 6.4 / 2.1
ms, the standard library's ElementTree on expat 7.3 / 2.1 ms, botocore's own parser 104 / 5.5 ms;
lxml's parse proper is 1.7 times expat's, the rest is the walk both share).

Keys come url-encoded when the answer says ``<EncodingType>url</EncodingType>`` (asked for with
``encoding-type=url``, as botocore does): XML 1.0 cannot carry control characters, so a key holding
one lists only that way. They are decoded as botocore decodes them (``unquote_plus``: AWS and
SeaweedFS write a space as ``+`` and a ``+`` as ``%2B``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import unquote_plus

from lxml import etree

from tierstore.storage.interface import ObjectInfo


@dataclass(frozen=True)
class ListAnswer:
    """One page as the store gave it, keys and prefixes less the ``cut`` they were read with."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_token: str | None


class MalformedAnswerError(ValueError):
    """The body is not a ListObjectsV2 result; the message says what was wrong."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads. The store's answer is data, never a
    # document to resolve: no entities, no network.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        _local.parser = parser
    return parser


def parse_list_answer(body: bytes, *, cut: int = 0) -> ListAnswer:
    """The page in ``body``; ``cut``: how many leading characters (the store's base prefix) to
    drop from every key and prefix, so that they come out relative to the store."""
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        raise MalformedAnswerError(f"the answer is not well-formed XML ({error})") from None
    tag = root.tag
    if not isinstance(tag, str) or not tag.endswith("ListBucketResult"):
        raise MalformedAnswerError(f"the answer is a {tag!r} document, not a ListBucketResult")
    # Stores differ in whether they put S3's namespace on the answer; tags are compared with it.
    namespace = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    read = _by_columns(root, namespace)
    if read is not None:
        entries, prefixes, truncated, token, encoded = read
    else:
        entries, prefixes, truncated, token, encoded = _by_entries(root, namespace)
    # <EncodingType> may come last (SeaweedFS puts it there): keys are decoded once it is known.
    if encoded:
        objects = [ObjectInfo(_decoded(key)[cut:], size, etag, at) for key, size, etag, at in entries]
        prefixes = [_decoded(prefix)[cut:] for prefix in prefixes]
    else:
        objects = [ObjectInfo(key[cut:], size, etag, at) for key, size, etag, at in entries]
        prefixes = [prefix[cut:] for prefix in prefixes]
    return ListAnswer(objects, prefixes, truncated, token)


Row = tuple[str, int, str | None, datetime | None]
# Entries (key as written, size, ETag, date), prefixes, truncated, next token, url-encoded.
Read = tuple[list[Row], list[str], bool, str | None, bool]


def _by_columns(root: etree._Element, namespace: str) -> Read | None:
    """The page read by XPath, a column at a time: a third less CPU than visiting every element
    (no Python object per element; 1,000-entry pages, measured). None when the columns do not
    line up one value per entry (an empty or missing field): :func:`_by_entries` then reads
    the page and says which entry is at fault."""
    queries = _queries(namespace)
    count = int(queries.contents(root))
    keys, sizes, etags, dates = (column(root) for column in queries.columns)
    prefixes: list[str] = queries.prefixes(root)
    if not len(keys) == len(sizes) == len(etags) == len(dates) == count:
        return None
    if len(prefixes) != int(queries.common(root)):
        return None
    parse_date = datetime.fromisoformat
    try:
        rows: list[Row] = [
            (key, int(size), etag, parse_date(date))
            for key, size, etag, date in zip(keys, sizes, etags, dates, strict=True)
        ]
    except ValueError:
        return None
    token = str(queries.token(root)) if queries.has_token(root) else None
    truncated = str(queries.truncated(root)).strip() == "true"
    encoded = str(queries.encoding(root)).strip() == "url"
    return rows, prefixes, truncated, token, encoded


class _Queries(NamedTuple):
    contents: etree.XPath
    columns: tuple[etree.XPath, etree.XPath, etree.XPath, etree.XPath]
    common: etree.XPath
    prefixes: etree.XPath
    truncated: etree.XPath
    has_token: etree.XPath
    token: etree.XPath
    encoding: etree.XPath


def _queries(namespace: str) -> _Queries:
    # Compiled once per thread, as the parser (lxml's objects stay in the thread that made
    # them), and per namespace the stores answer in ("" or S3's).
    cache: dict[str, _Queries] | None = getattr(_local, "queries", None)
    if cache is None:
        cache = _local.queries = {}
    found = cache.get(namespace)
    if found is None:
        uri = namespace[1:-1]
        names = {"s3": uri} if uri else None
        s = "s3:" if uri else ""

        def query(path: str) -> etree.XPath:
            # Plain strings: lxml's default "smart" ones each keep a link to their element.
            return etree.XPath(path, namespaces=names, smart_strings=False)

        found = cache[namespace] = _Queries(
            contents=query(f"count({s}Contents)"),
            columns=(
                query(f"{s}Contents/{s}Key/text()"),
                query(f"{s}Contents/{s}Size/text()"),
                query(f"{s}Contents/{s}ETag/text()"),
                query(f"{s}Contents/{s}LastModified/text()"),
            ),
            common=query(f"count({s}CommonPrefixes/{s}Prefix)"),
            prefixes=query(f"{s}CommonPrefixes/{s}Prefix/text()"),
            truncated=query(f"string({s}IsTruncated)"),
            has_token=query(f"boolean({s}NextContinuationToken)"),
            token=query(f"string({s}NextContinuationToken)"),
            encoding=query(f"string({s}EncodingType)"),
        )
    return found


def _by_entries(root: etree._Element, namespace: str) -> Read:
    """The page read element by element (what :func:`_by_columns` could not line up)."""
    contents, common, truncated_tag, token_tag, encoding_tag = (
        namespace + name
        for name in ("Contents", "CommonPrefixes", "IsTruncated", "NextContinuationToken", "EncodingType")
    )
    fields = _Fields(namespace)
    entries: list[Row] = []
    prefixes: list[str] = []
    truncated = False
    token: str | None = None
    encoded = False
    for child in root:
        name = child.tag
        if name == contents:
            entries.append(fields.entry_in(child))
        elif name == common:
            prefixes.extend(entry.text or "" for entry in child if entry.tag == fields.prefix)
        elif name == truncated_tag:
            truncated = (child.text or "").strip() == "true"
        elif name == token_tag:
            token = child.text
        elif name == encoding_tag:
            encoded = (child.text or "").strip() == "url"
    return entries, prefixes, truncated, token, encoded


def _decoded(text: str) -> str:
    # Most keys hold nothing encoded: skipping unquote_plus for them saved 5% of a listing's CPU.
    return unquote_plus(text) if "%" in text or "+" in text else text


class _Fields:
    """The tags of one ``<Contents>`` entry, namespaced as the answer is."""

    def __init__(self, namespace: str) -> None:
        self.key = namespace + "Key"
        self.size = namespace + "Size"
        self.etag = namespace + "ETag"
        self.modified = namespace + "LastModified"
        self.prefix = namespace + "Prefix"

    def entry_in(self, entry: etree._Element) -> Row:
        """Key (as written), size, ETag, last modified."""
        key: str | None = None
        size: str | None = None
        etag: str | None = None
        modified: str | None = None
        for field in entry:
            name = field.tag
            if name == self.key:
                key = field.text or ""
            elif name == self.size:
                size = field.text
            elif name == self.etag:
                etag = field.text
            elif name == self.modified:
                modified = field.text
        if key is None or size is None:
            raise MalformedAnswerError("a <Contents> entry has no <Key> or no <Size>")
        try:
            return key, int(size), etag, datetime.fromisoformat(modified) if modified else None
        except ValueError as error:
            raise MalformedAnswerError(f"the entry for {key!r} has a bad size or date ({error})") from None
