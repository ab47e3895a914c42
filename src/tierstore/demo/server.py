"""The server part of the demo: credential vending and ``tierstore://`` on the local stack.

The server runs as its own process (``tierstore serve``), as it would in production, with a
Fluss-style ``server.yaml``: the root mount is an S3 bucket that the server reaches through a
role (AssumeRole on SeaweedFS's STS), and clients get credentials vended from that role, narrowed
by a session policy to the path they asked for. A nested read-only mount sits beside it. An
analyst (a plain user, no admin) then reads and writes through ``tierstore://`` with pandas:
the data goes straight to S3 with the vended credentials; the server only tells where and hands
out the keys.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tierstore.client import Client
from tierstore.client.vended import Vended
from tierstore.demo.steps import Note, Steps, admin_s3
from tierstore.errors import AccessDeniedError, TierstoreError
from tierstore.local.info import StackInfo
from tierstore.server.users import ADMIN_TOKEN_FILE
from tierstore.settings.secret import mask_key_id

START_TIMEOUT_SECONDS = 30.0
ROLE = "ReadWriteRole"


@dataclass(frozen=True)
class DemoServer:
    url: str
    admin_token: str
    config: Path
    bucket: str
    s3_url: str


@dataclass(frozen=True)
class DemoSession:
    """The running server with its admin's and the analyst's clients."""

    server: DemoServer
    admin: Client
    analyst: Client
    analyst_token: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_yaml(info: StackInfo, bucket: str) -> str:
    """The server's config: its data identity is ``writer`` acting through ReadWriteRole."""
    writer = info.users["writer"]
    return "\n".join(
        [
            f"remote.data.dir: s3://{bucket}/",
            f"s3.endpoint: {info.endpoint}",
            f"s3.region: {info.region}",
            "s3.path-style-access: true",
            f"s3.access-key: {writer.access_key_id}",
            f"s3.secret-key: '{writer.secret_access_key.reveal()}'",
            f"s3.assumed.role.arn: {info.roles[ROLE]}",
            f"s3.assumed.role.sts.endpoint: {info.endpoint}",
            "s3.assumed.role.session.name: tierstore-demo-server",
            "tierstore.vending.duration: 900",
            "",
        ]
    )


