"""The ECS/EKS container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``).

``GET <path>`` with ``Authorization: <token>`` answers
``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`` (Expiration ISO 8601 with ``Z``);
a missing or wrong ``Authorization`` gets 401, any other path 404.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime

from tests.servers.base import (
    LoopbackServer,
    Request,
    Response,
    ServedCredentials,
    iso8601_z,
    json_response,
)

CREDENTIALS_PATH = "/v1/credentials"
ACCOUNT_ID = "000000000000"


class ContainerCredentialsEndpoint(LoopbackServer):
    """Serves one set of credentials (random until :meth:`set_credentials`) to one token.

    :attr:`requests` lists ``(path, Authorization header or None)`` in arrival order.
    """

    def __init__(self, auth_token: str | None = None, path: str = CREDENTIALS_PATH) -> None:
        super().__init__()
        self.auth_token = auth_token if auth_token is not None else secrets.token_urlsafe(24)
        self.path = path
        self._credentials_lock = threading.Lock()
        self._credentials = ServedCredentials.fake()

    @property
    def full_uri(self) -> str:
        """For ``AWS_CONTAINER_CREDENTIALS_FULL_URI``."""
        return f"{self.url}{self.path}"

    @property
    def credentials(self) -> ServedCredentials:
        with self._credentials_lock:
            return self._credentials

    def set_credentials(
        self, access_key_id: str, secret_access_key: str, token: str, expiration: datetime
    ) -> None:
        with self._credentials_lock:
            self._credentials = ServedCredentials(access_key_id, secret_access_key, token, expiration)

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return [(request.path, request.headers.get("authorization")) for request in self.received]

    def respond(self, request: Request) -> Response:
        if request.method != "GET" or request.path != self.path:
            return json_response({"code": "NotFound", "message": "no such credentials path"}, 404)
        # Compared in constant time, as a real agent would.
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), self.auth_token.encode()):
            return json_response({"code": "AccessDenied", "message": "missing or wrong Authorization"}, 401)
        served = self.credentials
        return json_response(
            {
                "AccessKeyId": served.access_key_id,
                "SecretAccessKey": served.secret_access_key,
                "Token": served.token,
                "Expiration": iso8601_z(served.expiration),
                "AccountId": ACCOUNT_ID,
            }
        )
