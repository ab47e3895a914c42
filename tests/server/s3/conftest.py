"""Fixtures for the S3 API's foundation: a small S3 endpoint on it, over HTTP and over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.s3.endpoint import S3Endpoint

KEY_ID = "TSKEXAMPLEKEY0000001"
SECRET = "tierstore/example/secret/key/0123456789"


@pytest.fixture
def endpoint() -> Iterator[S3Endpoint]:
    """An endpoint over plain HTTP that knows one key, ``KEY_ID`` with ``SECRET``."""
    with S3Endpoint({KEY_ID: SECRET}) as running:
        yield running


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[S3Endpoint]:
    """The same over HTTPS (a self-signed certificate the clients it makes trust): botocore sends
    aws-chunked bodies with checksum trailers only over HTTPS."""
    with S3Endpoint({KEY_ID: SECRET}, tls_dir=tmp_path) as running:
        yield running
