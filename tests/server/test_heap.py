"""The server's start-up objects frozen out of full collections (tierstore.server.heap), checked
in a child interpreter: freezing is for a server's own process, never the test runner's."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
import tierstore.server.app  # what a server imports before it serves
from tierstore.server.heap import freeze_start_up
frozen = freeze_start_up()
assert frozen == gc.get_freeze_count() > 10_000, frozen
garbage = [[] for _ in range(1000)]
gc.collect()
assert gc.get_freeze_count() == frozen  # a collection walks none of them
print(frozen)
"""


def test_start_up_objects_are_frozen_out_of_collections() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 10_000
