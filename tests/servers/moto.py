"""moto's server (``moto_server``) as an STS/IAM endpoint with authorization turned on.

Which server enforces what (measured, see shared/TEST-STACK.md):

- moto enforces the ``sts:ExternalId`` trust condition (a right value passes, a wrong one is
  ``AccessDenied``; a missing one is wrongly allowed), user policies and trust principals.
  Its GetSessionToken answers with AWS's fixed example credentials, which it then refuses; it
  does not enforce session policies or expiry, and AssumeRoleWithWebIdentity crashes (500).
- SeaweedFS does not support ``sts:ExternalId`` (a condition on it always denies) nor
  GetSessionToken, so ExternalId and the GetSessionToken call shape are tested here only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from botocore.config import Config

from tests.servers.base import LOOPBACK
from tierstore.local import UserKeys
from tierstore.settings.secret import Secret

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

USER_NAME = "tierstore-admin"
ROLE_NAME = "ExternalIdRole"
EXTERNAL_ID = "tierstore-external-id"
REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 30.0
START_ATTEMPTS = 3
# Used only while authorization is still off (moto accepts any keys then).
_SETUP_KEY = "moto-setup"


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


def _moto_server_binary() -> Path:
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: install the dev extra (moto[server])")
    return binary


def _http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        body: bytes = response.read()
    return body


class MotoServer:
    """``moto_server -H 127.0.0.1 -p PORT`` in a subprocess, provisioned, then with auth on.

    After :meth:`start`: :attr:`endpoint`, :attr:`user_keys` (the user ``tierstore-admin``),
    :attr:`user_arn`, :attr:`role_arn` (``ExternalIdRole``, trusting that user only with
    :attr:`external_id`) and :attr:`account_id`.
    """

    def __init__(self) -> None:
        self.external_id = EXTERNAL_ID
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="tierstore-moto-"))
        self._log = self._log_dir / "moto.log"
        self._port: int | None = None
        self._user_keys: UserKeys | None = None
        self.user_arn = ""
        self.role_arn = ""
        self.account_id = ""

    @property
    def endpoint(self) -> str:
        if self._port is None:
            raise RuntimeError("moto is not running")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def user_keys(self) -> UserKeys:
        if self._user_keys is None:
            raise RuntimeError("moto is not provisioned")
        return self._user_keys

    def sts(self, access_key_id: str, secret_access_key: str, session_token: str | None = None) -> STSClient:
        client: STSClient = boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=Config(region_name=REGION, retries={"mode": "standard", "max_attempts": 1}),
        )
        return client

    def user_sts(self) -> STSClient:
        keys = self.user_keys
        return self.sts(keys.access_key_id, keys.secret_access_key.reveal())

    def start(self) -> Self:
        try:
            for attempt in range(START_ATTEMPTS):
                self._port = _free_loopback_port()
                if self._launch():
                    break
                if attempt == START_ATTEMPTS - 1:
                    raise RuntimeError(f"moto_server did not start: {self._log_tail()}")
            self._provision()
            self._enable_auth()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> bool:
        """Start it on :attr:`_port`; False when it died at once (another process took the port)."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(_moto_server_binary()), "-H", LOOPBACK, "-p", str(self._port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                _http(f"{self.endpoint}/moto-api/data.json")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
                continue
            return True
        raise RuntimeError(f"moto_server not ready after {READY_TIMEOUT_SECONDS:.0f} s: {self._log_tail()}")

    def _provision(self) -> None:
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id=_SETUP_KEY,
            aws_secret_access_key=_SETUP_KEY,
            config=Config(region_name=REGION),
        )
        self.user_arn = iam.create_user(UserName=USER_NAME)["User"]["Arn"]
        self.account_id = self.user_arn.split(":")[4]
        key = iam.create_access_key(UserName=USER_NAME)["AccessKey"]
        self._user_keys = UserKeys(key["AccessKeyId"], Secret(key["SecretAccessKey"]))
        user_policy: dict[str, Any] = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["sts:AssumeRole", "sts:GetSessionToken", "sts:GetCallerIdentity"],
                    "Resource": "*",
                },
                # Admin-ish: later tests may add roles and policies with auth on.
                {"Effect": "Allow", "Action": ["iam:*"], "Resource": "*"},
            ],
        }
        iam.put_user_policy(
            UserName=USER_NAME, PolicyName="sts-and-iam", PolicyDocument=json.dumps(user_policy)
        )
        trust: dict[str, Any] = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": self.user_arn},
                    "Action": "sts:AssumeRole",
                    # Enforced by moto (SeaweedFS would deny every request with this condition).
                    "Condition": {"StringEquals": {"sts:ExternalId": self.external_id}},
                }
            ],
        }
        role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        self.role_arn = role["Arn"]

    def _enable_auth(self) -> None:
        """From now on every request is authenticated and authorized (the count of free actions: 0)."""
        answer = json.loads(
            _http(f"{self.endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"})
        )
        if answer.get("status") != "ok":
            raise RuntimeError(f"moto did not turn authorization on: {answer}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self._log.read_text(errors="replace")[-2000:]
        return "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._log_dir.rmdir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
