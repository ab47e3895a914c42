"""Subcommand parsers filled in when the command line selects them.

Building the parser of every subcommand (about 45 parsers and 200 arguments, each argument
asking for the terminal's width and each parser for its translations) took longer than importing
the command, while ``tierstore fs ls`` uses three of them. So each command module's ``register``
runs against a :class:`Recorder`; every subcommand is added to its real parent at once, with the
name, help and description it was registered with (what ``--help`` and argparse's errors list),
and the calls made on its parser are replayed on it only when argparse selects it
(:class:`LazySubParsers`). Parsing, help and errors stay argparse's own; only the moment each
parser is filled changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    _SubParsersBase = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsersBase = argparse._SubParsersAction


@dataclass(frozen=True)
class _Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Recorder


class Recorder:
    """Stands for a parser, an argument group or a subparsers action in a ``register`` function:
    records each method call (its result is another Recorder) to replay on the real object."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        object.__setattr__(self, "calls", [])

    calls: list[_Call]

    def __getattr__(self, method: str) -> Callable[..., Recorder]:
        if method.startswith("__"):
            raise AttributeError(method)

        def record(*args: Any, **kwargs: Any) -> Recorder:
            result = Recorder()
            self.calls.append(_Call(method, args, kwargs, result))
            return result

        return record

    def __setattr__(self, name: str, value: object) -> None:
        # An attribute set on a parser would be lost, not replayed: say so at once.
        raise TypeError(f"register set {name!r} on a parser: only method calls are replayed")


class LazySubParsers(_SubParsersBase):
    """A subparsers action whose subcommands are filled in when selected."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[argparse.ArgumentParser, Recorder] = {}

    def add_recorded(self, call: _Call) -> None:
        """Adds the subcommand ``call`` (an ``add_parser``) registered; its contents come later."""
        parser = self.add_parser(*call.args, **call.kwargs)
        self._pending[parser] = call.result

    def fill(self, parser: argparse.ArgumentParser) -> None:
        """Replays what was registered on ``parser`` (one of this action's), once."""
        recorder = self._pending.pop(parser, None)
        if recorder is not None:
            replay(recorder, parser)

    def fill_all(self) -> None:
        """Every subcommand filled in, all the way down (for tests comparing with an eager build)."""
        for parser in list(self._pending):
            self.fill(parser)
        for parser in set(self._name_parser_map.values()):
            for action in parser._actions:
                if isinstance(action, LazySubParsers):
                    action.fill_all()

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, Sequence) and values:
            chosen = self._name_parser_map.get(str(values[0]))
            if chosen is not None:
                self.fill(chosen)
        super().__call__(parser, namespace, values, option_string)


def replay(recorder: Recorder, target: Any) -> None:
    """Makes on ``target`` the calls recorded on ``recorder``, in their order, and on their results."""
    for call in recorder.calls:
        if call.method == "add_parser" and isinstance(target, LazySubParsers):
            target.add_recorded(call)
            continue
        kwargs = call.kwargs
        if call.method == "add_subparsers":
            kwargs = {"action": LazySubParsers, **kwargs}  # nested subcommands: filled when selected too
        replay(call.result, getattr(target, call.method)(*call.args, **kwargs))
