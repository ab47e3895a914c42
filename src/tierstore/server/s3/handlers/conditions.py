"""Conditional requests: ``If-Match``, ``If-None-Match``, ``If-Modified-Since``,
``If-Unmodified-Since`` on GetObject and HeadObject, and their ``x-amz-copy-source-if-*`` twins
on CopyObject, with S3's precedence (RFC 9110's order):

1. ``If-Match`` false: 412. When it is given and true, ``If-Unmodified-Since`` is not looked at
   (so If-Match true + If-Unmodified-Since false is 200);
2. otherwise ``If-Unmodified-Since`` false (changed since): 412;
3. ``If-None-Match`` false (the ETag matches): 304 on a read, 412 on a copy. When it is given,
   ``If-Modified-Since`` is not looked at (so If-None-Match false + If-Modified-Since true is 304);
4. otherwise ``If-Modified-Since`` false (not changed since): 304 on a read, 412 on a copy.

ETags compare strongly, quoted or not (``"abc"``, ``abc`` and ``W/"abc"`` name the same one);
``*`` matches any object. Dates are HTTP dates compared to the second (HTTP's resolution); a
date that does not parse is ignored, as RFC 9110 says and S3 does. A 304 carries the object's
ETag and Last-Modified and no body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.request_headers import RequestHeaders

# The request headers of each kind of condition.
READ_HEADERS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
COPY_HEADERS = (
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
)


@dataclass(frozen=True)
class Preconditions:
    """The conditions of one request; ``names`` are the header names they came from (for
    messages and S3's ``<Condition>``)."""

    if_match: tuple[str, ...] | None = None
    if_none_match: tuple[str, ...] | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    names: tuple[str, str, str, str] = READ_HEADERS
    copy: bool = False

    @property
    def given(self) -> bool:
        return not (
            self.if_match is None
            and self.if_none_match is None
            and self.if_modified_since is None
            and self.if_unmodified_since is None
        )

    def check(self, etag: str, modified: datetime | None) -> None:
        """Raise ``PreconditionFailed`` (412) or ``NotModified`` (304) for an object with this
        ETag and last change; return when the request goes ahead."""
        tag = bare_etag(etag)
        when = _to_second(modified) if modified is not None else None
        if self.if_match is not None:
            if not _matches(self.if_match, tag):
                raise self._failed(self.names[0])
        elif self.if_unmodified_since is not None and when is not None and when > self.if_unmodified_since:
            raise self._failed(self.names[3])
        if self.if_none_match is not None:
            if _matches(self.if_none_match, tag):
                raise self._not_modified(self.names[1], etag, modified)
        elif self.if_modified_since is not None and when is not None and when <= self.if_modified_since:
            raise self._not_modified(self.names[2], etag, modified)

    def _failed(self, header: str) -> S3Error:
        shown = _shown(header)
        return S3Error(
            "PreconditionFailed",
            f"At least one of the pre-conditions you specified did not hold: {shown}",
            details=[("Condition", shown)],
        )

    def _not_modified(self, header: str, etag: str, modified: datetime | None) -> S3Error:
        if self.copy:  # a copy has no cached copy to keep: its conditions only fail
            return self._failed(header)
        headers = {"ETag": etag}
        if modified is not None:
            headers["Last-Modified"] = http_date(modified)
        return S3Error("NotModified", headers=headers)


def read_conditions(headers: Mapping[str, str]) -> Preconditions:
    """GetObject's and HeadObject's conditions."""
    return _parse(headers, READ_HEADERS, copy=False)


def copy_source_conditions(headers: Mapping[str, str]) -> Preconditions:
    """CopyObject's conditions on its source (each failure is 412)."""
    return _parse(headers, COPY_HEADERS, copy=True)


# Each set of condition headers as RequestHeaders.fields holds them (lower case, bytes).
_ENCODED = {
    names: frozenset(name.lower().encode("latin-1") for name in names)
    for names in (READ_HEADERS, COPY_HEADERS)
}
# Most requests carry no condition: one shared answer for them (Preconditions is immutable).
_NONE = {
    (names, copy): Preconditions(None, None, None, None, names=names, copy=copy)
    for names in (READ_HEADERS, COPY_HEADERS)
    for copy in (False, True)
}


def _parse(headers: Mapping[str, str], names: tuple[str, str, str, str], *, copy: bool) -> Preconditions:
    if isinstance(headers, RequestHeaders) and headers.fields.keys().isdisjoint(_ENCODED[names]):
        return _NONE[names, copy]  # none of them: one look at the index of the request's headers
    match, none_match, modified_since, unmodified_since = (headers.get(name) for name in names)
    if match is None and none_match is None and modified_since is None and unmodified_since is None:
        return _NONE[names, copy]
    return Preconditions(
        if_match=etag_list(match),
        if_none_match=etag_list(none_match),
        if_modified_since=_date(modified_since),
        if_unmodified_since=_date(unmodified_since),
        names=names,
        copy=copy,
    )


def bare_etag(etag: str) -> str:
    """An ETag without its weak mark and quotes: what two ETags are compared by."""
    text = etag.strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def etag_list(value: str | None) -> tuple[str, ...] | None:
    """The ETags of an If-Match or If-None-Match header, bare (``*`` kept); None when absent."""
    if value is None:
        return None
    found = tuple(bare_etag(part) for part in value.split(",") if part.strip())
    return found or None


def _matches(wanted: tuple[str, ...], etag: str) -> bool:
    return "*" in wanted or etag in wanted


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None  # not an HTTP date: ignored, as RFC 9110 says
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _to_second(when: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: datetime) -> str:
    """``Wed, 21 Oct 2015 07:28:00 GMT``: Last-Modified as HTTP writes it (RFC 9110's IMF-fixdate,
    English names whatever the locale). Written out here: ``email.utils.format_datetime`` cost a
    twentieth of a cached HEAD's CPU in the gateway."""
    at = when.astimezone(UTC)
    return (
        f"{_DAYS[at.weekday()]}, {at.day:02d} {_MONTHS[at.month - 1]} {at.year:04d} "
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d} GMT"
    )


def _shown(header: str) -> str:
    """A header's name as S3 spells it in ``<Condition>`` (``If-Match``, ``x-amz-copy-source-If-Match``)."""
    prefix = "x-amz-copy-source-" if header.startswith("x-amz-copy-source-") else ""
    rest = header[len(prefix) :]
    return prefix + "-".join(word.capitalize() for word in rest.split("-"))
