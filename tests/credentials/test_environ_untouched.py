"""Resolving credentials never writes ``os.environ``: in ``tierstore serve`` other threads read
it meanwhile. A profile is resolved many times on one thread while another thread watches."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tierstore.credentials.providers.shared_files import SharedFilesProvider


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
        for _ in range(200):
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
