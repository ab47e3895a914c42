"""Loopback servers for faults no real store shows on demand.

- :class:`BlackHole` accepts TCP connections and never answers a byte.
- :class:`FlakyS3` answers like a one-object S3 bucket, except that its first ``failures``
  requests get ``503 SlowDown``; it counts the requests it saw, by method.
- :class:`Forwarder` relays TCP to a real server and records the head of every HTTP request
  that passes (method, target, headers), to see what a client really sent.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from types import TracebackType
from typing import Self


class BlackHole:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(connection)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


OBJECT_KEY = "data.bin"
OBJECT_BODY = bytes(range(256)) * 64
_ETAG = '"0123456789abcdef0123456789abcdef"'
_SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


class FlakyS3:
    def __init__(self, *, failures: int, bucket: str = "flaky") -> None:
        self.failures = failures
        self.bucket = bucket
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _object(self, modified: str) -> None:
                size = len(OBJECT_BODY)
                headers = {"ETag": _ETAG, "Last-Modified": modified, "Accept-Ranges": "bytes"}
                asked = self.headers.get("Range", "")
                if not asked.startswith("bytes="):
                    self._answer(200, OBJECT_BODY, headers)
                    return
                first_text, _, last_text = asked.removeprefix("bytes=").partition("-")
                first = int(first_text)
                last = min(int(last_text) if last_text else size - 1, size - 1)
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
                self._answer(206, OBJECT_BODY[first : last + 1], headers)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with owner._lock:
                    owner.seen[self.command] += 1
                    fail = sum(owner.seen.values()) <= owner.failures
                if fail:
                    self._answer(503, _SLOW_DOWN, {"Content-Type": "application/xml"})
                    return
                path = self.path.split("?", 1)[0]
                object_path = f"/{owner.bucket}/{OBJECT_KEY}"
                modified = formatdate(usegmt=True)
                if self.command == "PUT":
                    self._answer(200, b"", {"ETag": _ETAG})
                elif self.command in ("GET", "HEAD") and path == object_path:
                    self._object(modified)
                elif self.command == "GET" and path.rstrip("/") == f"/{owner.bucket}":
                    listing = (
                        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                        f"<Name>{owner.bucket}</Name><Prefix></Prefix><KeyCount>1</KeyCount>"
                        "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
                        f"<Contents><Key>{OBJECT_KEY}</Key><LastModified>2026-01-01T00:00:00.000Z"
                        f"</LastModified><ETag>{_ETAG}</ETag><Size>{len(OBJECT_BODY)}</Size>"
                        "<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"
                    ).encode()
                    self._answer(200, listing, {"Content-Type": "application/xml"})
                else:
                    self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")

            def do_GET(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class Forwarder:
    """TCP relay to ``127.0.0.1:upstream_port`` that records the request heads passing through."""

    def __init__(
        self,
        upstream_port: int,
        *,
        lose_answer_to: Callable[[RequestHead], bool] | None = None,
        cut_answers: tuple[int, int] = (0, 0),
    ) -> None:
        """``lose_answer_to``: the first request it matches reaches the server, but its client's
        connection is then closed before any answer (a response lost in an outage).
        ``cut_answers=(times, after)``: the first ``times`` connections that carry more than
        ``after`` bytes back to the client are closed there, mid-body."""
        self.upstream_port = upstream_port
        # Set: answers are held back (a server that has the request and never answers) until
        # cleared or the forwarder closes.
        self.hold_answers = threading.Event()
        self._closed = threading.Event()
        self._lose_answer_to = lose_answer_to
        self.lost_answers = 0
        self._cuts_left, self._cut_after = cut_answers
        self.cuts = 0
        self.requests: list[RequestHead] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
            # Set when this connection's answer is to be lost: from then on nothing goes back.
            lost = threading.Event()
            threading.Thread(target=self._requests, args=(client, upstream, lost), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, lost), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, lost: threading.Event) -> None:
        """Relay client bytes, reading each request head and skipping its Content-Length body.

        A head is recorded before its bytes go on, so it is in ``requests`` before any answer to
        it can come back: counting requests right after a call needs no waiting.
        """
        buffered = b""
        body_left = 0
        parsing = True
        while True:
            try:
                data = client.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)
                return
            lose = False
            if parsing:
                buffered += data
            while parsing and not lose:
                if body_left:
                    skipped = min(body_left, len(buffered))
                    buffered, body_left = buffered[skipped:], body_left - skipped
                    if body_left:
                        break
                end = buffered.find(b"\r\n\r\n")
                if end < 0:
                    break
                head, buffered = buffered[:end].decode("latin-1"), buffered[end + 4 :]
                lines = head.split("\r\n")
                method, target, *_ = [*lines[0].split(" "), "", ""]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                request = RequestHead(method, target, headers)
                with self._lock:
                    self.requests.append(request)
                    lose = self._lose_answer_to is not None and self._lose_answer_to(request)
                    if lose:
                        self._lose_answer_to = None
                        self.lost_answers += 1
                        # Before the request goes on: a quick answer must not slip back to the
                        # client while this thread waits to close the connection.
                        lost.set()
                if "chunked" in headers.get("transfer-encoding", ""):
                    parsing = False  # its body has no length up front; stop reading heads here
                    break
                body_left = int(headers.get("content-length") or 0)
            try:
                upstream.sendall(data)
            except OSError:
                return
            if lose:  # the request reached the server; its answer never reaches the client
                _close(client, upstream)
                return

    def _answers(self, upstream: socket.socket, client: socket.socket, lost: threading.Event) -> None:
        relayed = 0
        while True:
            try:
                data = upstream.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_WR)
                return
            if lost.is_set():
                return
            while self.hold_answers.is_set() and not self._closed.is_set():
                self._closed.wait(0.05)
            relayed += len(data)
            with self._lock:
                cut = self._cuts_left > 0 and relayed > self._cut_after
                if cut:
                    self._cuts_left -= 1
                    self.cuts += 1
            if cut:
                _close(client, upstream)
                return
            try:
                client.sendall(data)
            except OSError:
                return

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.close()


def _close(*connections: socket.socket) -> None:
    for connection in connections:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()
