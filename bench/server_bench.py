"""The server benchmark: ``tierstore serve`` against a bare endpoint of its own framework, and its
data proxy against curl straight to the store, all in one run.

One run starts the local stack (SeaweedFS), ``tierstore serve`` in a child process (an S3 root
mount on SeaweedFS, vending through ReadWriteRole, the embedded SQLite metadata) and a bare
Starlette endpoint on the same ASGI server (``bench/bare_app.py``), then drives each with ``wrk``
at 1 and 16 connections:

1. a warm vend (``POST /v1/credentials`` of a directory);
2. a stat of a file (``GET /v1/fs/stat``);
3. an ls of a directory of 1,000 entries (``GET /v1/fs/ls``);
4. the bare endpoint, answering as many bytes as each of the above (POST with a JSON body for
   the vend, GET for stat and ls).

It prints req/s, p50 and p99 and each figure's ratio to the bare endpoint. Then the data proxy:
GET and PUT of a 256 MiB object through ``/v1/data`` on the S3 root mount and on a local mount,
against curl GET/PUT straight to SeaweedFS with a presigned URL (both sides are curl, so the
client costs the same), and the server's peak RSS while 8 curl clients each download 1 GiB
through the proxy at once.

Every answer is checked before it is timed (status 200 and the expected body shape), so a broken
route cannot look fast. wrk comes from Debian; a missing one is installed with apt-get, as
``./dev`` does for tinyproxy.

    .venv/bin/python bench/server_bench.py [--quick] [--seconds N] [--size-mib N] [--no-proxy]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.config
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import RunningServer, start_api_server

import store_bench as sb
from tierstore.local.info import StackInfo
from tierstore.local.stack import stop_stack
from vend_bench import start_stack_and_server

MiB = 1024 * 1024
BUCKET = "bench"
VEND_DIRECTORY = "/vend-target/"
STAT_FILE = "/stat-target/file.txt"
LS_DIRECTORY = "/ls-target"
LS_ENTRIES = 1000
PROXY_CLIENTS = 8


@dataclass(frozen=True)
class WrkResult:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def ensure_wrk() -> str:
    """wrk's path; installed from Debian when missing (the bench's own set-up, as ./dev does)."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing wrk from Debian (apt-get)", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install wrk")
    return found


def lua_script(directory: Path, name: str, method: str, headers: dict[str, str], body: str | None) -> Path:
    lines = [f'wrk.method = "{method}"']
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: float) -> WrkResult:
    threads = min(2, connections)
    output = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    latency = {int(p): float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(output)}
    if errors:
        print(f"wrk reported errors for {url}:\n{output}", flush=True)
    return WrkResult(rate, latency[50], latency[99], requests, errors)


def prepare_namespace(api: httpx.Client, local_dir: Path) -> None:
    """The vend directory, the stat file, 1,000 entries to list, and a local mount."""
    for answer in (
        api.post("/v1/fs/mkdir", json={"path": VEND_DIRECTORY, "parents": True}),
        api.put("/v1/data", params={"path": STAT_FILE}, content=b"stat me\n"),
        api.post("/v1/mounts", json={"path": "/local", "uri": local_dir.as_uri()}),
    ):
        sb.check(answer.is_success, f"set-up failed: {answer.status_code} {answer.text}")
    # 8 at a time: the default tierstore.server.limits.uploads-per-user.
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: api.put("/v1/data", params={"path": f"{LS_DIRECTORY}/f{i:04d}"}, content=b"x"),
                range(LS_ENTRIES),
            )
        )
    failed = [a for a in answers if not a.is_success]
    sb.check(
        not failed,
        f"writing the entries to list: {len(failed)} failed, first {failed[:1]!r}: "
        f"{failed[0].text if failed else ''}",
    )


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url_path: str
    body: str | None
    answer_bytes: int


