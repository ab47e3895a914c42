"""Loading store settings: read a file (or take a mapping), look every key up, build, report.

This is the public entry to the settings package; it ties the readers, the dialect key tables and
the builder together and turns their problems into one :class:`ConfigProblems` (or a list, for
``tierstore config check``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.settings.builder import Given, ParsedFields, build_settings
from tierstore.settings.dialects import dialect_for_path, get_dialect
from tierstore.settings.dialects.alluxio import DIALECT as ALLUXIO
from tierstore.settings.keys import Dialect
from tierstore.settings.model import StoreSettings, parse_location
from tierstore.settings.parsers import InvalidValueError
from tierstore.settings.problems import ConfigProblems, Problem, errors_of, warnings_of
from tierstore.settings.readers import Document, RawEntry, UnreadableError, flatten, read_document, read_text

# How near a key must be to a known one to be called a misspelling of it. Keys meant for us
# (under s3., aws., alluxio.underfs.s3.) get a suggestion more readily than foreign keys, which
# share a file with ours and only deserve a word when they are almost exactly one of ours.
SUGGEST_CUTOFF = 0.6
FOREIGN_CUTOFF = 0.85


@dataclass(frozen=True)
class LoadedSettings:
    """Settings that loaded without errors, with the warnings found and the keys meant for others."""

    settings: StoreSettings
    warnings: list[Problem] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)
    dialect: str = ""


@dataclass(frozen=True)
class Evaluation:
    settings: StoreSettings | None
    problems: list[Problem]
    extras: dict[str, object]
    dialect: str
    source: str

    def loaded(self) -> LoadedSettings:
        if self.settings is None or errors_of(self.problems):
            raise ConfigProblems(self.problems, self.source)
        return LoadedSettings(self.settings, warnings_of(self.problems), self.extras, self.dialect)


def _unknown_key(dialect: Dialect, entry: RawEntry, key: str, source: str) -> Problem | None:
    if key in dialect.unused_keys:
        return Problem("warning", entry.key, f"is {dialect.unused_keys[key]}", source, entry.line)
    meant_for_us = dialect.is_strict(key) or dialect.other_keys == "warn"
    suggestion = dialect.closest(key, cutoff=SUGGEST_CUTOFF if meant_for_us else FOREIGN_CUTOFF)
    if suggestion is None and not meant_for_us:
        return None
    hint = f"did you mean {suggestion}?" if suggestion else "it is ignored"
    return Problem("warning", entry.key, f"unknown key; {hint}", source, entry.line)


def _parse_entries(
    entries: list[RawEntry], dialect: Dialect, source: str
) -> tuple[ParsedFields, dict[str, object], list[Problem]]:
    fields = ParsedFields()
    extras: dict[str, object] = {}
    problems: list[Problem] = []
    for entry in entries:
        key = dialect.canonical(entry.key)
        spec = dialect.lookup(key)
        if spec is None:
            if dialect.is_extra(key):
                extras[entry.key] = entry.value
            elif problem := _unknown_key(dialect, entry, key, source):
                problems.append(problem)
            continue
        try:
            value = spec.parse(entry.value)
        except InvalidValueError as error:
            message = f"{spec.shown(entry.value, error)} {error.reason}"
            problems.append(Problem("error", entry.key, message, source, entry.line))
            fields.rejected.add(spec.field)
            continue
        earlier = fields.given(spec.field)
        if earlier is not None and earlier.value != value:
            values = "" if spec.secret else f" ({spec.shown(earlier.value)} there)"
            problems.append(
                Problem(
                    "error",
                    entry.key,
                    f"conflicts with {earlier.key}, which sets the same setting to another value{values}; "
                    "keep one of them",
                    source,
                    entry.line,
                )
            )
            continue
        fields.put(spec.field, Given(value, entry.key, entry.line))
    return fields, extras, problems


def _unwrap(values: Mapping[str, object], dialect: Dialect) -> Mapping[str, object]:
    """Kafka Connect's REST shape ``{"name": …, "config": {…}}`` holds the config one level down."""
    inner = values.get(dialect.wrapper_key) if dialect.wrapper_key else None
    if not isinstance(inner, Mapping):
        return values
    config: dict[str, object] = {str(key): value for key, value in inner.items()}
    if "name" in values and "name" not in config:
        config["name"] = values["name"]
    return config


