"""tierstore's errors as S3 answers: the code a client acts on, with the namespace's own message.

The message is the namespace's (it names the path and what would fix it, and never a secret);
the code and status are S3's, so that SDKs retry only what S3 would have them retry (503s and
``SlowDown``) and report the rest. A missing object inside a missing bucket is
``NoSuchBucket`` (the caller finds out with :func:`missing`).
"""

from __future__ import annotations

from tierstore.errors import (
    AccessDeniedError,
    ConfigError,
    ConflictError,
    CredentialsError,
    EntityTooSmallError,
    InvalidArgumentError,
    InvalidCredentialsError,
    InvalidPartError,
    InvalidPartOrderError,
    MultipartError,
    NoSuchUploadError,
    NotFoundError,
    PathTooLongError,
    StoreUnavailableError,
    ThrottledError,
    TierstoreError,
)
from tierstore.namespace.metadata import MetadataUnavailableError
from tierstore.namespace.metadata.secrets_at_rest import SecretsKeyError
from tierstore.namespace.paths import PathError
from tierstore.server.errors import ApiError
from tierstore.server.s3.errors import S3Error

# The JSON API's statuses that reach the gateway from shared code (request bodies, upload slots).
_API_STATUS_CODES = {
    400: "IncompleteBody",
    408: "RequestTimeout",
    413: "EntityTooLarge",
    429: "SlowDown",
    503: "ServiceUnavailable",
}


def s3_error(error: Exception, resource: str) -> S3Error | None:
    """The S3 answer for one of tierstore's errors; None for an error that is a bug (a 500)."""
    if isinstance(error, S3Error):
        return error.with_resource(resource)
    if isinstance(error, ApiError):
        code = _API_STATUS_CODES.get(
            error.status, "InvalidRequest" if error.status < 500 else "InternalError"
        )
        return S3Error(code, error.message, resource=resource)
    if isinstance(error, PathError):
        code = "KeyTooLongError" if error.too_long else "InvalidArgument"
        return S3Error(code, str(error), resource=resource)
    if not isinstance(error, TierstoreError):
        return None
    message = str(error)
    upload = _upload_error(error, message, resource)
    if upload is not None:
        return upload
    if isinstance(error, NotFoundError):
        return S3Error("NoSuchKey", message, resource=resource)
    if isinstance(error, AccessDeniedError):
        return S3Error("AccessDenied", message, resource=resource)
    if isinstance(error, PathTooLongError):
        return S3Error("KeyTooLongError", message, resource=resource)
    if isinstance(error, ThrottledError):
        return S3Error("SlowDown", message, resource=resource)
    if isinstance(
        error,
        StoreUnavailableError
        | MetadataUnavailableError
        | SecretsKeyError
        | CredentialsError
        | InvalidCredentialsError,
    ):
        # The gateway, not the client, cannot reach or sign in to something it needs: retryable.
        return S3Error("ServiceUnavailable", message, resource=resource)
    if isinstance(error, ConflictError):
        return S3Error("InvalidRequest", message, resource=resource)
    if isinstance(error, ConfigError):
        return S3Error("InvalidArgument", message, resource=resource)
    # Other store errors are about the request's object (a directory where a file was meant, a
    # name the store cannot hold): the client's to fix, as the JSON API answers them (400).
    return S3Error("InvalidRequest", message, resource=resource)


# Multipart uploads' refusals, as S3 names them (a part number out of range, a copy range outside
# its source and a body longer or shorter than declared are all S3's InvalidArgument).
_MULTIPART_CODES: tuple[tuple[type[MultipartError], str], ...] = (
    (InvalidPartOrderError, "InvalidPartOrder"),
    (InvalidPartError, "InvalidPart"),
    (EntityTooSmallError, "EntityTooSmall"),
)


def _upload_error(error: TierstoreError, message: str, resource: str) -> S3Error | None:
    """The S3 answer for a multipart upload's error, with the upload id and part S3 adds."""
    if isinstance(error, NoSuchUploadError):
        details = [("UploadId", error.upload_id)] if error.upload_id else []
        return S3Error("NoSuchUpload", message, resource=resource, details=details)
    if isinstance(error, MultipartError):
        details = [("UploadId", error.upload_id)] if error.upload_id else []
        if error.part_number is not None:
            details.append(("PartNumber", str(error.part_number)))
        for kind, code in _MULTIPART_CODES:
            if isinstance(error, kind):
                return S3Error(code, message, resource=resource, details=details)
    if isinstance(error, InvalidArgumentError):
        return S3Error("InvalidArgument", message, resource=resource)
    return None


def missing(code: str, name: str, resource: str) -> S3Error:
    """``NoSuchBucket`` or ``NoSuchKey`` for ``name``."""
    what = "bucket" if code == "NoSuchBucket" else "key"
    return S3Error(code, f"The specified {what} does not exist: {name}", resource=resource)
