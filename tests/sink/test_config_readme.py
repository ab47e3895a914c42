"""The README's sink section says what the code does: its example is valid, its key table is the
key table, its IAM policy is what ``sink iam-policy`` prints for the example."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tierstore.sink.config import SINK_KEYS, check_sink_config
from tierstore.sink.iam import sink_policy

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("<!-- section: sink -->")
    return text[start : text.index("<!-- /section: sink -->", start)]


def _json_blocks() -> list[object]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", _section(), re.S)]


def test_the_example_config_is_valid_without_warnings(tmp_path: Path) -> None:
    example = _json_blocks()[0]
    path = tmp_path / "s3_sink.json"
    path.write_text(json.dumps(example))
    report = check_sink_config(path)
    assert report.problems == []
    assert report.config is not None


def test_the_key_table_is_the_key_table() -> None:
    rows = re.findall(r"^\| `([a-z][a-z0-9.*]+)` \| (.*) \| (.*) \| (.*) \|$", _section(), re.M)
    documented = {name: (doc, accepts, default) for name, doc, accepts, default in rows}
    for key in SINK_KEYS:
        assert documented.get(key.name) == (key.doc, key.accepts, key.default), key.name
    assert set(documented) - {key.name for key in SINK_KEYS} == {"consumer.override.*"}


def test_the_iam_example_is_what_iam_policy_prints(tmp_path: Path) -> None:
    example, policy = _json_blocks()[0], _json_blocks()[1]
    path = tmp_path / "s3_sink.json"
    path.write_text(json.dumps(example))
    config = check_sink_config(path).config
    assert config is not None
    assert policy == sink_policy(config)
