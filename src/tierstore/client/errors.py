"""Errors the client raises for answers of the tierstore server that have no store meaning.

A 403, 404, 409 or 503 from the server maps onto the store hierarchy in ``tierstore.errors``
(``AccessDeniedError`` and so on, with the namespace path as ``key``), because to the caller a
path it may not write is the same failure whether the store or the server refused it. What is
left is here: the server refused the bearer token, could not be reached, or rejected the request.
"""

from __future__ import annotations

from tierstore.errors import CredentialsError, TierstoreError


class ServerError(TierstoreError):
    """The server answered with an error that is not about a path (400, 500, an unknown code)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ServerUnreachableError(ServerError):
    """No answer from the server at all: refused connection, DNS failure, timeout."""


class UnauthorizedError(CredentialsError):
    """The server did not accept the bearer token (missing, unknown or revoked)."""
