"""The ``tierstore`` command: parses, calls the parts, prints."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import cast

from tierstore import __version__
from tierstore.cli import commands
from tierstore.cli.lazy_parsers import LazySubParsers, Recorder, replay
from tierstore.cli.log_setup import configure_logging
from tierstore.errors import TierstoreError

EXIT_USER_ERROR = 2


def top_parser() -> argparse.ArgumentParser:
    """The command's own options, without its subcommands."""
    parser = argparse.ArgumentParser(
        prog="tierstore", description="Safe, fast access to S3 and S3-compatible stores."
    )
    parser.add_argument("--version", action="version", version=f"tierstore {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a process-level setting that overrides the config file (repeatable)",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = top_parser()
    # Each subcommand's parser is filled in when the command line selects it (lazy_parsers).
    subcommands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, action=LazySubParsers
    )
    for module_name in commands.COMMAND_MODULES:
        recorder = Recorder()  # stands in for the subparsers: what register adds is replayed
        importlib.import_module(module_name).register(
            cast("argparse._SubParsersAction[argparse.ArgumentParser]", recorder)
        )
        replay(recorder, subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given: `sink run` starts its tasks (tasks.max) with it.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    configure_logging(level)
    try:
        result: int = args.run(args)
    except TierstoreError as error:
        print(f"tierstore: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``); nothing is wrong with what we did.
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
