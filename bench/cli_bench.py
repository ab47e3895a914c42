"""Start-up cost of the ``tierstore`` command: wall time and peak RSS of short commands.

Each command runs in a fresh process, several times; the figures are medians. Measured:
``python -c pass`` (the floor: the interpreter alone), ``tierstore --help``, and ``tierstore fs
ls`` of a 2-entry directory on a local mount and on an S3 mount, in a namespace on the embedded
default (SQLite metadata, local root) that holds both mounts. The local stack (SeaweedFS) serves
the S3 mount; the mounts and files are made with the command itself, in a temporary HOME.

Peak RSS is the child's ``ru_maxrss``, read by a small launcher process (``os.wait4``) that
also times it, so neither figure includes this process: a child's ``ru_maxrss`` starts at
the RSS of the process that forked it, and the launcher is about as small as ``python -c pass``.
That floor is why ``python -c pass`` is the figure to compare with.

    .venv/bin/python bench/cli_bench.py [--runs 9]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs one command, waits for it with os.wait4 and prints its wall and CPU seconds and ru_maxrss (KiB).
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_kib": usage.ru_maxrss, "status": status}))
"""


def _measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one fresh run of ``command``."""
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command], env=env, capture_output=True, text=True, check=True
    )
    figures = json.loads(launched.stdout)
    if figures["status"] != 0:
        raise SystemExit(f"{' '.join(command)} failed (wait status {figures['status']}): {launched.stderr}")
    return figures["seconds"], figures["cpu"], figures["rss_kib"] / 1024


def _tierstore(env: dict[str, str], *args: str) -> str:
    """Runs the command for the set-up (not measured); its output."""
    done = subprocess.run([_command(), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"tierstore {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def _command() -> str:
    """The ``tierstore`` entry point installed beside this interpreter, as users run it."""
    return str(Path(sys.executable).with_name("tierstore"))


def _namespace(scratch: Path, endpoint: str, key_id: str, secret: str) -> dict[str, str]:
    """A HOME whose embedded default holds a local mount /local and an S3 mount /s3, each with a
    2-file directory ``small``; the environment to run the command in."""
    home = scratch / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TIERSTORE_"))}
    env["HOME"] = str(home)
    (scratch / "local").mkdir()
    sample = scratch / "sample.txt"
    sample.write_text("tierstore\n")
    _tierstore(env, "fs", "mount", "/local", (scratch / "local").as_uri())
    options = {
        "aws.accessKeyId": key_id,
        "aws.secretKey": secret,
        "alluxio.underfs.s3.endpoint": endpoint,
    }
    _tierstore(
        env, "fs", "mount", *(f"--option={k}={v}" for k, v in options.items()), "/s3", "s3://cli-bench/dir"
    )
    for mount in ("/local", "/s3"):
        for name in ("a.txt", "b.txt"):
            _tierstore(env, "fs", "put", str(sample), f"{mount}/small/{name}")
        listed = _tierstore(env, "fs", "ls", f"{mount}/small").split()
        if listed != [f"{mount}/small/a.txt", f"{mount}/small/b.txt"]:
            raise SystemExit(f"fs ls {mount}/small listed {listed}")
    return env


def _create_bucket(endpoint: str, key_id: str, secret: str, bucket: str) -> None:
    from tierstore.settings import settings_from_options
    from tierstore.storage.factory import open_backend
    from tierstore.storage.s3.store import S3Store

    options = {"aws.accessKeyId": key_id, "aws.secretKey": secret, "alluxio.underfs.s3.endpoint": endpoint}
    store = open_backend(settings_from_options(options, location=f"s3://{bucket}/").settings)
    assert isinstance(store, S3Store)
    store.ensure_bucket()
    store.close()


def _uncompiled() -> list[str]:
    """Packages the command imports that have no bytecode cache beside them.

    With PYTHONDONTWRITEBYTECODE set when a virtualenv was filled (uv does not compile either),
    every start compiles every module it imports from source, and the figures measure that.
    """
    missing = []
    for name in ("tierstore.cli.main", "botocore.credentials", "sqlalchemy.sql.compiler", "yaml"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        if not Path(importlib.util.cache_from_source(spec.origin)).exists():
            missing.append(name)
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per command (default 9)")
    args = parser.parse_args()
    if missing := _uncompiled():
        print(
            f"note: no bytecode cache for {', '.join(missing)}: every start compiles them; "
            f"make it with: {sys.executable} -m compileall -q {sys.prefix} src",
            file=sys.stderr,
        )

    from tierstore.local.stack import start_stack, stop_stack

    with tempfile.TemporaryDirectory(prefix="tierstore-cli-bench-") as scratch:
        directory = Path(scratch)
        info = start_stack(directory / "stack")
        try:
            admin = info.admin
            secret = admin.secret_access_key.reveal()
            _create_bucket(info.endpoint, admin.access_key_id, secret, "cli-bench")
            env = _namespace(directory, info.endpoint, admin.access_key_id, secret)
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "tierstore --help": [_command(), "--help"],
                "tierstore fs ls (local mount)": [_command(), "fs", "ls", "/local/small"],
                "tierstore fs ls (S3 mount)": [_command(), "fs", "ls", "/s3/small"],
            }
            runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
            # Round by round, so a busy moment of the machine falls on every command alike.
            for _ in range(args.runs):
                for name, command in commands.items():
                    runs[name].append(_measure(command, env))
        finally:
            stop_stack(info.directory)
    print(f"median of {args.runs} fresh processes each:")
    print(f"  {'command':<32} {'wall':>8} {'fastest':>8} {'CPU':>8} {'peak RSS':>9}")
    for name, figures in runs.items():
        wall = statistics.median(figure[0] for figure in figures)
        fastest = min(figure[0] for figure in figures)
        cpu = statistics.median(figure[1] for figure in figures)
        rss = statistics.median(figure[2] for figure in figures)
        print(f"  {name:<32} {wall:6.3f} s {fastest:6.3f} s {cpu:6.3f} s {rss:6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
