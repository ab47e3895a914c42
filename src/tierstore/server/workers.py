"""``tierstore serve --workers N``: N server processes answering on the listening sockets (JSON API, S3).

One Python process answers on one core (the GIL): on a machine with cores to spare, more worker
processes answer more requests (two workers doubled warm vends on a 2-core machine, measured in
``bench/server_bench.py``). How it works:

- The supervisor (the ``tierstore serve`` process) builds the server once: that start creates
  the first admin (printing its token once) and runs the start-up clean-up of left-over uploads.
  Then it binds the listening sockets (the JSON API's, the S3 gateway's) and starts the workers.
- Each worker is a fresh interpreter (``spawn``, never ``fork``: nothing of the supervisor's
  threads or locks is inherited) that builds its own server from the same config: its own
  database connections, its own namespace in memory and its own vend cache. Workers stay in
  step the way servers sharing a database do: through the change counters, within
  ``tierstore.metadata.sync.interval``; a change made through one worker is seen by the others
  within that bound (by itself at once). A vend cached by one worker is not seen by the others:
  each makes its own first AssumeRole per key.
- The kernel hands each new connection to one of the workers accepting on the shared sockets.
- SIGTERM or SIGINT to the supervisor is passed to every worker, which finishes its requests in
  flight (a download completes) and stops; the supervisor exits once all have. A worker that
  dies on its own stops the others and the supervisor exits non-zero, so a process manager
  restarts the whole server rather than run it short-handed unnoticed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

LOGGER = logging.getLogger("tierstore.server")
MAX_WORKERS = 64


def run_workers(
    config_path: Path | None,
    sockets: list[socket.socket],
    *,
    s3_port: int | None,
    workers: int,
    setup: Callable[[], None] | None,
    grace_seconds: float,
) -> int:
    """Serve on ``sockets`` (the JSON API's first, then the S3 gateway's on ``s3_port``) with
    ``workers`` processes until a signal; the exit code."""
    context = multiprocessing.get_context("spawn")
    host, port = sockets[0].getsockname()[:2]
    processes = [
        context.Process(
            target=_worker,
            args=(config_path, sockets),
            kwargs={"host": str(host), "port": int(port), "s3_port": s3_port, "setup": setup},
            name=f"tierstore-worker-{number}",
            daemon=False,
        )
        for number in range(1, workers + 1)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = stopping or frame is not None  # a real signal, not the supervisor's own call
        for process in processes:
            if process.pid is not None and process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    previous = {name: signal.signal(name, stop) for name in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        LOGGER.info("%d workers started (pids %s)", workers, ", ".join(str(p.pid) for p in processes))
        by_sentinel = {process.sentinel: process for process in processes}
        ended = multiprocessing.connection.wait(list(by_sentinel))
        if not stopping:
            # A sentinel is ready a moment before its process can be reaped: join it for the code.
            died = by_sentinel[ended[0]]  # type: ignore[index]
            died.join()
            LOGGER.error(
                "worker %s exited on its own (code %s): stopping the other workers", died.name, died.exitcode
            )
    finally:
        # Whatever happened, no worker outlives the supervisor.
        stop(signal.SIGTERM, None)
        for process in processes:
            if process.pid is None:
                continue
            process.join(grace_seconds + 5)
            if process.is_alive():
                LOGGER.error("worker %s did not stop in time: killing it", process.name)
                process.kill()
                process.join()
        for name, handler in previous.items():
            signal.signal(name, handler)
    # uvicorn re-raises the signal once it has shut down gracefully: killed by it is clean too.
    stopped = (0, -signal.SIGTERM, -signal.SIGINT)
    clean = stopping and all(process.exitcode in stopped for process in processes)
    return 0 if clean else 1


def _worker(
    config_path: Path | None,
    sockets: list[socket.socket],
    *,
    host: str,
    port: int,
    s3_port: int | None,
    setup: Callable[[], None] | None,
) -> None:
    """One worker: its own server from the config, answering on the supervisor's sockets."""
    if setup is not None:
        setup()
    from tierstore.server.heap import freeze_start_up
    from tierstore.server.run import build_server, show_operational_logs, uvicorn_config

    show_operational_logs()
    built = build_server(config_path, clean_up=False, sole=False)
    server = uvicorn.Server(uvicorn_config(built, built.state.options, host=host, port=port, s3_port=s3_port))
    freeze_start_up()
    try:
        server.run(sockets=sockets)
    finally:
        built.state.close()
    sys.exit(0 if server.started else 1)
