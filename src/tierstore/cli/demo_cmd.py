"""``tierstore demo check``: placeholder replaced by the settings work."""

from __future__ import annotations

import argparse


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subcommands.add_parser("demo", help="check demouration files")
