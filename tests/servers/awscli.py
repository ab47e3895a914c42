"""The AWS CLI (v1, PyPI ``awscli``) run in isolation: its own empty config and credentials files.

Nothing from the caller's environment or home reaches it: every ``AWS_*`` variable is dropped,
``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` point at :attr:`AwsCli.config_file`
and :attr:`AwsCli.credentials_file` (empty until a test writes a profile, e.g. one with
``credential_process``), and instance metadata is off unless a test turns it back on.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.tools import require_tool

REGION = "us-east-1"
RUN_TIMEOUT_SECONDS = 60.0


def aws_binary() -> Path:
    """The venv's ``aws``; the test fails, naming the package, when it is missing."""
    return require_tool("aws")


class AwsCli:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.config_file = directory / "config"
        self.credentials_file = directory / "credentials"
        self.config_file.write_text("")
        self.credentials_file.write_text("")
        self.binary = aws_binary()

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        env.update(
            {
                "AWS_CONFIG_FILE": str(self.config_file),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
                "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        env.update(extra or {})
        return env

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``aws ARGS`` with :meth:`environment` plus ``env``; output captured, never raised on."""
        return subprocess.run(
            [str(self.binary), *args],
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
