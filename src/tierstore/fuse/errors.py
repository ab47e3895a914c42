"""tierstore's errors as the errno values a FUSE callback answers with.

The server refuses with tierstore's own errors (``AccessDeniedError`` for the namespace's bits,
``NotFoundError``, ``ConflictError``); the store's failures come through the client as
``StoreError``. Each maps onto the errno a POSIX tool understands. Whatever is not the caller's
fault (the store or the server failing) is EIO, with one log line naming the path and the error,
so an operator can tell a refused path from a failing store.
"""

from __future__ import annotations

import errno
import logging

from tierstore.client.errors import ServerError, ServerUnreachableError, UnauthorizedError
from tierstore.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PathTooLongError,
    RangeNotSatisfiableError,
    TierstoreError,
    UnsupportedError,
)

LOGGER = logging.getLogger("tierstore.fuse")


class FuseError(OSError):
    """What a callback raises: mfusepy answers the kernel with ``-errno``."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code, message or errno.errorcode.get(code, str(code)))


def errno_for(error: BaseException, verb: str, path: str) -> int:
    """The errno for ``error`` raised by ``verb`` on ``path``; logs what is not the caller's fault."""
    if isinstance(error, FuseError) and error.errno:
        return error.errno
    if isinstance(error, NotFoundError):
        return errno.ENOENT
    if isinstance(error, AccessDeniedError):
        # A read-only mount of the namespace refuses writes as a permission: to POSIX it is EROFS.
        return errno.EROFS if "is read-only" in str(error) else errno.EACCES
    if isinstance(error, UnauthorizedError):
        LOGGER.error("%s %s: the server refused the token: %s", verb, path, error)
        return errno.EACCES
    if isinstance(error, ConflictError):
        return errno.EEXIST
    if isinstance(error, PathTooLongError):
        return errno.ENAMETOOLONG
    if isinstance(error, UnsupportedError):
        return errno.EOPNOTSUPP
    if isinstance(error, RangeNotSatisfiableError):
        return errno.EIO
    if isinstance(error, InvalidArgumentError):
        return errno.EINVAL
    if isinstance(error, ServerError) and not isinstance(error, ServerUnreachableError):
        if error.status == 400:
            LOGGER.warning("%s %s: the server refused the request: %s", verb, path, error)
            return errno.EINVAL
        if error.status == 414:
            return errno.ENAMETOOLONG
    if isinstance(error, TierstoreError):
        LOGGER.error("%s %s: EIO: %s: %s", verb, path, type(error).__name__, error)
        return errno.EIO
    LOGGER.exception("%s %s: EIO: unexpected %s", verb, path, type(error).__name__)
    return errno.EIO
