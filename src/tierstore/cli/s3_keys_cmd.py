"""``tierstore users s3-keys create|list|revoke``: users' S3 access keys from the command line.

``create`` prints the new key's secret once, as ``users add`` prints a token; nothing prints it
again (``list`` shows ids, users and creation times only).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from tierstore.cli.serve_cmd import _config_argument, _config_path

if TYPE_CHECKING:
    from tierstore.server.s3_keys import S3KeyDirectory


def register(users: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``s3-keys`` to the actions of ``tierstore users``."""
    keys = users.add_parser("s3-keys", help="users' S3 access keys, for the S3 API: create, list, revoke")
    actions = keys.add_subparsers(dest="s3_keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new key for a user: prints its id and secret (shown once)")
    _config_argument(create)
    create.add_argument("name", help="the user the key signs for (tierstore users list)")
    create.add_argument("--json", action="store_true", help="the id and secret as one JSON object")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="list keys: ids, users, creation times (never a secret)")
    _config_argument(listing)
    listing.add_argument("name", nargs="?", help="only this user's keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    revoke = actions.add_parser(
        "revoke", help="remove a key: every server refuses it within the sync interval"
    )
    _config_argument(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("access_key_id", nargs="?", help="the key's id (tierstore users s3-keys list)")
    which.add_argument("--all", dest="all_of", metavar="NAME", help="every key of user NAME")
    revoke.set_defaults(run=_revoke)


def _directory(args: argparse.Namespace) -> S3KeyDirectory:
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.server_metadata import open_server_metadata
    from tierstore.server.s3_keys import S3KeyDirectory

    return S3KeyDirectory(open_server_metadata(load_server_config(_config_path(args))))


def _create(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        access_key_id, secret = directory.create(args.name)
    finally:
        directory.metadata.close()
    if args.json:
        shown = {"user": args.name, "access_key_id": access_key_id, "secret_access_key": secret.reveal()}
        print(json.dumps(shown, indent=2))
        return 0
    # The two lines are those of an ~/.aws/credentials profile, ready to paste.
    print(f"created an S3 key for user {args.name}; its secret (shown once, keep it safe):")
    print(f"aws_access_key_id = {access_key_id}")
    print(f"aws_secret_access_key = {secret.reveal()}")
    return 0


def _list(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        keys = directory.list(args.name)
    finally:
        directory.metadata.close()
    if args.json:
        print(json.dumps([key.as_dict() for key in keys], indent=2))
        return 0
    for key in keys:
        print(f"{key.access_key_id}  {key.user:<24} {key.created_at.isoformat(timespec='seconds')}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        if args.all_of is not None:
            removed = directory.revoke_all(args.all_of)
            print(f"revoked {removed} S3 key(s) of user {args.all_of}")
        else:
            directory.revoke(args.access_key_id)
            print(f"revoked S3 key {args.access_key_id}")
    finally:
        directory.metadata.close()
    return 0
