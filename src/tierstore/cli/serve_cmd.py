"""``tierstore serve`` and ``tierstore users add|list|remove``: the API server from the command line.

``tierstore users s3-keys`` is in :mod:`tierstore.cli.s3_keys_cmd`."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierstore.server.users import UserDirectory


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=None,
        help="the server's config file (default: $TIERSTORE_CONFIG, else the embedded default)",
    )  # fmt: skip


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    from_env = os.environ.get("TIERSTORE_CONFIG")
    return Path(from_env) if from_env else None


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subcommands.add_parser("serve", help="run the API server (credential vending, namespace, data)")
    _config_argument(serve)
    serve.add_argument("--host", help="address to listen on (default tierstore.server.host, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default tierstore.server.port, else 9870)")
    serve.add_argument(
        "--s3-port", type=int, help="the S3 gateway's port (default tierstore.s3.port, else 9871)"
    )
    serve.add_argument(
        "--print-admin-token",
        action="store_true",
        help="print the first admin's token on stdout even when not a terminal (always in admin.token)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes answering on the one port (default 1); each keeps its own caches",
    )
    serve.set_defaults(run=_serve)

    users = subcommands.add_parser("users", help="the API server's users and their bearer tokens")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user and print its token (shown once)")
    _config_argument(add)
    add.add_argument("name")
    add.add_argument("--group", dest="groups", action="append", default=[], help="a group (repeatable)")
    add.add_argument("--admin", action="store_true", help="an admin is the namespace's superuser")
    add.set_defaults(run=_users_add)
    listing = actions.add_parser("list", help="list users (names, groups, admin; never tokens)")
    _config_argument(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_users_list)
    remove = actions.add_parser("remove", help="remove a user (its token and S3 keys stop working)")
    _config_argument(remove)
    remove.add_argument("name")
    remove.set_defaults(run=_users_remove)
    from tierstore.cli import s3_keys_cmd  # it uses this module's config helpers

    s3_keys_cmd.register(actions)


def _serve(args: argparse.Namespace) -> int:
    from tierstore.cli.log_setup import configure_logging
    from tierstore.errors import ConfigError
    from tierstore.server.run import serve
    from tierstore.server.workers import MAX_WORKERS

    for flag, value in (("--port", args.port), ("--s3-port", args.s3_port)):
        if value is not None and not 0 <= value <= 65535:
            raise ConfigError(f"{flag} {value}: use 0 to 65535")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise ConfigError(f"--workers {args.workers}: use 1 to {MAX_WORKERS} (about one per core)")
    # Workers are fresh interpreters: they set up logging as this command did.
    setup = functools.partial(configure_logging, logging.getLogger().level)
    return serve(
        _config_path(args),
        host=args.host,
        port=args.port,
        s3_port=args.s3_port,
        print_token=args.print_admin_token,
        workers=args.workers,
        worker_setup=setup,
    )


def _directory(args: argparse.Namespace) -> UserDirectory:
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.server_metadata import open_server_metadata
    from tierstore.server.users import UserDirectory

    config = load_server_config(_config_path(args))
    return UserDirectory(open_server_metadata(config))


def _users_add(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        token = directory.add(args.name, args.groups, admin=args.admin)
    finally:
        directory.metadata.close()
    print(f"added user {args.name}; its token (shown once, keep it safe):")
    print(token)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        users = directory.list()
    finally:
        directory.metadata.close()
    if args.json:
        print(json.dumps([user.as_dict() for user in users], indent=2))
        return 0
    for user in users:
        groups = ",".join(sorted(user.groups)) or "-"
        print(f"{user.name:<24} {'admin' if user.admin else 'user':<6} {groups}")
    return 0


def _users_remove(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        directory.remove(args.name)
    finally:
        directory.metadata.close()
    print(f"removed user {args.name}")
    return 0
