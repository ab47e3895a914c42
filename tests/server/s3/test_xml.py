"""S3's XML: every answer the gateway renders, read back by botocore's own response parser with
S3's service model; request bodies as botocore's own serializer writes them, parsed; and the
hostile documents (entity bombs, external entities and DTDs, deep nesting, huge bodies)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from lxml import etree

from tests.server.s3.conftest import KEY_ID, SECRET
from tests.server.s3.endpoint import S3Endpoint
from tierstore.server.s3 import xml
from tierstore.server.s3.errors import S3Error

MODEL = botocore.session.get_session().get_service_model("s3")
WHEN = dt.datetime(2024, 5, 1, 12, 30, 45, 678000, tzinfo=dt.UTC)
OWNER = xml.Owner("owner-id", "alice & bob")
AWKWARD = "dir/a&b<c>d\"e'f\rg\x01h ü.txt"
READABLE = AWKWARD.replace("\x01", "")


def parsed(operation: str, body: bytes) -> dict[str, Any]:
    """What botocore makes of ``body`` as the answer to ``operation``."""
    shape = MODEL.operation_model(operation).output_shape
    answer: dict[str, Any] = create_parser("rest-xml").parse(
        {"status_code": 200, "headers": {}, "body": body}, shape
    )
    answer.pop("ResponseMetadata", None)
    return answer


def serialized(operation: str, params: dict[str, Any]) -> bytes:
    """A request body as botocore writes it for ``operation``."""
    request = create_serializer("rest-xml").serialize_to_request(params, MODEL.operation_model(operation))
    body = request["body"]
    assert isinstance(body, bytes)
    return body


def refused(code: str) -> pytest.RaisesExc[S3Error]:
    return pytest.raises(S3Error, match=f"^{code}:")


# Rendering, read back by botocore.


def test_list_buckets() -> None:
    body = xml.list_buckets(OWNER, [xml.Bucket("data", WHEN), xml.Bucket("logs", WHEN)], region="us-east-1")
    answer = parsed("ListBuckets", body)
    assert answer["Owner"] == {"ID": "owner-id", "DisplayName": "alice & bob"}
    assert [bucket["Name"] for bucket in answer["Buckets"]] == ["data", "logs"]
    assert answer["Buckets"][0]["CreationDate"] == WHEN
    assert answer["Buckets"][0]["BucketRegion"] == "us-east-1"


def listing(**changes: Any) -> xml.Listing:
    fields: dict[str, Any] = {
        "bucket": "data",
        "prefix": "dir/",
        "delimiter": "/",
        "max_keys": 2,
        "is_truncated": True,
        "contents": [
            xml.ObjectEntry("dir/a.txt", WHEN, "0123456789abcdef0123456789abcdef", 5, owner=OWNER),
            xml.ObjectEntry(READABLE, WHEN, '"fedcba9876543210fedcba9876543210-3"', 10, owner=OWNER),
        ],
        "common_prefixes": ["dir/sub/", "dir/ü &/"],
    }
    fields.update(changes)
    return xml.Listing(**fields)


def test_list_objects_v2() -> None:
    page = listing(contents=listing().contents[:1])
    body = xml.list_objects_v2(
        page, continuation_token="t1", next_continuation_token="t2", start_after="dir/0"
    )
    answer = parsed("ListObjectsV2", body)
    assert answer["Name"] == "data" and answer["Prefix"] == "dir/" and answer["Delimiter"] == "/"
    assert answer["KeyCount"] == 3 and answer["MaxKeys"] == 2 and answer["IsTruncated"] is True
    assert answer["ContinuationToken"] == "t1" and answer["NextContinuationToken"] == "t2"
    assert answer["StartAfter"] == "dir/0"
    (entry,) = answer["Contents"]
    assert entry["Key"] == "dir/a.txt" and entry["Size"] == 5 and entry["StorageClass"] == "STANDARD"
    assert entry["ETag"] == '"0123456789abcdef0123456789abcdef"'
    assert entry["LastModified"] == WHEN
    assert "Owner" not in entry  # only with fetch-owner
    assert [common["Prefix"] for common in answer["CommonPrefixes"]] == ["dir/sub/", "dir/ü &/"]
    owned = parsed("ListObjectsV2", xml.list_objects_v2(page, fetch_owner=True))
    assert owned["Contents"][0]["Owner"] == {"ID": "owner-id", "DisplayName": "alice & bob"}
    assert "NextContinuationToken" not in parsed(
        "ListObjectsV2", xml.list_objects_v2(listing(is_truncated=False))
    )


def test_list_objects_v1() -> None:
    answer = parsed(
        "ListObjects", xml.list_objects_v1(listing(contents=[]), marker="dir/0", next_marker="dir/b")
    )
    assert answer["Marker"] == "dir/0" and answer["NextMarker"] == "dir/b" and answer["IsTruncated"] is True
    # Without a delimiter S3 sends no NextMarker: clients continue from the last key.
    plain = parsed("ListObjects", xml.list_objects_v1(listing(delimiter=None), next_marker="dir/b"))
    assert "NextMarker" not in plain
    assert plain["Contents"][0]["Owner"]["ID"] == "owner-id"


def test_keys_that_need_escaping_are_read_back_exactly() -> None:
    # Every character but the C0 control survives XML; the control needs encoding-type=url.
    page = listing(contents=[xml.ObjectEntry(READABLE, WHEN, "e", 1)], common_prefixes=[])
    assert parsed("ListObjectsV2", xml.list_objects_v2(page))["Contents"][0]["Key"] == READABLE
    with_control = listing(contents=[xml.ObjectEntry(AWKWARD, WHEN, "e", 1)])
    assert b"g&#1;h" in xml.list_objects_v2(with_control)


def test_encoding_type_url_through_a_real_client(endpoint: S3Endpoint) -> None:
    # botocore asks for encoding-type=url on every listing and decodes what comes back.
    client = endpoint.client(KEY_ID, SECRET)
    keys = [AWKWARD, "dir/plus+and space", "dir/sub/x", "dir/percent%41"]
    for key in keys:
        endpoint.objects["data", key] = b"x"
    answer = client.list_objects_v2(Bucket="data", Prefix="dir/", Delimiter="/")
    assert "encoding-type=url" in endpoint.seen[-1].query
    assert sorted(entry["Key"] for entry in answer["Contents"]) == sorted(k for k in keys if "/sub/" not in k)
    assert [common["Prefix"] for common in answer["CommonPrefixes"]] == ["dir/sub/"]
    assert answer["Prefix"] == "dir/" and answer["Delimiter"] == "/"


def test_url_encoding_of_every_name_botocore_decodes() -> None:
    page = listing(
        prefix="dir/ä b+", delimiter="/", url_encoded=True, contents=[xml.ObjectEntry(AWKWARD, WHEN, "e", 1)]
    )
    body = xml.list_objects_v2(page, start_after="dir/ä b+0").decode()
    assert (
        "<Prefix>dir/%C3%A4%20b%2B</Prefix>" in body and "<StartAfter>dir/%C3%A4%20b%2B0</StartAfter>" in body
    )
    assert "<Key>dir/a%26b%3Cc%3Ed%22e%27f%0Dg%01h%20%C3%BC.txt</Key>" in body
    assert "<EncodingType>url</EncodingType>" in body
    v1 = xml.list_objects_v1(page, marker="m a", next_marker="n b").decode()
    assert "<Marker>m%20a</Marker>" in v1 and "<NextMarker>n%20b</NextMarker>" in v1
    # Version 1 gives its Prefix back as sent (botocore decodes it only in V2 and versions).
    assert "<Prefix>dir/ä b+</Prefix>" in v1
    versions = xml.list_object_versions(page, key_marker="k m", next_key_marker="n k").decode()
    assert all(
        part in versions
        for part in (
            "<Prefix>dir/%C3%A4%20b%2B</Prefix>",
            "<KeyMarker>k%20m</KeyMarker>",
            "<Delimiter>/</Delimiter>",
        )
    )
    assert "<Key>dir/a%26b%3Cc%3Ed%22e%27f%0Dg%01h%20%C3%BC.txt</Key><VersionId>null</VersionId>" in versions
    uploads = xml.list_multipart_uploads(
        "data", [], prefix="p q", key_marker="k m", next_key_marker="n k", delimiter="/", url_encoded=True
    ).decode()
    assert all(
        part in uploads for part in ("<Prefix>p%20q</Prefix>", "<KeyMarker>k%20m</KeyMarker>", "n%20k")
    )


def test_multipart_answers() -> None:
    started = parsed("CreateMultipartUpload", xml.initiate_multipart_upload("data", AWKWARD[:-8], "up&1"))
    assert started == {"Bucket": "data", "Key": AWKWARD[:-8], "UploadId": "up&1"}
    done = parsed(
        "CompleteMultipartUpload",
        xml.complete_multipart_upload(
            "http://h/data/k", "data", "k", "abc-2", checksums=[("ChecksumCRC32", "AAAAAA==")]
        ),
    )
    assert (
        done["ETag"] == '"abc-2"'
        and done["Location"] == "http://h/data/k"
        and done["ChecksumCRC32"] == "AAAAAA=="
    )
    parts = parsed(
        "ListParts",
        xml.list_parts(
            "data",
            "k",
            "u1",
            [xml.Part(1, WHEN, "e1", 5 * 2**20), xml.Part(2, WHEN, "e2", 7)],
            owner=OWNER,
            part_number_marker=0,
            next_part_number_marker=2,
            max_parts=2,
            is_truncated=True,
        ),
    )
    assert [(part["PartNumber"], part["ETag"], part["Size"]) for part in parts["Parts"]] == [
        (1, '"e1"', 5 * 2**20),
        (2, '"e2"', 7),
    ]
    assert parts["NextPartNumberMarker"] == 2 and parts["IsTruncated"] is True
    assert parts["Initiator"]["ID"] == "owner-id" and parts["UploadId"] == "u1"
    uploads = parsed(
        "ListMultipartUploads",
        xml.list_multipart_uploads(
            "data",
            [xml.Upload("k1", "u1", WHEN, OWNER), xml.Upload("k2", "u2", WHEN, OWNER)],
            max_uploads=2,
            is_truncated=True,
            next_key_marker="k2",
            next_upload_id_marker="u2",
            common_prefixes=["dir/"],
        ),
    )
    assert [(upload["Key"], upload["UploadId"]) for upload in uploads["Uploads"]] == [
        ("k1", "u1"),
        ("k2", "u2"),
    ]
    assert uploads["Uploads"][0]["Initiated"] == WHEN
    assert uploads["NextKeyMarker"] == "k2" and uploads["CommonPrefixes"] == [{"Prefix": "dir/"}]


def test_copy_answers() -> None:
    copied = parsed("CopyObject", xml.copy_object_result("abc", WHEN))
    assert copied["CopyObjectResult"] == {"ETag": '"abc"', "LastModified": WHEN}
    part = parsed("UploadPartCopy", xml.copy_object_result("def", WHEN, part=True))
    assert part["CopyPartResult"] == {"ETag": '"def"', "LastModified": WHEN}


def test_delete_result_and_its_quiet_mode() -> None:
    outcomes = [
        xml.DeleteOutcome("gone"),
        xml.DeleteOutcome("a&b", version_id="v1"),
        xml.DeleteOutcome("kept", code="AccessDenied", message="Access <Denied>"),
    ]
    answer = parsed("DeleteObjects", xml.delete_result(outcomes))
    assert answer["Deleted"] == [{"Key": "gone"}, {"Key": "a&b", "VersionId": "v1"}]
    assert answer["Errors"] == [{"Key": "kept", "Code": "AccessDenied", "Message": "Access <Denied>"}]
    quiet = parsed("DeleteObjects", xml.delete_result(outcomes, quiet=True))
    assert "Deleted" not in quiet and len(quiet["Errors"]) == 1


def test_location_constraint() -> None:
    for region, expected in (("us-east-1", None), ("eu-west-1", "eu-west-1")):
        root = etree.fromstring(xml.location_constraint(region))
        assert root.tag == f"{{{xml.NAMESPACE}}}LocationConstraint" and root.text == expected


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert xml.timestamp(WHEN) == "2024-05-01T12:30:45.678Z"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert xml.timestamp(dt.datetime(2024, 5, 1, 14, 30, 45, tzinfo=plus_two)) == "2024-05-01T12:30:45.000Z"


# Request bodies, as botocore writes them.


def test_delete_as_botocore_writes_it() -> None:
    # (botocore writes a carriage return in a key raw, which any XML parser reads as a line feed.)
    objects = [{"Key": READABLE.replace("\r", "")}, {"Key": "b", "VersionId": "v&1"}]
    request = xml.parse_delete(
        serialized("DeleteObjects", {"Bucket": "d", "Delete": {"Objects": objects, "Quiet": True}})
    )
    assert request.quiet is True
    assert request.objects == (xml.ObjectToDelete(objects[0]["Key"]), xml.ObjectToDelete("b", "v&1"))
    loud = xml.parse_delete(serialized("DeleteObjects", {"Bucket": "d", "Delete": {"Objects": objects[:1]}}))
    assert loud.quiet is False


def test_complete_multipart_upload_as_botocore_writes_it() -> None:
    parts = [
        {"PartNumber": 1, "ETag": '"e1"', "ChecksumCRC32": "AAAAAA=="},
        {"PartNumber": 3, "ETag": '"e3-2"'},
    ]
    body = serialized(
        "CompleteMultipartUpload",
        {"Bucket": "d", "Key": "k", "UploadId": "u", "MultipartUpload": {"Parts": parts}},
    )
    assert xml.parse_complete_multipart_upload(body) == [
        xml.CompletedPart(1, "e1", {"ChecksumCRC32": "AAAAAA=="}),
        xml.CompletedPart(3, "e3-2", {}),
    ]


def one_part(inner: str) -> bytes:
    return f"<CompleteMultipartUpload><Part>{inner}</Part></CompleteMultipartUpload>".encode()


def complete(*parts: tuple[str, str]) -> bytes:
    inner = "".join(
        f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>" for number, etag in parts
    )
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (complete(("2", "a"), ("1", "b")), "InvalidPartOrder", "part 1 follows part 2"),
        (complete(("1", "a"), ("1", "b")), "InvalidPartOrder", "part 1 follows part 1"),
        (complete(("0", "a")), "MalformedXML", "not a number from 1 to 10000"),
        (complete(("10001", "a")), "MalformedXML", "not a number from 1 to 10000"),
        (complete(("\uff11", "a")), "MalformedXML", "not a number"),
        (complete(("1", "")), "MalformedXML", "has no ETag"),
        (b"<CompleteMultipartUpload/>", "MalformedXML", "at least one part"),
        (one_part("<ETag>a</ETag>"), "MalformedXML", "no PartNumber"),
        (
            one_part("<PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>a</ETag>"),
            "MalformedXML",
            "more than one",
        ),
        (
            one_part("<PartNumber>1</PartNumber><ETag>a</ETag><Size>1</Size>"),
            "MalformedXML",
            "may not hold 'Size'",
        ),
        (
            b"<CompleteMultipartUpload xmlns='urn:other'><Part/></CompleteMultipartUpload>",
            "MalformedXML",
            "namespace",
        ),
        (b"<Delete><Object><Key>k</Key></Object></Delete>", "MalformedXML", "root element is 'Delete'"),
        (b"<CompleteMultipartUpload>", "MalformedXML", "not well-formed"),
        (b"", "MalformedXML", "empty"),
        (b"<CompleteMultipartUpload>text<Part/></CompleteMultipartUpload>", "MalformedXML", "text outside"),
    ],
)
def test_complete_multipart_upload_refusals(body: bytes, code: str, words: str) -> None:
    with refused(code) as caught:
        xml.parse_complete_multipart_upload(body)
    assert words in caught.value.message or (
        words == "not well-formed" and "well-formed" in caught.value.message
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<Delete><Quiet>true</Quiet></Delete>", "at least one Object"),
        (b"<Delete><Object><VersionId>v</VersionId></Object></Delete>", "no Key"),
        (b"<Delete><Object><Key></Key></Object></Delete>", "no Key"),
        (b"<Delete><Object><Key>a</Key></Object><Quiet>yes</Quiet></Delete>", "not true or false"),
        (b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>", "more than one Key"),
        (b"<Delete><Object><Key><b>a</b></Key></Object></Delete>", "holds elements"),
        (b"<Delete><Thing/></Delete>", "may not hold 'Thing'"),
        (b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>", "at most 1000"),
    ],
)
def test_delete_refusals(body: bytes, words: str) -> None:
    with refused("MalformedXML") as caught:
        xml.parse_delete(body)
    assert words in caught.value.message


def test_a_thousand_keys_is_the_most_a_delete_names() -> None:
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1000 + b"</Delete>"
    assert len(xml.parse_delete(body).objects) == 1000


# Hostile documents.

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Delete><Object><Key>&lol9;</Key></Object></Delete>"""


