"""Credential refresh under load, and the data-proxy fallback, against real servers.

- Refresh: the server reuses vended credentials for 0.002 of their 900 s life (~1.8 s,
  ``tierstore.vending.cache.fraction``) and the client re-vends at the same fraction, so an 8 s
  read loop crosses several refreshes; SeaweedFS checks every request's credentials, and not one
  request may fail. Refreshes are counted on both sides: the client's re-vends and the server's
  STS calls (vend cache misses).
- Fallback: with ``tierstore.vending.endpoint`` pointing at a dead port, direct requests cannot
  connect; the client turns to ``/v1/data`` for that mount (the server's counter moves) and says
  so once at WARNING.
- Proxy mode: a local-directory root mount has no store to vend for; everything goes through
  the server.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.client.conftest import data_proxy_requests, metric, serve_in
from tests.server.harness import start_api_server
from tierstore.client import Client
from tierstore.credentials.refresh import RefreshPolicy
from tierstore.local import StackInfo

MiB = 1024 * 1024


def test_reads_continue_through_credential_refreshes_with_no_failed_request(
    stack: StackInfo, session_bucket: str, tmp_path: Path
) -> None:
    server = serve_in(tmp_path / "api", stack, session_bucket, **{"tierstore.vending.cache.fraction": 0.002})
    policy = RefreshPolicy(fraction=0.002, margin=timedelta(seconds=5))
    try:
        with Client(server.url, server.admin_token, refresh=policy) as client:
            payload = os.urandom(64 * 1024)
            client.write("/refresh/stream.bin", payload)
            assert client.read("/refresh/stream.bin") == payload
            (scope,) = client.scopes()
            misses_before = metric(server, "tierstore_vended_credentials", cache="miss")
            proxied_before = data_proxy_requests(server)
            failures: list[BaseException] = []
            reads = 0
            keys_seen: set[str] = set()
            stop = threading.Event()

            def reader() -> None:
                nonlocal reads
                while not stop.is_set():
                    try:
                        assert client.read("/refresh/stream.bin") == payload
                        reads += 1
                    except BaseException as error:  # every failure counts
                        failures.append(error)

            threads = [threading.Thread(target=reader) for _ in range(4)]
            for thread in threads:
                thread.start()
            # Refreshes are due every ~1.8 s; read until three have happened (the deadline only
            # absorbs a loaded machine's slow STS calls).
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and (scope.source.vend_count < 4 or len(keys_seen) < 3):
                keys_seen.add(scope.source.credentials().access_key_id)
                time.sleep(0.2)
            stop.set()
            for thread in threads:
                thread.join()
            assert failures == []
            assert reads > 100
            assert scope.source.vend_count >= 3  # re-vends by the client
            assert len(keys_seen) >= 3  # each one new credentials
            assert metric(server, "tierstore_vended_credentials", cache="miss") - misses_before >= 3
            assert data_proxy_requests(server) == proxied_before  # every read went to SeaweedFS
    finally:
        server.stop()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_store_falls_back_to_the_data_proxy(
    stack: StackInfo, session_bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}"
    server = serve_in(tmp_path / "api", stack, session_bucket, **{"tierstore.vending.endpoint": dead})
    try:
        with Client(server.url, server.admin_token) as client:
            vended = client.vend("/", "read")
            assert vended.store is not None and vended.store.endpoint == dead
            before = data_proxy_requests(server)
            payload = os.urandom(200_000)
            with caplog.at_level(logging.WARNING, logger="tierstore.client"):
                client.write("/fallback/a.bin", payload)
                assert client.read("/fallback/a.bin") == payload
                assert client.read("/fallback/a.bin", start=10, end=20) == payload[10:20]
                with client.open_write("/fallback/b.bin") as writer:
                    writer.write(payload)
                    writer.write(payload)
                assert b"".join(client.iter_read("/fallback/b.bin")) == payload * 2
            assert client.uses_proxy("/")
            assert data_proxy_requests(server) - before >= 5
            warnings = [r for r in caplog.records if "data proxy" in r.getMessage()]
            assert len(warnings) == 1 and "/" in warnings[0].getMessage()
            client.rm("/fallback", recursive=True)
    finally:
        server.stop()


def test_local_directory_mount_is_served_through_the_proxy(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
    )
    server = start_api_server(config)
    try:
        with Client(server.url, server.admin_token) as client:
            vended = client.vend("/", "write")
            assert (vended.mode, vended.store, vended.credentials) == ("proxy", None, None)
            blob = os.urandom(3 * MiB + 7)
            with client.open_write("/local/big.bin") as writer:
                for start in range(0, len(blob), MiB):
                    writer.write(blob[start : start + MiB])
            assert (tmp_path / "root" / "local" / "big.bin").read_bytes() == blob
            assert client.read("/local/big.bin") == blob
            assert client.read("/local/big.bin", start=MiB, end=MiB + 5) == blob[MiB : MiB + 5]
            assert client.uses_proxy("/")
            assert client.vend_calls == 1  # the explicit one: a file:// mount is never vended for
    finally:
        server.stop()


def test_the_servers_refresh_at_wins_over_a_later_client_fraction(
    stack: StackInfo, session_bucket: str, tmp_path: Path
) -> None:
    """The client's own policy would wait 450 s (half of 900); the server says come back in ~1.8 s."""
    server = serve_in(tmp_path / "api", stack, session_bucket, **{"tierstore.vending.cache.fraction": 0.002})
    try:
        with Client(server.url, server.admin_token) as client:
            client.write("/server-refresh/x.bin", b"x" * 1000)
            (scope,) = client.scopes()
            assert scope.source.latest.refresh_at is not None
            first = scope.source.refresh_due_at()
            assert first is not None and first <= scope.source.latest.refresh_at
            keys = {scope.source.credentials().access_key_id}
            # Due after ~1.8 s; the generous deadline only absorbs a loaded machine's slow STS calls.
            deadline = time.monotonic() + 30
            while scope.source.vend_count < 2 and time.monotonic() < deadline:
                assert client.read("/server-refresh/x.bin") == b"x" * 1000
                keys.add(scope.source.credentials().access_key_id)
                time.sleep(0.1)
            keys.add(scope.source.credentials().access_key_id)
            assert scope.source.vend_count >= 2
            assert len(keys) >= 2
    finally:
        server.stop()
