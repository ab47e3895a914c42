"""The real client tools are installed and work against the session's SeaweedFS with the admin's keys.

Each S3 client puts, lists and gets through ``tests.tools``; what it wrote is read back with
boto3 and what boto3 wrote is read with it, byte for byte.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.tools import (
    FUSE_DEVICE,
    MODULES,
    RCLONE_REMOTE,
    TOOLS,
    ToolSource,
    duckdb_connection,
    duckdb_httpfs_extension,
    polars_storage_options,
    pyarrow_s3,
    require_fuse,
    require_module,
    require_tool,
    run_aws,
    run_rclone,
    s3fs_mount,
)
from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# (tool, arguments that print its version, what that output starts with)
VERSIONS = [
    ("aws", ["--version"], "aws-cli/1."),
    ("rclone", ["version"], "rclone v"),
    ("s3fs", ["--version"], "Amazon Simple Storage Service File System V"),
    ("fusermount3", ["-V"], "fusermount3 version: 3."),
    # wrk has no version flag of its own: -v prints the version line before its usage, exit 1.
    ("wrk", ["-v"], "wrk "),
    ("curl", ["--version"], "curl "),
    ("rsync", ["--version"], "rsync  version"),
]


def _keys(stack: StackInfo) -> tuple[str, str, str]:
    return stack.endpoint, stack.admin.access_key_id, stack.admin.secret_access_key.reveal()


def _body(admin_s3: S3Client, bucket: str, key: str) -> bytes:
    return admin_s3.get_object(Bucket=bucket, Key=key)["Body"].read()


# --- Installed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tool", "arguments", "prefix"), VERSIONS, ids=[entry[0] for entry in VERSIONS])
def test_each_command_line_tool_is_installed_and_runs(tool: str, arguments: list[str], prefix: str) -> None:
    result = subprocess.run(
        [str(require_tool(tool)), *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = result.stdout + result.stderr
    assert output.startswith(prefix), output
    assert result.returncode == (1 if tool == "wrk" else 0), output


def test_every_listed_tool_has_a_version_check() -> None:
    assert sorted(TOOLS) == sorted(entry[0] for entry in VERSIONS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_python_tool_imports(module: str) -> None:
    assert require_module(module).__name__ == module


def test_duckdb_has_its_httpfs_extension_on_disk() -> None:
    extension = duckdb_httpfs_extension()
    assert extension.stat().st_size > 1_000_000
    assert extension.parent.name == f"v{require_module('duckdb').__version__}"


def test_the_aws_cli_is_the_projects_own() -> None:
    """From the venv's dev extra, not whatever else the machine's PATH holds."""
    assert require_tool("aws").parent == Path(sys.executable).parent


def test_fuse_device_is_usable() -> None:
    assert require_fuse() == FUSE_DEVICE
    descriptor = os.open(FUSE_DEVICE, os.O_RDWR)
    os.close(descriptor)


def test_a_missing_tool_fails_naming_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(TOOLS, "tierstore-no-such-tool", ToolSource("tierstore-no-such-package"))
    with pytest.raises(
        pytest.fail.Exception, match=r"Debian package 'tierstore-no-such-package'.*\./dev test"
    ):
        require_tool("tierstore-no-such-tool")

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(pytest.fail.Exception, match=r"PyPI package 'awscli' \(dev extra.*\./dev test"):
        require_tool("aws")

    monkeypatch.setitem(MODULES, "tierstore_no_such_module", ToolSource("tierstore-no-such", pypi=True))
    with pytest.raises(pytest.fail.Exception, match=r"PyPI package 'tierstore-no-such'"):
        require_module("tierstore_no_such_module")


# --- Against SeaweedFS with the admin's keys ------------------------------------------------------


def test_aws_cli_puts_lists_and_gets(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set here, left out there: the CLI's environment is built from scratch.
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("AWS_PROFILE", "tierstore-no-such-profile")
    first, second = secrets.token_bytes(1000), secrets.token_bytes(100_000)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "first").write_bytes(first)
    (tmp_path / "up" / "second").write_bytes(second)

    put = run_aws(
        *_keys(stack), "s3", "cp", "--recursive", "--no-progress", str(tmp_path / "up"), f"s3://{bucket}/aws/"
    )
    assert put.returncode == 0, put.stderr
    assert _body(admin_s3, bucket, "aws/first") == first
    assert _body(admin_s3, bucket, "aws/second") == second
    admin_s3.put_object(Bucket=bucket, Key="aws/from-boto3", Body=b"written by boto3")

    listed = run_aws(*_keys(stack), "s3", "ls", f"s3://{bucket}/aws/")
    assert listed.returncode == 0, listed.stderr
    sizes = {line.split()[3]: int(line.split()[2]) for line in listed.stdout.splitlines()}
    assert sizes == {"first": len(first), "second": len(second), "from-boto3": 16}

    got = run_aws(
        *_keys(stack),
        "s3",
        "cp",
        "--recursive",
        "--no-progress",
        f"s3://{bucket}/aws/",
        str(tmp_path / "down"),
    )
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "down" / "second").read_bytes() == second
    assert (tmp_path / "down" / "from-boto3").read_bytes() == b"written by boto3"


def test_aws_cli_sends_crc32_checksums_in_one_part_and_in_several(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    """awscli 1.46 sends CRC32 with each put, composite over a multipart upload; SeaweedFS keeps it."""
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "one").write_bytes(secrets.token_bytes(1000))
    several = secrets.token_bytes(6 * 1024 * 1024)
    (tmp_path / "up" / "several").write_bytes(several)
    # 5 MB, the smallest part S3 allows, so that 6 MiB goes in two parts.
    config = "[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n"
    put = run_aws(
        *_keys(stack),
        "s3",
        "cp",
        "--recursive",
        "--no-progress",
        str(tmp_path / "up"),
        f"s3://{bucket}/",
        config=config,
    )
    assert put.returncode == 0, put.stderr

    one = admin_s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")
    assert one.get("ChecksumCRC32") and "-" not in one["ETag"]
    parts = admin_s3.head_object(Bucket=bucket, Key="several", ChecksumMode="ENABLED")
    assert parts["ETag"].endswith('-2"')
    assert parts.get("ChecksumCRC32", "").endswith("-2")
    assert _body(admin_s3, bucket, "several") == several


def test_aws_cli_has_no_keys_but_the_ones_given(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.admin.secret_access_key.reveal())
    refused = run_aws(stack.endpoint, "AKIANOTAREALKEY00000", "not-a-secret", "s3", "ls")
    assert refused.returncode != 0
    assert "InvalidAccessKeyId" in refused.stderr


def test_rclone_puts_lists_and_gets(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rclone refuses to start with this set (LoadCustomCABundleError); its environment has none.
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    content = secrets.token_bytes(300_000)
    (tmp_path / "up").write_bytes(content)
    admin_s3.put_object(Bucket=bucket, Key="rclone/from-boto3", Body=b"written by boto3\n")

    put = run_rclone(*_keys(stack), "copyto", str(tmp_path / "up"), f"{RCLONE_REMOTE}:{bucket}/rclone/up")
    assert put.returncode == 0, put.stderr
    assert _body(admin_s3, bucket, "rclone/up") == content

    listed = run_rclone(*_keys(stack), "lsf", f"{RCLONE_REMOTE}:{bucket}/rclone")
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == ["from-boto3", "up"]

    shown = run_rclone(*_keys(stack), "cat", f"{RCLONE_REMOTE}:{bucket}/rclone/from-boto3")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "written by boto3\n"
    got = run_rclone(*_keys(stack), "copyto", f"{RCLONE_REMOTE}:{bucket}/rclone/up", str(tmp_path / "down"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "down").read_bytes() == content


def test_duckdb_writes_and_reads_parquet_and_csv_over_s3(
    stack: StackInfo, admin_s3: S3Client, bucket: str
) -> None:
    admin_s3.put_object(Bucket=bucket, Key="duck/in.csv", Body=b"id,name\n1,one\n2,two\n")
    connection = duckdb_connection(*_keys(stack))
    try:
        assert connection.execute(
            f"SELECT id, name FROM 's3://{bucket}/duck/in.csv' ORDER BY id"
        ).fetchall() == [
            (1, "one"),
            (2, "two"),
        ]
        connection.execute(
            f"COPY (SELECT range AS i, 'row ' || range AS s FROM range(1000)) "
            f"TO 's3://{bucket}/duck/out.parquet' (FORMAT parquet)"
        )
        assert connection.execute(
            f"SELECT count(*), sum(i), max(s) FROM read_parquet('s3://{bucket}/duck/out.parquet')"
        ).fetchall() == [(1000, 499500, "row 999")]
        globbed = connection.execute(
            f"SELECT file FROM glob('s3://{bucket}/duck/*') ORDER BY file"
        ).fetchall()
        assert globbed == [(f"s3://{bucket}/duck/in.csv",), (f"s3://{bucket}/duck/out.parquet",)]
        # httpfs was loaded from the package's file, not installed into ~/.duckdb (nor downloaded).
        httpfs = connection.execute(
            "SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchall()
        assert httpfs == [(True, False)]
    finally:
        connection.close()
    written = _body(admin_s3, bucket, "duck/out.parquet")
    assert written[:4] == written[-4:] == b"PAR1"


def test_pyarrow_s3_puts_lists_and_gets(stack: StackInfo, admin_s3: S3Client, bucket: str) -> None:
    from pyarrow import fs  # type: ignore[import-untyped]

    s3 = pyarrow_s3(*_keys(stack))
    content = secrets.token_bytes(200_000)
    with s3.open_output_stream(f"{bucket}/arrow/blob") as stream:
        stream.write(content)
    assert _body(admin_s3, bucket, "arrow/blob") == content
    admin_s3.put_object(Bucket=bucket, Key="arrow/from-boto3", Body=b"boto3")

    listed = s3.get_file_info(fs.FileSelector(f"{bucket}/arrow"))
    assert sorted((info.path, info.size) for info in listed) == [
        (f"{bucket}/arrow/blob", len(content)),
        (f"{bucket}/arrow/from-boto3", 5),
    ]
    with s3.open_input_stream(f"{bucket}/arrow/from-boto3") as stream:
        assert stream.read() == b"boto3"


def test_polars_writes_and_reads_parquet_over_s3(stack: StackInfo, admin_s3: S3Client, bucket: str) -> None:
    polars = require_module("polars")
    options = polars_storage_options(*_keys(stack))
    frame = polars.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    frame.write_parquet(f"s3://{bucket}/polars/t.parquet", storage_options=options)
    assert _body(admin_s3, bucket, "polars/t.parquet")[:4] == b"PAR1"
    back = polars.read_parquet(f"s3://{bucket}/polars/t.parquet", storage_options=options)
    assert back.to_dicts() == frame.to_dicts()


def test_s3fs_fuse_mounts_a_bucket_for_reads_and_writes(
    stack: StackInfo, admin_s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    admin_s3.put_object(Bucket=bucket, Key="fuse/from-boto3", Body=b"seen through FUSE")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    with s3fs_mount(*_keys(stack), bucket, mountpoint) as mounted:
        assert (mounted / "fuse" / "from-boto3").read_bytes() == b"seen through FUSE"
        (mounted / "fuse" / "written").write_bytes(b"written through FUSE")
        assert sorted(path.name for path in (mounted / "fuse").iterdir()) == ["from-boto3", "written"]
    assert not os.path.ismount(mountpoint)
    assert _body(admin_s3, bucket, "fuse/written") == b"written through FUSE"