def test_an_entity_bomb_is_refused_at_once() -> None:
    started = time.monotonic()
    with refused("MalformedXML"):
        xml.parse_delete(BILLION_LAUGHS)
    assert time.monotonic() - started < 1


def test_an_external_entity_is_never_read(tmp_path: Any) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("root:the-secret-line")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'
        "<Delete><Object><Key>&xxe;</Key></Object></Delete>"
    ).encode()
    with refused("MalformedXML") as caught:
        xml.parse_delete(body)
    assert "the-secret-line" not in caught.value.message


def test_an_external_dtd_is_never_fetched() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE Delete SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
        "<Delete><Object><Key>k</Key></Object></Delete>"
    ).encode()
    try:
        with refused("MalformedXML"):
            xml.parse_delete(body)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize(
    "declaration",
    [
        '<!DOCTYPE Delete SYSTEM "file://{fifo}">',
        '<!DOCTYPE Delete [<!ENTITY % p SYSTEM "file://{fifo}"> %p;]>',
        '<!DOCTYPE Delete [<!ENTITY x SYSTEM "file://{fifo}">]>',
    ],
)
def test_no_local_file_is_ever_opened(tmp_path: Any, declaration: str) -> None:
    # Opening a FIFO for reading blocks until a writer comes: a parser that opened it would hang.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    prolog = f'<?xml version="1.0"?>{declaration.format(fifo=fifo)}'
    body = prolog + "<Delete><Object><Key>&x;</Key></Object></Delete>"
    outcome: list[BaseException] = []

    def parse() -> None:
        try:
            xml.parse_delete(body.encode())
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(fifo, "wb"):  # let the stuck parser go
            pass
        pytest.fail("the parser opened a file named by the document")
    assert isinstance(outcome[0], S3Error) and outcome[0].code == "MalformedXML"


