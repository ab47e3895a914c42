"""Every subcommand module, in the order ``tierstore --help`` lists them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tierstore.cli import config_cmd, demo_cmd, local_cmd, store_cmd

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = [
    demo_cmd.register,
    local_cmd.register,
    config_cmd.register,
    store_cmd.register,
]
