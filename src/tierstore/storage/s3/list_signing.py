"""ListObjectsV2 requests signed here (AWS Signature Version 4, in the Authorization header)
rather than by botocore's presigner.

botocore's presigner walks its whole request pipeline (endpoint rules, events, a long query
to encode): 0.45 ms of CPU per request, measured, and a presigned URL's long query costs
urllib3 as much again to re-encode. A write through the namespace lists once to learn what its
key is (``S3Store.kind``), so on the S3 gateway's PUT path that was a third of the server's work.

botocore still decides where the bucket is: one presigned URL at first use gives the scheme,
host and path of the bucket (path or virtual-hosted style, custom endpoints, regions) and the
region it signs for (from the URL's credential scope). Each request after that is signed here
with the store's current credentials (refreshed by their source as before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from tierstore.credentials.source import CredentialSource
from tierstore.sigv4_keys import SigningKeys, sign

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED = "UNSIGNED-PAYLOAD"
# botocore's ListObjectsV2 parameter names -> the query's.
_QUERY_NAMES = {
    "Prefix": "prefix",
    "MaxKeys": "max-keys",
    "EncodingType": "encoding-type",
    "Delimiter": "delimiter",
    "ContinuationToken": "continuation-token",
    "StartAfter": "start-after",
}


@dataclass(frozen=True)
class SignedRequest:
    """A GET to send as it is: its URL and the headers its signature covers (kept out of the
    repr: they carry the signature and any session token)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BucketAddress:
    """Where a bucket's requests go and what region they are signed for."""

    base: str  # scheme://host[:port]/path, no query
    host: str  # as sent in the Host header
    path: str  # the canonical URI
    region: str

    @classmethod
    def from_presigned(cls, url: str) -> BucketAddress | None:
        """From a presigned URL of the bucket; None when it carries no SigV4 credential scope."""
        parts = urlsplit(url)
        credential = dict(parse_qsl(parts.query)).get("X-Amz-Credential", "")
        scope = credential.split("/")
        if len(scope) != 5 or scope[3] != "s3":
            return None
        return cls(f"{parts.scheme}://{parts.netloc}{parts.path}", parts.netloc, parts.path or "/", scope[2])


def _encoded(text: str) -> str:
    return quote(text, safe="-_.~")


class ListSigner:
    """Signs ListObjectsV2 requests for one bucket with ``credentials``' current keys."""

    def __init__(self, address: BucketAddress, credentials: CredentialSource) -> None:
        self._address = address
        self._credentials = credentials
        self._keys = SigningKeys(capacity=4)

    def __repr__(self) -> str:
        return f"ListSigner({self._address.base}, {self._address.region})"

    def __call__(self, params: Mapping[str, Any], seconds: int = 0) -> SignedRequest:
        """``params`` as botocore names them (``Prefix``, ``MaxKeys``...); ``seconds`` is unused
        (a header signature is checked against the request's time, not an expiry)."""
        address = self._address
        query = {"list-type": "2"}
        query.update((name, str(params[key])) for key, name in _QUERY_NAMES.items() if key in params)
        canonical_query = "&".join(
            f"{_encoded(name)}={_encoded(value)}" for name, value in sorted(query.items())
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        credentials = self._credentials.credentials()
        headers = {"host": address.host, "x-amz-content-sha256": _UNSIGNED, "x-amz-date": stamp}
        if credentials.session_token is not None:
            headers["x-amz-security-token"] = credentials.session_token.reveal()
        names = sorted(headers)
        signed_headers = ";".join(names)
        canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in names)
        canonical = (
            f"GET\n{address.path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{_UNSIGNED}"
        )
        scope = f"{day}/{address.region}/s3/aws4_request"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        key = self._keys.get(credentials.secret_access_key.reveal(), day, address.region, "s3")
        signature = sign(key, f"{_ALGORITHM}\n{stamp}\n{scope}\n{digest}".encode())
        headers["authorization"] = (
            f"{_ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        return SignedRequest(f"{address.base}?{canonical_query}", headers)
