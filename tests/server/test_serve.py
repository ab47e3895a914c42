"""``tierstore serve`` as a process: the embedded default (no config), graceful shutdown on
SIGTERM with a download in flight, and TLS with a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server.harness import start_api_server
from tests.server.s3.conftest import gateway_client

MiB = 1024 * 1024
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ServeProcess:
    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.s3_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.env = {**os.environ, "HOME": str(home)}
        self.env.pop("TIERSTORE_CONFIG", None)
        self.log = home / "serve.log"
        command = ["serve", "--port", str(self.port), "--s3-port", str(self.s3_port), *args]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tierstore.cli.main", *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                # Its own start line first: free_port's port may be taken by another test's
                # server in between, whose answer would otherwise pass for this one's.
                if "tierstore serving" in self.output():
                    httpx.get(f"{self.url}/v1/health", timeout=1)
                    return
                raise httpx.ConnectError("not started yet")
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tierstore serve did not start:\n{self.output()}") from None
                time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(tmp_path)
    yield server
    server.stop()


def test_serve_without_a_config_runs_the_embedded_default_in_proxy_mode(
    embedded: ServeProcess, tmp_path: Path
) -> None:
    home = tmp_path / ".tierstore"
    token = (home / "admin.token").read_text().strip()
    # Printed once on stdout (never into the log lines), and kept in the 0600 file.
    # Not a terminal: the token is in its 0600 file only, never on stdout (journald, container logs).
    assert embedded.output().count(token) == 0 and "its token is in" in embedded.output()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=embedded.url, headers=auth) as http:
        assert http.put("/v1/data", params={"path": "/hello.txt"}, content=b"hi").status_code == 201
        assert (home / "root" / "hello.txt").read_bytes() == b"hi"
        answer = http.post("/v1/credentials", json={"path": "/", "access": "write"}).json()
        assert answer["mode"] == "proxy"
        assert answer["credentials"] is None and answer["store"] is None
        assert http.get("/v1/data", params={"path": "/hello.txt"}).content == b"hi"
        mounts = http.get("/v1/mounts").json()["mounts"]
        assert [(mount["path"], mount["uri"]) for mount in mounts] == [("/", f"file://{home / 'root'}")]
    # The audit trail is on by default, even without -v; the token still appears only once.
    deadline = time.monotonic() + 5
    while '"event":"vend"' not in embedded.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"user":"admin","path":"/","access":"write","mount":"/","mode":"proxy"' in embedded.output()
    assert embedded.output().count(token) == 0


def test_the_embedded_default_answers_s3_on_its_own_port(embedded: ServeProcess, tmp_path: Path) -> None:
    assert f"S3 gateway on {embedded.s3_url}" in embedded.output()
    created = subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", "users", "s3-keys", "create", "admin", "--json"],
        env=embedded.env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(created.stdout)
    s3 = gateway_client(embedded.s3_url, key["access_key_id"], key["secret_access_key"])
    s3.create_bucket(Bucket="notes")
    s3.put_object(Bucket="notes", Key="today.txt", Body=b"through S3")
    assert (tmp_path / ".tierstore" / "root" / "notes" / "today.txt").read_bytes() == b"through S3"
    assert s3.get_object(Bucket="notes", Key="today.txt")["Body"].read() == b"through S3"
    assert key["secret_access_key"] not in embedded.output()


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "HOME": str(tmp_path)}
        env.pop("TIERSTORE_CONFIG", None)
        done = subprocess.run(
            [sys.executable, "-m", "tierstore.cli.main", "serve", "--port", "0", "--s3-port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port} (tierstore.s3.port)" in done.stderr
    assert "Traceback" not in done.stderr


def download_across_sigterm(server: ServeProcess, auth: dict[str, str], data: bytes) -> bytes:
    """Writes ``data`` through the proxy, then reads it back, sending SIGTERM to the server once
    the first MiB has arrived: the bytes that came back."""
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        assert http.put("/v1/data", params={"path": "/big.bin"}, content=data).status_code == 201
        received = bytearray()
        with http.stream("GET", "/v1/data", params={"path": "/big.bin"}) as download:
            chunks = download.iter_bytes(MiB)
            received += next(chunks)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the server is shutting down while the body is still being sent
            for chunk in chunks:
                received += chunk
    return bytes(received)


def test_sigterm_lets_a_download_in_flight_finish(embedded: ServeProcess, tmp_path: Path) -> None:
    token = (tmp_path / ".tierstore" / "admin.token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    data = os.urandom(32 * MiB)
    assert download_across_sigterm(embedded, auth, data) == data
    # uvicorn re-raises the signal once it has shut down, so the exit status is "killed by SIGTERM".
    assert embedded.process.wait(timeout=30) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{embedded.url}/v1/health", timeout=1)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_tls_when_a_certificate_is_configured(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
        "tierstore.server.tls.cert: server.crt\n"  # relative: beside the config
        f"tierstore.server.tls.key: {key}\n"
    )
    server = start_api_server(config)
    try:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        who = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(), verify=trusted, timeout=30)
        assert who.json()["user"] == "admin"
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(f"{server.url}/v1/health", timeout=30)
        with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP is not answered
            httpx.get(server.url.replace("https://", "http://") + "/v1/health", timeout=30)
        # The S3 gateway's port is served with the same certificate.
        assert server.s3_url is not None and server.s3_url.startswith("https://")
        anonymous = httpx.get(server.s3_url + "/", verify=trusted, timeout=30)
        assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    finally:
        server.stop()


def test_the_harness_runs_serve_in_a_child_process_too(server_config: Path) -> None:
    """What benchmarks use: the server in its own interpreter, stopped with SIGTERM."""
    server = start_api_server(server_config, process=True)
    try:
        alice = server.add_user("alice", ["eng"])
        who = httpx.get(f"{server.url}/v1/whoami", headers=server.auth(alice), timeout=30).json()
        assert who == {"user": "alice", "groups": ["eng"], "admin": False}
        answer = httpx.post(
            f"{server.url}/v1/credentials", json={"path": "/a/"}, headers=server.auth(), timeout=30
        )
        assert answer.status_code == 200 and answer.json()["scoped"] is True
    finally:
        server.stop()
    assert server.log is not None and '"user":"admin","path":"/a/"' in server.log.read_text()
