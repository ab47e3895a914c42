"""``tierstore creds explain | export`` as a user runs them, and the AWS CLI using tierstore as
its credential_process. Every output is scanned for secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.servers.awscli import AwsCli
from tierstore.local.info import StackInfo


def tierstore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def fluss_config(path: Path, stack: StackInfo, bucket: str, user: str, role: str | None) -> Path:
    keys = stack.users[user]
    lines = [
        f"remote.data.dir: s3://{bucket}/data",
        f"s3.endpoint: {stack.endpoint}",
        "s3.region: us-east-1",
        f"s3.access-key: {keys.access_key_id}",
        f"s3.secret-key: {keys.secret_access_key.reveal()}",
    ]
    if role:
        lines.append(f"s3.assumed.role.arn: {stack.roles[role]}")
        lines.append("s3.assumed.role.session.name: cli-test")
    path.write_text("\n".join(lines) + "\n")
    return path


def quiet_environment(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    return env


def secrets_of(stack: StackInfo) -> list[str]:
    return [keys.secret_access_key.reveal() for keys in stack.users.values()] + [
        keys.access_key_id for keys in stack.users.values()
    ]


def test_explain_shows_order_session_layer_and_caller_without_secrets(
    stack: StackInfo, bucket: str, tmp_path: Path
) -> None:
    config = fluss_config(tmp_path / "server.yaml", stack, bucket, "reader", "ReadOnlyRole")
    env = quiet_environment(tmp_path) | {
        "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT00000",
        "AWS_SECRET_ACCESS_KEY": "e",
    }
    result = tierstore(
        "--set", "aws.accessKeyId=SETKEY00000000000000", "--set", "aws.secretKey=s",
        "creds", "explain", "-c", str(config), "--check", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. store              chosen" in out
    assert "2. process            found, not used  SETK…" in out
    assert "4. environment        found, not used  AKIA…" in out
    assert "Session layer: AssumeRole" in out
    assert stack.roles["ReadOnlyRole"] in out
    assert "external id       not set" in out
    assert "assumed-role/ReadOnlyRole/cli-test" in out
    for secret in secrets_of(stack):
        assert secret not in out + result.stderr


def test_aws_cli_lists_a_bucket_through_credential_process(
    stack: StackInfo, bucket: str, tmp_path: Path, aws_cli: AwsCli
) -> None:
    config = fluss_config(tmp_path / "server.yaml", stack, bucket, "reader", "ReadOnlyRole")
    export = f"{sys.executable} -m tierstore.cli.main creds export --format credential-process -c {config}"
    aws_cli.config_file.write_text(f"[default]\nregion = us-east-1\ncredential_process = {export}\n")
    (tmp_path / "listed.txt").write_bytes(b"x")
    env = quiet_environment(tmp_path)
    exported = tierstore("creds", "export", "--format", "json", "-c", str(config), env=env)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["AccessKeyId"].startswith("ASIA") or document["SessionToken"]
    assert "Expiration" in document
    listing = aws_cli.run("--endpoint-url", stack.endpoint, "s3api", "list-objects-v2", "--bucket", bucket)
    assert listing.returncode == 0, listing.stderr
    # A read-only role: the CLI's write is refused by SeaweedFS, proving it used the role's credentials.
    refused = aws_cli.run(
        "--endpoint-url", stack.endpoint, "s3", "cp", str(tmp_path / "listed.txt"), f"s3://{bucket}/x"
    )
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stderr or "Access Denied" in refused.stderr


def test_export_env_format_is_for_eval(stack: StackInfo, bucket: str, tmp_path: Path) -> None:
    config = fluss_config(tmp_path / "server.yaml", stack, bucket, "admin", None)
    result = tierstore("creds", "export", "-c", str(config), env=quiet_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"export AWS_ACCESS_KEY_ID={stack.admin.access_key_id}"
    assert "unset AWS_SESSION_TOKEN" in lines
    assert f"export AWS_ENDPOINT_URL={stack.endpoint}" in lines


def test_a_bad_set_is_a_clear_error_without_traceback(tmp_path: Path, stack: StackInfo, bucket: str) -> None:
    config = fluss_config(tmp_path / "server.yaml", stack, bucket, "admin", None)
    result = tierstore(
        "--set", "aws.accessKeyId", "creds", "explain", "-c", str(config), env=quiet_environment(tmp_path)
    )
    assert result.returncode == 2
    assert "--set 'aws.accessKeyId'" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_output_holds_no_session_secret(stack: StackInfo, bucket: str, tmp_path: Path) -> None:
    # botocore's own DEBUG log prints STS response bodies; -vv must not let it through.
    config = fluss_config(tmp_path / "server.yaml", stack, bucket, "reader", "ReadOnlyRole")
    result = tierstore(
        "-vv", "creds", "export", "-c", str(config), "--format", "json", env=quiet_environment(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert "INFO tierstore.credentials" in result.stderr  # -vv did turn tierstore's log up
    assert "DEBUG botocore" not in result.stderr
    for secret in (exported["SecretAccessKey"], exported["SessionToken"], *secrets_of(stack)):
        assert secret not in result.stderr
