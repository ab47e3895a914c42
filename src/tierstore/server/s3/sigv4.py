"""Verification of AWS Signature Version 4: who signed a request, and what its body must then be.

    verifier = SigV4Verifier(lookup, region="us-east-1")
    auth = verifier.verify(RequestParts.from_scope(request.scope))   # or raises S3Error
    auth.access_key_id, auth.payload, auth.chunk_signing

**Two forms.** The ``Authorization`` header (``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
Signature=…``, with ``x-amz-date`` or ``Date`` and ``x-amz-content-sha256``), or a presigned query
string (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders``, ``X-Amz-Signature``). A request with neither is anonymous and refused
(``AccessDenied``); one with both is ambiguous and refused (``InvalidArgument``). Signature V2,
SigV4a and other algorithms are ``InvalidRequest``.

**What is checked, in order**, each with S3's error code:

0. the size of what is canonicalized before anything is known of the signer: a path of at most
   8 KiB (``KeyTooLongError``), a query string of at most 16 KiB (``InvalidRequest``), an
   ``Authorization`` header of at most 8 KiB;
1. the form: every field present once and well formed (``AuthorizationHeaderMalformed``, or
   ``AuthorizationQueryParametersError`` for a presigned URL);
2. the time: a header-signed request within 15 minutes of the server's clock either way
   (``RequestTimeTooSkewed``); a presigned URL's ``X-Amz-Expires`` between 0 and 7 days
   (``AuthorizationQueryParametersError``), not yet valid or already expired (``AccessDenied``);
3. the scope: the credential's date is the request's, the service ``s3``, the region the
   gateway's (when one is configured; the error names the right one, and botocore re-signs
   for it);
4. the key: the lookup callable knows the access key id (``InvalidAccessKeyId``);
5. the signature, over the canonical request (:mod:`tierstore.server.s3.canonical`), compared
   in constant time (``SignatureDoesNotMatch``; the answer carries the canonical request and
   string to sign the server computed, as S3's does, with SSE-C keys and session tokens blanked);
6. that every ``x-amz-*`` header the request carries is signed (``AccessDenied``, naming them in
   ``<HeadersNotSigned>``), so that nobody holding a presigned URL, or on the path of a request,
   can add ``x-amz-copy-source``, metadata, tagging or an ACL to it. ``x-amz-content-sha256`` is
   exempt: it is bound to the signature as the canonical request's payload line or checked
   against the body; so are the presigned parameters' names echoed as headers.

**The payload**, from ``x-amz-content-sha256``: a hex SHA-256 (the body is hashed as it streams
and compared at its end: ``XAmzContentSHA256Mismatch``), ``UNSIGNED-PAYLOAD``, or an aws-chunked
form (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` and its ``-TRAILER`` variant, whose chunks chain
from this request's signature, or ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``); see
:mod:`tierstore.server.s3.chunked`. Presigned URLs sign ``UNSIGNED-PAYLOAD`` (or the hash in
``X-Amz-Content-Sha256``).

**Secrets** come from ``lookup`` (access key id → :class:`~tierstore.settings.secret.Secret`
or None); the key store is not this module's concern. They are only ever used to derive signing
keys (:class:`~tierstore.server.s3.signing.SigningKeys`, cached per secret, day, region and
service); no error, log line or repr holds one, and an access key id shows as its first
4 characters.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, NamedTuple
from urllib.parse import quote_from_bytes

from tierstore.server.s3 import canonical
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.signing import (
    ALGORITHM,
    TERMINATOR,
    ChunkSigning,
    SigningKeys,
    sign,
    signatures_equal,
)
from tierstore.settings.secret import Secret, mask_key_id

SERVICE = "s3"
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
# Longer than any real Authorization header (a key id, a scope, some 30 header names and a
# signature); a longer one is refused before it is parsed.
MAX_AUTHORIZATION_LENGTH = 8192
# A request's path and query are canonicalized before anyone is known to have signed them, so
# their size is bounded first: a key is at most 1,024 bytes (3,072 percent-encoded), and the
# longest query S3 clients send (a listing with a long prefix, start-after and continuation
# token, or a presigned URL with a session token) stays well under 16 KiB.
MAX_PATH_BYTES = 8 * 1024
MAX_QUERY_BYTES = 16 * 1024

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_TIMESTAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
# Printable ASCII but "/", at most 128 characters (AWS's own key ids are 16 to 128 letters and
# digits): whatever reaches the key lookup and the logs is plain text of a bounded size.
_KEY_ID = re.compile(r"[!-.0-~]{1,128}")

_PRESIGN_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_PRESIGN_ECHOES = frozenset(name.lower().encode() for name in _PRESIGN_PARAMETERS)
# Header values blanked in the canonical request an error document shows.
_BLANKED = frozenset(
    {
        "x-amz-security-token",
        "x-amz-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key",
    }
)
_SIGV4_ONLY = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."


class Payload(Enum):
    """How the body is sent and what vouches for it (the ``x-amz-content-sha256`` value)."""

    UNSIGNED = "UNSIGNED-PAYLOAD"
    SHA256 = "<hex SHA-256>"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    # By identity: asked several times a request, where an Enum's ``name`` (a descriptor) or
    # its hash (a Python method) costs a call each.
    @property
    def chunked(self) -> bool:
        return self is not Payload.UNSIGNED and self is not Payload.SHA256

    @property
    def signed_chunks(self) -> bool:
        return self is Payload.STREAMING_SIGNED or self is Payload.STREAMING_SIGNED_TRAILER

    @property
    def trailer(self) -> bool:
        return self is Payload.STREAMING_SIGNED_TRAILER or self is Payload.STREAMING_UNSIGNED_TRAILER


_LITERAL_PAYLOADS = {payload.value: payload for payload in Payload if payload is not Payload.SHA256}


class RequestParts(NamedTuple):
    """What a request's signature covers, as the HTTP server received it.
    (A named tuple: made once a request, where a frozen dataclass sets each field by a call.)"""

    method: str
    raw_path: bytes
    query_string: bytes
    headers: Sequence[tuple[bytes, bytes]]
    # ``headers`` by lower-case name (:func:`~.canonical.header_fields`), when the caller has
    # them already; else made from ``headers``.
    fields: canonical.Fields | None = None

    def __repr__(self) -> str:
        # Never the headers: the Authorization header names the whole access key id.
        return f"RequestParts({self.method} {self.raw_path[:80]!r}, {len(self.headers)} headers)"

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any], fields: canonical.Fields | None = None) -> RequestParts:
        """From an ASGI HTTP scope (Starlette's ``request.scope``): the path as sent, not decoded."""
        raw_path = scope.get("raw_path")
        if raw_path is None:
            raw_path = quote_from_bytes(
                str(scope["path"]).encode("utf-8", "surrogateescape"), safe="/"
            ).encode()
        return cls(
            method=str(scope["method"]),
            raw_path=bytes(raw_path),
            query_string=bytes(scope.get("query_string", b"")),
            headers=scope.get("headers", ()),
            fields=fields,
        )


class Authenticated(NamedTuple):
    """A request whose signature holds: who signed it and what its body must be.
    (A named tuple: made once a request, where a frozen dataclass sets each field by a call.)"""

    access_key_id: str
    region: str
    presigned: bool
    payload: Payload
    # The body's SHA-256 (lower-case hex) when ``payload`` is SHA256.
    payload_sha256: str | None = None
    # For the signed aws-chunked forms: the chain the chunks must continue.
    chunk_signing: ChunkSigning | None = None
    # When a presigned URL stops being valid (seconds since the epoch).
    expires_at: float | None = None
    signed_headers: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Authenticated(access_key_id={mask_key_id(self.access_key_id)!r}, region={self.region!r}, "
            f"presigned={self.presigned}, payload={self.payload.name})"
        )


class _Claim(NamedTuple):
    """A signature as the request states it, before anything is checked against a secret.
    (A named tuple: made once a request, where a frozen dataclass sets each field by a call.)"""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    epoch: float
    presigned: bool
    expires: int | None = None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


class SigV4Verifier:
    """Checks the signatures of requests against the secrets ``lookup`` gives.

    ``region``: the one region requests must be signed for; None accepts whatever region a
    client signs for (the signature must still hold for it). ``clock`` gives the server's time
    in seconds since the epoch.
    """

    def __init__(
        self,
        lookup: Callable[[str], Secret | None],
        *,
        region: str | None,
        max_skew: float = MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
        keys: SigningKeys | None = None,
    ) -> None:
        self._lookup = lookup
        self.region = region
        self.max_skew = max_skew
        self._clock = clock
        self._keys = keys or SigningKeys()

    def verify(
        self, request: RequestParts, *, lookup: Callable[[str], Secret | None] | None = None
    ) -> Authenticated:
        """``lookup``: where this request's secret is found, instead of the verifier's own."""
        if len(request.raw_path) > MAX_PATH_BYTES:
            raise S3Error("KeyTooLongError", f"The request's path is longer than {MAX_PATH_BYTES} bytes.")
        if len(request.query_string) > MAX_QUERY_BYTES:
            raise S3Error("InvalidRequest", f"The query string is longer than {MAX_QUERY_BYTES} bytes.")
        fields = request.fields if request.fields is not None else canonical.header_fields(request.headers)
        pairs = canonical.parse_query(request.query_string) if request.query_string else []
        authorization = fields.get(b"authorization")
        if authorization is not None and not (
            authorization[0].strip()
            if len(authorization) == 1
            else any(value.strip() for value in authorization)
        ):
            authorization = None  # an empty header claims nothing: the request is anonymous, as S3 takes it
        presign = bool(pairs) and any(name == b"X-Amz-Algorithm" for name, _ in pairs)
        if authorization is not None and presign:
            raise S3Error(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the "
                "Authorization header should be specified",
                details=[("ArgumentName", "Authorization")],
            )
        if authorization is not None:
            claim = self._header_claim(authorization, fields)
        elif presign:
            claim = self._query_claim(pairs)
        elif any(name in (b"AWSAccessKeyId", b"Signature") for name, _ in pairs):
            raise S3Error("InvalidRequest", _SIGV4_ONLY)
        else:
            raise S3Error(
                "AccessDenied", "Anonymous requests are not accepted: sign requests with an S3 key."
            )
        self._check_scope(claim)
        secret = (lookup or self._lookup)(claim.access_key_id)
        if secret is None:
            raise S3Error(
                "InvalidAccessKeyId",
                f"The access key id {mask_key_id(claim.access_key_id)} does not exist.",
            )
        payload_line, payload, payload_sha256 = _payload(claim, fields, pairs)
        signing_key = self._keys.get(secret.reveal(), claim.date, claim.region, claim.service)
        values, header_block = _signed_values(claim.signed_headers, fields)
        canonical_request = b"\n".join(
            (
                request.method.encode("ascii", "replace"),
                canonical.canonical_uri(request.raw_path).encode("ascii"),
                canonical.canonical_query(
                    pairs, leave_out=b"X-Amz-Signature" if claim.presigned else None
                ).encode("ascii"),
                header_block,
                _signed_list(claim.signed_headers),
                payload_line.encode("latin-1"),
            )
        )
        string_to_sign = "\n".join(
            (ALGORITHM, claim.timestamp, claim.scope, hashlib.sha256(canonical_request).hexdigest())
        )
        computed = sign(signing_key, string_to_sign.encode("ascii"))
        if not signatures_equal(computed, claim.signature):
            shown = dict(zip(claim.signed_headers, values, strict=True))
            raise _mismatch(claim, canonical_request, string_to_sign, shown)
        _check_all_signed(claim, fields)
        return Authenticated(
            access_key_id=claim.access_key_id,
            region=claim.region,
            presigned=claim.presigned,
            payload=payload,
            payload_sha256=payload_sha256,
            chunk_signing=(
                ChunkSigning(signing_key, claim.timestamp, claim.scope, computed)
                if payload.signed_chunks
                else None
            ),
            expires_at=claim.epoch + claim.expires if claim.expires is not None else None,
            signed_headers=claim.signed_headers,
        )

    # The two forms.

    def _header_claim(self, authorization: Sequence[bytes], fields: canonical.Fields) -> _Claim:
        malformed = _header_malformed
        if len(authorization) != 1:
            raise malformed("it is given more than once.")
        value = authorization[0].decode("latin-1").strip()
        if len(value) > MAX_AUTHORIZATION_LENGTH:
            raise malformed(f"it is longer than {MAX_AUTHORIZATION_LENGTH} characters.")
        credential, signed_headers, signature = _authorization_parts(value)
        timestamp, epoch = self._header_time(fields)
        claim = _claim(
            credential, signed_headers, signature, timestamp, epoch, presigned=False, error=malformed
        )
        skew = epoch - self._clock()
        if abs(skew) > self.max_skew:
            raise S3Error(
                "RequestTimeTooSkewed",
                f"The difference between the request time and the server's time is too large "
                f"({abs(skew):.0f} s; at most {self.max_skew:.0f} s).",
                details=[
                    ("RequestTime", timestamp),
                    ("ServerTime", _iso(self._clock())),
                    ("MaxAllowedSkewMilliseconds", str(int(self.max_skew * 1000))),
                ],
            )
        return claim

    def _header_time(self, fields: canonical.Fields) -> tuple[str, float]:
        invalid = _no_valid_date
        amz_date = fields.get(b"x-amz-date")
        if amz_date is not None:
            if len(amz_date) != 1:
                raise invalid()
            parsed = _parse_timestamp(amz_date[0].decode("latin-1").strip())
            if parsed is None:
                raise invalid()
            return parsed
        date = fields.get(b"date")
        if date is None or len(date) != 1:
            raise invalid()
        try:
            when = parsedate_to_datetime(date[0].decode("latin-1"))
        except (TypeError, ValueError):
            raise invalid() from None
        if when.tzinfo is None:
            raise invalid()
        epoch = when.timestamp()
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch)), epoch

    def _query_claim(self, pairs: Sequence[tuple[bytes, bytes]]) -> _Claim:
        def malformed(why: str) -> S3Error:
            return S3Error("AuthorizationQueryParametersError", why)

        found: dict[str, str] = {}
        for name, value in pairs:
            text = name.decode("latin-1")
            if text in _PRESIGN_PARAMETERS or text == "X-Amz-Content-Sha256":
                if text in found:
                    raise malformed(f"{text} is given more than once.")
                try:
                    found[text] = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise malformed(f"{text} is not UTF-8.") from None
        missing = [name for name in _PRESIGN_PARAMETERS if name not in found]
        if missing:
            raise malformed(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters "
                f"(missing: {', '.join(missing)})."
            )
        if found["X-Amz-Algorithm"] != ALGORITHM:
            raise malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        parsed = _parse_timestamp(found["X-Amz-Date"])
        if parsed is None:
            raise malformed(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            )
        timestamp, epoch = parsed
        raw_expires = found["X-Amz-Expires"]
        if not (raw_expires.isascii() and raw_expires.isdigit()) or len(raw_expires) > 7:
            raise malformed("X-Amz-Expires should be a number of seconds from 0 to 604800.")
        expires = int(raw_expires)
        if expires > MAX_PRESIGNED_EXPIRES:
            raise malformed(
                "X-Amz-Expires must be less than a week (in seconds) that is, the given X-Amz-Expires "
                "must be less than 604800 seconds"
            )
        claim = _claim(
            found["X-Amz-Credential"],
            found["X-Amz-SignedHeaders"],
            found["X-Amz-Signature"],
            timestamp,
            epoch,
            presigned=True,
            error=lambda why: malformed(f"Error parsing the X-Amz-Credential parameter; {why}"),
            expires=expires,
        )
        now = self._clock()
        if epoch - now > self.max_skew:
            raise S3Error("AccessDenied", "Request is not valid yet", details=[("ServerTime", _iso(now))])
        if now > epoch + expires:
            raise S3Error(
                "AccessDenied",
                "Request has expired",
                details=[
                    ("X-Amz-Expires", raw_expires),
                    ("Expires", _iso(epoch + expires)),
                    ("ServerTime", _iso(now)),
                ],
            )
        return claim

    def _check_scope(self, claim: _Claim) -> None:
        if claim.date != claim.timestamp[:8]:
            raise _scope_malformed(
                claim.presigned,
                f"Invalid credential date {claim.date!r}. This date is not the same as X-Amz-Date: "
                f"{claim.timestamp[:8]!r}.",
            )
        if claim.service != SERVICE:
            raise _scope_malformed(
                claim.presigned, f"incorrect service {claim.service!r}. This endpoint belongs to 's3'."
            )
        if claim.terminator != TERMINATOR:
            raise _scope_malformed(
                claim.presigned,
                f"incorrect terminal {claim.terminator!r}. This endpoint uses 'aws4_request'.",
            )
        if self.region is not None and claim.region != self.region:
            raise _scope_malformed(
                claim.presigned,
                f"the region {claim.region!r} is wrong; expecting {self.region!r}",
                [("Region", self.region)],
            )


