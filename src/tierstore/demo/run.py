"""The main job on the local stack, start to finish (``tierstore demo``).

It starts the local stack (SeaweedFS and the tansu Kafka broker) in a directory of its own and
shows the three parts on it, then stops everything:

1. the store client: objects written and read back (``demo.store``);
2. the server: ``tierstore serve`` with an S3 root mount reached through a role, a nested
   read-only mount, and an analyst reading and writing through ``tierstore://`` with vended,
   scoped credentials (``demo.server``);
3. the S3 gateway: the AWS CLI writes and reads the namespace with the analyst's S3 key, and a
   read-only mount refuses its write (``demo.gateway``);
4. the sink: Kafka records moved to S3 objects exactly once (``demo.sink``), shown through the
   server's namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from tierstore.demo.gateway import exercise_gateway
from tierstore.demo.server import exercise_client, server_part
from tierstore.demo.sink import run_sink_part
from tierstore.demo.steps import Steps
from tierstore.demo.store import MiB, run_store_part
from tierstore.local.stack import start_stack, stop_stack
from tierstore.settings.secret import mask_key_id


def run(args: argparse.Namespace) -> int:
    print("tierstore demo: the store client, the server with credential vending, and the Kafka sink\n")
    with tempfile.TemporaryDirectory(prefix="tierstore-demo-") as scratch:
        directory: Path = args.dir or Path(scratch) / "stack"
        steps = Steps()
        with steps.step("local stack up (SeaweedFS: S3, STS, IAM, KMS; tansu: Kafka)") as note:
            info = start_stack(directory, kafka=True)
            note(f"S3 and STS at {info.endpoint}, region {info.region}; Kafka at {info.kafka_bootstrap}")
            note(
                "users: "
                + ", ".join(f"{name} ({mask_key_id(k.access_key_id)})" for name, k in info.users.items())
            )
        try:
            steps.section("The store client")
            run_store_part(info, steps, size=args.size_mib * MiB)
            steps.section("The server: credential vending and tierstore://")
            with contextlib.ExitStack() as server_running:
                session = server_running.enter_context(server_part(info, steps, Path(scratch)))
                exercise_client(session, steps)
                steps.section("The S3 gateway: the AWS CLI through tierstore serve")
                exercise_gateway(session, steps, Path(scratch))
                steps.section("The sink: Kafka to S3")
                run_sink_part(info, steps, Path(scratch), session.server.bucket)
                with steps.step("the sink's files, seen through the server's namespace") as note:
                    listed = session.admin.ls("/sink", recursive=True)
                    files = [entry for entry in listed if entry["type"] == "file"]
                    for entry in files[:3]:
                        note(f"{entry['path']}  {entry['size']:,} bytes")
                    note(f"... {len(files)} files in all")
                steps.section("Shutting down")
                with steps.step("tierstore serve stopped with SIGTERM") as note:
                    server_running.close()
                    note("it stopped accepting connections and let requests in flight finish first")
        finally:
            with steps.step("local stack down") as note:
                stop_stack(directory)
                note("processes stopped, socket files and stack directory removed")
    print("\ndone: everything read back matched what was written")
    return 0
