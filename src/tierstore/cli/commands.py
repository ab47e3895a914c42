"""Every subcommand, in the order ``tierstore --help`` lists them.

Each entry names a module with a ``register(subcommands)`` function; modules are imported
when the parser is built, so keep their top-level imports light (heavy ones inside ``run``;
``tests/test_cli_imports.py`` counts them). What ``register`` adds to a subcommand's parser is
replayed when the command line selects it (``lazy_parsers``): make only method calls on parsers.
"""

from __future__ import annotations

COMMAND_MODULES: list[str] = [
    "tierstore.cli.demo_cmd",
    "tierstore.cli.local_cmd",
    "tierstore.cli.config_cmd",
    "tierstore.cli.creds_cmd",
    "tierstore.cli.fs_cmd",
    "tierstore.cli.fuse_cmd",
    "tierstore.cli.serve_cmd",
    "tierstore.cli.admin_cmd",
    "tierstore.cli.sink_cmd",
]
