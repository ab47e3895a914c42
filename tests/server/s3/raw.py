"""Requests made by hand for what boto3 does not send (a control character in a query value, a
body cut short, ``Expect: 100-continue``, an aws-chunked body over plain HTTP, a DeleteObjects
without Content-MD5): signed by botocore's own SigV4 signer, sent by httpx or a bare socket."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tierstore.settings.secret import Secret

UNSIGNED = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Key:
    """An S3 access key of the gateway: its id and secret."""

    access_key_id: str
    secret: Secret


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, with the payload line given (``UNSIGNED-PAYLOAD``, a streaming
    literal) instead of the body's hash when one is."""

    def __init__(self, credentials: Credentials, payload: str | None) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        if self._payload is not None:
            return self._payload
        return hashlib.sha256(request.body or b"").hexdigest()


def signed_headers(
    method: str,
    url: str,
    key: Key,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    payload: str | None = None,
) -> dict[str, str]:
    """The request's headers with its SigV4 Authorization (``url`` already percent-encoded)."""
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    _Signer(Credentials(key.access_key_id, key.secret.reveal()), payload).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def send(
    method: str,
    url: str,
    key: Key,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    payload: str | None = None,
) -> httpx.Response:
    signed = signed_headers(method, url, key, headers=headers, body=body, payload=payload)
    # As UTF-8 bytes, as botocore signed them: httpx would refuse a value that is not ASCII.
    raw = {name: value.encode("utf-8") for name, value in signed.items()}
    with httpx.Client(timeout=60) as client:
        return client.request(method, url, headers=raw, content=body)


def error_code(response: httpx.Response) -> str:
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


class RawConnection:
    """One HTTP/1.1 connection spoken by hand: for bodies cut short and 100-continue."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self._buffer = b""

    def send_head(self, method: str, target: str, headers: Mapping[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def read_head(self) -> tuple[int, dict[str, str]]:
        """The status and headers of the next answer (a ``100 Continue`` is an answer too)."""
        while b"\r\n\r\n" not in self._buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"the connection closed before an answer: {self._buffer[:200]!r}")
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), fields

    def read_body(self, length: int) -> bytes:
        while len(self._buffer) < length:
            data = self.sock.recv(65536)
            if not data:
                break
            self._buffer += data
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def recv(self, size: int) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()
