"""S3's errors: each code's status as S3 documents it, the XML document as botocore reads it, and
what a real botocore client retries (only what S3 clients should)."""

from __future__ import annotations

import os
import re

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from lxml import etree

from tests.server.s3.conftest import KEY_ID, SECRET
from tests.server.s3.endpoint import S3Endpoint
from tierstore.server.s3.errors import ERRORS, RETRYABLE, S3Error, new_request_id

# From "Error responses", Amazon S3 API Reference (the codes the gateway answers).
S3_STATUS = {
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "MissingSecurityHeader": 400,
    "InvalidRequest": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "EntityTooSmall": 400,
    "EntityTooLarge": 400,
    "InvalidRange": 416,
    "PreconditionFailed": 412,
    "NotModified": 304,
    "MalformedXML": 400,
    "InvalidArgument": 400,
    "InvalidDigest": 400,
    "BadDigest": 400,
    "BucketNotEmpty": 409,
    "BucketAlreadyOwnedByYou": 409,
    "InvalidBucketName": 400,
    "KeyTooLongError": 400,
    "MetadataTooLarge": 400,
    "NotImplemented": 501,
    "MethodNotAllowed": 405,
    "InternalError": 500,
    "SlowDown": 503,
    "XAmzContentSHA256Mismatch": 400,
    "IncompleteBody": 400,
    "RequestTimeout": 400,
    "MalformedTrailerError": 400,
    "InvalidChunkSizeError": 403,
    "InvalidURI": 400,
    "MissingContentLength": 411,
    "ServiceUnavailable": 503,
    "BucketAlreadyExists": 409,
    "InvalidPartNumber": 416,
}
MODEL = botocore.session.get_session().get_service_model("s3")


def test_every_code_has_s3s_status() -> None:
    assert {code: kind.status for code, kind in ERRORS.items()} == S3_STATUS


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an S3 error code"):
        S3Error("NoSuchThing")


def test_the_document_as_botocore_reads_it() -> None:
    error = S3Error(
        "NoSuchKey",
        "The key <a & b> is not there",
        resource="/data/a & b",
        details=[("Key", "a & b"), ("BucketName", "data")],
    )
    request_id = new_request_id()
    assert re.fullmatch("[0-9A-F]{16}", request_id)
    body = error.document(request_id)
    root = etree.fromstring(body)
    assert [child.tag for child in root] == ["Code", "Message", "Key", "BucketName", "Resource", "RequestId"]
    shape = MODEL.operation_model("GetObject").output_shape
    parsed = create_parser("rest-xml").parse(
        {"status_code": 404, "headers": {"x-amz-request-id": request_id}, "body": body}, shape
    )
    assert parsed["Error"] == {
        "Code": "NoSuchKey",
        "Message": "The key <a & b> is not there",
        "Key": "a & b",
        "BucketName": "data",
        "Resource": "/data/a & b",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == request_id


def test_the_answer_carries_status_request_id_and_headers() -> None:
    error = S3Error("SlowDown", headers={"Retry-After": "1"})
    answer = error.response("ABC")
    assert answer.status_code == 503
    assert answer.headers["x-amz-request-id"] == "ABC" and answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/xml"
    assert b"<Code>SlowDown</Code>" in answer.body
    assert "connection" not in answer.headers
    assert S3Error("AccessDenied").response("ABC", close=True).headers["connection"] == "close"


def test_head_answers_and_not_modified_have_no_body() -> None:
    assert S3Error("NoSuchKey").response("ABC", head=True).body == b""
    not_modified = S3Error("NotModified").response("ABC")
    assert not_modified.status_code == 304 and not_modified.body == b""


def test_the_default_message_is_s3s_and_a_message_may_say_more() -> None:
    assert S3Error("NoSuchBucket").message == "The specified bucket does not exist."
    assert S3Error("NoSuchBucket", "No bucket named 'x'.").message == "No bucket named 'x'."
    assert S3Error("NoSuchBucket").with_resource("/x").resource == "/x"
    assert S3Error("NoSuchBucket", resource="/y").with_resource("/x").resource == "/y"


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_botocore_retries_only_what_it_should(endpoint: S3Endpoint, code: str) -> None:
    client = endpoint.client(KEY_ID, SECRET, retries={"mode": "standard", "total_max_attempts": 2})
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket="fail", Key=code)
    attempts = sum(1 for seen in endpoint.seen if seen.path == f"/fail/{code}")
    assert attempts == (2 if code in RETRYABLE else 1), attempts
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == ERRORS[code].status
    if ERRORS[code].status != 304:
        assert caught.value.response["Error"]["Code"] == code
        assert caught.value.response["Error"]["Message"] == ERRORS[code].message


def test_a_head_error_reaches_botocore_by_its_status(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket="data", Key="missing")
    assert caught.value.response["Error"]["Code"] == "404"
    assert caught.value.response["ResponseMetadata"]["RequestId"]


def test_request_ids_do_not_repeat_within_a_process_or_across_forked_workers() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(re.fullmatch("[0-9A-F]{16}", found) for found in ids)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # a worker forked from this process
        os.write(writer, new_request_id().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    forked = os.read(reader, 64).decode()
    os.close(reader)
    assert re.fullmatch("[0-9A-F]{16}", forked) and forked[:8] != ids[-1][:8]
