"""The S3 gateway part of the demo: the AWS CLI, a tool that knows nothing of tierstore, reads and
writes the namespace through ``tierstore serve``'s S3 port with the analyst's own S3 key, and
the namespace's permissions hold: the analyst's directory takes writes, the read-only mount
refuses them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tierstore.demo.server import DemoSession
from tierstore.demo.steps import Steps
from tierstore.errors import TierstoreError
from tierstore.settings.secret import Secret, mask_key_id


def _s3_key(config: Path, user: str) -> tuple[str, Secret]:
    """``tierstore users s3-keys create USER --json``: the id and the secret, printed once."""
    command = [sys.executable, "-m", "tierstore.cli.main", "users", "s3-keys", "create", user, "--json"]
    done = subprocess.run([*command, "-c", str(config)], check=True, capture_output=True, text=True)
    created = json.loads(done.stdout)
    return str(created["access_key_id"]), Secret(str(created["secret_access_key"]))


def _aws(endpoint: str, key: tuple[str, Secret], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The venv's AWS CLI with only the analyst's key in its environment (nothing of the machine's)."""
    aws = Path(sys.executable).parent / "aws"
    if not aws.exists():
        raise TierstoreError(
            f"the AWS CLI is missing from {aws.parent}: reinstall with ./dev demo (local extra)"
        )
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1].reveal(),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [str(aws), "--endpoint-url", endpoint, *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def exercise_gateway(session: DemoSession, steps: Steps, scratch: Path) -> None:
    server = session.server
    home = scratch / "aws-home"
    home.mkdir(exist_ok=True)
    with steps.step("tierstore users s3-keys create analyst") as note:
        key = _s3_key(server.config, "analyst")
        note(
            f"access key {mask_key_id(key[0])}…; the secret is shown once and stored sealed with the key file"
        )
    report = scratch / "report.csv"
    report.write_text("region,sales\nnorth,1200\nsouth,950\n")
    with steps.step(f"aws --endpoint-url {server.s3_url} s3 cp report.csv s3://data/reports/") as note:
        done = _aws(server.s3_url, key, home, "s3", "cp", str(report), "s3://data/reports/report.csv")
        if done.returncode != 0:
            raise TierstoreError(f"aws s3 cp through the gateway failed: {done.stderr.strip()}")
        stat = session.analyst.stat("/data/reports/report.csv")
        note(f"/data/reports/report.csv: {stat['size']} bytes, owner {stat['owner']}, mode {stat['mode']}")
    with steps.step("aws s3 ls --recursive s3://data/") as note:
        done = _aws(server.s3_url, key, home, "s3", "ls", "--recursive", "s3://data/")
        if done.returncode != 0:
            raise TierstoreError(f"aws s3 ls through the gateway failed: {done.stderr.strip()}")
        for line in done.stdout.strip().splitlines():
            note(line)
    with steps.step("aws s3 cp s3://archive/2025/summary.csv - (a read-only mount)") as note:
        done = _aws(server.s3_url, key, home, "s3", "cp", "s3://archive/2025/summary.csv", "-")
        if done.returncode != 0:
            raise TierstoreError(f"aws s3 cp from the read-only mount failed: {done.stderr.strip()}")
        note("read: " + done.stdout.strip().replace("\n", " | "))
        refused = _aws(server.s3_url, key, home, "s3", "cp", str(report), "s3://archive/2025/report.csv")
        if refused.returncode == 0:
            raise TierstoreError("UNEXPECTED: the read-only mount took a write through the gateway")
        note("a write there is refused: " + refused.stderr.strip().splitlines()[-1])
