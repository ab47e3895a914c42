"""What is wrong with a settings file: every problem at once, each naming its key and file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tierstore.errors import ConfigError

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a setting.

    ``key`` is the key as the user wrote it (``None`` when the problem is about the file as a
    whole); ``message`` never holds a secret value.
    """

    level: Level
    key: str | None
    message: str
    source: str | None = None
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def render(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        what = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {self.level}: {what}" if where else f"{self.level}: {what}"

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "key": self.key,
            "message": self.message,
            "source": self.source,
            "line": self.line,
        }


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.is_error]


def warnings_of(problems: Iterable[Problem]) -> list[Problem]:
    return [problem for problem in problems if not problem.is_error]


def summary(problems: Sequence[Problem]) -> str:
    errors, warnings = len(errors_of(problems)), len(warnings_of(problems))
    return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"


class ConfigProblems(ConfigError):  # noqa: N818 - the name the public API promises
    """A settings file holds at least one error; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self._render())

    @property
    def errors(self) -> list[Problem]:
        return errors_of(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings_of(self.problems)

    def _render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        lines = [f"{head}{summary(self.problems)}"]
        lines.extend(f"  {problem.render()}" for problem in self.problems)
        return "\n".join(lines)
