"""``tierstore config check`` and ``config show``: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierstore.cli.main import main


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_clean_file_exits_0(fluss_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "-c", str(fluss_file)]) == 0
    assert capsys.readouterr().out == (
        f"{fluss_file}: 0 errors, 0 warnings; usable\n"
        f"{fluss_file}: writes: 32 MiB parts, 4 uploaded at once; at most 160 MiB of part buffers per write\n"
    )


def test_check_warnings_only_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "server.yaml", "remote.data.dir: s3://warehouse/t\ns3.endpont: http://x\n")
    assert main(["config", "check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:2: warning: s3.endpont: unknown key; did you mean s3.endpoint?" in out
    assert f"{path}: 0 errors, 1 warning; usable\n{path}: writes: " in out


def test_check_errors_exit_1_and_list_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "alluxio-site.properties",
        "alluxio.underfs.s3.proxy.port=3128\nalluxio.underfs.s3.inherit.acl=maybe\naws.secretKy=x\n",
    )
    assert main(["config", "check", "-c", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}:1: error: alluxio.underfs.s3.proxy.port: is given without alluxio.underfs.s3.proxy.host; "
        "set the proxy host too",
        f"{path}:2: error: alluxio.underfs.s3.inherit.acl: 'maybe' is not a boolean; use true or false",
        f"{path}:3: warning: aws.secretKy: unknown key; did you mean aws.secretKey?",
        f"{path}: error: alluxio.master.mount.table.root.ufs: no store location: set "
        "alluxio.master.mount.table.root.ufs to s3://BUCKET/PREFIX, s3a://BUCKET/PREFIX or file:///DIR",
        f"{path}: 3 errors, 1 warning; not usable",
    ]


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "sink.json", json.dumps({"aws.s3.bucket.name": "warehouse", "aws.s3.proxy.port": "x"})
    )
    assert main(["config", "check", "-c", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "file": str(path),
        "dialect": "kafka-connect",
        "ok": False,
        "errors": 1,
        "warnings": 0,
        "problems": [
            {
                "level": "error",
                "key": "aws.s3.proxy.port",
                "message": "'x' is not a port; use a number from 1 to 65535",
                "source": str(path),
                "line": None,
            }
        ],
        "writes": None,
    }


def test_check_json_clean(kafka_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "-c", str(kafka_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["errors"], report["warnings"], report["problems"]) == (True, 0, 0, [])


def test_check_missing_file_and_unknown_extension_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", "-c", str(tmp_path / "nope.yaml")]) == 1
    assert main(["config", "check", "-c", str(write(tmp_path, "x.ini", "")), "--json"]) == 1
    out = capsys.readouterr().out
    assert "the file does not exist" in out
    assert '"dialect": null' in out


def test_show_prints_the_resolved_settings(kafka_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "-c", str(kafka_file)]) == 0
    rows = dict(
        line.split(None, 1) for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")
    )
    assert rows["dialect"] == "kafka-connect"
    assert rows["location"] == "s3://warehouse/tables/"
    assert rows["endpoint"] == "http://127.0.0.1:8333"
    assert rows["encryption"] == "aws:kms with key alias/tierstore"
    assert rows["proxy"] == "http://proxy.internal:3128"
    # The size from the file, the default concurrency, and what they hold.
    assert rows["writes"] == "32 MiB parts, 4 uploaded at once; at most 160 MiB of part buffers per write"
    assert rows["passed"].startswith("on")  # "passed on": the connector's own keys


def test_show_with_errors_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "server.yaml", "s3.region: us-east-1\n")
    assert main(["config", "show", "-c", str(path)]) == 2
    assert "no store location" in capsys.readouterr().err


def test_check_says_where_retry_keys_do_not_take_effect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "server.yaml",
        "remote.data.dir: s3://warehouse/t\ns3.retry.mode: adaptive\ns3.retry.limit: 7\n",
    )
    assert main(["config", "check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:2: warning: s3.retry.mode: = adaptive applies to botocore's control calls" in out
    assert "data calls (obstore, part uploads) retry with tierstore's backoff from s3.retry.interval" in out
    assert f"{path}:3: warning: s3.retry.limit: is not read: tierstore has one retry level" in out


def test_check_refuses_a_first_wait_longer_than_the_longest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "alluxio-site.properties",
        "alluxio.master.mount.table.root.ufs=s3://warehouse/t\n"
        "alluxio.underfs.object.store.read.retry.base.sleep=10s\n"
        "alluxio.underfs.object.store.read.retry.max.sleep=2s\n",
    )
    assert main(["config", "check", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert "alluxio.underfs.object.store.read.retry.base.sleep: is 10 s, more than" in out
    assert "alluxio.underfs.object.store.read.retry.max.sleep (2 s)" in out


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "server.yaml",
            "remote.data.dir: s3://warehouse/t\ns3.attempts.maximum: 3\ns3.retry.interval: 250\n"
            "s3.retry.interval.max: 4s\ns3.multipart.purge: true\ns3.multipart.purge.age: 3600\n",
        ),
        (
            "alluxio-site.properties",
            "alluxio.master.mount.table.root.ufs=s3://warehouse/t\n"
            "alluxio.underfs.s3.max.error.retry=2\n"
            "alluxio.underfs.object.store.read.retry.base.sleep=250ms\n"
            "alluxio.underfs.object.store.read.retry.max.sleep=4s\n"
            "alluxio.underfs.cleanup.enabled=true\n"
            "alluxio.underfs.s3.intermediate.upload.clean.age=1h\n",
        ),
    ],
)
def test_retry_and_cleanup_keys_load_alike(tmp_path: Path, name: str, text: str) -> None:
    from tierstore.settings import load_store_settings

    settings = load_store_settings(write(tmp_path, name, text)).settings
    assert settings.retry.max_attempts == 3
    assert settings.retry.interval_seconds == 0.25
    assert settings.retry.max_interval_seconds == 4.0
    assert settings.upload_cleanup.enabled is True
    assert settings.upload_cleanup.age_seconds == 3600.0


def test_show_says_whether_the_access_probe_is_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def permissions_row(text: str) -> str:
        path = write(tmp_path, "alluxio-site.properties", text)
        assert main(["config", "show", "-c", str(path)]) == 0
        rows = dict(
            line.split(None, 1) for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")
        )
        return rows["permissions"]

    root = "alluxio.master.mount.table.root.ufs=s3://warehouse/t\n"
    assert permissions_row(root) == "mode 0700, inherit ACL true, access probe true"
    off = permissions_row(root + "alluxio.underfs.s3.access.probe=false\n")
    assert off == "mode 0700, inherit ACL true, access probe false"
