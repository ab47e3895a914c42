"""The S3 gateway's ASGI app: every request verified (SigV4), routed to its operation's handler,
and every failure answered as S3 answers it.

For each request, in order:

1. a request id (``x-amz-request-id`` on every answer, and in every error document);
2. the bucket and key it names (:mod:`.addressing`) and the operation (:mod:`.routing`);
3. its signature (:class:`~.sigv4.SigV4Verifier`) against the access keys of tierstore's users;
   the key names the user, whose view of the namespace (``ServerState.filesystem_for``) the
   handler works in, so the namespace's bits decide every read and write, as on the JSON API
   (a browser-based upload, whose credentials are inside its form, is ``NotImplemented`` first);
   then its headers, each refused that asks for a feature the gateway lacks (:mod:`.unsupported`);
4. the handler; its answer, or the S3 error for what it raised (:mod:`.failures`); anything
   else is a bug, logged with its traceback and answered ``InternalError`` (500);
5. for an operation that changes something, one audit line (``tierstore.audit``: user, key id
   as its first 4 characters, operation, bucket and key, outcome, and what the handler adds
   in ``S3Call.audit``: a copy's source, DeleteObjects' counts).

An error answered to a request with a body closes the connection (``S3Error.response``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tierstore.blocking import NeedsIO, memory_only
from tierstore.server import audit
from tierstore.server.s3 import routing
from tierstore.server.s3.addressing import Addressed, address
from tierstore.server.s3.context import Handler, S3Call, S3Identity, S3KeyLookup
from tierstore.server.s3.errors import S3Error, new_request_id
from tierstore.server.s3.failures import s3_error
from tierstore.server.s3.request_headers import RequestHeaders
from tierstore.server.s3.sigv4 import Authenticated, RequestParts, SigV4Verifier
from tierstore.server.s3.unsupported import check_headers
from tierstore.server.state import ServerState
from tierstore.settings.secret import Secret, mask_key_id

LOGGER = logging.getLogger("tierstore.server")

# Operations that change the namespace: each leaves one audit line.
MUTATING = frozenset(
    {
        "CreateBucket",
        "DeleteBucket",
        "PutObject",
        "CopyObject",
        "DeleteObject",
        "DeleteObjects",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    }
)


class S3Gateway:
    """The ASGI app of the S3 protocol over ``state``'s namespace."""

    def __init__(self, state: ServerState, keys: S3KeyLookup, handlers: Mapping[str, Handler]) -> None:
        self.state = state
        self.keys = keys
        self.handlers = dict(handlers)
        options = state.options.s3
        self.domains = options.domains
        self.region = options.region
        self.verifier = SigV4Verifier(self._secret_for, region=options.region)

    def _secret_for(self, access_key_id: str, found: list[S3Identity] | None = None) -> Secret | None:
        """The key's secret; its identity also appended to ``found`` when given."""
        identity = self.keys.lookup(access_key_id)
        if identity is None:
            return None
        if found is not None:
            found.append(identity)
        return identity.secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is the JSON app's (the server's composite app passes it there)
        request = Request(scope, receive, send)
        request_id = new_request_id()
        response = await self._answer(request, RequestHeaders(scope["headers"]), request_id)
        await response(scope, receive, send)

    async def _answer(self, request: Request, headers: RequestHeaders, request_id: str) -> Response:
        method = request.method
        head = method == "HEAD"
        target = Addressed(None, None)
        call: S3Call | None = None
        name = "unknown"
        try:
            target = address(request.scope, self.domains)
            raw_query = request.scope.get("query_string", b"")
            query = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)) if raw_query else {}
            name = routing.operation(
                method, target.bucket, target.key, query, copy_source="x-amz-copy-source" in headers
            )
            if name == "NotImplemented" and _is_form_upload(method, target, headers):
                # Its credentials are a policy and signature inside the form, which the gateway
                # does not read: say what is missing rather than call the sender anonymous.
                raise S3Error(
                    "NotImplemented",
                    f"Browser-based uploads (a POST of a form to {target.resource}) are not implemented "
                    "by tierstore's S3 gateway: PUT the object, or use a presigned PUT URL.",
                )
            auth, identity = await self._verify(request, headers)
            user = self.state.users.named(identity.user)
            if user is None:  # maybe added by another process since the last poll: look again
                user = await run_in_threadpool(self.state.users.named_now, identity.user)
            if user is None:  # the key outlived its user: refuse as an unknown key
                raise S3Error("InvalidAccessKeyId", resource=target.resource)
            call = S3Call(
                request=request,
                headers=headers,
                state=self.state,
                request_id=request_id,
                user=user,
                auth=auth,
                target=target,
                query=query,
                fs=self.state.filesystem_for(user),
            )
            request.scope["tierstore.user"] = user.name
            check_headers(headers.raw)
            handler = self.handlers.get(name)
            if name == "MethodNotAllowed":
                raise S3Error("MethodNotAllowed", f"{method} is not allowed on {target.resource}")
            if handler is None:
                raise S3Error("NotImplemented", f"{name} is not implemented by tierstore's S3 gateway.")
            response = await handler(call)
        except Exception as error:  # every failure becomes an S3 answer, never a traceback
            failure = s3_error(error, target.resource)
            if failure is None:
                LOGGER.error(
                    "S3 %s %s (request %s) failed", method, target.resource, request_id, exc_info=error
                )
                failure = S3Error("InternalError", resource=target.resource)
            elif failure.status >= 500:
                LOGGER.warning("S3 %s %s (request %s): %s", method, target.resource, request_id, failure)
            self._audit(call, name, target, failure.code)
            return failure.response(request_id, head=head, close=_has_body(headers))
        self._audit(call, name, target, "ok")
        # A handler's answer never names the request (an error's carries it already).
        response.raw_headers.append((b"x-amz-request-id", request_id.encode("ascii")))
        return response

    async def _verify(self, request: Request, headers: RequestHeaders) -> tuple[Authenticated, S3Identity]:
        parts = RequestParts.from_scope(request.scope, headers.fields)
        # The key looked up once: the identity whose secret checked the signature is the caller.
        found: list[S3Identity] = []
        secret_for = functools.partial(self._secret_for, found=found)
        try:
            with memory_only():  # the keys are in memory on the server: no thread hop
                auth = self.verifier.verify(parts, lookup=secret_for)
        except NeedsIO:
            auth = await run_in_threadpool(functools.partial(self.verifier.verify, parts, lookup=secret_for))
        return auth, found[-1]

    @staticmethod
    def _audit(call: S3Call | None, name: str, target: Addressed, outcome: str) -> None:
        if call is None or name not in MUTATING:
            return
        audit.record(
            "s3",
            user=call.user.name,
            key=mask_key_id(call.auth.access_key_id),
            operation=name,
            bucket=target.bucket,
            object=target.key,
            outcome=outcome,
            request=call.request_id,
            **call.audit,
        )


def _is_form_upload(method: str, target: Addressed, headers: RequestHeaders) -> bool:
    """A browser-based upload: a POST of a ``multipart/form-data`` form to a bucket."""
    content_type = (headers.get("content-type") or "").lower()
    return method == "POST" and target.key is None and content_type.startswith("multipart/form-data")


def _has_body(headers: RequestHeaders) -> bool:
    """Whether the request has a body, which a failed request may have left unread (or, with
    ``Expect: 100-continue``, the client never sent): then the connection must close."""
    length = headers.get("content-length")
    return bool(headers.get("transfer-encoding")) or (length is not None and length.strip() not in ("", "0"))
