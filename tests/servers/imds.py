"""EC2 instance metadata, IMDSv2 only: a session token first, then the role name, then its credentials.

- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds: 1..21600`` -> a token
  (400 without a valid TTL).
- ``GET /latest/meta-data/iam/security-credentials/`` -> the role name.
- ``GET /latest/meta-data/iam/security-credentials/ROLE`` -> ``{"Code": "Success", "LastUpdated",
  "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}``.

Every GET needs ``X-aws-ec2-metadata-token`` set to a token this server issued and that has not
expired, else 401 (IMDSv1 is refused, as on an instance with ``HttpTokens=required``).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import NamedTuple

from tests.servers.base import (
    LoopbackServer,
    Request,
    Response,
    ServedCredentials,
    iso8601_z,
    json_response,
    text_response,
)

TOKEN_PATH = "/latest/api/token"
CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TTL_SECONDS = 21600
ROLE_NAME = "tierstore-instance-role"


class ImdsRequest(NamedTuple):
    method: str
    path: str
    had_token: bool
    """Whether it carried a token this server issued that was still valid."""


class InstanceMetadataService(LoopbackServer):
    """One role (``role_name``) with one set of credentials (random until :meth:`set_credentials`)."""

    def __init__(self, role_name: str = ROLE_NAME) -> None:
        super().__init__()
        self.role_name = role_name
        self._state_lock = threading.Lock()
        self._credentials = ServedCredentials.fake()
        self._updated = datetime.now(UTC)
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._requests: list[ImdsRequest] = []

    @property
    def credentials(self) -> ServedCredentials:
        with self._state_lock:
            return self._credentials

    def set_credentials(
        self, access_key_id: str, secret_access_key: str, token: str, expiration: datetime
    ) -> None:
        with self._state_lock:
            self._credentials = ServedCredentials(access_key_id, secret_access_key, token, expiration)
            self._updated = datetime.now(UTC)

    @property
    def requests(self) -> list[ImdsRequest]:
        with self._state_lock:
            return list(self._requests)

    @property
    def tokens_issued(self) -> int:
        with self._state_lock:
            return len(self._tokens)

    def _token_is_valid(self, token: str | None) -> bool:
        if token is None:
            return False
        with self._state_lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def respond(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        had_token = self._token_is_valid(request.headers.get(TOKEN_HEADER))
        with self._state_lock:
            self._requests.append(ImdsRequest(request.method, path, had_token))
        if path == TOKEN_PATH:
            return self._issue_token(request)
        if request.method != "GET":
            return text_response("method not allowed", 405)
        if not path.startswith(CREDENTIALS_PATH):
            return text_response("not found", 404)
        if not had_token:
            return text_response("unauthorized", 401)
        role = path.removeprefix(CREDENTIALS_PATH)
        if role == "":
            return text_response(self.role_name)
        if role != self.role_name:
            return text_response("not found", 404)
        with self._state_lock:
            served, updated = self._credentials, self._updated
        return json_response(
            {
                "Code": "Success",
                "LastUpdated": iso8601_z(updated),
                "Type": "AWS-HMAC",
                "AccessKeyId": served.access_key_id,
                "SecretAccessKey": served.secret_access_key,
                "Token": served.token,
                "Expiration": iso8601_z(served.expiration),
            }
        )

    def _issue_token(self, request: Request) -> Response:
        if request.method != "PUT":
            return text_response("method not allowed", 405)
        try:
            ttl = int(request.headers.get(TTL_HEADER, ""))
        except ValueError:
            return text_response("missing or invalid token TTL", 400)
        if not 1 <= ttl <= MAX_TTL_SECONDS:
            return text_response("missing or invalid token TTL", 400)
        token = secrets.token_urlsafe(32)
        with self._state_lock:
            self._tokens[token] = time.monotonic() + ttl
        return Response(200, token.encode(), "text/plain", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
