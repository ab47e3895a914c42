"""The README's main-job command, ``tierstore demo``, runs start to finish on its own stack."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_demo_runs_the_whole_path_and_shows_no_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", "demo", "--size-mib", "8"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for shown in (
        "sha256 matches",
        "refused as expected",
        "10000 rows, identical to what was written",
        "mode direct, scoped by a session policy: yes",
        "write vend refused as expected",
        "reports/report.csv",
        "a write there is refused",
        "(AccessDenied) when calling the PutObject operation",
        "every record exactly once, in offset order",
        "tierstore serve stopped with SIGTERM",
        "done: everything read back matched what was written",
    ):
        assert shown in out
    # Key ids appear as their first 4 characters only; no 40-character secret, no session token.
    assert not re.search(r"\b(?=[A-Z0-9]*[A-Z])[A-Z0-9]{20}\b", out)
    assert not re.search(r"\b[A-Za-z0-9/+]{40}\b", out)
    assert not re.search(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])", out)  # an S3 key's secret
    assert "tsk_" not in out
