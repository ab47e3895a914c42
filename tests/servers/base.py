"""A tiny HTTP server on 127.0.0.1, in a background thread, that records every request it serves."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

LOOPBACK = "127.0.0.1"
# A client that opens a connection and never speaks must not hold a handler thread for long.
HANDLER_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Request:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json")


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Stop must not wait for handler threads (a client may still hold a connection).
    block_on_close = False

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__((LOOPBACK, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive connection outlives a test.
    protocol_version = "HTTP/1.0"
    timeout = HANDLER_TIMEOUT_SECONDS
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        response = self.server.owner._dispatch(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines may carry tokens, and the test output must not."""


class LoopbackServer:
    """Subclasses implement :meth:`respond`; :attr:`received` lists every request, in order.

    ``with Server() as server:`` or ``start()``/``stop()``. Binds ``127.0.0.1`` on a port the
    kernel picks (port 0), so there is no race for a free port.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Request] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def respond(self, request: Request) -> Response:
        raise NotImplementedError

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self._received.append(request)
        try:
            return self.respond(request)
        except Exception as error:  # a bug in a test server must show as a 500, not a hung client
            return text_response(f"test server error: {type(error).__name__}", 500)

    @property
    def received(self) -> list[Request]:
        with self._lock:
            return list(self._received)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        port: int = self._httpd.server_address[1]
        return port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def iso8601_z(moment: datetime) -> str:
    """``2026-01-02T03:04:05Z``: the form the AWS credential endpoints use (and botocore parses)."""
    if moment.tzinfo is None:
        raise ValueError("give an aware datetime (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ServedCredentials:
    """Temporary credentials a metadata endpoint hands out. The repr hides the secret and the token."""

    access_key_id: str
    secret_access_key: str
    token: str
    expiration: datetime

    def __repr__(self) -> str:
        return (
            f"ServedCredentials(access_key_id={self.access_key_id!r}, secret_access_key=****, "
            f"token=****, expiration={iso8601_z(self.expiration)})"
        )

    @classmethod
    def fake(cls, lifetime: timedelta = timedelta(hours=1)) -> ServedCredentials:
        """Random credentials shaped like AWS's temporary ones (``ASIA...``), valid for ``lifetime``."""
        return cls(
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            token=secrets.token_urlsafe(96),
            expiration=datetime.now(UTC).replace(microsecond=0) + lifetime,
        )
