"""Listings: ListObjectsV2 and ListObjects (version 1) over a bucket's directory tree.

Keys come in S3's order (the binary order of their UTF-8 bytes), paged from the namespace's own
pages without holding a directory in memory (:mod:`tierstore.server.s3.key_walk`), and resume
where the last page stopped: V2 from its signed continuation token, V1 from the state kept under
the marker it gave (:mod:`tierstore.server.s3.list_tokens`).

Parameters as S3 takes them: ``prefix``, ``delimiter``, ``max-keys`` (0 to 1000, default 1000;
more is answered as 1000, as S3 does), ``encoding-type=url``, and ``continuation-token``,
``start-after`` and ``fetch-owner`` (V2) or ``marker`` (V1). A bad value is ``InvalidArgument``
naming the parameter. ``max-keys=0`` answers no keys and is not truncated, after the same checks
as any listing.

The ETag of a key is the one its store lists (S3 mounts list them; local mounts are asked to), as
HEAD answers it (:func:`~tierstore.server.s3.handlers.objects.etag_of`; a directory's marker is
an empty object's, as HEAD answers it), so the two always agree; the owner (V1, and V2 with
``fetch-owner``) is the file's owner in the namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.namespace.filesystem import FileStatus
from tierstore.server.s3 import xml
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers.buckets import NO_DATE, bucket_status, xml_response
from tierstore.server.s3.handlers.headers import EMPTY_ETAG
from tierstore.server.s3.handlers.objects import etag_of
from tierstore.server.s3.key_walk import Entry, Walk, WalkState
from tierstore.server.s3.list_tokens import (
    decode_token,
    encode_token,
    remember_marker,
    state_for_marker,
    token_key,
)

MAX_KEYS = 1000
# S3 refuses a max-keys outside a 32-bit integer's range.
_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Query:
    """The parameters both versions share."""

    prefix: str
    delimiter: str | None
    max_keys: int
    url_encoded: bool


def _invalid(name: str, value: str, why: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"{name}={value[:100]!r}: {why}",
        details=[("ArgumentName", name), ("ArgumentValue", value[:100])],
    )


def parse_query(query: Mapping[str, str]) -> Query:
    text = query.get("max-keys")
    max_keys = MAX_KEYS
    if text is not None:
        if not (text.isascii() and text.isdigit()) or int(text) > _INT_MAX:
            raise _invalid(
                "max-keys", text, f"max-keys must be a whole number from 0 (up to {MAX_KEYS} are given)"
            )
        max_keys = min(int(text), MAX_KEYS)
    encoding = query.get("encoding-type")
    if encoding is not None and encoding.lower() != "url":
        raise _invalid("encoding-type", encoding, "the only encoding-type is 'url'")
    return Query(
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter") or None,
        max_keys=max_keys,
        url_encoded=encoding is not None,
    )


@dataclass
class Page:
    entries: list[Entry]
    truncated: bool


def read_page(walk: Walk, max_keys: int) -> Page:
    """Up to ``max_keys`` entries, and whether more follow (found by looking one entry ahead, so
    a truncated page is never followed by an empty one)."""
    entries: list[Entry] = []
    if max_keys == 0:
        walk.wanted = 1
        walk.peek()  # the same checks as any listing (the bucket, the caller's permissions)
        return Page(entries, False)
    while len(entries) < max_keys:
        walk.wanted = max_keys - len(entries) + 1
        if walk.peek() is None:
            return Page(entries, False)
        entries.append(walk.take())
    walk.wanted = 1
    return Page(entries, walk.peek() is not None)


def listing_of(bucket: str, query: Query, page: Page, *, owners: bool) -> xml.Listing:
    contents: list[xml.ObjectEntry] = []
    prefixes: list[str] = []
    for entry in page.entries:
        if entry.common_prefix or entry.status is None:
            prefixes.append(entry.key)
        else:
            contents.append(_object(entry.key, entry.status, owners))
    return xml.Listing(
        bucket=bucket,
        prefix=query.prefix,
        delimiter=query.delimiter,
        max_keys=query.max_keys,
        is_truncated=page.truncated,
        contents=contents,
        common_prefixes=prefixes,
        url_encoded=query.url_encoded,
    )


def _object(key: str, status: FileStatus, owners: bool) -> xml.ObjectEntry:
    return xml.ObjectEntry(
        key=key,
        last_modified=status.modified or NO_DATE,
        # A directory's marker is an empty object, as HEAD and GET of its key answer it.
        etag=EMPTY_ETAG if status.is_dir else etag_of(status),
        size=status.size,
        owner=xml.Owner(status.owner, status.owner) if owners else None,
    )


def _token_key(call: S3Call) -> bytes:
    identity = call.state.s3_keys.lookup(call.auth.access_key_id)
    if identity is None:  # revoked since the request was verified
        raise S3Error("InvalidAccessKeyId")
    return token_key(identity.secret.reveal())


async def list_objects_v2(call: S3Call) -> Response:
    query = parse_query(call.query)
    token = call.query.get("continuation-token")
    start_after = call.query.get("start-after") or None
    fetch_owner = call.query.get("fetch-owner", "").lower() == "true"
    scope = (call.bucket, query.prefix, query.delimiter)

    def run() -> tuple[Page, str | None]:
        bucket_status(call.fs, call.bucket, call.resource)
        state: WalkState | None = None
        if token:  # an empty token starts the listing, as S3 takes it (and echoes it)
            state = decode_token(token, scope, _token_key(call))
        walk = walk_of(call, query, after=start_after, state=state)
        page = read_page(walk, query.max_keys)
        following = encode_token(walk.state(), scope, _token_key(call)) if page.truncated else None
        return page, following

    page, following = await run_in_threadpool(run)
    listing = listing_of(call.bucket, query, page, owners=fetch_owner)
    return xml_response(
        xml.list_objects_v2(
            listing,
            continuation_token=token,
            next_continuation_token=following,
            start_after=start_after,
            fetch_owner=fetch_owner,
        )
    )


def marker_page(call: S3Call, query: Query, marker: str | None) -> Page:
    """One page of a walk paged by key markers (ListObjects V1, ListObjectVersions: the same walk
    for the same marker, so their kept states serve both): a walk a previous page left at
    ``marker`` goes on from where it stood, and a truncated page leaves its own state behind."""
    bucket_status(call.fs, call.bucket, call.resource)
    table = call.fs.table
    remembered = (call.auth.access_key_id, call.bucket, query.prefix, query.delimiter)
    state = None if marker is None else state_for_marker(table, (*remembered, marker))
    walk = walk_of(call, query, after=marker, state=state)
    page = read_page(walk, query.max_keys)
    if page.truncated:
        remember_marker(table, (*remembered, page.entries[-1].key), walk.state())
    return page


async def list_objects(call: S3Call) -> Response:
    list_type = call.query.get("list-type")
    if list_type is not None and list_type != "1":
        raise _invalid("list-type", list_type, "list-type is 2 (ListObjectsV2), or 1 or absent (ListObjects)")
    query = parse_query(call.query)
    marker = call.query.get("marker") or None
    page = await run_in_threadpool(marker_page, call, query, marker)
    listing = listing_of(call.bucket, query, page, owners=True)
    next_marker = page.entries[-1].key if page.entries else None
    return xml_response(xml.list_objects_v1(listing, marker=marker or "", next_marker=next_marker))


def walk_of(call: S3Call, query: Query, *, after: str | None, state: WalkState | None) -> Walk:
    try:
        # The view whose listings carry each file's ETag, so that a listed ETag is the one HEAD
        # answers on every kind of mount (a local one reads it only when asked).
        fs = call.fs.with_etags()
        return Walk(fs, call.bucket, query.prefix, query.delimiter, after=after, state=state)
    except ValueError:
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect: start the listing again without it.",
            details=[("ArgumentName", "continuation-token")],
        ) from None


HANDLERS = {
    "ListObjectsV2": list_objects_v2,
    "ListObjects": list_objects,
}
