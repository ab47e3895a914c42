"""``tierstore local up | down | status | env``: the local stack of real servers."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierstore.local.directory import ENV_DIRECTORY, default_directory

# The stack's modules are imported by the actions that use them: registering the parser (every
# ``tierstore`` command does) must stay cheap.
if TYPE_CHECKING:
    from tierstore.local import StackInfo

EXIT_NOT_RUNNING = 1


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = subcommands.add_parser(
        "local",
        help="run a local stack of real servers (SeaweedFS for S3/STS/IAM/KMS, tansu for Kafka)",
        description="A local stack of real servers on 127.0.0.1, kept in one directory "
        f"(--dir, else ${ENV_DIRECTORY}, else ~/.tierstore/local).",
    )
    actions = local.add_subparsers(dest="local_command", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start the stack in the background and print its endpoint")
    _add_dir(up)
    up.add_argument("--kafka", action="store_true", help="also start the tansu Kafka broker")
    up.add_argument("--s3-port", type=int, metavar="N", help="S3 port (default: a free one)")
    up.add_argument(
        "--kafka-port", type=int, metavar="N", help="Kafka port (implies --kafka; default: a free one)"
    )
    up.set_defaults(run=run_up)

    down = actions.add_parser("down", help="stop the stack and remove its files")
    _add_dir(down)
    down.add_argument(
        "--keep-data", action="store_true", help="keep the data, configuration and logs for inspection"
    )
    down.set_defaults(run=run_down)

    status = actions.add_parser("status", help="whether the stack runs, where, and its key ids")
    _add_dir(status)
    status.add_argument(
        "--json", action="store_true", help="machine-readable, with every key and secret (for scripts)"
    )
    status.set_defaults(run=run_status)

    env = actions.add_parser(
        "env", help='print shell exports for the admin identity: eval "$(tierstore local env)"'
    )
    _add_dir(env)
    env.set_defaults(run=run_env)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help=f"the stack's directory (default: ${ENV_DIRECTORY} or ~/.tierstore/local)",
    )


def _directory(args: argparse.Namespace) -> Path:
    directory: Path | None = args.dir
    return (directory or default_directory()).expanduser().resolve()


def _dir_option(directory: Path) -> str:
    """The ``--dir`` to repeat in a suggested command, empty for the default directory."""
    default = default_directory().expanduser().resolve()
    return "" if directory == default else f" --dir {shlex.quote(str(directory))}"


def _running_stack(directory: Path) -> StackInfo:
    from tierstore.local import LocalStackError, process_status, read_stack

    info = read_stack(directory)
    if info is None:
        raise LocalStackError(f"no local stack in {directory}; start one with: tierstore local up")
    if not all(process_status(info).values()):
        raise LocalStackError(
            f"the local stack in {directory} is not running (its processes are gone); "
            f"clean up with: tierstore local down{_dir_option(directory)}"
        )
    return info


def run_up(args: argparse.Namespace) -> int:
    from tierstore.local import process_status, read_stack, start_stack

    directory = _directory(args)
    existing = read_stack(directory)
    if existing is not None and all(process_status(existing).values()):
        print(f"a local stack is already running in {directory}: {existing.endpoint}")
        return 0
    ports: dict[str, int] = {}
    if args.s3_port is not None:
        ports["s3"] = args.s3_port
    if args.kafka_port is not None:
        ports["kafka"] = args.kafka_port
    kafka = bool(args.kafka or args.kafka_port is not None)
    info = start_stack(directory, kafka=kafka, ports=ports)
    print(info.endpoint)
    print(f"local stack up in {directory}")
    if info.kafka_bootstrap:
        print(f"  Kafka bootstrap  {info.kafka_bootstrap}")
    print(f'  admin shell      eval "$(tierstore local env{_dir_option(directory)})"')
    print(f"  stop             tierstore local down{_dir_option(directory)}")
    return 0


def run_down(args: argparse.Namespace) -> int:
    from tierstore.local import LocalStackError, process_status, read_stack, stop_stack
    from tierstore.local.stack import has_stack_files

    directory = _directory(args)
    if not has_stack_files(directory):
        raise LocalStackError(f"no local stack in {directory}")
    was_running = False
    existing = read_stack(directory)
    if existing is not None:
        was_running = all(process_status(existing).values())
    stopped = stop_stack(directory, keep_data=args.keep_data)
    if stopped is None:
        print(f"removed the kept data of a stopped local stack in {directory}")
    elif was_running:
        print(f"stopped the local stack in {directory}")
    else:
        print(f"cleaned up a local stack in {directory} whose processes were already gone")
    if args.keep_data:
        print(f"data, configuration and logs kept in {directory}")
    return 0


def _status_document(info: StackInfo, processes: dict[str, bool]) -> dict[str, Any]:
    return {
        "running": all(processes.values()),
        "directory": str(info.directory),
        "endpoint": info.endpoint,
        "region": info.region,
        "users": {
            name: {
                "access_key_id": keys.access_key_id,
                "secret_access_key": keys.secret_access_key.reveal(),
            }
            for name, keys in info.users.items()
        },
        "roles": dict(info.roles),
        "kafka_bootstrap": info.kafka_bootstrap,
        "processes": {name: {"pid": info.pids[name], "running": alive} for name, alive in processes.items()},
        "ports": info.ports.to_dict(),
    }


def run_status(args: argparse.Namespace) -> int:
    from tierstore.local import LocalStackError, process_status, read_stack
    from tierstore.settings.secret import mask_key_id

    directory = _directory(args)
    info = read_stack(directory)
    if info is None:
        raise LocalStackError(f"no local stack in {directory}; start one with: tierstore local up")
    processes = process_status(info)
    running = all(processes.values())
    if args.json:
        print(json.dumps(_status_document(info, processes), indent=2))
        return 0 if running else EXIT_NOT_RUNNING
    state = "running" if running else f"NOT running (clean up: tierstore local down{_dir_option(directory)})"
    print(f"local stack in {directory}: {state}")
    print(f"  S3 endpoint          {info.endpoint} (region {info.region}, path-style)")
    print(f"  Kafka bootstrap      {info.kafka_bootstrap or 'off (up --kafka)'}")
    for name, keys in info.users.items():
        print(f"  user {name:<15} access key id {mask_key_id(keys.access_key_id)}")
    for name, arn in info.roles.items():
        print(f"  role {name:<15} {arn}")
    for name, alive in processes.items():
        print(f"  process {name:<12} pid {info.pids[name]} {'running' if alive else 'gone'}")
    print(f"  keys                 tierstore local status --json{_dir_option(directory)}")
    return 0 if running else EXIT_NOT_RUNNING


def run_env(args: argparse.Namespace) -> int:
    info = _running_stack(_directory(args))
    admin = info.admin
    exports = {
        "AWS_ENDPOINT_URL": info.endpoint,
        "AWS_REGION": info.region,
        # boto3 and botocore read the region from this one only.
        "AWS_DEFAULT_REGION": info.region,
        "AWS_ACCESS_KEY_ID": admin.access_key_id,
        "AWS_SECRET_ACCESS_KEY": admin.secret_access_key.reveal(),
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0
