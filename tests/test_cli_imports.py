"""What short ``tierstore`` commands import: counted in a fresh interpreter, never timed.

The CLI starts fast only while its quick paths import little (``bench/cli_bench.py`` prints the
times): ``tierstore --help`` imports the standard library and ``tierstore.cli`` alone, and ``fs
ls`` of a local mount on the embedded default (SQLite, read through sqlite3) imports neither
SQLAlchemy nor anything of S3 (obstore, botocore), nor cryptography unless a mount holds a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.namespace.test_filesystem import user_options
from tierstore.local.info import StackInfo

# Runs the ``tierstore`` command in this interpreter as its entry point does, its output kept
# apart, then prints every module it imported beyond what the bare interpreter had.
_PROBE = """
import contextlib, io, json, sys
bare = set(sys.modules)
out = io.StringIO()
from tierstore.cli.main import main
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(set(sys.modules) - bare)}))
"""

# Never imported by a quick command; each is large, or starts things.
HEAVY = (
    "botocore",
    "boto3",
    "obstore",
    "sqlalchemy",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "confluent_kafka",
    "pyarrow",
    "pandas",
    "httpx",
    "urllib3",
    "lxml",
    "yaml",
    "tierstore.server",
    "tierstore.sink",
    "tierstore.client",
    "tierstore.demo",
    "tierstore.local.stack",
    "tierstore.storage.s3",
)


def imported_by(*args: str, env: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The output of ``tierstore ARGS`` run in a fresh interpreter, and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["code"] == 0, done.stderr
    return found["out"], found["modules"]


def heavy_among(modules: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(
        module for module in modules if any(module == name or module.startswith(f"{name}.") for name in heavy)
    )


def test_help_imports_the_standard_library_and_the_cli_only() -> None:
    out, modules = imported_by("--help")
    assert "fs" in out and "demo" in out  # the help itself, every command listed
    assert heavy_among(modules) == []
    third_party = sorted(
        {module.split(".")[0] for module in modules} - set(sys.stdlib_module_names) - {"tierstore"}
    )
    assert third_party == []
    # Of tierstore: the command's parsers, and what they name in their help.
    assert heavy_among(modules, ("tierstore.namespace", "tierstore.storage", "tierstore.credentials")) == []


def test_fuse_help_does_not_load_the_binding() -> None:
    out, modules = imported_by("fuse", "mount", "--help")
    assert "--attr-timeout" in out and "--read-only" in out
    # mfusepy loads libfuse3 when imported: only a mount does that.
    assert heavy_among(modules, (*HEAVY, "mfusepy", "tierstore.fuse")) == []


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME holds a fresh embedded default (SQLite, a local root)."""
    (tmp_path / "home").mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env["HOME"] = str(tmp_path / "home")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def tierstore(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def small_directory(env: Mapping[str, str], tmp_path: Path, directory: str) -> None:
    sample = tmp_path / "sample.txt"
    sample.write_text("tierstore\n")
    for name in ("a.txt", "b.txt"):
        tierstore(env, "fs", "put", str(sample), f"{directory}/{name}")


def test_ls_of_a_local_mount_imports_no_sqlalchemy_and_nothing_of_s3(
    home: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    tierstore(home, "fs", "mount", "/local", (tmp_path / "data").as_uri())
    small_directory(home, tmp_path, "/local/small")

    out, modules = imported_by("fs", "ls", "/local/small", env=home)

    assert out.split() == ["/local/small/a.txt", "/local/small/b.txt"]
    # No secret mount option anywhere, so nothing is decrypted either; nor credentials resolved.
    assert heavy_among(modules, (*HEAVY, "cryptography", "tierstore.credentials")) == []


@pytest.mark.stack
def test_ls_of_a_local_mount_beside_an_s3_mount_opens_only_the_secrets(
    home: dict[str, str], tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    (tmp_path / "data").mkdir()
    tierstore(home, "fs", "mount", "/local", (tmp_path / "data").as_uri())
    options = [f"--option={key}={value}" for key, value in user_options(stack, "admin").items()]
    tierstore(home, "fs", "mount", *options, "/s3", f"s3://{bucket}/dir")
    small_directory(home, tmp_path, "/local/small")

    out, modules = imported_by("fs", "ls", "/local/small", env=home)

    assert out.split() == ["/local/small/a.txt", "/local/small/b.txt"]
    # The S3 mount's store is not opened for a listing elsewhere (nor its credentials resolved);
    # its secret key is decrypted (cryptography): every start checks that each encrypted option
    # opens with the key.
    assert heavy_among(modules, (*HEAVY, "tierstore.credentials")) == []
    assert "cryptography" in {module.split(".")[0] for module in modules}
