"""The three dialects and the lookup by name or file extension."""

from __future__ import annotations

from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.settings.dialects import alluxio, fluss, kafka_connect
from tierstore.settings.keys import Dialect, KeySpec

DIALECTS: dict[str, Dialect] = {
    dialect.name: dialect for dialect in (fluss.DIALECT, alluxio.DIALECT, kafka_connect.DIALECT)
}


def get_dialect(name: str) -> Dialect:
    dialect = DIALECTS.get(name.strip().lower().replace("_", "-"))
    if dialect is None:
        raise ConfigError(f"unknown settings dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return dialect


def accepted_suffixes() -> list[str]:
    return [suffix for dialect in DIALECTS.values() for suffix in dialect.suffixes]


def dialect_for_path(path: Path) -> Dialect:
    suffix = path.suffix.lower()
    for dialect in DIALECTS.values():
        if suffix in dialect.suffixes:
            return dialect
    choices = ", ".join(f"{d.title} ({' or '.join(d.suffixes)})" for d in DIALECTS.values())
    raise ConfigError(
        f"{path}: cannot tell the settings dialect from {suffix or 'no extension'!r}; use {choices}"
    )


def known_keys(dialect: str) -> list[KeySpec]:
    """Every key of a dialect, in documentation order (aliases are in ``KeySpec.aliases``)."""
    return list(get_dialect(dialect).keys)


__all__ = ["DIALECTS", "accepted_suffixes", "dialect_for_path", "get_dialect", "known_keys"]