def _authorization_parts(value: str) -> tuple[str, str, str]:
    """An Authorization header's Credential, SignedHeaders and Signature (:func:`_parse_authorization`).

    A client sends the same header but for its signature request after request, so when the
    signature comes last, alone after a comma (as every SDK sends it), what comes before it is
    parsed once (:func:`_authorization_head`) and kept; any other shape is parsed in full.
    """
    head, marker, signature = value.rpartition("Signature=")
    if marker and "," not in signature and "Signature=" not in head and head.rstrip().endswith(","):
        credential, signed_headers, _ = _authorization_head(head)
        return credential, signed_headers, signature
    return _parse_authorization(value)


@functools.lru_cache(maxsize=256)
def _authorization_head(head: str) -> tuple[str, str, str]:
    """:func:`_parse_authorization` of a header up to its last component, ``Signature=``, which
    is given empty here (its value changes every request; nothing else is judged by it)."""
    return _parse_authorization(head + "Signature=")


def _parse_authorization(value: str) -> tuple[str, str, str]:
    """``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``: the three components,
    each once and nothing else, in any order."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise S3Error("InvalidRequest", _SIGV4_ONLY)
    parts: dict[str, str] = {}
    for component in rest.split(","):
        name, equals, part = component.strip().partition("=")
        if not equals or name not in ("Credential", "SignedHeaders", "Signature") or name in parts:
            raise _header_malformed(f"the component {component.strip()[:40]!r} is not expected there.")
        parts[name] = part
    for name in ("Credential", "SignedHeaders", "Signature"):
        if name not in parts:
            raise _header_malformed(f"the {name} component is missing.")
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


# The errors of the checks above, made only when one fails (a nested function would be made
# again on every request).


def _header_malformed(why: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    return S3Error(
        "AuthorizationHeaderMalformed", f"The authorization header is malformed; {why}", details=details
    )


def _no_valid_date() -> S3Error:
    return S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")


def _scope_malformed(presigned: bool, why: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    if presigned:
        return S3Error(
            "AuthorizationQueryParametersError",
            f"Error parsing the X-Amz-Credential parameter; {why}",
            details=details,
        )
    return _header_malformed(why, details)


def _claim(
    credential: str,
    signed_headers: str,
    signature: str,
    timestamp: str,
    epoch: float,
    *,
    presigned: bool,
    error: Callable[[str], S3Error],
    expires: int | None = None,
) -> _Claim:
    parts = _credential_parts(credential)
    if parts is None:
        raise error(
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    names = _signed_names(signed_headers)
    if names is None:
        raise error(f"the SignedHeaders {signed_headers[:80]!r} are not lower-case header names, each once.")
    return _Claim(
        access_key_id=parts[0],
        date=parts[1],
        region=parts[2],
        service=parts[3],
        terminator=parts[4],
        signed_headers=names,
        signature=signature,
        timestamp=timestamp,
        epoch=epoch,
        presigned=presigned,
        expires=expires,
    )


# The parsers below are pure and see the same few texts request after request (a client's
# credential scope and header list; the second it signed in), so each keeps its recent answers.
_PARSED = 256


@functools.lru_cache(maxsize=_PARSED)
def _credential_parts(credential: str) -> tuple[str, ...] | None:
    """The five parts of a Credential (key id, date, region, service, terminator), if well formed."""
    parts = tuple(credential.split("/"))
    if len(parts) != 5 or not _KEY_ID.fullmatch(parts[0]) or not all(parts[1:]):
        return None
    return parts


@functools.lru_cache(maxsize=_PARSED)
def _signed_names(signed_headers: str) -> tuple[str, ...] | None:
    """SignedHeaders' names, if each is a lower-case header name given once."""
    names = tuple(signed_headers.split(";"))
    if not all(_HEADER_NAME.fullmatch(name) for name in names) or len(set(names)) != len(names):
        return None
    return names