def test_an_undeclared_entity_is_refused() -> None:
    with refused("MalformedXML"):
        xml.parse_delete(b"<Delete><Object><Key>&undefined;</Key></Object></Delete>")


def test_deep_nesting_is_refused_quickly() -> None:
    body = b"<Delete><Object><Key>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</Key></Object></Delete>"
    started = time.monotonic()
    with refused("MalformedXML"):
        xml.parse_delete(body)
    assert time.monotonic() - started < 2


def test_bodies_over_the_cap_are_refused_before_parsing() -> None:
    with refused("MalformedXML") as caught:
        xml.parse_delete(b" " * (xml.MAX_DELETE_BODY + 1))
    assert str(xml.MAX_DELETE_BODY) in caught.value.message


def test_read_capped_stops_at_the_cap() -> None:
    taken = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal taken
        while True:
            taken += 65536
            yield b"<" * 65536

    async def run() -> bytes:
        return await xml.read_capped(endless(), 1_000_000, "Delete")

    with refused("MalformedXML") as caught:
        anyio.run(run)
    assert "larger than 1000000 bytes" in caught.value.message
    assert taken <= 1_000_000 + 65536


def test_comments_and_processing_instructions_are_ignored() -> None:
    body = b"<?xml version='1.0'?><!-- c --><Delete><?pi x?><Object><!-- c --><Key>k</Key></Object></Delete>"
    assert xml.parse_delete(body).objects == (xml.ObjectToDelete("k"),)


def test_the_renderers_write_well_formed_xml() -> None:
    documents = [
        xml.list_buckets(OWNER, [xml.Bucket("a&b", WHEN)]),
        xml.list_objects_v2(listing(contents=[xml.ObjectEntry("a<b>&", WHEN, "e", 1)])),
        xml.list_objects_v1(listing(contents=[])),
        xml.list_parts("b", "k&", "u", [], owner=OWNER),
        xml.list_multipart_uploads("b", [xml.Upload("k<", "u", WHEN, OWNER)]),
        xml.delete_result([xml.DeleteOutcome("k&", code="AccessDenied", message="m<")]),
    ]
    for document in documents:
        assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        etree.fromstring(document)
