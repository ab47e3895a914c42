"""What goes over the wire: an HTTP proxy carries every request; wire logs carry no secret."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.storage.conftest import SettingsFactory
from tierstore.local.info import StackInfo
from tierstore.settings.model import ProxySettings
from tierstore.storage.factory import open_backend
from tierstore.storage.s3.store import S3Store

MiB = 1024 * 1024


@dataclass
class Proxy:
    port: int
    log: Path

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged, e.g. 'PUT http://127.0.0.1:p/bucket/key HTTP/1.1'."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line.split("): ", 1)[1] for line in lines if "Request (file descriptor" in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Proxy]:
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    assert Path(binary).exists(), "tinyproxy is installed by ./dev test (Debian package tinyproxy)"
    port = _free_port()
    log = tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile "{log}"\nLogLevel Info\n'
        f'PidFile "{tmp_path / "tinyproxy.pid"}"\nMaxClients 64\nAllow 127.0.0.1\nDisableViaHeader Yes\n'
    )
    process = subprocess.Popen(
        [binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("tinyproxy did not start listening")
    yield Proxy(port=port, log=log)
    process.terminate()
    process.wait(timeout=10)


def test_every_request_goes_through_the_proxy(
    tinyproxy: Proxy, s3_settings: SettingsFactory, bucket: str, stack: StackInfo
) -> None:
    settings = s3_settings(prefix="via-proxy/", proxy=ProxySettings(host="127.0.0.1", port=tinyproxy.port))
    store = open_backend(settings)
    assert isinstance(store, S3Store)
    with store:
        store.put("small.txt", b"through the proxy")
        payload = os.urandom(11 * MiB)
        with store.open_write("multi.bin") as writer:
            writer.write(payload)
        assert store.get("small.txt") == b"through the proxy"
        assert store.get("multi.bin") == payload  # a large whole read: the presigned bulk path
        assert store.head("multi.bin").size == 11 * MiB
        assert [info.key for info in store.list()] == ["multi.bin", "small.txt"]
        store.copy("small.txt", "copy.txt")
        store.delete("copy.txt")
        # A control call goes through botocore, which must use the same proxy.
        store.control.head_bucket(Bucket=bucket)
    base = f"{stack.endpoint}/{bucket}"
    logged = tinyproxy.requests()
    expected = [
        f"PUT {base}/via-proxy/small.txt ",
        f"POST {base}/via-proxy/multi.bin?uploads",
        f"PUT {base}/via-proxy/multi.bin?uploadId=",  # a part, to a presigned URL
        f"POST {base}/via-proxy/multi.bin?uploadId=",
        f"GET {base}/via-proxy/small.txt ",
        f"HEAD {base}/via-proxy/multi.bin ",
        f"GET {base}/via-proxy/multi.bin?X-Amz-Algorithm=",
        f"GET {base}?list-type=2",
        f"PUT {base}/via-proxy/copy.txt ",
        f"POST {base}?delete ",  # obstore deletes through DeleteObjects
        f"HEAD {base} ",
    ]
    for line in expected:
        assert any(request.startswith(line) for request in logged), f"{line!r} not in proxy log {logged}"
    # PUT, initiate + three parts + complete, GET, GET of the first range + presigned GET, HEAD,
    # LIST, COPY, DeleteObjects, HEAD bucket
    assert len(logged) == 14


def test_wire_log_shows_requests_with_secrets_redacted(
    s3_settings: SettingsFactory, stack: StackInfo, caplog: pytest.LogCaptureFixture
) -> None:
    settings = s3_settings(prefix="traced/", wire_log=True)
    caplog.set_level(logging.INFO, logger="tierstore.wire")
    with open_backend(settings) as store:
        store.put("a.txt", b"wire logged")
        assert store.get("a.txt", start=0, end=4) == b"wire"
        with store.open_write("m.bin") as writer:
            writer.write(os.urandom(6 * MiB))
        store.list_dir("")
        url = store.presign("GET", "a.txt")
        assert "X-Amz-Signature" in url
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "request PUT" in text
    assert "request GET" in text
    assert "?uploads" in text
    assert "response status=200" in text
    assert "Signature=****" in text
    admin = stack.users["admin"]
    assert admin.secret_access_key.reveal() not in text
    assert admin.access_key_id not in text
    assert f"Credential={admin.access_key_id[:4]}…/" in text
