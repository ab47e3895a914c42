"""Peak memory and speed of a large copy between two mounts (different buckets, so it streams).

Starts the local stack, mounts two buckets, writes one file of --size-mib MiB into the first,
then copies it to the second in a fresh child process whose peak RSS (ru_maxrss) is the figure:
the goal is under 200 MB for 1 GiB. The copy is verified by size and ETag-independent SHA-256
of both objects read back in chunks.

    ./dev bench-copy            # or: .venv/bin/python bench/namespace_copy_bench.py --size-mib 1024
    .venv/bin/python bench/namespace_copy_bench.py --part-mib 32 --concurrency 8   # the writer's shape

--part-mib, --concurrency and --buffer-max are given to both mounts as their mount options
(alluxio.underfs.s3.streaming.upload.partition.size, alluxio.underfs.s3.upload.threads.max,
tierstore.upload.buffer.max).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def _config(directory: Path, endpoint: str, key_id: str, secret: str, bucket: str) -> Path:
    config = directory / "server.yaml"
    config.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {endpoint}\ns3.region: us-east-1\n"
        f"s3.access-key: {key_id}\ns3.secret-key: {secret}\n"
        f"tierstore.metadata.url: sqlite:///{directory / 'namespace.db'}\n"
    )
    return config


def _writer_options(args: argparse.Namespace) -> dict[str, str]:
    """The mount options that shape the streaming writer, from the command line."""
    options: dict[str, str] = {}
    if args.part_mib is not None:
        options["alluxio.underfs.s3.streaming.upload.partition.size"] = f"{args.part_mib}MiB"
    if args.concurrency is not None:
        options["alluxio.underfs.s3.upload.threads.max"] = str(args.concurrency)
    if args.buffer_max is not None:
        options["tierstore.upload.buffer.max"] = args.buffer_max
    return options


def _peak_rss_mb() -> float:
    """VmHWM of this process's memory: unlike ru_maxrss it is not inherited from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(config: Path, source: str, dest: str) -> None:
    """Runs in its own process so that ru_maxrss is the copy's own peak."""
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.filesystem import FileSystem
    from tierstore.namespace.metadata import open_metadata
    from tierstore.namespace.mounts import MountTable

    server = load_server_config(config)
    table = MountTable(server, open_metadata(server.metadata_url))
    fs = FileSystem(table)
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    cpu = time.process_time()
    copied = fs.copy(source, dest)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()
    table.close()
    print(json.dumps({
        "bytes": copied, "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": peak, "rss_before_copy_mb": baseline,
    }))  # fmt: skip


def _digest(fs: object, path: str) -> str:
    digest = hashlib.sha256()
    for chunk in fs.read(path):  # type: ignore[attr-defined]
        digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, help="multipart part size in MiB (default: the store's)")
    parser.add_argument("--concurrency", type=int, help="parts uploaded at once (default: the store's)")
    parser.add_argument("--buffer-max", help="cap on one write's part buffers, such as 96MiB (default: none)")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "SOURCE", "DEST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1], args.child[2])
        return 0

    from tierstore.local.stack import start_stack, stop_stack
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.filesystem import FileSystem
    from tierstore.namespace.metadata import open_metadata
    from tierstore.namespace.mounts import MountTable
    from tierstore.storage.factory import open_backend

    with tempfile.TemporaryDirectory(prefix="tierstore-copy-bench-") as scratch:
        directory = Path(scratch)
        info = start_stack(directory / "stack")
        try:
            admin = info.admin
            options = {
                "aws.accessKeyId": admin.access_key_id,
                "aws.secretKey": admin.secret_access_key.reveal(),
                "alluxio.underfs.s3.endpoint": info.endpoint,
                **_writer_options(args),
            }
            config = _config(
                directory, info.endpoint, admin.access_key_id, admin.secret_access_key.reveal(), "bench-root"
            )
            server = load_server_config(config)
            root_store = open_backend(server.root)
            for bucket in ("bench-root", "bench-source", "bench-dest"):
                root_store.control.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
            table = MountTable(server, open_metadata(server.metadata_url))
            table.add("/src", "s3://bench-source/data", options)
            table.add("/dst", "s3://bench-dest/data", options)
            fs = FileSystem(table)
            block = hashlib.sha256(b"tierstore").digest() * (MiB // 32)
            started = time.perf_counter()
            fs.write("/src/big.bin", (block for _ in range(args.size_mib)))
            write_seconds = time.perf_counter() - started
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(config), "/src/big.bin", "/dst/big.bin"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            same = _digest(fs, "/src/big.bin") == _digest(fs, "/dst/big.bin")
            table.close()
        finally:
            stop_stack(info.directory)
    size = args.size_mib * MiB
    rate = size / MiB / write_seconds
    print(f"writer options: {_writer_options(args) or 'the store defaults'}")
    print(f"file: {args.size_mib} MiB, written into /src in {write_seconds:.1f} s ({rate:.0f} MiB/s)")
    print(
        f"copy /src -> /dst (two buckets, streamed): {figures['seconds']:.1f} s, "
        f"{size / MiB / figures['seconds']:.0f} MiB/s, {figures['cpu_seconds']:.1f} CPU s"
    )
    print(f"peak RSS of the copying process: {figures['peak_rss_mb']:.0f} MB "
          f"(before the copy: {figures['rss_before_copy_mb']:.0f} MB); goal: under 200 MB")  # fmt: skip
    print(f"content verified by SHA-256: {'same' if same else 'DIFFERENT'}")
    return 0 if same and figures["peak_rss_mb"] < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