@functools.lru_cache(maxsize=_PARSED)
def _encoded_names(names: tuple[str, ...]) -> tuple[bytes, ...]:
    """SignedHeaders' names as the header fields are keyed (bytes)."""
    return tuple(name.encode("ascii") for name in names)


@functools.lru_cache(maxsize=_PARSED)
def _header_lines(names: tuple[str, ...]) -> tuple[tuple[str, bytes, bytes], ...]:
    """Each signed name, as the header fields are keyed (bytes), and its canonical line's start."""
    encoded = _encoded_names(names)
    return tuple((name, field, field + b":") for name, field in zip(names, encoded, strict=True))


@functools.lru_cache(maxsize=_PARSED)
def _encoded_set(names: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(_encoded_names(names))


@functools.lru_cache(maxsize=_PARSED)
def _signed_list(names: tuple[str, ...]) -> bytes:
    """The canonical request's signed-headers line."""
    return ";".join(names).encode("ascii")


@functools.lru_cache(maxsize=_PARSED)
def _parse_timestamp(text: str) -> tuple[str, float] | None:
    """An ISO 8601 basic timestamp (``20130524T000000Z``) and its seconds since the epoch."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(group) for group in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    return text, float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _payload(
    claim: _Claim, fields: canonical.Fields, pairs: Sequence[tuple[bytes, bytes]]
) -> tuple[str, Payload, str | None]:
    """The canonical request's payload line, how the body comes, and the hash it must have."""
    header = fields.get(b"x-amz-content-sha256")
    if header is not None and len(header) != 1:
        raise _bad_content_sha256("it is given more than once")
    stated = header[0].decode("latin-1").strip() if header is not None else None
    if not claim.presigned:
        if stated is None:
            raise S3Error(
                "MissingSecurityHeader",
                "Missing required header for this request: x-amz-content-sha256",
                details=[("MissingHeaderName", "x-amz-content-sha256")],
            )
        payload, sha256 = _payload_of(stated)
        return stated, payload, sha256
    # A presigned URL signs UNSIGNED-PAYLOAD unless it carries the body's hash.
    line = next((value.decode("latin-1") for name, value in pairs if name == b"X-Amz-Content-Sha256"), None)
    if line is not None and line != UNSIGNED_PAYLOAD:
        if not _SHA256_HEX.fullmatch(line):
            raise S3Error(
                "AuthorizationQueryParametersError",
                "X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a SHA-256",
            )
        return line, Payload.SHA256, line.lower()
    if stated is None:
        return UNSIGNED_PAYLOAD, Payload.UNSIGNED, None
    # An unsigned header may still say how the body is framed or what it hashes to; it can
    # only make the body's checks stricter, never vouch for a signature.
    payload, sha256 = _payload_of(stated)
    if payload.signed_chunks:
        raise _bad_content_sha256("a presigned URL cannot sign the chunks of a body")
    return UNSIGNED_PAYLOAD, payload, sha256


def _payload_of(stated: str) -> tuple[Payload, str | None]:
    literal = _LITERAL_PAYLOADS.get(stated)
    if literal is not None:
        return literal, None
    if _SHA256_HEX.fullmatch(stated):
        return Payload.SHA256, stated.lower()
    raise _bad_content_sha256(
        "it must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER), "
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER or the body's SHA-256 in hex"
    )


def _bad_content_sha256(why: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"x-amz-content-sha256: {why}.",
        details=[("ArgumentName", "x-amz-content-sha256")],
    )


def _signed_values(signed: tuple[str, ...], fields: canonical.Fields) -> tuple[list[bytes], bytes]:
    """Each signed header's canonical value, in ``signed``'s order, and the canonical request's
    block of them (``name:value\\n`` each)."""
    if "host" not in signed:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            details=[("HeadersNotSigned", "host")],
        )
    values: list[bytes] = []
    lines: list[bytes] = []
    for name, encoded, prefix in _header_lines(signed):
        found = fields.get(encoded)
        if found is not None:
            value = canonical.canonical_value(found)
        elif name == "expect":
            # Proxies and servers may consume "Expect: 100-continue"; it is what was signed.
            value = b"100-continue"
        else:
            raise S3Error(
                "SignatureDoesNotMatch",
                f"The signed header {name!r} is not in the request.",
            )
        values.append(value)
        lines += (prefix, value, b"\n")
    return values, b"".join(lines)


