"""Signature Version 4 verification: AWS's published examples, and requests signed by botocore
itself (header and presigned forms) sent over HTTP to a small endpoint built on the verifier,
with each refusal answered by the S3 error a client expects."""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from urllib.parse import urlsplit

import botocore
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server.s3.conftest import KEY_ID, SECRET
from tests.server.s3.endpoint import S3Endpoint
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.signing import SigningKeys
from tierstore.server.s3.sigv4 import Payload, RequestParts, SigV4Verifier
from tierstore.settings.secret import Secret

# AWS's examples: "Signature Calculations for the Authorization Header: Transferring Payload in
# a Single Chunk" and "Authenticating Requests: Using Query Parameters", S3 API Reference.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_NOW = float(calendar.timegm((2013, 5, 24, 0, 0, 0, 0, 0, 0)))
AWS_HOST = b"examplebucket.s3.amazonaws.com"
EMPTY = hashlib.sha256(b"").hexdigest().encode()
WELCOME = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest().encode()

AWS_EXAMPLES = {
    "GET Object": (
        "GET",
        b"/test.txt",
        b"",
        [(b"range", b"bytes=0-9"), (b"x-amz-content-sha256", EMPTY)],
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    "PUT Object": (
        "PUT",
        b"/test%24file.text",
        b"",
        [
            (b"date", b"Fri, 24 May 2013 00:00:00 GMT"),
            (b"x-amz-storage-class", b"REDUCED_REDUNDANCY"),
            (b"x-amz-content-sha256", WELCOME),
        ],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    "GET Bucket lifecycle": (
        "GET",
        b"/",
        b"lifecycle",
        [(b"x-amz-content-sha256", EMPTY)],
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    "GET Bucket (List Objects)": (
        "GET",
        b"/",
        b"max-keys=2&prefix=J",
        [(b"x-amz-content-sha256", EMPTY)],
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
}
AWS_PRESIGNED = (
    b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
    b"aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
    b"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def aws_verifier(now: float = AWS_NOW, region: str | None = "us-east-1") -> SigV4Verifier:
    return SigV4Verifier(
        lambda key: Secret(AWS_SECRET) if key == AWS_KEY_ID else None, region=region, clock=lambda: now
    )


def aws_request(name: str, *, signature: str | None = None) -> RequestParts:
    method, path, query, headers, signed, published = AWS_EXAMPLES[name]
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature or published}"
    )
    fields = [(b"host", AWS_HOST), (b"x-amz-date", b"20130524T000000Z"), *headers]
    return RequestParts(method, path, query, [*fields, (b"authorization", authorization.encode())])


def refusal(code: str) -> pytest.RaisesExc[S3Error]:
    return pytest.raises(S3Error, match=f"^{code}:")


@pytest.mark.parametrize("name", sorted(AWS_EXAMPLES))
def test_awss_published_examples_verify(name: str) -> None:
    auth = aws_verifier().verify(aws_request(name))
    assert auth.access_key_id == AWS_KEY_ID
    assert not auth.presigned
    assert auth.payload is Payload.SHA256


@pytest.mark.parametrize("name", sorted(AWS_EXAMPLES))
def test_the_authorization_headers_components_may_come_in_any_order(name: str) -> None:
    method, path, query, headers, signed, published = AWS_EXAMPLES[name]
    credential = f"Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request"
    fields = [(b"host", AWS_HOST), (b"x-amz-date", b"20130524T000000Z"), *headers]
    for order in (
        f"Signature={published}, {credential}, SignedHeaders={signed}",
        f"SignedHeaders={signed} ,{credential},  Signature={published}",
    ):
        authorization = f"AWS4-HMAC-SHA256 {order}".encode()
        auth = aws_verifier().verify(
            RequestParts(method, path, query, [*fields, (b"authorization", authorization)])
        )
        assert auth.access_key_id == AWS_KEY_ID


@pytest.mark.parametrize("name", sorted(AWS_EXAMPLES))
def test_one_changed_digit_of_a_published_signature_is_refused(name: str) -> None:
    published = AWS_EXAMPLES[name][-1]
    changed = published[:-1] + ("0" if published[-1] != "0" else "1")
    with refusal("SignatureDoesNotMatch") as caught:
        aws_verifier().verify(aws_request(name, signature=changed))
    # S3's answer carries what the server signed, so a client can find where it differs.
    details = dict(caught.value.details)
    assert details["CanonicalRequest"].startswith(AWS_EXAMPLES[name][0] + "\n")
    assert details["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")


def test_awss_published_presigned_url_verifies_until_it_expires() -> None:
    request = RequestParts("GET", b"/test.txt", AWS_PRESIGNED, [(b"host", AWS_HOST)])
    auth = aws_verifier(AWS_NOW + 86400).verify(request)
    assert auth.presigned and auth.payload is Payload.UNSIGNED
    assert auth.expires_at == AWS_NOW + 86400
    with refusal("AccessDenied") as caught:
        aws_verifier(AWS_NOW + 86401).verify(request)
    assert caught.value.message == "Request has expired"
    with refusal("AccessDenied") as early:
        aws_verifier(AWS_NOW - 16 * 60).verify(request)
    assert early.value.message == "Request is not valid yet"


def test_a_presigned_url_for_another_key_or_path_is_refused() -> None:
    other_path = RequestParts("GET", b"/test2.txt", AWS_PRESIGNED, [(b"host", AWS_HOST)])
    with refusal("SignatureDoesNotMatch"):
        aws_verifier().verify(other_path)
    other_host = RequestParts(
        "GET", b"/test.txt", AWS_PRESIGNED, [(b"host", b"otherbucket.s3.amazonaws.com")]
    )
    with refusal("SignatureDoesNotMatch"):
        aws_verifier().verify(other_host)


def test_the_date_header_stands_in_for_x_amz_date() -> None:
    # botocore always sends x-amz-date, so its canonicalization and signing are called here on a
    # request that carries only Date, as older clients send.
    request = AWSRequest(
        method="PUT",
        url="https://examplebucket.s3.amazonaws.com/test%24file.text",
        headers={"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Content-SHA256": WELCOME.decode()},
    )
    request.context["timestamp"] = "20130524T000000Z"
    signer = S3SigV4Auth(Credentials(AWS_KEY_ID, AWS_SECRET), "s3", "us-east-1")
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signature = signer.signature(string_to_sign, request)
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders=date;host;x-amz-content-sha256,Signature={signature}"
    )
    headers = [
        (b"host", AWS_HOST),
        (b"date", b"Fri, 24 May 2013 00:00:00 GMT"),
        (b"x-amz-content-sha256", WELCOME),
        (b"authorization", authorization.encode()),
    ]
    aws_verifier().verify(RequestParts("PUT", b"/test%24file.text", b"", headers))
    with refusal("RequestTimeTooSkewed"):
        aws_verifier(AWS_NOW + 3600).verify(RequestParts("PUT", b"/test%24file.text", b"", headers))


# Requests signed by a real botocore client.


def test_header_auth_with_a_signed_payload(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    client.put_object(Bucket="data", Key="a.txt", Body=b"hello")
    seen = endpoint.seen[-1]
    assert seen.auth is not None and seen.auth.payload is Payload.SHA256
    assert seen.auth.payload_sha256 == hashlib.sha256(b"hello").hexdigest()
    assert client.get_object(Bucket="data", Key="a.txt")["Body"].read() == b"hello"


def test_header_auth_with_an_unsigned_payload(endpoint: S3Endpoint) -> None:
    client = endpoint.client(
        KEY_ID, SECRET, s3={"payload_signing_enabled": False}, request_checksum_calculation="when_required"
    )
    client.put_object(Bucket="data", Key="a.txt", Body=b"hello")
    seen = endpoint.seen[-1]
    assert seen.auth is not None and seen.auth.payload is Payload.UNSIGNED
    assert seen.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert endpoint.objects["data", "a.txt"] == b"hello"


AWKWARD_KEYS = [
    "dir/a b+c=d&e?f#g%h~i!j*k'l(m)n,o;p:q@r$s[t]u{v}w|x^y`z\\.txt",
    "ü/日本語/ファイル.parquet",
    "double//slash/./dot/../dotdot",
    "percent%2Fencoded%20already",
    "trailing space ",
]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_keys_in_every_spelling_verify(endpoint: S3Endpoint, key: str) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    client.put_object(Bucket="data", Key=key, Body=key.encode())
    assert endpoint.objects["data", key] == key.encode()
    assert client.get_object(Bucket="data", Key=key)["Body"].read() == key.encode()


def test_query_parameters_in_every_spelling_verify(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)
    for key in AWKWARD_KEYS:
        client.put_object(Bucket="data", Key=key, Body=b"x")
    for prefix in ("dir/a b+c=d&e?f#", "ü/日本語/", "percent%2F", "double//"):
        listed = client.list_objects_v2(Bucket="data", Prefix=prefix, StartAfter="a&b=c+d e")
        assert [entry["Key"] for entry in listed["Contents"]] == sorted(
            k for k in AWKWARD_KEYS if k.startswith(prefix)
        )


def test_a_raw_plus_in_a_query_reads_as_a_space() -> None:
    # S3 reads "+" in a query string as a space; a client that signs "%20" and sends "+" verifies.
    request = AWSRequest(method="GET", url="http://127.0.0.1:9/data?list-type=2&prefix=a%20b")
    S3SigV4Auth(Credentials(AWS_KEY_ID, AWS_SECRET), "s3", "us-east-1").add_auth(request)
    headers = [(name.lower().encode(), str(value).encode()) for name, value in request.headers.items()]
    headers.append((b"host", b"127.0.0.1:9"))
    verifier = aws_verifier(now=time.time())
    verifier.verify(RequestParts("GET", b"/data", b"list-type=2&prefix=a+b", headers))
    with refusal("SignatureDoesNotMatch"):
        verifier.verify(RequestParts("GET", b"/data", b"list-type=2&prefix=a%2Bb", headers))


def test_presigned_get_and_put(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version="s3v4")
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": "data", "Key": "p q.bin"}, ExpiresIn=60
    )
    assert httpx.put(put_url, content=b"presigned body", timeout=30).status_code == 200
    assert endpoint.seen[-1].auth is not None and endpoint.seen[-1].auth.presigned
    assert endpoint.objects["data", "p q.bin"] == b"presigned body"
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "p q.bin"}, ExpiresIn=60
    )
    answer = httpx.get(get_url, timeout=30)
    assert answer.status_code == 200 and answer.content == b"presigned body"


