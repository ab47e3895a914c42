"""The server's limits hold against real sockets: huge and slow bodies, slow heads, made-up methods.

A real ``tierstore serve`` (uvicorn in a thread) over SeaweedFS, with short limits set in its
config so each case takes about a second; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture
def limited(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    config = write_server_config(
        tmp_path / "server.yaml",
        stack,
        bucket,
        extra={
            "tierstore.server.limits.json-body": 4096,
            "tierstore.server.limits.header-timeout": 1,
            "tierstore.server.limits.body-timeout": 1,
            "tierstore.server.limits.uploads-per-user": 2,
        },
    )
    server = start_api_server(config)
    yield server
    server.stop()


def _connect(server: RunningServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_a_huge_declared_json_body_is_413_before_it_is_sent(limited: RunningServer) -> None:
    sock = _connect(limited)
    head = (
        f"POST /v1/fs/mkdir HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {limited.admin_token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n"
    )
    sock.sendall(head.encode())
    sock.settimeout(5)
    answer = sock.recv(4096).decode(errors="replace")
    sock.close()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "json-body" in answer


def test_a_chunked_json_body_over_the_limit_is_413(limited: RunningServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"path": "/' + b"a" * 8000 + b'"}'

    answer = httpx.post(f"{limited.url}/v1/fs/mkdir", content=body(), headers=limited.auth())
    assert answer.status_code == 413, answer.text


def test_a_slow_upload_is_cut_off_and_leaves_nothing(
    limited: RunningServer, admin_s3: S3Client, bucket: str
) -> None:
    sock = _connect(limited)
    head = (
        f"PUT /v1/data?path=/slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {limited.admin_token}\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"x")
    started = time.monotonic()
    sock.settimeout(10)
    answer = sock.recv(4096).decode(errors="replace")
    sock.close()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5
    listed = admin_s3.list_objects_v2(Bucket=bucket, Prefix="root/slow")
    assert listed.get("KeyCount", 0) == 0
    assert admin_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_slow_uploads_neither_starve_others_nor_exceed_the_users_cap(limited: RunningServer) -> None:
    bob = limited.add_user("bob", admin=True)  # an admin: the uploads pass every permission check
    socks = []
    for index in range(2):
        sock = _connect(limited)
        sock.sendall(
            f"PUT /v1/data?path=/s{index} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bob}\r\n"
            "Content-Length: 100\r\n\r\nx".encode()
        )
        socks.append(sock)
    time.sleep(0.3)
    third = httpx.put(
        f"{limited.url}/v1/data", params={"path": "/s3"}, content=b"x", headers=limited.auth(bob)
    )
    assert third.status_code == 429, third.text
    started = time.monotonic()
    assert httpx.get(f"{limited.url}/v1/fs/stat", params={"path": "/"}, headers=limited.auth()).is_success
    assert time.monotonic() - started < 2
    assert httpx.get(f"{limited.url}/v1/ready", timeout=5).status_code == 200
    for sock in socks:
        sock.close()


def test_a_request_head_sent_slowly_is_disconnected(limited: RunningServer) -> None:
    sock = _connect(limited)
    stop = threading.Event()

    def trickle() -> None:
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\n":
            if stop.wait(0.3):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        assert _closed_within(sock, 5), "the server kept a connection whose request head never ended"
    finally:
        stop.set()
        sock.close()
        sender.join(timeout=5)


def test_made_up_methods_do_not_grow_the_metrics(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url) as http:
        http.request("XFIRST", "/v1/whoami")
        http.get("/metrics")  # its own series, counted before the measure
        before = http.get("/metrics").text.count("\n")
        for index in range(200):
            http.request(f"X{index:04d}", "/v1/whoami")
        after = http.get("/metrics").text
    assert "X0001" not in after and 'method="other"' in after
    assert after.count("\n") == before