def _evaluate(
    document: Document,
    dialect: Dialect,
    source: str,
    *,
    base: StoreSettings | None = None,
    location: str | None = None,
) -> Evaluation:
    values = _unwrap(document.values, dialect)
    entries = flatten(
        values,
        nested=dialect.nested,
        keep_whole=lambda key: dialect.lookup(dialect.canonical(key)) is not None,
        lines=document.lines,
    )
    problems = list(document.problems)
    if location is not None:
        # Mount options: the location comes from the mount command, so a location key is noise.
        kept: list[RawEntry] = []
        for entry in entries:
            spec = dialect.lookup(dialect.canonical(entry.key))
            if spec is not None and spec.field == "location":
                message = "is ignored: the mount command gives the location"
                problems.append(Problem("warning", entry.key, message, source, entry.line))
            else:
                kept.append(entry)
        entries = kept
    fields, extras, entry_problems = _parse_entries(entries, dialect, source)
    problems.extend(entry_problems)
    where = None
    if location is not None:
        try:
            where = parse_location(location)
        except ValueError as error:
            problems.append(Problem("error", None, f"the mount location is not usable: {error}", source))
            return Evaluation(None, problems, extras, dialect.name, source)
    settings, build_problems = build_settings(fields, dialect, source, base=base, location=where)
    problems.extend(build_problems)
    return Evaluation(settings, _in_file_order(problems), extras, dialect.name, source)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """By line, so cross-key problems sit beside their key; those without a line go last."""
    return sorted(problems, key=lambda problem: (problem.line is None, problem.line or 0))


def _evaluate_file(path: Path, dialect: Dialect) -> Evaluation:
    source = str(path)
    try:
        document = read_document(read_text(path), dialect.file_format, source)
    except UnreadableError as error:
        return Evaluation(None, [error.problem], {}, dialect.name, source)
    return _evaluate(document, dialect, source)


def load_store_settings(path: Path) -> LoadedSettings:
    """Read a settings file in the dialect its extension names.

    ``.yaml``/``.yml`` is a Fluss ``server.yaml``, ``.properties`` Alluxio, ``.json`` a Kafka
    Connect S3 sink config. Raises :class:`ConfigProblems` listing every problem if any is an
    error, and :class:`ConfigError` for an extension that names no dialect.
    """
    return _evaluate_file(path, dialect_for_path(path)).loaded()


def check_store_settings(path: Path) -> list[Problem]:
    """Every problem in a settings file, errors and warnings; never raises for what the file holds."""
    try:
        dialect = dialect_for_path(path)
    except ConfigError as error:
        return [Problem("error", None, str(error), str(path))]
    return _evaluate_file(path, dialect).problems


def settings_from_options(
    options: Mapping[str, str], *, location: str, base: StoreSettings | None = None
) -> LoadedSettings:
    """Alluxio-style mount options (``tierstore fs mount --option k=v``) layered over ``base``.

    A group the options touch replaces the base's group as a whole (keys, role, proxy,
    encryption); any other option overrides just its own setting.
    """
    document = Document({str(key): value for key, value in options.items()})
    return _evaluate(document, ALLUXIO, "mount options", base=base, location=location).loaded()


def settings_from_mapping(values: Mapping[str, object], dialect: str, source: str) -> LoadedSettings:
    """Settings from already-parsed values (``fluss``, ``alluxio`` or ``kafka-connect`` keys)."""
    document = Document({str(key): value for key, value in values.items()})
    return _evaluate(document, get_dialect(dialect), source).loaded()
