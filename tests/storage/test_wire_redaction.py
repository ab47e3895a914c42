"""The redaction rules wire logs rely on, one header and query parameter at a time."""

from __future__ import annotations

from tierstore.storage.s3.wire_log import REDACTED, redact_header, redact_headers, redact_url

AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY123456/20261122/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)


def test_authorization_keeps_scope_but_not_signature_or_full_key_id() -> None:
    redacted = redact_header("Authorization", AUTHORIZATION)
    assert "0123456789abcdef" not in redacted
    assert "AKIAEXAMPLEKEY123456" not in redacted
    assert "Credential=AKIA…/20261122/us-east-1/s3/aws4_request" in redacted
    assert f"Signature={REDACTED}" in redacted
    assert "SignedHeaders=host;x-amz-date" in redacted


def test_session_token_sse_c_key_and_proxy_auth_are_hidden() -> None:
    headers = {
        "X-Amz-Security-Token": b"FwoGZXIvYXdzEJr//////////wEaDMZ-session-token",
        "x-amz-server-side-encryption-customer-key": "c2VjcmV0IGtleQ==",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
        "Content-Length": "42",
    }
    redacted = redact_headers(headers)
    assert redacted["X-Amz-Security-Token"] == REDACTED
    assert redacted["x-amz-server-side-encryption-customer-key"] == REDACTED
    assert redacted["Proxy-Authorization"] == REDACTED
    assert redacted["Content-Length"] == "42"


def test_presigned_query_parameters_are_hidden() -> None:
    url = (
        "http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLEKEY123456%2F20261122%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Security-Token=SESSIONTOKENVALUE&X-Amz-Signature=abcdef0123&partNumber=2"
    )
    redacted = redact_url(url)
    for secret in ("AKIAEXAMPLEKEY123456", "SESSIONTOKENVALUE", "abcdef0123"):
        assert secret not in redacted
    assert "partNumber=2" in redacted
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in redacted
    assert redact_url("http://host/b/k") == "http://host/b/k"
