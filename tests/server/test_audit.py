"""The audit line of every vend, and no secret in any log line, answer or error along the way."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from tests.server.harness import RunningServer
from tests.server.vended import vend
from tierstore.local.info import StackInfo
from tierstore.server.audit import key_fingerprint


def test_every_vend_writes_one_audit_line_without_secrets(
    api: RunningServer, client: httpx.Client, stack: StackInfo, caplog: pytest.LogCaptureFixture
) -> None:
    # Every tierstore logger at DEBUG and the rest (uvicorn's access log) at INFO; botocore's own
    # DEBUG wire dump prints STS response bodies and is off unless someone turns it on.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="tierstore")
    bob = api.add_user("bob", ["eng"])
    client.post("/v1/fs/mkdir", json={"path": "/a", "parents": True})
    first = vend(client, "/a/", "write")
    again = vend(client, "/a/", "write")
    denied = client.post("/v1/credentials", json={"path": "/a/"}, headers=api.auth(bob))
    assert denied.status_code == 403

    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tierstore.audit"]
    key_id = first["credentials"]["access_key_id"]
    for line in audit:
        del line["time"]
    expected = {
        "event": "vend", "user": "admin", "path": "/a/", "access": "write", "mount": "/",
        "mode": "direct", "scoped": True, "key": f"{key_id[:4]}…", "key_sha256": key_fingerprint(key_id),
        "expires": first["expires_at"].replace("Z", "+00:00"), "restricted": 0,
    }  # fmt: skip
    assert audit == [{**expected, "cache": cache} for cache in ("miss", "hit")]
    assert again["credentials"]["access_key_id"] == key_id

    secrets = [
        first["credentials"]["secret_access_key"],
        first["credentials"]["session_token"],
        key_id,
        api.admin_token,
        bob,
        stack.admin.secret_access_key.reveal(),
        stack.admin.access_key_id,
    ]
    everything = (
        "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records) + caplog.text
    )
    for secret in secrets:
        assert secret not in everything
    # The denied vend's error names the user and the bit, nothing else.
    assert re.search(r"/a: permission denied for user bob", denied.json()["error"]["message"])
