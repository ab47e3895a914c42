"""Resolving credentials never writes ``os.environ``: in ``tierstore serve`` other threads read
it meanwhile. A profile is resolved 50 times on one thread while another thread watches."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tierstore.credentials.providers.shared_files import SharedFilesProvider
from tierstore.local import StackInfo


def test_profiles_resolve_without_touching_os_environ(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIADEFAULT0000\naws_secret_access_key = default-secret\n"
        "[team]\naws_access_key_id = AKIATEAM00000000\naws_secret_access_key = team-secret\n"
    )
    chain_environ = {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(tmp_path / "missing-config"),
        "AWS_PROFILE": "team",
    }
    before = dict(os.environ)
    changes: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                now = dict(os.environ)
            except (RuntimeError, KeyError) as error:  # it changed while being read
                changes.append(f"{type(error).__name__} while reading it")
                return
            if now != before:
                changes.append(repr(sorted(set(now.items()) ^ set(before.items()))[:3]))
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for _ in range(50):
            provider = SharedFilesProvider(chain_environ)
            assert provider.detect().available
            assert provider.load().credentials().access_key_id == "AKIATEAM00000000"
    finally:
        stop.set()
        watcher.join()
    assert changes == [], f"os.environ changed while resolving: {changes[0]}"


def test_the_process_profile_does_not_leak_into_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's own environment names no profile: it reads "default", whatever AWS_PROFILE the
    process has (a server started from a shell with a profile set)."""
    monkeypatch.setenv("AWS_PROFILE", "team")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIADEFAULT0000\naws_secret_access_key = default-secret\n"
        "[team]\naws_access_key_id = AKIATEAM00000000\naws_secret_access_key = team-secret\n"
    )
    provider = SharedFilesProvider(
        {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    )
    assert provider.load().credentials().access_key_id == "AKIADEFAULT0000"


def test_the_process_botocore_settings_do_not_reach_a_role_profile(
    stack: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore reads ``os.environ`` for every setting a session leaves unset. A process whose
    AWS_DEFAULTS_MODE botocore refuses (it then makes no client at all) must not break a role
    profile resolved for a chain whose own environment sets none; checked against SeaweedFS."""
    monkeypatch.setenv("AWS_DEFAULTS_MODE", "no-such-mode")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "xx-nowhere-1")
    reader = stack.users["reader"]
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[reader]\naws_access_key_id = {reader.access_key_id}\n"
        f"aws_secret_access_key = {reader.secret_access_key.reveal()}\n"
    )
    config = tmp_path / "config"
    config.write_text(
        f"[profile reader]\nregion = {stack.region}\n\n"
        f"[profile reading-role]\nrole_arn = {stack.roles['ReadOnlyRole']}\nsource_profile = reader\n"
        f"role_session_name = isolated\nregion = {stack.region}\nendpoint_url = {stack.endpoint}\n"
    )
    provider = SharedFilesProvider(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(config),
            "AWS_PROFILE": "reading-role",
        }
    )
    creds = provider.load().credentials()
    sts = boto3.client(
        "sts",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key.reveal(),
        aws_session_token=creds.session_token.reveal() if creds.session_token else None,
        config=Config(defaults_mode="standard"),
    )
    assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/ReadOnlyRole/isolated")
