"""Start the real API server (uvicorn, real config, real metadata store) for tests and benchmarks.

    server = start_api_server(config_path)                 # in a thread of this process
    server = start_api_server(config_path, process=True)   # ``tierstore serve`` in a child process
    httpx.get(f"{server.url}/v1/whoami", headers=server.auth())
    token = server.add_user("alice", ["staff"])
    server.stop()

Each server listens on a free loopback port, so tests may run in parallel (pytest-xdist). In a
thread, ``state`` gives the server's insides (metrics registry, users, vendor); a child process
has its own interpreter, so a client in this process does not compete with it for the GIL (use
it to measure), and ``stop`` sends SIGTERM as an operator would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from tierstore.namespace.config import load_server_config
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.server.app import ServerState
from tierstore.server.run import BuiltServer, bound_socket, build_server, uvicorn_config
from tierstore.server.s3_keys import S3KeyDirectory
from tierstore.server.users import ADMIN_TOKEN_FILE, UserDirectory
from tierstore.settings.secret import Secret

START_TIMEOUT_SECONDS = 60.0
LOOPBACK = "127.0.0.1"


@dataclass
class RunningServer:
    url: str
    admin_token: str
    # The S3 gateway's endpoint (None when the config turns it off).
    s3_url: str | None = None
    built: BuiltServer | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _process: subprocess.Popen[bytes] | None = None
    _config_path: Path | None = None
    log: Path | None = None
    _users: UserDirectory | None = field(default=None, repr=False)

    @property
    def state(self) -> ServerState:
        """The server's state (only for a server in a thread of this process)."""
        if self.built is None:
            raise RuntimeError("the server runs in another process: its state is not reachable")
        return self.built.state

    def auth(self, token: str | None = None) -> dict[str, str]:
        """The Authorization header for ``token`` (default: the admin's)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def add_user(self, name: str, groups: Sequence[str] = (), admin: bool = False) -> str:
        """Creates a user in the server's metadata store; returns its bearer token."""
        if self.built is not None:
            return self.built.state.users.add(name, list(groups), admin=admin)
        if self._users is None:
            self._users = UserDirectory(open_metadata(load_server_config(self._config_path).metadata_url))
        return self._users.add(name, list(groups), admin=admin)

    def add_s3_key(self, user: str) -> tuple[str, Secret]:
        """A new S3 access key for ``user``: its id and secret (as ``users s3-keys create``)."""
        if self.built is not None:
            return self.built.state.s3_keys.create(user)
        # The server's own way of opening its store: with its secrets key file, which seals the secret.
        metadata = open_server_metadata(load_server_config(self._config_path))
        try:
            return S3KeyDirectory(metadata).create(user)
        finally:
            metadata.close()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None and self.built is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self.built.state.close()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._users is not None:
            self._users.metadata.close()


def start_api_server(
    config_path: Path | None,
    *,
    host: str = LOOPBACK,
    process: bool = False,
    workers: int = 1,
) -> RunningServer:
    """Builds the server from ``config_path`` (None: the embedded default) and serves it on a free port.

    ``workers`` (a child process only): ``tierstore serve --workers N``."""
    if process:
        if config_path is None:
            raise ValueError("a server in a child process needs a config file (the embedded default is in ~)")
        return _start_process(config_path, host, workers)
    built = build_server(config_path)
    options = built.state.options
    token = built.admin_token
    if token is None:
        # Users existed already: add a fresh admin for the harness.
        token = built.state.users.add(f"harness-{time.monotonic_ns()}", admin=True)
    sock = bound_socket(host)
    port = sock.getsockname()[1]
    sockets = [sock]
    s3_port = None
    if options.s3.enabled:
        sockets.append(bound_socket(host))
        s3_port = sockets[1].getsockname()[1]
    server = uvicorn.Server(uvicorn_config(built, options, host=host, port=port, s3_port=s3_port))
    server.config.timeout_graceful_shutdown = 5
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name=f"api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            for each in sockets:
                each.close()
            built.state.close()
            raise RuntimeError(f"the API server on port {port} did not start")
        time.sleep(0.01)
    scheme = "https" if options.tls else "http"
    s3_url = None if s3_port is None else f"{scheme}://{host}:{s3_port}"
    return RunningServer(f"{scheme}://{host}:{port}", token, s3_url, built, server, thread)


def _start_process(config_path: Path, host: str, workers: int = 1) -> RunningServer:
    from tierstore.server.config import load_api_options

    options = load_api_options(config_path)
    # Free ports, given to the child (a small race: the start fails and says so).
    with bound_socket(host) as probe, bound_socket(host) as s3_probe:
        port = probe.getsockname()[1]
        s3_port = s3_probe.getsockname()[1]
    log = config_path.parent / f"serve-{port}.log"
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "tierstore.cli.main", "serve", "-c", str(config_path), "--host", host,
             "--port", str(port), "--s3-port", str(s3_port), "--print-admin-token",
             "--workers", str(workers)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    scheme = "https" if options.tls else "http"
    url = f"{scheme}://{host}:{port}"
    s3_url = f"{scheme}://{host}:{s3_port}" if options.s3.enabled else None
    running = RunningServer(url, "", s3_url, _process=child, _config_path=config_path, log=log)
    try:
        # A readiness probe: no secret is sent.
        wait_until_answering(
            child, lambda: httpx.get(f"{url}/v1/health", timeout=1, verify=False), httpx.TransportError
        )
    except RuntimeError:
        running.stop()
        raise RuntimeError(f"tierstore serve did not start:\n{log.read_text(errors='replace')}") from None
    token_file = options.home / ADMIN_TOKEN_FILE
    printed = log.read_text(errors="replace")
    token = token_file.read_text().strip() if token_file.exists() else ""
    if not token or token not in printed:
        # Users existed before this start (no admin was made now): add one for the harness.
        token = running.add_user(f"harness-{time.monotonic_ns()}", admin=True)
    running.admin_token = token
    return running


@contextmanager
def api_server(
    config_path: Path | None, *, host: str = LOOPBACK, process: bool = False
) -> Iterator[RunningServer]:
    server = start_api_server(config_path, host=host, process=process)
    try:
        yield server
    finally:
        server.stop()


__all__ = ["ADMIN_TOKEN_FILE", "RunningServer", "api_server", "start_api_server"]


def wait_until_answering(
    child: subprocess.Popen[bytes],
    probe: Callable[[], object],
    refused: type[Exception] | tuple[type[Exception], ...],
    *,
    timeout: float = START_TIMEOUT_SECONDS,
) -> None:
    """Calls ``probe`` until it raises nothing of ``refused``; RuntimeError once ``child`` has
    exited or ``timeout`` seconds passed (the caller says what did not start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except refused:
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("it did not answer") from None
            time.sleep(0.05)
