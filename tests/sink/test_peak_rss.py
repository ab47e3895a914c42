"""The sink reports its own peak memory, not that of the process that started it."""

from __future__ import annotations

import subprocess
import sys

# A parent that touches 600 MiB, then starts a fresh interpreter that reports its peak.
_PARENT = """
import subprocess, sys
held = bytearray(600 * 1024 * 1024)
for offset in range(0, len(held), 4096):
    held[offset] = 1
child = "from tierstore.sink.worker import peak_rss_mb; print(peak_rss_mb())"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


def test_a_sink_started_by_a_big_process_reports_its_own_peak() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PARENT], capture_output=True, text=True, check=True, timeout=60
    )
    peak = float(done.stdout.strip())
    # ru_maxrss said about 600 here: Linux folds the parent's peak in when the child execs.
    assert 10 < peak < 300, peak
