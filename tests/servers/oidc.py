"""An OpenID Connect issuer: discovery document, JWKS and RS256 ID tokens, for AssumeRoleWithWebIdentity."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.servers.base import LoopbackServer, Request, Response, json_response, text_response
from tierstore.local import OidcProvider, StackInfo

CLIENT_ID = "tierstore-tests"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
ALGORITHM = "RS256"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcIssuer(LoopbackServer):
    """Issuer ``http://127.0.0.1:PORT`` with one RSA key (``kid``) generated when it is made.

    :attr:`requests` lists ``(method, path)`` of every request, e.g. SeaweedFS fetching the JWKS.
    """

    def __init__(self, client_id: str = CLIENT_ID) -> None:
        super().__init__()
        self.client_id = client_id
        self.kid = secrets.token_hex(8)
        self._key = new_rsa_key()

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}{JWKS_PATH}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return [(request.method, request.path) for request in self.received]

    def provider(self) -> OidcProvider:
        """What the local stack needs to trust this issuer."""
        return OidcProvider(issuer=self.issuer, client_id=self.client_id, jwks_uri=self.jwks_uri)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": [public]}

    def token(
        self,
        subject: str = "workload",
        audience: str = CLIENT_ID,
        lifetime_seconds: int = 3600,
        *,
        signing_key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """An RS256 JWT from this issuer: iss, aud, sub, iat, exp, then ``claims`` (which may override).

        A negative ``lifetime_seconds`` gives an expired token. ``signing_key`` signs with another
        key under this issuer's ``kid`` (a forgery the JWKS must expose).
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime_seconds,
        }
        payload.update(claims)
        return self.sign(payload, signing_key=signing_key)

    def sign(
        self,
        payload: dict[str, Any],
        *,
        signing_key: rsa.RSAPrivateKey | None = None,
        kid: str | None = "",
    ) -> str:
        """``payload`` as an RS256 JWT, exactly: ``kid`` "" is this issuer's, None leaves it out."""
        key = self._key if signing_key is None else signing_key
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers=headers)

    def respond(self, request: Request) -> Response:
        if request.method != "GET":
            return text_response("method not allowed", 405)
        path = request.path.split("?", 1)[0]
        if path == DISCOVERY_PATH:
            return json_response(self.discovery())
        if path == JWKS_PATH:
            return json_response(self.jwks())
        return text_response("not found", 404)


@dataclass(frozen=True)
class OidcStack:
    """A local stack whose SeaweedFS trusts :attr:`issuer` (provider ``local-oidc``)."""

    issuer: OidcIssuer
    stack: StackInfo

    @property
    def endpoint(self) -> str:
        """S3 and STS (STS is served on the S3 port)."""
        return self.stack.endpoint

    @property
    def role_arn(self) -> str:
        """``WebIdentityRole``: read-only on every bucket, trusts ``Federated: local-oidc``."""
        return self.stack.roles["WebIdentityRole"]
