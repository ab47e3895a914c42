"""S3's errors: the codes the gateway answers, each with its HTTP status and default message, and
the XML error document they are sent as.

    raise S3Error("NoSuchKey", resource="/bucket/a.txt")
    ...
    error.response(request_id)      # 404, <Error><Code>NoSuchKey</Code>...</Error>

**Retries follow from the status and the code**, so both must be S3's own: botocore's standard
mode retries a status of 500, 502, 503 or 504 and the codes ``RequestTimeout`` (at any status)
and the throttling ``SlowDown``; its legacy mode also retries ``BadDigest``. So only
``InternalError`` (500), ``SlowDown`` (503) and ``RequestTimeout`` (400) are retried by SDKs;
``NotImplemented`` is 501, which none of them retries. Every other code here is a 3xx or 4xx
the client must act on. :data:`RETRYABLE` names the retried ones; a test checks it against a
real botocore client.

**What the document may say.** Messages never hold a secret: an access key id appears as its
first 4 characters (:func:`~tierstore.settings.secret.mask_key_id`), never a secret key or a
signature the server computed. The extra fields S3 adds for some codes (``<Region>`` for a
wrong region, ``<HeadersNotSigned>``, ``<CanonicalRequest>`` and ``<StringToSign>`` for a
signature that does not match, ``<ServerTime>`` for a skewed clock, ``<ArgumentName>`` for an
invalid argument) are passed as ``details`` and written after the standard four. Clients use
some of them: botocore re-signs for the region named in ``<Region>``.

**Bodies.** A HEAD request's error has no body (HEAD answers carry none), and ``NotModified``
(304) never has one.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from starlette.responses import Response

from tierstore.server.s3.xmltext import escape_text


@dataclass(frozen=True)
class ErrorKind:
    """One S3 error code: its HTTP status and the message S3 sends when nothing more is known."""

    status: int
    message: str


ERRORS: Mapping[str, ErrorKind] = {
    # Authentication.
    "AccessDenied": ErrorKind(403, "Access Denied"),
    "InvalidAccessKeyId": ErrorKind(403, "The AWS access key Id you provided does not exist in our records."),
    "SignatureDoesNotMatch": ErrorKind(
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "RequestTimeTooSkewed": ErrorKind(
        403, "The difference between the request time and the current time is too large."
    ),
    "AuthorizationHeaderMalformed": ErrorKind(400, "The authorization header you provided is invalid."),
    "AuthorizationQueryParametersError": ErrorKind(
        400, "The authorization query parameters you provided are invalid."
    ),
    "MissingContentLength": ErrorKind(411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": ErrorKind(400, "Your request is missing a required header."),
    "InvalidRequest": ErrorKind(400, "Invalid Request"),
    "InvalidURI": ErrorKind(400, "Couldn't parse the specified URI."),
    # Buckets and objects.
    "NoSuchBucket": ErrorKind(404, "The specified bucket does not exist."),
    "NoSuchKey": ErrorKind(404, "The specified key does not exist."),
    "BucketNotEmpty": ErrorKind(409, "The bucket you tried to delete is not empty."),
    "BucketAlreadyOwnedByYou": ErrorKind(
        409, "Your previous request to create the named bucket succeeded and you already own it."
    ),
    "InvalidBucketName": ErrorKind(400, "The specified bucket is not valid."),
    "BucketAlreadyExists": ErrorKind(
        409, "The requested bucket name is not available. Select a different name and try again."
    ),
    "KeyTooLongError": ErrorKind(400, "Your key is too long"),
    "MetadataTooLarge": ErrorKind(400, "Your metadata headers exceed the maximum allowed metadata size."),
    # Multipart uploads.
    "NoSuchUpload": ErrorKind(
        404,
        "The specified multipart upload does not exist. The upload ID might be invalid, "
        "or the multipart upload might have been aborted or completed.",
    ),
    "InvalidPart": ErrorKind(
        400,
        "One or more of the specified parts could not be found. The part might not have been "
        "uploaded, or the specified entity tag might not have matched the part's entity tag.",
    ),
    "InvalidPartOrder": ErrorKind(
        400,
        "The list of parts was not in ascending order. The parts list must be specified in order "
        "by part number.",
    ),
    "EntityTooSmall": ErrorKind(400, "Your proposed upload is smaller than the minimum allowed object size."),
    "EntityTooLarge": ErrorKind(400, "Your proposed upload exceeds the maximum allowed object size."),
    # Reads and conditions.
    "InvalidRange": ErrorKind(416, "The requested range is not satisfiable"),
    "InvalidPartNumber": ErrorKind(416, "The requested partnumber is not satisfiable"),
    "PreconditionFailed": ErrorKind(412, "At least one of the pre-conditions you specified did not hold"),
    "NotModified": ErrorKind(304, "Not Modified"),
    # Request bodies and arguments.
    "MalformedXML": ErrorKind(
        400,
        "The XML you provided was not well-formed or did not validate against our published schema.",
    ),
    "InvalidArgument": ErrorKind(400, "Invalid Argument"),
    "InvalidDigest": ErrorKind(400, "The Content-MD5 you specified is not valid."),
    "BadDigest": ErrorKind(400, "The Content-MD5 you specified did not match what was received."),
    "XAmzContentSHA256Mismatch": ErrorKind(
        400, "The provided 'x-amz-content-sha256' header does not match what was computed."
    ),
    "MalformedTrailerError": ErrorKind(
        400,
        "The request contained trailing data that was not well-formed or did not conform to our "
        "published schema.",
    ),
    "InvalidChunkSizeError": ErrorKind(
        403, "Only the last chunk is allowed to have a size less than 8192 bytes"
    ),
    "IncompleteBody": ErrorKind(
        400, "You did not provide the number of bytes specified by the Content-Length HTTP header."
    ),
    "RequestTimeout": ErrorKind(
        400,
        "Your socket connection to the server was not read from or written to within the timeout "
        "period. Idle connections will be closed.",
    ),
    # The gateway itself.
    "NotImplemented": ErrorKind(501, "A header you provided implies functionality that is not implemented."),
    "MethodNotAllowed": ErrorKind(405, "The specified method is not allowed against this resource."),
    "InternalError": ErrorKind(500, "We encountered an internal error. Please try again."),
    "SlowDown": ErrorKind(503, "Please reduce your request rate."),
    "ServiceUnavailable": ErrorKind(503, "Please reduce your request rate."),
}

# The codes SDKs retry (see the module's docstring); every other one is final.
RETRYABLE = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"})

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def new_request_id() -> str:
    """A request id as S3 writes them: 16 upper-case hex digits, unique enough to find in a log:
    this process's random 32 bits, then a count. A request id needs no secrecy (an S3 client
    shows it), and drawing it from the random source cost a system call on every request."""
    return _REQUEST_IDS.next()


class _RequestIds:
    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """A forked worker draws its own prefix: its ids never repeat its parent's or siblings'."""
        self.prefix = f"{secrets.randbits(32):08X}"
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count) & 0xFFFFFFFF:08X}"


_REQUEST_IDS = _RequestIds()
os.register_at_fork(after_in_child=_REQUEST_IDS.reseed)


class S3Error(Exception):
    """An S3 error answer: ``code`` (a key of :data:`ERRORS`), a message (the code's default when
    none is given), the resource it concerns (``/bucket/key``), extra ``details`` written as
    elements of their own, and headers to send with it."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        resource: str = "",
        details: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        kind = ERRORS.get(code)
        if kind is None:
            raise ValueError(f"{code!r} is not an S3 error code the gateway answers")
        self.code = code
        self.status = kind.status
        self.message = message or kind.message
        self.resource = resource
        self.details = tuple(details)
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def with_resource(self, resource: str) -> S3Error:
        """This error about ``resource`` (kept when one is already named)."""
        if not self.resource:
            self.resource = resource
        return self

    def document(self, request_id: str) -> bytes:
        """The XML error document, as S3 writes it."""
        parts = [
            "<Error><Code>",
            self.code,
            "</Code><Message>",
            escape_text(self.message),
            "</Message>",
        ]
        for name, value in self.details:
            parts += ["<", name, ">", escape_text(value), "</", name, ">"]
        parts += [
            "<Resource>",
            escape_text(self.resource),
            "</Resource><RequestId>",
            request_id,
            "</RequestId></Error>",
        ]
        return XML_DECLARATION + "".join(parts).encode()

    def response(self, request_id: str, *, head: bool = False, close: bool = False) -> Response:
        """The answer: the status, ``x-amz-request-id`` and the document (none for HEAD or 304).

        ``close``: end the connection after the answer. An error given before a request's body
        was read must: a client that sent ``Expect: 100-continue`` then never sends the body and
        sends its next request on the connection, where the server would read it as that body;
        reading and dropping the body instead would let anyone make the server read without
        end.
        """
        headers = {"x-amz-request-id": request_id, **self.headers}
        if close:
            headers["Connection"] = "close"
        if head or self.status == 304:
            return Response(status_code=self.status, headers=headers)
        return Response(
            self.document(request_id),
            status_code=self.status,
            headers=headers,
            media_type="application/xml",
        )