def cases(api: httpx.Client) -> list[Case]:
    """Each request once, checked, to learn its answer's size (the bare endpoint answers as many)."""
    vend_body = json.dumps({"path": VEND_DIRECTORY, "access": "read"})
    found: list[Case] = []
    for name, method, url_path, body, check in (
        ("warm vend", "POST", "/v1/credentials", vend_body, "credentials"),
        ("stat", "GET", f"/v1/fs/stat?path={STAT_FILE}", None, "mode"),
        ("ls 1,000", "GET", f"/v1/fs/ls?path={LS_DIRECTORY}", None, "entries"),
    ):
        answer = api.request(method, url_path, content=body)
        sb.check(answer.status_code == 200, f"{name}: {answer.status_code} {answer.text[:300]}")
        document = answer.json()
        sb.check(check in json.dumps(document)[:100_000], f"{name}: the answer lacks {check!r}")
        if name == "ls 1,000":
            entries = document["entries"] if isinstance(document, dict) else document
            sb.check(len(entries) == LS_ENTRIES, f"ls: {len(entries)} entries, not {LS_ENTRIES}")
        found.append(Case(name, method, url_path, body, len(answer.content)))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_bare(
    size: int, token: str, server: str = "uvicorn", workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_app.py")), "--port", str(port), "--size",
         str(size), "--token", token, "--server", server, "--workers", str(workers)],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/bare", timeout=1)
            return child, url
        except httpx.TransportError:
            if child.poll() is not None or time.monotonic() > deadline:
                child.kill()
                raise SystemExit("the bare endpoint did not start") from None
            time.sleep(0.05)


def bench_routes(
    wrk: str, server: RunningServer, scripts: Path, seconds: float, workers: int = 1
) -> list[str]:
    rows: list[str] = []
    headers = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as api:
        if workers == 1:
            prepare_namespace(api, scripts / "local-mount")
        measured = cases(api)
        # Each worker has its own caches: warm them all before timing (new connections spread).
        for case in measured:
            for _ in range(20 * workers):
                api.request(case.method, case.url_path, content=case.body, headers={"Connection": "close"})
    for case in measured:
        bare, bare_url = start_bare(case.answer_bytes, server.admin_token, workers=workers)
        try:
            bare_body = case.body if case.method == "POST" else None
            ours = lua_script(scripts, "ours", case.method, headers, case.body)
            theirs = lua_script(scripts, "bare", case.method, headers, bare_body)
            bare_path = "/bare" + ("?path=/bench" if case.method == "GET" else "")
            for connections in (1, 16):
                mine = run_wrk(wrk, server.url + case.url_path, ours, connections, seconds)
                base = run_wrk(wrk, bare_url + bare_path, theirs, connections, seconds)
                sb.check(mine.errors == 0, f"{case.name}: {mine.errors} failed requests under wrk")
                sb.check(base.errors == 0, f"bare endpoint: {base.errors} failed requests under wrk")
                row = (
                    f"| {case.name} | {workers} | {connections} | {mine.rate:,.0f} | {mine.p50_ms:.2f} | "
                    f"{mine.p99_ms:.2f} | {base.rate:,.0f} | {base.p99_ms:.2f} | "
                    f"{mine.rate / base.rate:.2f} |"
                )
                print(row, flush=True)
                rows.append(row)
        finally:
            bare.terminate()
            bare.wait(10)
    return rows


def bench_asgi_servers(wrk: str, scripts: Path, seconds: float) -> list[str]:
    """The bare endpoint (a vend-sized POST) on each ASGI server this bench knows, side by side."""
    token = "tsk_bench"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"path": VEND_DIRECTORY, "access": "read"})
    script = lua_script(scripts, "asgi", "POST", headers, body)
    rows: list[str] = []
    for name in ("uvicorn-h11", "uvicorn", "granian", "hypercorn"):
        child, url = start_bare(1500, token, name)
        try:
            for connections in (1, 16):
                result = run_wrk(wrk, url + "/bare", script, connections, seconds)
                sb.check(result.errors == 0, f"{name}: {result.errors} failed requests under wrk")
                row = (
                    f"| {name} | {connections} | {result.rate:,.0f} | {result.p50_ms:.2f} | "
                    f"{result.p99_ms:.2f} |"
                )
                print(row, flush=True)
                rows.append(row)
        finally:
            child.terminate()
            child.wait(10)
    return rows


def curl(args: Sequence[str]) -> float:
    """Seconds for one curl transfer (which must succeed)."""
    began = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", *args], check=True)
    return time.perf_counter() - began


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    kib = int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))  # type: ignore[union-attr]
    return kib / 1024