def _check_all_signed(claim: _Claim, fields: canonical.Fields) -> None:
    signed = _encoded_set(claim.signed_headers)
    for name in fields:  # most requests sign every x-amz-* header they send: looked over once
        if name.startswith(b"x-amz-") and name not in signed and name != b"x-amz-content-sha256":
            break
    else:
        return
    unsigned = sorted(
        name.decode("latin-1")
        for name in fields
        if name.startswith(b"x-amz-")
        and name not in signed
        and name != b"x-amz-content-sha256"
        and not (claim.presigned and name in _PRESIGN_ECHOES)
    )
    if unsigned:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            details=[("HeadersNotSigned", ", ".join(unsigned))],
        )


def _mismatch(
    claim: _Claim, canonical_request: bytes, string_to_sign: str, values: Mapping[str, bytes]
) -> S3Error:
    shown = canonical_request
    blanked = [name for name in claim.signed_headers if name in _BLANKED]
    if blanked:
        lines = canonical_request.split(b"\n")
        for index, line in enumerate(lines):
            name = line.partition(b":")[0].decode("latin-1")
            if name in blanked and line == name.encode() + b":" + values[name]:
                lines[index] = name.encode() + b":****"
        shown = b"\n".join(lines)
    return S3Error(
        "SignatureDoesNotMatch",
        details=[
            ("StringToSign", string_to_sign),
            ("CanonicalRequest", shown.decode("utf-8", "replace")),
        ],
    )
