"""Reading a ListObjectsV2 answer (tierstore.storage.s3.list_xml): the column reader (XPath) and
the entry-by-entry reader give the same page, and a page the columns cannot line up is read
entry by entry. Pages from SeaweedFS itself are read in tests/storage/test_listing.py; these
are the shapes other stores answer in (no namespace, url-encoded keys, fields left empty)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from tierstore.storage.s3.list_xml import MalformedAnswerError, _by_columns, _by_entries, parse_list_answer

S3 = "http://s3.amazonaws.com/doc/2006-03-01/"


def answer(entries: str, *, namespace: bool = True, tail: str = "") -> bytes:
    xmlns = f' xmlns="{S3}"' if namespace else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult{xmlns}><Name>b</Name>'
        f"<Prefix>base/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>{entries}{tail}</ListBucketResult>"
    ).encode()


def contents(
    key: str, size: str = "3", etag: str = "&quot;e1&quot;", date: str = "2026-12-07T08:00:00.000Z"
) -> str:
    return (
        f"<Contents><Key>{key}</Key><LastModified>{date}</LastModified><ETag>{etag}</ETag>"
        f"<Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
    )


PAGE = (
    contents("base/a+b%2Bc")
    + contents("base/d", size="0")
    + "<CommonPrefixes><Prefix>base/sub%20dir/</Prefix></CommonPrefixes>"
    + "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/en=</NextContinuationToken>"
)


def both_readers(body: bytes) -> tuple[object, object]:
    root = etree.fromstring(body)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    return _by_columns(root, namespace), _by_entries(root, namespace)


@pytest.mark.parametrize("namespace", [True, False])
def test_the_column_reader_gives_what_the_entry_reader_gives(namespace: bool) -> None:
    body = answer(PAGE, namespace=namespace, tail="<EncodingType>url</EncodingType>")
    by_columns, by_entries = both_readers(body)
    assert by_columns is not None and by_columns == by_entries
    page = parse_list_answer(body, cut=len("base/"))
    when = datetime(2026, 12, 7, 8, tzinfo=UTC)
    assert [(info.key, info.size, info.etag, info.last_modified) for info in page.objects] == [
        ("a b+c", 3, '"e1"', when),  # url-decoded as botocore decodes: + a space, %2B a plus
        ("d", 0, '"e1"', when),
    ]
    assert page.prefixes == ["sub dir/"]
    assert (page.truncated, page.next_token) == (True, "tok/en=")


def test_an_empty_page_and_a_last_page() -> None:
    body = answer("<IsTruncated>false</IsTruncated>")
    by_columns, by_entries = both_readers(body)
    assert by_columns == by_entries == ([], [], False, None, False)


def test_fields_that_do_not_line_up_are_read_entry_by_entry() -> None:
    # An empty ETag has no text for the column to hold: the entry reader reads the page.
    body = answer(contents("base/x", etag="") + contents("base/y") + "<IsTruncated>false</IsTruncated>")
    by_columns, _ = both_readers(body)
    assert by_columns is None
    page = parse_list_answer(body, cut=len("base/"))
    assert [(info.key, info.etag) for info in page.objects] == [("x", None), ("y", '"e1"')]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("<Contents><Key>base/x</Key><ETag>e</ETag></Contents>", "no <Key> or no <Size>"),
        (contents("base/x", size="three"), "'base/x' has a bad size or date"),
        (contents("base/x", date="yesterday"), "'base/x' has a bad size or date"),
    ],
)
def test_a_broken_entry_is_named(entry: str, says: str) -> None:
    with pytest.raises(MalformedAnswerError, match=says):
        parse_list_answer(answer(entry))
