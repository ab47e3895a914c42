"""A SeaweedFS of its own that a test may SIGKILL and start again on the same ports.

The session's stack serves every other test at once, so outages get their own server: started
once per module that asks, its data kept across restarts (as a real store's would be). After a
restart weed answers ``500 InternalError`` for some seconds before it serves again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tierstore.local import seaweed, start_stack, stop_stack
from tierstore.local.info import StackInfo


class RestartableStore:
    def __init__(self) -> None:
        # Short and outside the rootdir: weed's unix sockets live in it (108-byte path limit).
        self.directory = Path(tempfile.mkdtemp(prefix="ts-restart-"))
        self.info: StackInfo = start_stack(self.directory)
        self._layout = seaweed.WeedLayout(self.directory / "weed")
        self._pid = self.info.pids["weed"]
        self._process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def kill(self) -> None:
        os.kill(self._pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait()
        else:
            # The stack's own spawn started it: reap it here so that it leaves no zombie.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
        self.kills += 1

    def start_again(self) -> None:
        seaweed.remove_tmp_sockets(self.info.ports)
        self._layout.filer_socket.unlink(missing_ok=True)
        self._layout.s3_socket.unlink(missing_ok=True)
        self._process = seaweed.start(self._layout, self.info.ports)
        self._pid = self._process.pid

    def wait_serving(self, timeout: float = 60.0) -> None:
        assert self._process is not None
        seaweed.wait_ready(self._process, self._layout, self.info.ports, secrets=[], timeout=timeout)

    @contextmanager
    def outage_when(
        self, ready: Callable[[], bool], *, down_seconds: float = 3.0, give_up_after: float = 60.0
    ) -> Iterator[threading.Event]:
        """Kill the store as soon as ``ready()`` (polled), start it again ``down_seconds`` later.

        The event is set once the store was killed; the block should end with the transfer.
        """
        killed = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                deadline = time.monotonic() + give_up_after
                while not ready():
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
                self.kill()
                killed.set()
                time.sleep(down_seconds)
                self.start_again()
            except BaseException as error:  # surfaced on the test's thread below
                failure.append(error)

        thread = threading.Thread(target=run, name="outage", daemon=True)
        thread.start()
        try:
            yield killed
        finally:
            thread.join(timeout=give_up_after + down_seconds + 5)
        if failure:
            raise failure[0]

    def close(self) -> None:
        if self._process is not None:
            # A throwaway store: weed, once restarted, can take 30 s to honour SIGTERM, and
            # nothing of it is kept, so it is killed outright.
            self._process.kill()
            self._process.wait()
        stop_stack(self.directory)
