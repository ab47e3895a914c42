"""Start the real API server (uvicorn, real config, real metadata store) in a thread, for tests.

    server = start_api_server(config_path)
    httpx.get(f"{server.url}/v1/whoami", headers=server.auth())
    token = server.add_user("alice", ["staff"])
    server.stop()

Each server listens on a free loopback port, so tests may run in parallel (pytest-xdist).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tierstore.server.app import ServerState
from tierstore.server.run import BuiltServer, bound_socket, build_server, uvicorn_config
from tierstore.server.users import ADMIN_TOKEN_FILE

START_TIMEOUT_SECONDS = 20.0
LOOPBACK = "127.0.0.1"


@dataclass
class RunningServer:
    url: str
    admin_token: str
    built: BuiltServer
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def state(self) -> ServerState:
        return self.built.state

    def auth(self, token: str | None = None) -> dict[str, str]:
        """The Authorization header for ``token`` (default: the admin's)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def add_user(self, name: str, groups: Sequence[str] = (), admin: bool = False) -> str:
        """Creates a user in the server's metadata store; returns its bearer token."""
        return self.state.users.add(name, list(groups), admin=admin)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.state.close()


def start_api_server(config_path: Path | None, *, host: str = LOOPBACK) -> RunningServer:
    """Builds the server from ``config_path`` (None: the embedded default) and serves it on a free port."""
    built = build_server(config_path)
    options = built.state.options
    token = built.admin_token
    if token is None:
        # Users existed already: add a fresh admin for the harness.
        token = built.state.users.add(f"harness-{time.monotonic_ns()}", admin=True)
    sock = bound_socket(host)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(built, options, host=host, port=port))
    server.config.timeout_graceful_shutdown = 5
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            built.state.close()
            raise RuntimeError(f"the API server on port {port} did not start")
        time.sleep(0.01)
    scheme = "https" if options.tls else "http"
    return RunningServer(f"{scheme}://{host}:{port}", token, built, server, thread)


@contextmanager
def api_server(config_path: Path | None, *, host: str = LOOPBACK) -> Iterator[RunningServer]:
    server = start_api_server(config_path, host=host)
    try:
        yield server
    finally:
        server.stop()


__all__ = ["ADMIN_TOKEN_FILE", "RunningServer", "api_server", "start_api_server"]
