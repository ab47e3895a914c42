"""``tierstore sink validate`` and ``tierstore sink iam-policy``: output, exit codes, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sink.sink_samples import FULL, MINIMAL, SECRETS, write_config
from tests.sink.test_config import BROKEN

from tierstore.cli.main import main


def test_validate_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FULL)
    assert main(["sink", "validate", "-c", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 0 errors, 0 warnings; usable\n"


def test_validate_warnings_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, {**MINIMAL, "file.max.record": "10"})
    assert main(["sink", "validate", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: warning: file.max.record: unknown key; did you mean file.max.records?\n" in out
    assert out.endswith("0 errors, 1 warning; usable\n")


def test_validate_reports_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, {"name": "broken", "config": BROKEN})
    assert main(["sink", "validate", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[-1] == f"{path}: 26 errors, 1 warning; not usable"
    # One line per problem, each naming the file and the key, in config check's form.
    for key in (
        "aws.s3.bucket.name",
        "topics",
        "file.compression.type",
        "format.output.type",
        "errors.tolerance",
    ):
        assert any(line.startswith(f"{path}: error: {key}: ") for line in lines), key
    for secret in SECRETS:
        assert secret not in out


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, {**MINIMAL, "file.compression.type": "brotli", "aws.secret.access.key": SECRETS[0]}
    )
    assert main(["sink", "validate", "-c", str(path), "--json"]) == 1
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["file"] == str(path)
    assert report["ok"] is False
    assert report["errors"] == 2
    keys = {problem["key"] for problem in report["problems"]}
    assert keys == {"file.compression.type", "aws.secret.access.key"}
    assert SECRETS[0] not in out


def test_validate_bootstrap_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = {key: value for key, value in MINIMAL.items() if key != "bootstrap.servers"}
    path = write_config(tmp_path, values)
    assert main(["sink", "validate", "-c", str(path)]) == 1
    assert "bootstrap.servers: is not set" in capsys.readouterr().out
    assert main(["sink", "validate", "-c", str(path), "--bootstrap-servers", "127.0.0.1:9092"]) == 0


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.json"
    assert main(["sink", "validate", "-c", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}: error: the file does not exist\n")


def test_iam_policy_prints_policy_and_trust_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, FULL)
    principal = "arn:aws:iam::123456789012:user/sink-runner"
    assert main(["sink", "iam-policy", "-c", str(path), "--principal", principal]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)  # ready to paste: the whole output is one JSON document
    assert set(document) == {"policy", "role", "trust_policy"}
    actions = sorted(a for statement in document["policy"]["Statement"] for a in statement["Action"])
    # FULL turns start-up cleanup off: no s3:ListBucket.
    assert actions == sorted(
        [
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
            "s3:ListBucketMultipartUploads",
        ]
    )
    assert document["policy"]["Statement"][0]["Resource"] == "arn:aws:s3:::warehouse/kafka/events/*"
    assert document["role"] == FULL["aws.sts.role.arn"]
    (trust,) = document["trust_policy"]["Statement"]
    assert trust["Principal"] == {"AWS": principal}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "team-42"}}
    for secret in SECRETS:
        assert secret not in out


def test_iam_policy_without_role_and_without_brokers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {key: value for key, value in MINIMAL.items() if key != "bootstrap.servers"}
    path = write_config(tmp_path, values)
    assert main(["sink", "iam-policy", "-c", str(path)]) == 0  # no broker is needed to print a policy
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"policy"}
    assert "s3:ListBucket" in [a for s in document["policy"]["Statement"] for a in s["Action"]]


def test_iam_policy_default_principal_is_a_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, {**MINIMAL, "aws.sts.role.arn": "arn:aws:iam::123456789012:role/sink"})
    assert main(["sink", "iam-policy", "-c", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["trust_policy"]["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::ACCOUNT_ID:user/SINK_USER"
    }
    assert "Condition" not in document["trust_policy"]["Statement"][0]


def test_iam_policy_on_a_broken_config_is_one_clear_error_exit_2(tmp_path: Path) -> None:
    """Through the real entry point: no traceback, the problems listed, exit 2."""
    path = write_config(
        tmp_path, {**MINIMAL, "format.output.type": "avro", "aws.secret.access.key": SECRETS[0]}
    )
    done = subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", "sink", "iam-policy", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"tierstore: error: {path}: 2 errors, 0 warnings")
    assert "format.output.type: 'avro' is not accepted" in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRETS[0] not in done.stderr


def test_iam_policy_only_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, FULL)
    assert main(["sink", "iam-policy", "-c", str(path), "--only", "policy"]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17" and len(policy["Statement"]) == 2  # cleanup is off in FULL
    assert (
        main(
            ["sink", "iam-policy", "-c", str(path), "--only", "trust", "--principal", "arn:aws:iam::1:user/u"]
        )
        == 0
    )
    trust = json.loads(capsys.readouterr().out)
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "team-42"}}
    no_role = write_config(tmp_path, MINIMAL, "no-role.json")
    assert main(["sink", "iam-policy", "-c", str(no_role), "--only", "trust"]) == 2
    assert "no aws.sts.role.arn" in capsys.readouterr().err
