"""One S3 request as a handler sees it: who sent it, what it names, and the namespace as that
user sees it; with the request's body read as its signature and headers vouch for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from tierstore.namespace.filesystem import FileSystem
from tierstore.server.bodies import paced_body, read_declared_body
from tierstore.server.s3.addressing import Addressed
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.payload import RequestBody, request_body
from tierstore.server.s3.request_headers import RequestHeaders
from tierstore.server.s3.sigv4 import Authenticated
from tierstore.server.state import ServerState
from tierstore.server.users import User
from tierstore.settings.secret import Secret


class S3Identity(Protocol):
    """An S3 access key: its id, its secret (for SigV4) and the user it signs in as."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def secret(self) -> Secret: ...

    @property
    def user(self) -> str: ...


class S3KeyLookup(Protocol):
    """Where the gateway finds access keys. ``lookup`` may block on the metadata store, except
    inside :func:`tierstore.blocking.memory_only`, where it raises ``NeedsIO`` instead."""

    def lookup(self, access_key_id: str) -> S3Identity | None: ...


@dataclass
class S3Call:
    """A verified request: the handler's one argument."""

    request: Request
    # The request's header fields, indexed once (read these, not ``request.headers``).
    headers: RequestHeaders
    state: ServerState
    request_id: str
    user: User
    auth: Authenticated
    target: Addressed
    query: Mapping[str, str]
    fs: FileSystem
    # Fields the handler adds to the request's audit line (counts, a copy's source).
    audit: dict[str, object] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        if self.target.bucket is None:
            raise S3Error("InvalidRequest", "This operation needs a bucket.")
        return self.target.bucket

    @property
    def key(self) -> str:
        if self.target.key is None:
            raise S3Error("InvalidRequest", "This operation needs a key.")
        return self.target.key

    @property
    def resource(self) -> str:
        return self.target.resource

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def body(self) -> RequestBody:
        """The body, decoded and checked as it streams (read it once); a bad header is refused
        before a byte is read."""
        source: AsyncIterator[bytes] = paced_body(self.request, self.state.options.limits)
        return request_body(self.auth, self.headers.fields, source)

    async def whole_body(self, body: RequestBody) -> bytes:
        """``body`` (from :meth:`body`, not iterated) in one piece: a plain body of declared
        length read under one deadline and then judged whole, with no generator or timer per
        chunk; an aws-chunked one decoded as it arrives. S3Error when a check fails."""
        if body.plain is None or body.length is None:
            return b"".join([chunk async for chunk in body.chunks])
        data = await read_declared_body(self.request, self.state.options.limits, body.length)
        if len(data) != body.length:  # a body framed otherwise than its Content-Length says
            raise S3Error(
                "IncompleteBody",
                f"The body holds {len(data)} bytes where Content-Length declares {body.length}.",
            )
        body.plain.verify(data)
        return data


Handler = Callable[[S3Call], Awaitable[Response]]
