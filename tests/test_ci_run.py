"""``.ci/run`` fails at once, saying how to fix it, on a machine where FUSE cannot mount.

Run in a mount namespace whose /dev is an empty tmpfs (no /dev/fuse), and with CAP_SYS_ADMIN
dropped: both end before ``./dev test`` starts, with exit 1 and the container flags to add.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CI_RUN = Path(__file__).resolve().parents[1] / ".ci" / "run"
FIX = "--device /dev/fuse --cap-add SYS_ADMIN"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_ci_run_fails_clearly_without_dev_fuse() -> None:
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux's unshare is missing"
    done = run(unshare, "--mount", "sh", "-c", f"mount -t tmpfs none /dev && exec bash {CI_RUN}")
    assert done.returncode == 1, done
    assert "/dev/fuse is missing" in done.stderr and FIX in done.stderr
    assert "==>" not in done.stderr  # ./dev test never started


def test_ci_run_fails_clearly_without_cap_sys_admin() -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "util-linux's setpriv is missing"
    done = run(setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "bash", str(CI_RUN))
    assert done.returncode == 1, done
    assert "lacks CAP_SYS_ADMIN" in done.stderr and FIX in done.stderr
