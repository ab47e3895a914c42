"""Fixtures for the namespace tests: a throwaway PostgreSQL cluster and per-test metadata URLs.

- ``postgres_url`` (session): ``postgresql+psycopg://postgres@127.0.0.1:PORT/tierstore`` on a
  cluster this process started with the Debian package's ``initdb`` and ``pg_ctl``. Under
  pytest-xdist each worker that needs it starts its own (on its own free port, in its own temp
  dir), so workers share nothing. The cluster is stopped and its directory removed at the end.
- ``fresh_postgres_url``: that database with a new, empty schema for one test (first on the
  search path through the URL's ``options``), dropped after it; tests never see each other's rows.
- ``metadata_url``: parametrized over ``sqlite`` and ``postgresql``; a URL to a database no other
  test uses, so the same test runs against both backends.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tierstore.local.info import StackInfo
from tierstore.namespace.config import load_server_config
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.metadata.store import open_metadata
from tierstore.namespace.mounts import MountTable

LOOPBACK = "127.0.0.1"
PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
START_ATTEMPTS = 3
COMMAND_TIMEOUT_SECONDS = 60
# Durability is pointless for a cluster that lives one test session; these make it start and
# commit several times faster.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout first, then PATH)."""
    versions = sorted(
        (path for path in PG_ROOT.glob("*/bin") if path.parent.name.isdigit()),
        key=lambda path: int(path.parent.name),
        reverse=True,
    )
    for bindir in versions:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _ensure_pg_user() -> None:
    """initdb refuses to run as root; the Debian package creates this user, create it if it did not."""
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", PG_USER],
            check=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )


@dataclass
class PostgresCluster:
    bindir: Path
    directory: Path  # short, under /tmp: it also holds the unix socket (108-byte path limit)
    port: int = 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@{LOOPBACK}:{self.port}/{database}"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        argv = list(command)
        if os.geteuid() == 0:
            argv = ["runuser", "-u", PG_USER, "--", *argv]
        # cwd: the server's user must be able to enter it, which /root or the work tree may not allow.
        return subprocess.run(
            argv,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    def _check(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"PostgreSQL {what} in {self.directory} failed (exit {done.returncode}):\n"
                f"{done.stdout}{done.stderr}{log}"
            )

    def start(self) -> None:
        if os.geteuid() == 0:
            _ensure_pg_user()
            shutil.chown(self.directory, user=PG_USER, group=PG_USER)
        initdb = self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            PG_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        )
        self._check("initdb", initdb)
        # The port is free when picked but could be taken before the server binds it (another
        # xdist worker does the same); pick again in that case.
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            options = " ".join(
                [f"-c listen_addresses={LOOPBACK}", f"-p {self.port}", f"-k {self.directory}"]
                + [f"-c {setting}" for setting in FAST_SETTINGS]
            )
            started = self._run(
                str(self.bindir / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--wait",
                "--timeout",
                "30",
                "-o",
                options,
            )
            if started.returncode == 0:
                break
            if attempt == START_ATTEMPTS:
                self._check("start", started)
        with psycopg.connect(host=LOOPBACK, port=self.port, user=PG_USER, dbname="postgres") as admin:
            admin.autocommit = True
            admin.execute("CREATE DATABASE tierstore")

    def stop(self) -> None:
        if self.data.exists():
            # Immediate: nothing in a throwaway cluster is worth a shutdown checkpoint.
            self._run(str(self.bindir / "pg_ctl"), "stop", "--pgdata", str(self.data), "--mode", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/tierstore`` on this process's own cluster."""
    bindir = postgres_bindir()
    if bindir is None:
        # A missing real server is a gap, not a reason to pass: fail, saying what to install.
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql or on "
            "PATH: install the Debian package 'postgresql' (./dev test does)"
        )
    cluster = PostgresCluster(bindir=bindir, directory=Path(tempfile.mkdtemp(prefix="tierstore-pg-")))
    try:
        cluster.start()
        yield cluster.url("tierstore")
    finally:
        cluster.stop()


def _connect_admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    connection = psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    )
    connection.autocommit = True
    return connection


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` with a new, empty schema of its own first on the search path.

    A schema rather than a database: CREATE SCHEMA takes under a millisecond, CREATE DATABASE
    about 0.2 s, and the store's tables land in the schema all the same.
    """
    name = f"t_{secrets.token_hex(6)}"
    with _connect_admin(postgres_url) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
    yield url.render_as_string(hide_password=False)
    with _connect_admin(postgres_url) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest) -> str:
    """A URL to a metadata database of its own, once for each backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def namespace_config(tmp_path: Path, stack: StackInfo, bucket: str, metadata_url: str) -> Path:
    """A server config: the root mount on ``bucket`` (SeaweedFS), the namespace at ``metadata_url``."""
    from tests.namespace.test_filesystem import write_config

    return write_config(tmp_path / "server.yaml", stack, bucket, metadata_url)


@pytest.fixture
def cached_table(namespace_config: Path) -> Iterator[MountTable]:
    """The mount table over a namespace read from memory, polled by hand (``poll_once``)."""
    config = load_server_config(namespace_config)
    metadata = open_metadata(config.metadata_url, poll_interval=3600)
    assert isinstance(metadata, CachedMetadataStore)
    table = MountTable(config, metadata)
    table.sync_root()
    yield table
    table.close()
