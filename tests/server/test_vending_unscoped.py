"""Vending without a role: GetSessionToken, unscoped, said so in the answer and the log.

SeaweedFS has no GetSessionToken, so the call shape is tested against moto's server (which
answers it with fixed example credentials and enforces only the user's policy; see
tests/servers/moto.py). On SeaweedFS the same configuration is refused with an error naming the
fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import write_server_config
from tests.server.harness import start_api_server
from tests.server.vended import vend
from tests.servers.moto import MotoServer
from tierstore.local.info import StackInfo


def test_without_a_role_get_session_token_is_used_and_marked_unscoped(
    tmp_path: Path, moto_sts: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    keys = moto_sts.user_keys
    config = tmp_path / "server.yaml"
    config.write_text(
        "remote.data.dir: s3://moto-bucket/base\n"
        f"s3.endpoint: {moto_sts.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {keys.access_key_id}\n"
        f"s3.secret-key: {keys.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
        "tierstore.vending.duration: 900\n"
    )
    caplog.set_level(logging.INFO)
    server = start_api_server(config)
    try:
        with httpx.Client(base_url=server.url, headers=server.auth()) as http:
            answer = vend(http, "/a/", "read")
            assert vend(http, "/a/", "read")["credentials"] == answer["credentials"]  # cached too
    finally:
        server.stop()
    assert answer["mode"] == "direct" and answer["scoped"] is False
    assert answer["store"]["bucket"] == "moto-bucket" and answer["store"]["prefix"] == "base/a/"
    assert answer["credentials"]["session_token"]
    assert answer["credentials"]["access_key_id"] != keys.access_key_id
    registry = server.state.metrics.registry
    assert registry.get_sample_value("tierstore_sts_calls_total", {"call": "GetSessionToken"}) == 1
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "GetSessionToken" in r.getMessage()
    ]
    assert len(warnings) == 1 and "NOT scoped" in warnings[0]
    audit = [r.getMessage() for r in caplog.records if r.name == "tierstore.audit"]
    assert len(audit) == 2 and all('"scoped":false' in line for line in audit)


def test_without_a_role_seaweedfs_refuses_and_the_error_says_what_to_set(
    tmp_path: Path, stack: StackInfo, bucket: str
) -> None:
    server = start_api_server(write_server_config(tmp_path / "server.yaml", stack, bucket))
    try:
        with httpx.Client(base_url=server.url, headers=server.auth()) as http:
            refused = http.post("/v1/credentials", json={"path": "/a/"})
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "unavailable"
        assert "GetSessionToken" in error["message"] and "set tierstore.vending.role.arn" in error["message"]
        registry = server.state.metrics.registry
        assert registry.get_sample_value("tierstore_sts_failures_total", {"call": "GetSessionToken"}) == 1
    finally:
        server.stop()