def bench_proxy(server: RunningServer, info: StackInfo, scripts: Path, size_mib: int) -> list[str]:
    """GET and PUT through the data proxy (S3 root and local mount) against curl straight to S3."""
    blob_path = scripts / "blob.bin"
    with blob_path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(MiB))
    digest = hashlib.sha256(blob_path.read_bytes()).hexdigest()
    admin = info.users["admin"]
    s3 = boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        config=botocore.config.Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    auth = ["-H", f"Authorization: Bearer {server.admin_token}"]
    moved = size_mib
    rows: list[str] = []
    put_url = s3.generate_presigned_url("put_object", {"Bucket": BUCKET, "Key": "direct/blob.bin"}, 3600)
    get_url = s3.generate_presigned_url("get_object", {"Bucket": BUCKET, "Key": "direct/blob.bin"}, 3600)
    direct_put = curl(["-T", str(blob_path), put_url])
    direct_get = curl([get_url])
    for mount, path in (("S3 root", "/proxy/blob.bin"), ("local", "/local/blob.bin")):
        url = f"{server.url}/v1/data?path={path}"
        put = curl([*auth, "-T", str(blob_path), url])
        get = curl([*auth, url])
        check = subprocess.run(["curl", "-sS", "--fail", *auth, url], check=True, capture_output=True).stdout
        sb.check(hashlib.sha256(check).hexdigest() == digest, f"{mount}: the proxy returned other bytes")
        for verb, ours, theirs in (("GET", get, direct_get), ("PUT", put, direct_put)):
            row = (
                f"| proxy {verb}, {mount} mount | {moved / ours:,.0f} MiB/s | curl to SeaweedFS "
                f"{moved / theirs:,.0f} MiB/s | {theirs / ours:.2f} |"
            )
            print(row, flush=True)
            rows.append(row)
    return rows


def bench_proxy_memory(server: RunningServer, scripts: Path, size_mib: int) -> str:
    """The server's peak RSS while 8 curl clients each download ``size_mib`` through the proxy."""
    assert server._process is not None
    path = "/proxy/big.bin"
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=600) as api:

        def chunks() -> object:
            for _ in range(size_mib):
                yield os.urandom(MiB)

        answer = api.put("/v1/data", params={"path": path}, content=chunks())  # type: ignore[arg-type]
        sb.check(answer.is_success, f"writing {path} failed: {answer.status_code}")
    url = f"{server.url}/v1/data?path={path}"
    began = time.perf_counter()
    with ThreadPoolExecutor(PROXY_CLIENTS) as pool:
        list(pool.map(lambda _: curl(["-H", f"Authorization: Bearer {server.admin_token}", url]), range(8)))
    wall = time.perf_counter() - began
    peak = peak_rss_mb(server._process.pid)
    row = (
        f"{PROXY_CLIENTS} clients x {size_mib} MiB through the proxy at once: "
        f"{PROXY_CLIENTS * size_mib / wall:,.0f} MiB/s in all; server peak RSS {peak:,.0f} MB"
    )
    print(row, flush=True)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 s per wrk run, 32 MiB objects: a smoke run")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (default 5)")
    parser.add_argument("--size-mib", type=int, default=None, help="proxy object size (default 256)")
    parser.add_argument("--memory-mib", type=int, default=None, help="per-client download (default 1024)")
    parser.add_argument("--no-proxy", action="store_true", help="only the request routes")
    parser.add_argument(
        "--workers", type=int, default=2, help="also measure tierstore serve --workers N (default 2; 1: not)"
    )
    parser.add_argument(
        "--asgi-servers", action="store_true", help="only the bare endpoint on each ASGI server (no stack)"
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    size_mib = args.size_mib or (32 if args.quick else 256)
    memory_mib = args.memory_mib or (64 if args.quick else 1024)
    wrk = ensure_wrk()
    print(f"machine: {sb.machine()}")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"tierstore source: {sb.source_revision()}", flush=True)
    if args.asgi_servers:
        with tempfile.TemporaryDirectory(prefix="server-bench-") as tmp:
            print("| ASGI server | connections | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|")
            bench_asgi_servers(wrk, Path(tmp), seconds)
        print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return 0
    with tempfile.TemporaryDirectory(prefix="server-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp)
        server: RunningServer | None = None
        try:
            info, _, server = start_stack_and_server(directory)
            (directory / "local-mount").mkdir()
            print(f"stack at {info.endpoint}; tierstore serve at {server.url} (child process)")
            print(
                "| request | workers | connections | tierstore req/s | p50 ms | p99 ms | bare req/s "
                "| bare p99 ms | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                flush=True,
            )
            bench_routes(wrk, server, directory, seconds)
            if args.workers > 1:
                many = start_api_server(directory / "api" / "server.yaml", process=True, workers=args.workers)
                try:
                    many.admin_token = server.admin_token
                    bench_routes(wrk, many, directory, seconds, workers=args.workers)
                finally:
                    many.stop()
            if not args.no_proxy:
                print("| transfer | tierstore | peer | ratio |\n|---|---:|---:|---:|", flush=True)
                bench_proxy(server, info, directory, size_mib)
                bench_proxy_memory(server, directory, memory_mib)
            print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        finally:
            if server is not None:
                server.stop()
            stop_stack(directory / "stack")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
