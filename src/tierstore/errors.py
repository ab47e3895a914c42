"""The errors tierstore raises, one small hierarchy shared by every part.

    TierstoreError
    ├── ConfigError              a setting is missing or has a value tierstore cannot use
    ├── CredentialsError         no usable credentials, or an STS call failed
    └── StoreError               a store operation failed (carries bucket and key)
        ├── NotFoundError        the object or bucket does not exist
        │   └── NoSuchUploadError    no such multipart upload (unknown, aborted, completed, other key)
        ├── AccessDeniedError    the credentials are valid but not allowed to do this
        ├── InvalidCredentialsError  the store rejected the credentials (unknown, wrong or expired)
        ├── ThrottledError       the store asked us to slow down
        ├── ConflictError        a precondition failed or the object already exists
        ├── StoreUnavailableError  the store could not be reached or answered 5xx
        ├── UnsupportedError     the store does not implement this operation
        ├── RangeNotSatisfiableError  a read's range starts at or past the object's end
        ├── PathTooLongError     a path or name over a size limit (PATH_MAX, NAME_MAX, S3's 1024)
        ├── InvalidArgumentError a request the store cannot take as given (also a ValueError)
        └── MultipartError       CompleteMultipartUpload refused the parts it was given
            ├── InvalidPartError       a listed part is missing or its ETag differs
            ├── InvalidPartOrderError  part numbers not strictly ascending
            └── EntityTooSmallError    a part other than the last is under S3's 5 MiB

Messages never contain secrets: access key ids are cut to their first 4 characters
and secret keys and session tokens are never put into them.
"""

from __future__ import annotations


class TierstoreError(Exception):
    """Base of every error tierstore raises on purpose."""


class ConfigError(TierstoreError):
    """A setting is missing or invalid; the message names the key and what is accepted."""


class CredentialsError(TierstoreError):
    """Credentials could not be found, built or refreshed.

    ``retryable`` is true for failures that may pass (throttling, a store that could not be
    reached), false for those that will not (access denied, a malformed role ARN).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class StoreError(TierstoreError):
    """A store operation failed. ``bucket`` and ``key`` say where."""

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class NotFoundError(StoreError):
    """The object, prefix or bucket does not exist."""


class AccessDeniedError(StoreError):
    """The credentials were accepted but do not allow this operation."""


class InvalidCredentialsError(StoreError):
    """The store rejected the credentials: unknown key id, wrong secret or expired token."""


class ThrottledError(StoreError):
    """The store answered SlowDown / 503 / 429 after every retry."""


class ConflictError(StoreError):
    """A precondition failed, or the object already exists where that is not allowed."""


class StoreUnavailableError(StoreError):
    """The store could not be reached, or kept answering with a server error."""


class UnsupportedError(StoreError):
    """The store or backend does not implement this operation."""


class RangeNotSatisfiableError(StoreError):
    """A ranged read starts at or past the end of a non-empty object; ``size`` is its size.

    An HTTP server answers this with 416 and ``Content-Range: bytes */<size>``.
    """

    def __init__(self, message: str, *, size: int, bucket: str | None = None, key: str | None = None) -> None:
        super().__init__(message, bucket=bucket, key=key)
        self.size = size


class InvalidPartNumberError(StoreError):
    """A read of a part an object does not have (S3's 416 ``InvalidPartNumber``)."""


class PathTooLongError(StoreError):
    """A path, a name in it, or the key it maps to is longer than the store or namespace allows."""


class NoSuchUploadError(NotFoundError):
    """The multipart upload id is unknown, aborted, completed, or belongs to another key."""

    def __init__(
        self, message: str, *, bucket: str | None = None, key: str | None = None, upload_id: str | None = None
    ) -> None:
        super().__init__(message, bucket=bucket, key=key)
        self.upload_id = upload_id


class InvalidArgumentError(StoreError, ValueError):
    """An argument the store cannot take: a part number outside 1..10000, a body whose length is
    not the one declared, a copy range outside its source. Also a ValueError: the caller's fault."""


class MultipartError(StoreError):
    """Completing a multipart upload failed because of the parts listed; the upload is still there.

    ``upload_id`` and ``part_number`` (the part at fault, when there is one) say where.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket: str | None = None,
        key: str | None = None,
        upload_id: str | None = None,
        part_number: int | None = None,
    ) -> None:
        super().__init__(message, bucket=bucket, key=key)
        self.upload_id = upload_id
        self.part_number = part_number


class InvalidPartError(MultipartError):
    """A listed part was never uploaded, or its ETag is not the one given (S3's InvalidPart)."""


class InvalidPartOrderError(MultipartError):
    """The listed part numbers are not strictly ascending (S3's InvalidPartOrder)."""


class EntityTooSmallError(MultipartError):
    """A part other than the last is smaller than the minimum part size (S3's EntityTooSmall)."""
