"""Fixtures: the sample store of settings_samples written as files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.settings.settings_samples import ALLUXIO_PROPERTIES, FLUSS_YAML, KAFKA_CONNECT


@pytest.fixture
def fluss_file(tmp_path: Path) -> Path:
    path = tmp_path / "server.yaml"
    path.write_text(FLUSS_YAML)
    return path


@pytest.fixture
def alluxio_file(tmp_path: Path) -> Path:
    path = tmp_path / "alluxio-site.properties"
    path.write_text(ALLUXIO_PROPERTIES)
    return path


@pytest.fixture
def kafka_file(tmp_path: Path) -> Path:
    path = tmp_path / "s3-sink.json"
    path.write_text(json.dumps(KAFKA_CONNECT, indent=2))
    return path
