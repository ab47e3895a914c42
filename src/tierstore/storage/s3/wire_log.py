"""HTTP wire logging with signatures, keys and tokens redacted.

Every request and response botocore sends is logged on the ``tierstore.wire`` logger at INFO:
method, URL, headers and body size. The signature, the credential scope's key id (cut to 4
characters), session tokens and presigned query parameters are replaced before anything is
formatted, so a log line can never carry a secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botocore.hooks import BaseEventHooks

LOGGER = logging.getLogger("tierstore.wire")
REDACTED = "****"

_SECRET_HEADERS = {"x-amz-security-token", "x-amz-server-side-encryption-customer-key", "proxy-authorization"}
_SECRET_QUERY = {"x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature", "awsaccesskeyid"}
_SIGNATURE = re.compile(r"Signature=[0-9a-fA-F]+")
_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]{0,4})[A-Za-z0-9]*/")


def redact_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        return REDACTED
    if lowered == "authorization":
        value = _SIGNATURE.sub(f"Signature={REDACTED}", value)
        return _CREDENTIAL.sub(lambda match: f"Credential={match.group(1)}…/", value)
    return value


def redact_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        redacted[str(name)] = redact_header(str(name), text)
    return redacted


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (name, REDACTED if name.lower() in _SECRET_QUERY else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _body_size(body: object) -> int | None:
    if isinstance(body, bytes | bytearray):
        return len(body)
    if hasattr(body, "__len__"):
        try:
            return len(body)
        except TypeError:
            return None
    return None


def _log_request(request: Any, **_: Any) -> None:
    LOGGER.info(
        "request %s %s headers=%s body_bytes=%s",
        request.method,
        redact_url(request.url),
        redact_headers(request.headers),
        _body_size(request.body),
    )


def _log_response(response_dict: Mapping[str, Any] | None = None, exception: Any = None, **_: Any) -> None:
    if response_dict is None:
        LOGGER.info("response error=%s", type(exception).__name__ if exception else "unknown")
        return
    LOGGER.info(
        "response status=%s headers=%s body_bytes=%s",
        response_dict.get("status_code"),
        redact_headers(response_dict.get("headers", {})),
        _body_size(response_dict.get("body")),
    )


def attach_wire_logging(events: BaseEventHooks) -> None:
    events.register("before-send", _log_request)
    events.register("response-received", _log_response)
