"""The ``tierstore`` parser filled in lazily (``cli.lazy_parsers``) is the parser built eagerly.

Every subcommand's help (which lists its arguments and its own subcommands) is compared with
the parser the register functions build when called directly, and command lines parse alike.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator

import pytest

from tierstore.cli import commands
from tierstore.cli.lazy_parsers import LazySubParsers, Recorder
from tierstore.cli.main import build_parser, top_parser


def eager_parser() -> argparse.ArgumentParser:
    """The parser with every register function called on the real subparsers."""
    parser = top_parser()
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in commands.COMMAND_MODULES:
        importlib.import_module(module_name).register(subcommands)
    return parser


def every_parser(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action._name_parser_map.items():
                yield from every_parser(child, (*path, name))


def test_every_subcommand_is_filled_in_as_the_eager_build_makes_it() -> None:
    lazy = build_parser()
    for action in lazy._actions:
        if isinstance(action, LazySubParsers):
            action.fill_all()
    eager = {path: parser.format_help() for path, parser in every_parser(eager_parser())}
    filled = {path: parser.format_help() for path, parser in every_parser(lazy)}
    assert len(eager) > 40  # every command, and every action of the commands that have some
    assert filled.keys() == eager.keys()
    for path, text in eager.items():
        assert filled[path] == text, " ".join(path)


def test_only_the_selected_subcommands_are_filled_in() -> None:
    parser = build_parser()
    parser.parse_args(["fs", "ls", "/data"])
    filled = {
        " ".join(path)
        for path, child in every_parser(parser)
        if path and any(action.option_strings != ["-h", "--help"] for action in child._actions)
    }
    assert filled == {"fs", "fs ls"}


@pytest.mark.parametrize(
    "argv",
    [
        ["fs", "ls", "-l", "--json", "-c", "/etc/server.yaml", "/data"],
        ["-vv", "--set", "aws.region=eu-west-1", "fs", "cp", "-r", "/a", "/b"],
        ["local", "up", "--kafka", "--s3-port", "9000"],
        ["config", "check", "-c", "server.yaml", "--json"],
        ["demo", "--size-mib", "8"],
        ["users", "s3-keys", "revoke", "--all", "alice", "-c", "server.yaml"],
        ["users", "s3-keys", "list", "alice", "--json"],
        ["fuse", "mount", "/mnt/ns", "--path", "/data", "--read-only", "--attr-timeout", "2", "--foreground"],
        ["fuse", "unmount", "/mnt/ns"],
    ],
)
def test_a_command_line_parses_alike(argv: list[str]) -> None:
    lazy, eager = vars(build_parser().parse_args(argv)), vars(eager_parser().parse_args(argv))
    # The handlers are the same functions, or lambdas made alike by the same register code.
    assert lazy.pop("run").__qualname__ == eager.pop("run").__qualname__
    assert lazy == eager


@pytest.mark.parametrize("argv", [["fs"], ["fs", "nope"], ["nope"], ["fs", "ls", "--nope"], []])
def test_errors_are_argparses_own(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    messages = []
    for parser in (build_parser(), eager_parser()):
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(argv)
        assert exited.value.code == 2
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1]


def test_an_attribute_set_on_a_recorded_parser_is_refused() -> None:
    with pytest.raises(TypeError, match="only method calls are replayed"):
        Recorder().add_parser("x").required = True
