"""A request's header fields indexed once (``RequestHeaders``): read as Starlette's ``Headers``
reads them (a name's first value, any case), every field kept for what needs them all."""

from __future__ import annotations

import pytest

from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.handlers.headers import requested_attributes
from tierstore.server.s3.request_headers import RequestHeaders
from tierstore.server.s3.unsupported import check_headers

RAW = [
    (b"host", b"127.0.0.1:9871"),
    (b"x-amz-meta-tag", b"one"),
    (b"Content-Type", b"text/plain"),
    (b"x-amz-meta-tag", b" two "),
    (b"x-amz-date", b"20261207T000000Z"),
]


def test_a_names_first_value_in_any_case_and_every_field_in_order() -> None:
    headers = RequestHeaders(RAW)
    assert headers.get("content-type") == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert headers.get("x-amz-meta-tag") == "one"
    assert headers.get("range") is None and headers.get("range", "bytes=0-") == "bytes=0-"
    assert "X-Amz-Date" in headers and "range" not in headers and 1 not in headers
    assert list(headers) == ["host", "x-amz-meta-tag", "content-type", "x-amz-date"]
    assert len(headers) == 4
    assert headers.fields[b"x-amz-meta-tag"] == [b"one", b" two "]
    assert headers.raw[3] == (b"x-amz-meta-tag", b" two ")


def test_repeated_metadata_is_joined_and_refused_features_are_found_in_any_field() -> None:
    attributes = requested_attributes(RequestHeaders(RAW))
    assert attributes.metadata == {"tag": "one,two"}
    assert attributes.content_type == "text/plain"
    check_headers(RAW)  # nothing refused
    with pytest.raises(S3Error, match="x-amz-grant-read") as refused:
        check_headers([*RAW, (b"X-Amz-Grant-Read", b"uri=everyone")])
    assert refused.value.code == "NotImplemented"
