"""The tansu Kafka-compatible broker: memory storage, loopback only, started from an empty directory."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tierstore.local import process
from tierstore.local.binaries import tansu_binary
from tierstore.local.errors import LocalStackError, PortClashError
from tierstore.local.ports import LOOPBACK

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# tansu also takes its settings from these variables (and from a .env in its working
# directory): one left in the caller's environment, an OTLP endpoint say, must not leak in.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


@dataclass(frozen=True)
class TansuLayout:
    """``workdir`` must stay empty: tansu loads a ``.env`` from its working directory."""

    root: Path

    @property
    def workdir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "tansu.log"


def command(port: int) -> list[str]:
    url = f"tcp://{LOOPBACK}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def start(layout: TansuLayout, port: int) -> subprocess.Popen[bytes]:
    layout.workdir.mkdir(parents=True, exist_ok=True)
    if any(layout.workdir.iterdir()):
        raise LocalStackError(f"tansu's working directory {layout.workdir} must be empty")
    env = {name: value for name, value in os.environ.items() if name not in _TANSU_ENV}
    return process.spawn(command(port), cwd=layout.workdir, log_file=layout.log, env=env)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_ready(
    proc: subprocess.Popen[bytes], layout: TansuLayout, port: int, *, timeout: float = READY_TIMEOUT
) -> None:
    ready = process.wait_until(lambda: proc.poll() is not None or _accepts(port), timeout)
    if ready and proc.poll() is None:
        return
    why = (
        f"tansu exited with code {proc.returncode}"
        if proc.poll() is not None
        else f"port {port} did not accept connections within {timeout:.0f} s"
    )
    try:
        log = layout.log.read_text(errors="replace")
    except OSError:
        log = ""
    if proc.poll() is not None and "AddrInUse" in log:
        raise PortClashError(f"the Kafka port {port} was taken before tansu could bind it")
    tail = "\n".join(log.splitlines()[-30:]) or "(empty)"
    raise LocalStackError(
        f"the tansu Kafka broker did not start: {why}.\nlast lines of {layout.log}:\n{tail}"
    )


def is_running(pid: int, port: int) -> bool:
    return process.is_alive(pid, command_contains=f"{LOOPBACK}:{port}")


def stop(pid: int, port: int) -> None:
    process.stop(pid, command_contains=f"{LOOPBACK}:{port}", timeout=STOP_TIMEOUT)
