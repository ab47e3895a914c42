"""``tierstore fs`` and ``tierstore runtests`` as a user runs them, each call its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.namespace.test_filesystem import user_options, write_config
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    pass


def tierstore(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    command = [sys.executable, "-m", "tierstore.cli.main", *args[:2], "-c", str(config), *args[2:]]
    if args[0] == "runtests":
        command = [sys.executable, "-m", "tierstore.cli.main", "runtests", "-c", str(config), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def option_args(options: dict[str, str]) -> list[str]:
    return [part for key, value in options.items() for part in ("--option", f"{key}={value}")]


@pytest.fixture
def config(tmp_path: Path, stack: StackInfo, bucket: str, metadata_url: str) -> Path:
    return write_config(tmp_path / "server.yaml", stack, bucket, metadata_url)


def test_mount_ls_chmod_and_mounts_from_separate_processes(
    config: Path, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    data = make_bucket()
    mounted = tierstore(
        config, "fs", "mount", *option_args(user_options(stack, "admin")), "/mnt/s3", f"s3://{data}/dir"
    )
    assert mounted.returncode == 0, mounted.stderr
    assert f"mounted s3://{data}/dir/ at /mnt/s3" in mounted.stdout
    assert stack.admin.secret_access_key.reveal() not in mounted.stdout + mounted.stderr
    # Another process, the same metadata: it sees the mount.
    listed = tierstore(config, "fs", "mounts", "--json")
    assert listed.returncode == 0, listed.stderr
    mounts = json.loads(listed.stdout)
    assert [entry["path"] for entry in mounts] == ["/", "/mnt/s3"]
    assert "aws.secretKey" in mounts[1]["options"]  # the option names, never their values
    assert stack.admin.secret_access_key.reveal() not in listed.stdout
    source = config.parent / "hello.txt"
    source.write_text("hello through the cli\n")
    assert tierstore(config, "fs", "put", str(source), "/mnt/s3/hello.txt").returncode == 0
    catted = tierstore(config, "fs", "cat", "/mnt/s3/hello.txt")
    assert catted.stdout == "hello through the cli\n"
    before = tierstore(config, "fs", "ls", "-l", "/mnt/s3").stdout
    assert before.startswith("-rwx------ ")  # the bucket ACL's owner is no tierstore user
    assert tierstore(config, "fs", "chmod", "0640", "/mnt/s3/hello.txt").returncode == 0
    after = tierstore(config, "fs", "ls", "-l", "/mnt/s3").stdout
    assert after.startswith("-rw-r----- ")
    stat = json.loads(tierstore(config, "fs", "stat", "--json", "/mnt/s3/hello.txt").stdout)
    assert (stat["mode"], stat["size"], stat["type"]) == ("0640", 22, "file")


def test_mount_errors_are_messages_not_tracebacks(
    config: Path, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    bad = user_options(stack, "admin") | {"aws.secretKey": "wrong-secret-000000000000000000000000000"}
    result = tierstore(config, "fs", "mount", *option_args(bad), "/mnt/bad", f"s3://{make_bucket()}")
    assert result.returncode == 2
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert "wrong-secret" not in result.stderr
    unmount_root = tierstore(config, "fs", "unmount", "/")
    assert unmount_root.returncode == 2
    assert "root mount cannot be removed" in unmount_root.stderr


def test_runtests_passes_on_a_good_mount(
    config: Path, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    options = option_args(user_options(stack, "admin"))
    assert tierstore(config, "fs", "mount", *options, "/mnt/s3", f"s3://{make_bucket()}").returncode == 0
    result = tierstore(config, "runtests", "--directory", "/mnt/s3")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("PASS") for line in lines[:-1])
    assert any("write large" in line for line in lines)
    assert lines[-1].endswith(" passed, 0 failed")
    left = tierstore(config, "fs", "ls", "/mnt/s3/default_tests_files").stdout.split()
    assert "/mnt/s3/default_tests_files/large.bin" in left  # kept for inspection without --cleanup
    cleaned = tierstore(config, "runtests", "--directory", "/mnt/s3", "--cleanup")
    assert cleaned.returncode == 0
    assert tierstore(config, "fs", "ls", "/mnt/s3").stdout.strip() == ""


def test_runtests_reports_each_failing_case_when_writes_are_refused(
    config: Path, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    options = option_args(user_options(stack, "reader"))
    assert tierstore(config, "fs", "mount", *options, "/mnt/ro", f"s3://{make_bucket()}").returncode == 0
    result = tierstore(config, "runtests", "--directory", "/mnt/ro", "--json")
    cases = json.loads(result.stdout)
    failed = [case for case in cases if not case["passed"]]
    assert result.returncode == len(failed) > 0
    writes = [case for case in failed if case["name"].startswith("write")]
    assert len(writes) == 3
    assert all("not allowed" in case["detail"] or "AccessDenied" in case["detail"] for case in writes)


def test_creds_explain_for_a_mount_puts_its_options_above_the_server_keys(
    config: Path, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    reader = user_options(stack, "reader")
    assert (
        tierstore(config, "fs", "mount", *option_args(reader), "/mnt/r", f"s3://{make_bucket()}").returncode
        == 0
    )
    endpoint_only = {key: value for key, value in reader.items() if not key.startswith("aws.")}
    bucket = make_bucket()
    assert (
        tierstore(
            config, "fs", "mount", *option_args(endpoint_only), "/mnt/site", f"s3://{bucket}"
        ).returncode
        == 0
    )

    own = json.loads(tierstore(config, "creds", "explain", "--mount", "/mnt/r/any/file", "--json").stdout)
    statuses = {row["source"]: (row["status"], row["detail"]) for row in own["chain"]}
    assert own["store"].startswith("s3://t-")
    assert statuses["store"][0] == "chosen"
    assert statuses["store"][1].startswith(stack.users["reader"].access_key_id[:4])
    assert statuses["site"] == ("found, not used", statuses["site"][1])
    assert statuses["site"][1].startswith(stack.admin.access_key_id[:4])

    inherited = json.loads(
        tierstore(config, "creds", "explain", "--mount", "/mnt/site", "--json", "--check").stdout
    )
    assert inherited["chosen"] == "site"
    assert inherited["caller"]["arn"].endswith("admin")
    for secret in (stack.admin.secret_access_key.reveal(), stack.users["reader"].secret_access_key.reveal()):
        assert secret not in json.dumps(own) + json.dumps(inherited)


def test_creds_explain_for_a_relative_mount_path_names_it(config: Path) -> None:
    result = tierstore(config, "creds", "explain", "--mount", "mnt/s3")
    assert result.returncode == 2
    assert "--mount mnt/s3" in result.stderr
    assert "absolute path" in result.stderr
    assert "Traceback" not in result.stderr
