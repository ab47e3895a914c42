"""``tierstore admin rotate-key``: operator tasks on a server's metadata database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = subcommands.add_parser("admin", help="operator tasks on the server's metadata database")
    actions = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate-key",
        help="a new secrets key: every secret mount option and S3 key re-encrypted in one transaction, "
        "the key file (tierstore.secrets.key-file) replaced atomically",
    )
    rotate.add_argument(
        "-c", "--config", type=Path, default=None,
        help="the server's config file (default: $TIERSTORE_CONFIG, else the embedded default)",
    )  # fmt: skip
    rotate.set_defaults(run=_rotate_key)


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    from_env = os.environ.get("TIERSTORE_CONFIG")
    return Path(from_env) if from_env else None


def _rotate_key(args: argparse.Namespace) -> int:
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.server_metadata import rotate_server_key

    rotation = rotate_server_key(load_server_config(_config_path(args)))
    if rotation.finished_interrupted:
        print(f"finished an interrupted rotation: {rotation.key_file} now holds key id {rotation.new_kid}")
    else:
        print(
            f"rotated the secrets key: key id {rotation.old_kid} -> {rotation.new_kid}; "
            f"the secret options of {rotation.mounts} mount(s) and the secrets of {rotation.s3_keys} "
            "S3 key(s) re-encrypted"
        )
    print(
        f"the new key is in {rotation.key_file} (mode 0600): copy it to every server sharing this "
        "database and restart them; a server still holding the old key refuses to write secrets"
    )
    return 0
