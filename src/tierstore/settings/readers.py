"""Reading a settings file into plain key/value entries: YAML, Java properties and JSON.

Readers only know file syntax; which keys exist is the dialect's business. A file that cannot be
read at all raises :class:`UnreadableError` carrying one error :class:`Problem` (with the line when the
syntax error has one). Messages quote no file content, because the offending line may hold a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tierstore.settings.problems import Problem

# PyYAML is imported when a YAML file is read: most commands read none (or a .properties file).
if TYPE_CHECKING:
    import yaml

FileFormat = Literal["yaml", "properties", "json"]


@dataclass(frozen=True)
class RawEntry:
    key: str
    value: object
    line: int | None = None


@dataclass
class Document:
    """A file's top-level values (possibly nested), the line of each dotted key, and warnings."""

    values: dict[str, object]
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class UnreadableError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_text(path: Path) -> str:
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise UnreadableError(Problem("error", None, "the file does not exist", source)) from error
    except OSError as error:
        raise UnreadableError(
            Problem("error", None, f"cannot read the file: {error.strerror}", source)
        ) from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"the file is not UTF-8 text (bad byte at offset {error.start})"
        raise UnreadableError(Problem("error", None, message, source)) from error


def read_document(text: str, file_format: FileFormat, source: str) -> Document:
    readers: dict[FileFormat, Callable[[str, str], Document]] = {
        "yaml": read_yaml,
        "properties": read_properties,
        "json": read_json,
    }
    return readers[file_format](text, source)


def _duplicate(key: str, first: int | None, again: int | None, source: str) -> Problem:
    where = f" (lines {first} and {again})" if first is not None and again is not None else ""
    return Problem("warning", key, f"is set more than once{where}; the last one wins", source, again)


# --- YAML ---------------------------------------------------------------------------------


def read_yaml(text: str, source: str) -> Document:
    import yaml

    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        # str(error) would quote the offending line, which may hold a secret: keep to the problem.
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        column = f", column {mark.column + 1}" if mark is not None else ""
        what = error.problem or error.context or "syntax error"
        raise UnreadableError(
            Problem("error", None, f"not valid YAML: {what}{column}", source, line)
        ) from error
    except yaml.YAMLError as error:
        raise UnreadableError(Problem("error", None, "not valid YAML", source)) from error
    if data is None:
        return Document({})
    if not isinstance(data, dict):
        raise UnreadableError(
            Problem("error", None, "the file must hold a mapping of keys to values", source, 1)
        )
    document = Document({str(key): value for key, value in data.items()})
    if isinstance(root, yaml.MappingNode):
        _yaml_lines(root, "", document, source)
    return document


def _yaml_lines(node: yaml.MappingNode, prefix: str, document: Document, source: str) -> None:
    import yaml

    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = f"{prefix}{key_node.value}"
        line = key_node.start_mark.line + 1
        if key in document.lines and not prefix:
            document.problems.append(_duplicate(key, document.lines[key], line, source))
        document.lines[key] = line
        if isinstance(value_node, yaml.MappingNode):
            _yaml_lines(value_node, f"{key}.", document, source)


# --- Java properties ----------------------------------------------------------------------

_PROPERTY_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _continues(line: str) -> bool:
    """A line continues on the next one when it ends in an odd number of backslashes."""
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_property(line: str) -> tuple[str, str]:
    """Split a logical line into raw key and raw value as java.util.Properties does."""
    index, length = 0, len(line)
    while index < length:
        character = line[index]
        if character == "\\":
            index += 2
            continue
        if character in "=: \t\f":
            break
        index += 1
    key = line[:index]
    rest = line[index:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        character = text[index]
        if character != "\\" or index + 1 >= len(text):
            out.append(character)
            index += 1
            continue
        escaped = text[index + 1]
        if escaped == "u":
            digits = text[index + 2 : index + 6]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("malformed \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            index += 6
            continue
        out.append(_PROPERTY_ESCAPES.get(escaped, escaped))
        index += 2
    return "".join(out)


def read_properties(text: str, source: str) -> Document:
    document = Document({})
    physical = text.splitlines()
    index = 0
    while index < len(physical):
        start = index + 1
        line = physical[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and index < len(physical):
            line = line[:-1] + physical[index].lstrip(" \t\f")
            index += 1
        if _continues(line):
            line = line[:-1]
        raw_key, raw_value = _split_property(line)
        try:
            key = _unescape(raw_key)
        except ValueError as error:
            document.problems.append(Problem("error", None, f"a key holds a {error}", source, start))
            continue
        try:
            value = _unescape(raw_value)
        except ValueError as error:
            document.problems.append(Problem("error", key, f"the value holds a {error}", source, start))
            continue
        if key in document.values:
            document.problems.append(_duplicate(key, document.lines.get(key), start, source))
        document.values[key] = value
        document.lines[key] = start
    return document


# --- JSON ---------------------------------------------------------------------------------


def read_json(text: str, source: str) -> Document:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg}, column {error.colno}"
        raise UnreadableError(Problem("error", None, message, source, error.lineno)) from error
    if not isinstance(data, dict):
        raise UnreadableError(
            Problem("error", None, "the file must hold a JSON object of keys to values", source)
        )
    document = Document(data)
    document.problems.extend(_duplicate(key, None, None, source) for key in duplicates)
    return document


# --- from a document to flat entries -----------------------------------------------------


def flatten(
    values: Mapping[str, object],
    *,
    nested: bool,
    keep_whole: Callable[[str], bool],
    lines: Mapping[str, int] | None = None,
) -> list[RawEntry]:
    """Flat entries; with ``nested``, ``s3: {endpoint: x}`` becomes ``s3.endpoint`` as in Flink YAML.

    A mapping under a known key (an inline policy, say) is that key's value, not more keys.
    """
    lines = lines or {}
    entries: list[RawEntry] = []

    def walk(mapping: Mapping[Any, object], prefix: str) -> None:
        for raw_key, value in mapping.items():
            key = f"{prefix}{raw_key}"
            if nested and isinstance(value, Mapping) and value and not keep_whole(key):
                walk(value, f"{key}.")
            else:
                entries.append(RawEntry(key, value, lines.get(key)))

    walk(values, "")
    return entries
