"""A scan: no log line, error message or repr carries a secret key or a session token.

It drives the paths that handle secrets — AssumeRole, refresh, a refused write, a wrong role,
wire logging — with every tierstore logger at DEBUG, then searches all that was captured for
the stack's secret keys and for every session secret and token that STS handed out.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest

from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.resolve import ResolutionContext, resolve_credentials
from tierstore.errors import TierstoreError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, AssumeRoleSettings, StoreLocation, StoreSettings
from tierstore.storage.factory import open_backend


def test_no_secret_in_logs_errors_or_reprs(
    stack: StackInfo, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tierstore")
    handed_out: list[Credentials] = []
    seen: list[str] = []
    keys = stack.users["writer"]
    for role_name, wire_log in (("ReadOnlyRole", False), ("ReadOnlyRole", True), ("NoSuchRole", False)):
        role = AssumeRoleSettings(
            role_arn=stack.roles.get(role_name, f"arn:aws:iam::000000000000:role/{role_name}"),
            duration_seconds=900,
        )
        settings = StoreSettings(
            location=StoreLocation(scheme="s3", bucket=bucket),
            endpoint=stack.endpoint,
            region=stack.region,
            keys=AccessKeys(keys.access_key_id, keys.secret_access_key),
            assume_role=role,
            wire_log=wire_log,
        )
        context = ResolutionContext(
            environ={"AWS_EC2_METADATA_DISABLED": "true"},
            refresh=RefreshPolicy(fraction=0.001, margin=timedelta(seconds=1)),
        )
        resolved = resolve_credentials(settings, context)
        source = resolved.source
        assert isinstance(source, RefreshingSource)
        seen += [repr(resolved), repr(source), repr(settings)]
        try:
            for _ in range(3):
                creds = source.credentials()
                handed_out.append(creds)
                seen.append(repr(creds))
                source._next_attempt_at = None
            with open_backend(settings, source) as store:
                seen.append(repr(store))
                store.list_dir("")
                store.put("denied.txt", os.urandom(16))
        except TierstoreError as error:
            seen.append(str(error))
    assert len(handed_out) >= 6
    text = caplog.text + "\n".join(seen)
    secrets = [user.secret_access_key.reveal() for user in stack.users.values()]
    secrets += [creds.secret_access_key.reveal() for creds in handed_out]
    secrets += [creds.session_token.reveal() for creds in handed_out if creds.session_token]
    secrets += [creds.access_key_id for creds in handed_out] + [keys.access_key_id]
    leaked = [secret[:6] + "…" for secret in secrets if secret in text]
    assert leaked == [], f"secrets found in logs or messages: {leaked}"
    assert "AccessDenied" in text  # the refused write was really logged and raised
    assert "NoSuchRole" in text
