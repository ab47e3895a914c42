"""``tierstore demo``: the main job on the embedded default."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "demo", help="the main job: local stack up, objects written and read back, stack down"
    )
    parser.add_argument("--size-mib", type=int, default=32, help="size of the streamed object (default 32)")
    parser.add_argument("--dir", type=Path, default=None, help="stack directory (default: a temporary one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tierstore.demo.run import run as run_demo

    return run_demo(args)