def test_botocores_default_presigned_url_is_signature_v2_and_refused_with_the_fix(
    endpoint: S3Endpoint,
) -> None:
    # For us-east-1 and a custom endpoint, botocore presigns with Signature V2 unless the client's
    # signature_version is "s3v4"; the gateway says which mechanism to use.
    url = endpoint.client(KEY_ID, SECRET).generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=60
    )
    assert "AWSAccessKeyId=" in url
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 400
    assert (
        b"<Code>InvalidRequest</Code>" in answer.content and b"Please use AWS4-HMAC-SHA256" in answer.content
    )


def test_the_longest_presigned_expiry_is_a_week(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version="s3v4")
    endpoint.objects["data", "k"] = b"v"
    week = client.generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=604800
    )
    assert httpx.get(week, timeout=30).status_code == 200
    longer = client.generate_presigned_url(
        "get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=604801
    )
    answer = httpx.get(longer, timeout=30)
    assert answer.status_code == 400
    assert b"<Code>AuthorizationQueryParametersError</Code>" in answer.content


def test_an_expired_presigned_url_is_refused(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version="s3v4")
    endpoint.objects["data", "k"] = b"v"
    url = client.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=60)
    endpoint.clock_offset = 61
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in answer.content


def test_a_presigned_url_refuses_headers_it_did_not_sign(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version="s3v4")
    url = client.generate_presigned_url("put_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=60)
    for header in ("x-amz-copy-source", "x-amz-meta-owner", "x-amz-tagging", "x-amz-acl"):
        answer = httpx.put(url, content=b"x", headers={header: "data/other"}, timeout=30)
        assert answer.status_code == 403, header
        assert f"<HeadersNotSigned>{header}</HeadersNotSigned>".encode() in answer.content
    assert ("data", "k") not in endpoint.objects


def test_a_header_signed_request_refuses_headers_it_did_not_sign(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)

    def add_metadata_after_signing(request: AWSRequest, **_: object) -> None:
        request.headers["x-amz-meta-added"] = "later"

    client.meta.events.register_last("before-send.s3.PutObject", add_metadata_after_signing)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"x")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert caught.value.response["Error"]["HeadersNotSigned"] == "x-amz-meta-added"


