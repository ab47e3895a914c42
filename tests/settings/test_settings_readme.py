"""The README's three example files are valid and describe one store."""

from __future__ import annotations

import re
from pathlib import Path

from tierstore.settings import load_store_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def settings_section() -> str:
    text = README.read_text()
    return text[text.index("<!-- section: settings -->") : text.index("<!-- /section: settings -->")]


def test_readme_examples_load_to_equal_settings(tmp_path: Path) -> None:
    blocks = dict(re.findall(r"```(yaml|properties|json)\n(.*?)```", settings_section(), re.DOTALL))
    assert set(blocks) == {"yaml", "properties", "json"}
    loaded = []
    for kind, name in (
        ("yaml", "server.yaml"),
        ("properties", "alluxio-site.properties"),
        ("json", "sink.json"),
    ):
        path = tmp_path / name
        path.write_text(blocks[kind])
        result = load_store_settings(path)
        assert result.warnings == [], result.warnings
        loaded.append(result.settings)
    assert loaded[0] == loaded[1] == loaded[2]
    assert loaded[0].encryption is not None
    assert loaded[0].encryption.kms_key_id == "alias/warehouse"
