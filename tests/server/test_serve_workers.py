"""``tierstore serve --workers 2``: two processes on one port, one admin, changes seen by both,
a graceful stop with a download in flight, and a worker that dies taking the server down.

Runs the embedded default (SQLite under a HOME of its own, a local root served through the data
proxy), as a user would start it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.test_serve import MiB, ServeProcess, download_across_sigterm

BOUND_SECONDS = 1.0  # the README's bound for a change to reach every server (and worker)


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing's resource tracker left out)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    workers = []
    for pid in map(int, children):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in command:
            workers.append(pid)
    return workers


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture
def two(tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(tmp_path, "--workers", "2")
    yield server
    server.stop()


def fresh(server: ServeProcess, token: str) -> httpx.Client:
    """A client that opens a new connection for every request, so the kernel spreads them."""
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=30,
    )


def test_two_workers_share_the_port_one_admin_and_every_change(two: ServeProcess, tmp_path: Path) -> None:
    assert two.output().count("no users were defined") == 1  # made once, by the supervisor
    admin_token = (tmp_path / ".tierstore" / "admin.token").read_text().strip()
    workers = worker_pids(two.process.pid)
    assert len(workers) == 2, two.output()
    with fresh(two, admin_token) as admin:
        before = {pid: cpu_ticks(pid) for pid in workers}
        for _ in range(300):
            assert admin.get("/v1/fs/stat", params={"path": "/"}).status_code == 200
        assert all(cpu_ticks(pid) > before[pid] for pid in workers), "one worker answered nothing"
        assert admin.post("/v1/fs/mkdir", json={"path": "/team"}).is_success
        assert admin.put("/v1/data", params={"path": "/team/f.txt"}, content=b"team data").is_success
        for path in ("/", "/team"):
            assert admin.post("/v1/fs/chmod", json={"path": path, "mode": "0755"}).is_success
        added = subprocess.run(
            [sys.executable, "-m", "tierstore.cli.main", "users", "add", "alice"],
            env={**os.environ, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        )
        alice_token = added.stdout.strip().splitlines()[-1]
        with fresh(two, alice_token) as alice:
            # A user added by another process is known to both workers at once; the chmods above
            # reach the worker that did not make them within the bound.
            opened = time.monotonic()
            while alice.get("/v1/data", params={"path": "/team/f.txt"}).status_code != 200:
                assert time.monotonic() - opened < BOUND_SECONDS, "alice could not read /team/f.txt"
                time.sleep(0.02)
            for _ in range(20):
                assert alice.get("/v1/data", params={"path": "/team/f.txt"}).content == b"team data"
            assert admin.post("/v1/fs/chmod", json={"path": "/team/f.txt", "mode": "0600"}).is_success
            changed = time.monotonic()

            def refused_everywhere() -> bool:
                answers = [alice.get("/v1/data", params={"path": "/team/f.txt"}) for _ in range(10)]
                return all(answer.status_code == 403 for answer in answers)

            while not refused_everywhere():
                assert time.monotonic() - changed < 10, "a worker kept letting alice read"
                time.sleep(0.05)
            assert time.monotonic() - changed <= BOUND_SECONDS + 0.5  # the last round of 10 included


def test_sigterm_lets_a_download_finish_and_stops_every_worker(two: ServeProcess, tmp_path: Path) -> None:
    token = (tmp_path / ".tierstore" / "admin.token").read_text().strip()
    workers = worker_pids(two.process.pid)
    data = os.urandom(64 * MiB)
    # The workers are shutting down while the body is still being sent.
    assert download_across_sigterm(two, {"Authorization": f"Bearer {token}"}, data) == data
    assert two.process.wait(timeout=40) == 0, two.output()
    assert not any(alive(pid) for pid in workers)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{two.url}/v1/health", timeout=1)


def test_a_worker_that_dies_stops_the_server(two: ServeProcess) -> None:
    first, second = worker_pids(two.process.pid)
    os.kill(first, signal.SIGKILL)
    assert two.process.wait(timeout=40) == 1, two.output()
    assert not alive(second)
    assert "exited on its own" in two.output()


def test_a_bad_worker_count_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", "serve", "--workers", "0"],
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers 0: use 1 to 64" in result.stderr and "Traceback" not in result.stderr
