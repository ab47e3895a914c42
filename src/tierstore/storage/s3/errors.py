"""Turn obstore and botocore failures into tierstore's error hierarchy.

The messages name the operation, bucket and key, the store's error code and HTTP status,
and never the request's signature, keys or tokens: only what we put in them ourselves.
"""

from __future__ import annotations

import re

import botocore.exceptions
import obstore.exceptions as obstore_errors

from tierstore import errors

_XML_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>|\(code: ([A-Za-z]+)\)")
_HTTP_STATUS = re.compile(r"status code: (\d{3})")

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload", "404"}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "BucketAlreadyExists", "412", "409"}

_HINTS = {
    errors.AccessDeniedError: "the credentials are valid but not allowed to do this",
    errors.InvalidCredentialsError: "the store rejected the credentials (unknown key id, wrong secret "
    "or expired token)",
    errors.NotFoundError: "no such object or bucket",
    errors.ThrottledError: "the store kept asking to slow down",
    errors.ConflictError: "a precondition failed",
    errors.StoreUnavailableError: "the store could not be reached or answered with a server error",
    errors.UnsupportedError: "the store does not support this operation",
}


def _classify_code(code: str | None, status: int | None) -> type[errors.StoreError]:
    if code in _CREDENTIAL_CODES:
        return errors.InvalidCredentialsError
    if code in _THROTTLE_CODES or status in (429, 503):
        return errors.ThrottledError
    if code in _NOT_FOUND_CODES or status == 404:
        return errors.NotFoundError
    if code in _DENIED_CODES or status == 403:
        return errors.AccessDeniedError
    if code in _CONFLICT_CODES or status in (409, 412):
        return errors.ConflictError
    if code in ("NotImplemented",) or status == 501:
        return errors.UnsupportedError
    if status is not None and status >= 500:
        return errors.StoreUnavailableError
    return errors.StoreError


def _where(bucket: str, key: str | None) -> str:
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"


def _build(
    kind: type[errors.StoreError],
    *,
    operation: str,
    bucket: str,
    key: str | None,
    code: str | None,
    status: int | None,
) -> errors.StoreError:
    detail = ", ".join(part for part in (code, f"HTTP {status}" if status else None) if part)
    hint = _HINTS.get(kind, "the store reported an error")
    message = f"{operation} {_where(bucket, key)} failed: {hint}"
    if detail:
        message += f" ({detail})"
    return kind(message, bucket=bucket, key=key)


def error_code_in(text: str) -> str | None:
    """The store's error code in an XML error body or an obstore message, if there is one."""
    found = _XML_CODE.search(text)
    return (found.group(1) or found.group(2)) if found else None


def from_obstore(error: Exception, operation: str, bucket: str, key: str | None) -> errors.StoreError:
    text = str(error)
    status_match = _HTTP_STATUS.search(text)
    code = error_code_in(text)
    status = int(status_match.group(1)) if status_match else None
    kind: type[errors.StoreError]
    if isinstance(error, FileNotFoundError | obstore_errors.NotFoundError):
        kind = errors.NotFoundError
    elif isinstance(error, obstore_errors.UnauthenticatedError):
        kind = errors.InvalidCredentialsError
    elif isinstance(error, obstore_errors.PermissionDeniedError):
        kind = errors.InvalidCredentialsError if code in _CREDENTIAL_CODES else errors.AccessDeniedError
    elif isinstance(error, obstore_errors.PreconditionError | obstore_errors.AlreadyExistsError):
        kind = errors.ConflictError
    elif isinstance(error, obstore_errors.NotSupportedError):
        kind = errors.UnsupportedError
    else:
        kind = _classify_code(code, status)
        # Only without an answer: obstore's text of any failure names its "retry_timeout", and a
        # 416 for a range of an empty object, taken for a timeout, was tried ten times (37 s).
        if kind is errors.StoreError and status is None and _looks_like_connection_failure(text):
            kind = errors.StoreUnavailableError
    return _build(kind, operation=operation, bucket=bucket, key=key, code=code, status=status)


def from_status(
    code: str | None, status: int | None, operation: str, bucket: str, key: str | None
) -> errors.StoreError:
    """An error from a raw HTTP answer: the store's error code (if any) and status."""
    return _build(
        _classify_code(code, status), operation=operation, bucket=bucket, key=key, code=code, status=status
    )


def from_botocore(error: Exception, operation: str, bucket: str, key: str | None) -> errors.StoreError:
    if isinstance(error, botocore.exceptions.ClientError):
        response = error.response
        code = str(response.get("Error", {}).get("Code") or "") or None
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _build(
            _classify_code(code, status),
            operation=operation,
            bucket=bucket,
            key=key,
            code=code,
            status=status,
        )
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return _build(
            errors.InvalidCredentialsError,
            operation=operation,
            bucket=bucket,
            key=key,
            code="NoCredentials",
            status=None,
        )
    if isinstance(
        error,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.ProxyConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError,
    ):
        return _build(
            errors.StoreUnavailableError,
            operation=operation,
            bucket=bucket,
            key=key,
            code=type(error).__name__,
            status=None,
        )
    return _build(
        errors.StoreError, operation=operation, bucket=bucket, key=key, code=type(error).__name__, status=None
    )


def _looks_like_connection_failure(text: str) -> bool:
    lowered = text.lower()
    return any(
        marker in lowered
        for marker in (
            "connection refused",
            "connection reset",
            "connection closed",
            "broken pipe",
            "error sending request",
            "error decoding response body",
            "incomplete",
            "unexpected eof",
            "timed out",
            "timeout",
            "dns",
        )
    )
