"""``./dev python``: the interpreter ``./dev`` makes ``.venv`` from.

TIERSTORE_PYTHON when set; else the distribution's packaged CPython (``/usr/bin/python3``) when
it is 3.11 or newer and can make a venv (on this machine kind: Debian's, whose requests the S3
gateway serves a third cheaper than a default pyenv build's); else ``python3`` on PATH.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / "dev"
PACKAGED = Path("/usr/bin/python3")


def chosen(env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", str(DEV), "python"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def packaged_qualifies() -> bool:
    if not PACKAGED.exists():
        return False
    probe = "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))"
    done = subprocess.run([str(PACKAGED), "-c", probe], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def test_tierstore_python_chooses_the_interpreter() -> None:
    env = {**os.environ, "TIERSTORE_PYTHON": "/opt/python/bin/python3.12"}
    assert chosen(env) == "/opt/python/bin/python3.12"


def test_without_a_choice_the_packaged_python_comes_first() -> None:
    env = {key: value for key, value in os.environ.items() if key != "TIERSTORE_PYTHON"}
    assert chosen(env) == (str(PACKAGED) if packaged_qualifies() else "python3")
