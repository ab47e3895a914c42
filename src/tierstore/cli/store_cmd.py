"""``tierstore store check``: placeholder replaced by the settings work."""

from __future__ import annotations

import argparse


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subcommands.add_parser("store", help="check storeuration files")