def test_a_tampered_signed_header_is_refused(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET)

    def change_metadata(request: AWSRequest, **_: object) -> None:
        request.headers["x-amz-meta-owner"] = "mallory"

    client.meta.events.register_last("before-send.s3.PutObject", change_metadata)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket="data", Key="k", Body=b"x", Metadata={"owner": "alice"})
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_a_wrong_secret_is_signature_does_not_match(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET[:-1] + "X")
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket="data")
    assert error_code(caught.value) == "SignatureDoesNotMatch"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unknown_key_is_invalid_access_key_id_and_never_shown_whole(endpoint: S3Endpoint) -> None:
    client = endpoint.client("TSKUNKNOWNKEY0000009", SECRET)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket="data")
    assert error_code(caught.value) == "InvalidAccessKeyId"
    seen = endpoint.seen[-1].error
    assert seen is not None
    body = seen.document("request-id")
    assert b"TSKUNKNOWNKEY0000009" not in body and b"TSKU" in body


@pytest.mark.parametrize("minutes", [20, -20])
def test_a_clock_20_minutes_off_is_request_time_too_skewed(endpoint: S3Endpoint, minutes: int) -> None:
    endpoint.clock_offset = minutes * 60
    client = endpoint.client(KEY_ID, SECRET)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket="data")
    assert error_code(caught.value) == "RequestTimeTooSkewed"
    assert caught.value.response["Error"]["MaxAllowedSkewMilliseconds"] == "900000"


