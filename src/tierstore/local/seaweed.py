"""SeaweedFS ``weed mini``: its files in the stack directory, its command line, start and clean-up."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierstore.local import process
from tierstore.local.binaries import weed_binary
from tierstore.local.errors import LocalStackError, PortClashError
from tierstore.local.ports import LOOPBACK, StackPorts
from tierstore.settings.secret import Secret

READY_TIMEOUT = 30.0
# weed stops in 1-3 s; past this it gets SIGKILL.
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 30
# Linux's limit for a unix socket path (sun_path) is 108 bytes including the final NUL.
MAX_SOCKET_PATH = 107
# weed mini refuses a busy HTTP port, but quietly moves a busy gRPC port to the next free one
# (and leaves a socket file in /tmp named after that port): both mean our picks went stale.
_HTTP_PORT_BUSY = "Port allocation failed"
_GRPC_PORT_MOVED = re.compile(r"gRPC port (\d+) for (\w+) is available, using it instead of (\d+)")
# weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in its environment into one more admin
# identity (next to -s3.config, and logs the key id), WEED_* into configuration, and S3_BUCKET
# and friends into buckets: a shell with real or old keys exported must not change the stack.
_ENV_PREFIXES = ("AWS_", "WEED_")
_ENV_NAMES = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


@dataclass(frozen=True)
class WeedLayout:
    """Where one stack's weed keeps everything, all under ``root``."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def s3_config(self) -> Path:
        return self.root / "s3.json"

    @property
    def iam_config(self) -> Path:
        return self.root / "iam.json"

    @property
    def filer_socket(self) -> Path:
        return self.root / "filer.sock"

    @property
    def s3_socket(self) -> Path:
        return self.root / "s3.sock"

    @property
    def log(self) -> Path:
        return self.root / "weed.log"


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    """Write a file only its owner can read: these hold keys."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
    # O_CREAT's mode does not apply to a file that already existed.
    os.chmod(path, 0o600)


def command(layout: WeedLayout, ports: StackPorts) -> list[str]:
    return [
        str(weed_binary()),
        # glog would otherwise write weed.* log files and symlinks into /tmp.
        "-logtostderr",
        "mini",
        f"-dir={layout.data}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        f"-filer.localSocket={layout.filer_socket}",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3_grpc}",
        f"-s3.localSocket={layout.s3_socket}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={layout.s3_config}",
        f"-s3.iam.config={layout.iam_config}",
        "-webdav=false",
        "-admin.ui=false",
        # The pre-stop grace lets a cluster notice a leaving volume server; alone, it only
        # makes every stop a second longer.
        "-volume.preStopSeconds=0",
        f"-admin.port={ports.admin}",
        f"-admin.port.grpc={ports.admin_grpc}",
    ]


def check_socket_paths(layout: WeedLayout) -> None:
    for sock in (layout.filer_socket, layout.s3_socket):
        if len(str(sock).encode()) > MAX_SOCKET_PATH:
            raise LocalStackError(
                f"the stack directory path is too long for a unix socket ({sock}); choose a shorter --dir"
            )


def start(layout: WeedLayout, ports: StackPorts) -> subprocess.Popen[bytes]:
    check_socket_paths(layout)
    layout.data.mkdir(parents=True, exist_ok=True)
    # weed saves its flags here and reloads them on the next start; ours are always complete.
    (layout.data / "mini.options").unlink(missing_ok=True)
    # One log per start (the previous one kept beside it): readiness checks read this start's lines.
    if layout.log.exists():
        layout.log.replace(layout.log.with_name(f"{layout.log.name}.1"))
    return process.spawn(
        command(layout, ports), cwd=layout.root, log_file=layout.log, env=clean_environment()
    )


def clean_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_ENV_PREFIXES) and name not in _ENV_NAMES
    }


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        # 403 to an anonymous request is the normal answer of a ready gateway.
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(
    proc: subprocess.Popen[bytes],
    layout: WeedLayout,
    ports: StackPorts,
    *,
    secrets: Iterable[Secret],
    timeout: float = READY_TIMEOUT,
) -> None:
    """Block until the S3 gateway answers HTTP on the ports asked for; raise with weed's log tail.

    Raises :class:`PortClashError` when one of ``ports`` was taken after it was picked.
    """
    url = f"http://{LOOPBACK}:{ports.s3}/"
    ready = process.wait_until(lambda: proc.poll() is not None or _answers_http(url), timeout)
    log = _read(layout.log)
    moved = _GRPC_PORT_MOVED.findall(log)
    if moved or _HTTP_PORT_BUSY in log:
        _stop_moved(proc.pid, layout, ports, moved)
        taken = ", ".join(f"{port} ({name})" for _, name, port in moved)
        raise PortClashError(f"SeaweedFS found ports taken: {taken or 'see its log'}")
    if ready and proc.poll() is None:
        return
    why = (
        f"weed exited with code {proc.returncode}"
        if proc.poll() is not None
        else f"the S3 gateway at {url} did not answer within {timeout:.0f} s"
    )
    raise LocalStackError(f"SeaweedFS did not start: {why}.\n{log_tail(layout.log, secrets)}")


def _read(log_file: Path) -> str:
    try:
        return log_file.read_text(errors="replace")
    except OSError:
        return ""


def _stop_moved(pid: int, layout: WeedLayout, ports: StackPorts, moved: list[tuple[str, str, str]]) -> None:
    """Stop a weed whose ports are not ours, and remove the sockets of the ports it moved to."""
    stop(pid, layout, ports)
    for actual, component, _asked in moved:
        with contextlib.suppress(FileNotFoundError):
            Path(f"/tmp/seaweedfs-{component.lower()}-grpc-{actual}.sock").unlink()


def log_tail(log_file: Path, secrets: Iterable[Secret], lines: int = LOG_TAIL_LINES) -> str:
    """The end of a log, with every known secret masked (weed may echo its configuration)."""
    text = _read(log_file)
    if not text:
        return f"(nothing in {log_file})"
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), "****")
    tail = "\n".join(text.splitlines()[-lines:])
    return f"last lines of {log_file}:\n{tail}"


def tmp_socket_files(ports: StackPorts) -> list[Path]:
    """The gRPC unix sockets weed creates in /tmp for this stack's ports (and only those)."""
    return [Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock") for name, port in ports.weed_grpc_ports().items()]


def remove_tmp_sockets(ports: StackPorts) -> None:
    for sock in tmp_socket_files(ports):
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()


def is_running(pid: int, layout: WeedLayout) -> bool:
    return process.is_alive(pid, command_contains=str(layout.data))


def stop(pid: int, layout: WeedLayout, ports: StackPorts) -> None:
    process.stop(pid, command_contains=str(layout.data), timeout=STOP_TIMEOUT)
    remove_tmp_sockets(ports)
