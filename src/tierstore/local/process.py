"""Detached server processes: start one, tell whether it still runs, stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# Popen objects of the servers this process started, kept so that stopping one can reap it
# (a child that is never waited for stays a zombie and looks alive to kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}

POLL_SECONDS = 0.05


def spawn(
    command: Sequence[str], *, cwd: Path, log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session so it outlives the caller and a Ctrl-C aimed at it."""
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    _children[process.pid] = process
    return process


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc (``Z`` for a zombie), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in field 2 is parenthesised and may itself contain spaces or parentheses.
    return stat.rpartition(")")[2].split()[0]


def _reap(pid: int) -> bool:
    """True when ``pid`` was our child and has exited (and is now reaped)."""
    child = _children.get(pid)
    if child is None:
        return False
    if child.poll() is None:
        return False
    del _children[pid]
    return True


def is_alive(pid: int, *, command_contains: str | None = None) -> bool:
    """Whether ``pid`` runs (zombies count as gone), and, if asked, still runs our command.

    ``command_contains`` guards against a recycled pid: a stale state file must never lead
    to signalling an unrelated process.
    """
    if pid <= 0 or _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Someone else's process under a recycled pid.
        return False
    if _proc_state(pid) == "Z":
        return False
    if command_contains is not None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return True
        return command_contains.encode() in cmdline
    return True


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def stop(pid: int, *, command_contains: str | None, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; a no-op when already gone."""
    if not is_alive(pid, command_contains=command_contains):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not is_alive(pid), timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), 5.0)