def test_a_clock_14_minutes_off_is_accepted(endpoint: S3Endpoint) -> None:
    endpoint.clock_offset = 14 * 60
    endpoint.client(KEY_ID, SECRET).put_object(Bucket="data", Key="k", Body=b"x")
    assert endpoint.objects["data", "k"] == b"x"


def test_the_wrong_region_is_named_and_botocore_re_signs_for_it(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, region="eu-west-1")
    client.put_object(Bucket="data", Key="k", Body=b"x")
    refused, accepted = [seen for seen in endpoint.seen if seen.method == "PUT"][-2:]
    assert refused.error is not None and refused.error.code == "AuthorizationHeaderMalformed"
    assert dict(refused.error.details)["Region"] == "us-east-1"
    assert accepted.auth is not None and accepted.auth.region == "us-east-1"


def test_any_region_is_accepted_when_none_is_configured() -> None:
    with S3Endpoint({KEY_ID: SECRET}, region=None) as anywhere:
        anywhere.client(KEY_ID, SECRET, region="ap-south-2").put_object(Bucket="data", Key="k", Body=b"x")
        assert anywhere.seen[-1].auth is not None and anywhere.seen[-1].auth.region == "ap-south-2"


def test_anonymous_requests_are_refused(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version=botocore.UNSIGNED)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket="data")
    assert error_code(caught.value) == "AccessDenied"


def test_signature_v2_is_refused(endpoint: S3Endpoint) -> None:
    answer = httpx.get(
        f"{endpoint.url}/data/k", headers={"Authorization": f"AWS {KEY_ID}:c2lnbmF0dXJl"}, timeout=30
    )
    assert answer.status_code == 400
    assert b"<Code>InvalidRequest</Code>" in answer.content and b"AWS4-HMAC-SHA256" in answer.content
    query = f"AWSAccessKeyId={KEY_ID}&Expires=2000000000&Signature=abc"
    assert b"<Code>InvalidRequest</Code>" in httpx.get(f"{endpoint.url}/data/k?{query}", timeout=30).content


def test_header_and_query_authentication_at_once_is_refused(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET, signature_version="s3v4")
    url = client.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=60)
    answer = httpx.get(url, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"}, timeout=30)
    assert answer.status_code == 400 and b"<Code>InvalidArgument</Code>" in answer.content


SCOPE = "A/20130524/us-east-1/s3/aws4_request"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host", "AuthorizationHeaderMalformed"),
        (
            "AWS4-HMAC-SHA256 Credential=A/2013/us-east-1/s3, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=Host;X, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, Credential=B, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE.replace('/s3/', '/iam/')}, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE.replace('0524', '0523')}, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-ECDSA-P256-SHA256 Credential=A/20130524/s3/aws4_request, SignedHeaders=host, Signature=0",
            "InvalidRequest",
        ),
        (f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=range, Signature=0", "InvalidAccessKeyId"),
        ("AWS4-HMAC-SHA256 " + "x" * 9000, "AuthorizationHeaderMalformed"),
        (
            f"AWS4-HMAC-SHA256 Credential=\u00e9{SCOPE}, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={'A' * 128}{SCOPE}, SignedHeaders=host, Signature=0",
            "AuthorizationHeaderMalformed",
        ),
        # The signature given twice, or glued to the component before it.
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host, Signature=0, Signature=1",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, Signature=0, SignedHeaders=host, Signature=1",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=hostSignature=0",
            "AuthorizationHeaderMalformed",
        ),
        # Well formed in any order (the key is unknown): parsed as when the signature comes last.
        (f"AWS4-HMAC-SHA256 Signature=0, Credential={SCOPE}, SignedHeaders=host", "InvalidAccessKeyId"),
        (
            f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=host,Signature=Signature=0",
            "InvalidAccessKeyId",
        ),
    ],
)
def test_malformed_authorization_headers(authorization: str, code: str) -> None:
    request = RequestParts(
        "GET",
        b"/",
        b"",
        [
            (b"host", AWS_HOST),
            (b"x-amz-date", b"20130524T000000Z"),
            (b"authorization", authorization.encode()),
        ],
    )
    with refusal(code):
        aws_verifier().verify(request)


