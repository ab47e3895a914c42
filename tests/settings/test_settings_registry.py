"""Driven from the key registry: every key parses its example, rejects bad values, is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierstore.settings import ConfigProblems, KeySpec, known_keys, settings_from_mapping
from tierstore.settings.dialects import DIALECTS

README = Path(__file__).resolve().parents[2] / "README.md"


def full_config(dialect: str) -> dict[str, object]:
    """Every key of the dialect set to its documented example."""
    return {spec.name: spec.valid_example for spec in known_keys(dialect)}


def every_key_name() -> list[tuple[str, KeySpec, str]]:
    return [
        (dialect, spec, name) for dialect in DIALECTS for spec in known_keys(dialect) for name in spec.names
    ]


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_every_key_at_its_example_loads_without_errors(dialect: str) -> None:
    loaded = settings_from_mapping(full_config(dialect), dialect, "examples")
    # Every key reached the settings: nothing was dropped as unknown.
    assert not [w for w in loaded.warnings if "unknown key" in w.message]


@pytest.mark.parametrize(
    ("dialect", "spec", "name"),
    every_key_name(),
    ids=[f"{dialect}:{name}" for dialect, _, name in every_key_name()],
)
def test_an_invalid_value_is_an_error_naming_the_key(dialect: str, spec: KeySpec, name: str) -> None:
    values = {key: value for key, value in full_config(dialect).items() if key not in spec.names}
    values[name] = spec.bad_example
    with pytest.raises(ConfigProblems) as caught:
        settings_from_mapping(values, dialect, "bad.conf")
    about_key = [p for p in caught.value.errors if p.key == name]
    assert about_key, f"no error names {name}: {caught.value}"
    shown = spec.shown(spec.bad_example)
    # The parser's own complaint: the value (or "the value given"), then what is accepted.
    assert any(p.message.startswith(shown) and p.source == "bad.conf" for p in about_key)
    if spec.echo != "value":
        assert spec.bad_example not in str(caught.value)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_readme_documents_every_key(dialect: str) -> None:
    text = README.read_text()
    start, end = text.index("<!-- section: settings -->"), text.index("<!-- /section: settings -->")
    section = text[start:end]
    missing = [name for spec in known_keys(dialect) for name in spec.names if f"`{name}`" not in section]
    assert missing == []


def test_registry_is_introspectable() -> None:
    fluss = {spec.name: spec for spec in known_keys("fluss")}
    assert fluss["s3.path-style-access"].aliases == (
        "s3.path.style.access",
        "fs.s3a.path-style-access",
        "fs.s3a.path.style.access",
    )
    assert fluss["s3.secret-key"].secret
    assert not fluss["s3.endpoint"].secret
    assert fluss["s3.multipart.size"].sets == "`multipart.part_size`"
    assert {spec.name for spec in known_keys("kafka-connect") if spec.secret} == {"aws.secret.access.key"}
    assert {spec.name for spec in known_keys("alluxio") if spec.secret} == {"aws.secretKey"}