@contextlib.contextmanager
def running_server(info: StackInfo, directory: Path, bucket: str) -> Iterator[DemoServer]:
    """``tierstore serve`` in a child process, stopped with SIGTERM (a graceful shutdown)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "server.yaml"
    config.write_text(server_yaml(info, bucket))
    config.chmod(0o600)
    port = _free_port()
    s3_port = _free_port()
    log = (directory / "serve.log").open("wb")
    command = [
        sys.executable, "-m", "tierstore.cli.main", "serve", "-c", str(config),
        "--port", str(port), "--s3-port", str(s3_port),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, directory / "serve.log")
        token = (directory / ADMIN_TOKEN_FILE).read_text().strip()
        s3_url = f"http://127.0.0.1:{s3_port}"
        yield DemoServer(url=url, admin_token=token, config=config, bucket=bucket, s3_url=s3_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TierstoreError(f"tierstore serve exited with {process.returncode}; see {log}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/v1/ready", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise TierstoreError(
        f"tierstore serve did not become ready within {START_TIMEOUT_SECONDS:.0f} s; see {log}"
    )


def add_user(config: Path, name: str, group: str) -> str:
    """``tierstore users add``: the token is printed once, on the last line."""
    command = [
        sys.executable,
        "-m",
        "tierstore.cli.main",
        "users",
        "add",
        name,
        "--group",
        group,
        "-c",
        str(config),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1].strip()


@contextlib.contextmanager
def server_part(info: StackInfo, steps: Steps, scratch: Path) -> Iterator[DemoSession]:
    """Starts the server and sets up a nested mount, a directory and the analyst user."""
    s3 = admin_s3(info)
    suffix = secrets.token_hex(3)
    warehouse, archive = f"warehouse-{suffix}", f"archive-{suffix}"
    for name in (warehouse, archive):
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=archive, Key="2025/summary.csv", Body=b"year,events\n2025,1204\n")

    with contextlib.ExitStack() as cleanup:
        with steps.step("tierstore serve -c server.yaml (its own process)") as note:
            server = cleanup.enter_context(running_server(info, scratch / "server", warehouse))
            note(f"{server.url}: root mount s3://{warehouse}/ through {ROLE} (AssumeRole on SeaweedFS's STS)")
            note(f"the first admin's token went to {scratch / 'server' / ADMIN_TOKEN_FILE} (mode 0600)")
        admin = cleanup.enter_context(Client(server.url, server.admin_token))
        with steps.step("a nested read-only mount, a directory and a user") as note:
            reader = info.users["reader"]
            admin.add_mount(
                "/archive",
                f"s3://{archive}/",
                {
                    "alluxio.underfs.s3.endpoint": info.endpoint,
                    "alluxio.underfs.s3.region": info.region,
                    "aws.accessKeyId": reader.access_key_id,
                    "aws.secretKey": reader.secret_access_key.reveal(),
                    "tierstore.vending.role.arn": info.roles["ReadOnlyRole"],
                },
                readonly=True,
                shared=True,
            )
            # The root mount comes out 0700 with no owner (its bucket's owner is no tierstore
            # user): open the search bit, as on a POSIX root, so users may pass through it.
            admin.chmod("/", "0711")
            admin.mkdir("/data")
            analyst_token = add_user(server.config, "analyst", "data")
            admin.chown("/data", "analyst", "data")
            for mount in admin.mounts():
                ro = " (read-only, shared)" if mount["readonly"] else ""
                note(f"mount {mount['path']:<9} -> {mount['uri']}{ro}")
            note("/ is 0711 (search only); user analyst (group data) owns /data")
            note("the analyst's bearer token is stored as a SHA-256 hash only")
        analyst = cleanup.enter_context(Client(server.url, analyst_token))
        yield DemoSession(server, admin, analyst, analyst_token)


def exercise_client(session: DemoSession, steps: Steps) -> None:
    import pandas as pd

    analyst = session.analyst
    storage = {"server": session.server.url, "token": session.analyst_token}
    frame = pd.DataFrame({"event": [f"e{i}" for i in range(10_000)], "value": range(10_000)})
    with steps.step("pandas writes tierstore:///data/events.parquet (as analyst)") as note:
        frame.to_parquet("tierstore:///data/events.parquet", storage_options=storage)
        stat = analyst.stat("/data/events.parquet")
        note(f"{stat['size']} bytes, owner {stat['owner']}, mode {stat['mode']}")
    with steps.step("pandas reads it back through tierstore://") as note:
        back = pd.read_parquet("tierstore:///data/events.parquet", storage_options=storage)
        same = back.equals(frame)
        note(f"{len(back)} rows, {'identical to what was written' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit("read-back mismatch through tierstore://")
    with steps.step("what was vended for it (POST /v1/credentials, read)") as note:
        vended = analyst.vend("/data/", "read")
        _describe(vended, note)
    with steps.step("read /archive/2025/summary.csv, then ask to write there") as note:
        text = analyst.read("/archive/2025/summary.csv").decode().strip().replace("\n", " | ")
        note(f"read: {text}")
        try:
            analyst.vend("/archive/2025/", "write")
            note("UNEXPECTED: write credentials were vended for a read-only mount")
        except AccessDeniedError as error:
            note(f"write vend refused as expected: {error}")


def _describe(vended: Vended, note: Note) -> None:
    """Everything the client was told, the secret and the session token excepted."""
    note(f"mode {vended.mode}, scoped by a session policy: {'yes' if vended.scoped else 'NO'}")
    if vended.store is not None:
        where = vended.store
        note(
            f"s3://{where.bucket}/{where.prefix} at {where.endpoint}, region {where.region}, "
            f"path style {where.path_style}, checksums {where.checksum_mode}"
        )
    if vended.credentials is not None:
        credentials = vended.credentials
        token = "a session token" if credentials.session_token else "no session token"
        note(f"key id {mask_key_id(credentials.access_key_id)} with {token}; secret never shown")
    if vended.expires_at is not None and vended.refresh_at is not None:
        note(
            f"expires {vended.expires_at:%H:%M:%S} UTC; the client asks again at {vended.refresh_at:%H:%M:%S}"
        )