def test_oversized_paths_and_queries_are_refused_before_they_are_parsed() -> None:
    request = aws_request("GET Object")
    started = time.monotonic()
    with refusal("KeyTooLongError"):
        aws_verifier().verify(RequestParts("GET", b"/" + b"%41" * 1_000_000, b"", request.headers))
    with refusal("InvalidRequest"):
        aws_verifier().verify(RequestParts("GET", b"/k", b"a=%41&" * 1_000_000, request.headers))
    assert time.monotonic() - started < 0.5
    # A key of 1,024 bytes, each percent-encoded, is well within the bound.
    longest = RequestParts("GET", b"/bucket/" + b"%E6%97%A5" * 341, b"", request.headers)
    with refusal("SignatureDoesNotMatch"):
        aws_verifier().verify(longest)


def test_host_must_be_signed() -> None:
    name = "GET Object"
    method, path, query, headers, _, _ = AWS_EXAMPLES[name]
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=range;x-amz-content-sha256;x-amz-date,Signature=" + "0" * 64
    )
    fields = [(b"host", AWS_HOST), (b"x-amz-date", b"20130524T000000Z"), *headers]
    with refusal("AccessDenied") as caught:
        aws_verifier().verify(
            RequestParts(method, path, query, [*fields, (b"authorization", authorization.encode())])
        )
    assert dict(caught.value.details)["HeadersNotSigned"] == "host"


def test_a_missing_or_invalid_content_sha256_is_refused() -> None:
    method, path, query, _, signed, signature = AWS_EXAMPLES["GET Object"]
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    ).encode()
    base = [(b"host", AWS_HOST), (b"x-amz-date", b"20130524T000000Z"), (b"range", b"bytes=0-9")]
    with refusal("MissingSecurityHeader"):
        aws_verifier().verify(RequestParts(method, path, query, [*base, (b"authorization", authorization)]))
    invalid = [*base, (b"x-amz-content-sha256", b"not-a-hash"), (b"authorization", authorization)]
    with refusal("InvalidArgument"):
        aws_verifier().verify(RequestParts(method, path, query, invalid))


def test_an_invalid_date_is_access_denied() -> None:
    request = aws_request("GET Object")
    headers = [
        (name, b"2013-05-24T00:00:00Z" if name == b"x-amz-date" else value) for name, value in request.headers
    ]
    with refusal("AccessDenied") as caught:
        aws_verifier().verify(RequestParts(request.method, request.raw_path, request.query_string, headers))
    assert "valid Date or x-amz-date" in caught.value.message


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
            "AuthorizationQueryParametersError",
        ),
        (("X-Amz-Expires=86400", "X-Amz-Expires=-1"), "AuthorizationQueryParametersError"),
        (("X-Amz-Expires=86400", "X-Amz-Expires=1e3"), "AuthorizationQueryParametersError"),
        (("X-Amz-Expires=86400", "X-Amz-Expires=604801"), "AuthorizationQueryParametersError"),
        (("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524"), "AuthorizationQueryParametersError"),
        (("&X-Amz-SignedHeaders=host", ""), "AuthorizationQueryParametersError"),
        (
            ("X-Amz-Expires=86400", "X-Amz-Expires=86400&X-Amz-Expires=86400"),
            "AuthorizationQueryParametersError",
        ),
        (("%2Fus-east-1%2F", "%2Feu-west-1%2F"), "AuthorizationQueryParametersError"),
        (("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7OTHERS"), "InvalidAccessKeyId"),
        (("X-Amz-Expires=86400", "X-Amz-Expires=86401"), "SignatureDoesNotMatch"),
    ],
)
def test_malformed_presigned_urls(change: tuple[str, str], code: str) -> None:
    query = AWS_PRESIGNED.decode().replace(*change).encode()
    with refusal(code):
        aws_verifier().verify(RequestParts("GET", b"/test.txt", query, [(b"host", AWS_HOST)]))


def test_a_rotated_secret_takes_effect_at_once(endpoint: S3Endpoint) -> None:
    old = endpoint.client(KEY_ID, SECRET)
    old.put_object(Bucket="data", Key="k", Body=b"x")
    endpoint.keys[KEY_ID] = "a/new/secret/0123456789012345678901234"
    with pytest.raises(ClientError) as caught:
        old.put_object(Bucket="data", Key="k", Body=b"y")
    assert error_code(caught.value) == "SignatureDoesNotMatch"
    endpoint.client(KEY_ID, endpoint.keys[KEY_ID]).put_object(Bucket="data", Key="k", Body=b"z")
    assert endpoint.objects["data", "k"] == b"z"


def test_signing_keys_are_derived_once_per_secret_day_and_region() -> None:
    keys = SigningKeys(capacity=2)
    first = keys.get("secret", "20240101", "us-east-1", "s3")
    assert keys.get("secret", "20240101", "us-east-1", "s3") is first
    assert keys.get("secret", "20240102", "us-east-1", "s3") != first
    assert keys.get("other", "20240101", "us-east-1", "s3") != first
    # The cache holds digests of secrets, never the secrets, and is bounded.
    assert "secret" not in repr(keys) and "2 held" in repr(keys)


def test_what_the_verifier_returns_shows_no_secret_and_a_masked_key(endpoint: S3Endpoint) -> None:
    endpoint.client(KEY_ID, SECRET).put_object(Bucket="data", Key="k", Body=b"x")
    auth = endpoint.seen[-1].auth
    assert auth is not None
    shown = repr(auth) + repr(endpoint.verifier.__dict__)
    assert SECRET not in shown and KEY_ID not in repr(auth) and KEY_ID[:4] in repr(auth)


def test_a_requests_parts_show_no_header_value() -> None:
    request = aws_request("GET Object")
    shown = repr(request)
    assert AWS_KEY_ID not in shown and "authorization" not in shown.lower()
    assert shown == f"RequestParts(GET {request.raw_path!r}, {len(request.headers)} headers)"


def test_a_refused_signature_names_what_was_signed_but_no_secret_or_signature(endpoint: S3Endpoint) -> None:
    client = endpoint.client(KEY_ID, SECRET[:-1] + "X")
    with pytest.raises(ClientError):
        client.put_object(
            Bucket="data", Key="k", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32
        )
    error = endpoint.seen[-1].error
    assert error is not None and error.code == "SignatureDoesNotMatch"
    document = error.document("id").decode()
    assert [name for name, _ in error.details] == ["StringToSign", "CanonicalRequest"]
    assert "x-amz-server-side-encryption-customer-key:****" in document
    customer_key = endpoint.seen[-1].headers["x-amz-server-side-encryption-customer-key"]
    assert customer_key not in document and SECRET not in document
    # The only hex digests shown are the payload's and the canonical request's hashes.
    digests = set(re.findall(r"[0-9a-f]{64}", document))
    canonical = dict(error.details)["CanonicalRequest"]
    assert digests == {canonical.rsplit("\n", 1)[1], dict(error.details)["StringToSign"].rsplit("\n", 1)[1]}


def test_the_scope_parts_of_a_request_are_taken_as_sent() -> None:
    # uvicorn gives the path exactly as sent; from_scope keeps it undecoded.
    scope = {
        "method": "GET",
        "path": "/a b/c",
        "raw_path": b"/a%20b/c",
        "query_string": b"x=1",
        "headers": [(b"host", b"h")],
    }
    parts = RequestParts.from_scope(scope)
    assert parts.raw_path == b"/a%20b/c" and parts.query_string == b"x=1"
    assert RequestParts.from_scope({**scope, "raw_path": None}).raw_path == b"/a%20b/c"
    assert urlsplit("http://h/a%20b/c").path == "/a%20b/c"
