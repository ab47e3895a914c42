"""Refresh against a real STS (SeaweedFS's, on its S3 port), stopped and started again.

The clock the refreshing source reads is the real one moved by an offset, so a test can stand
at any point of a 900 s session's life without waiting for it; every STS call is real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.servers.loopback import Forwarder
from tests.servers.restartable import RestartableStore
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.resolve import resolve_credentials
from tierstore.credentials.source import StaticSource
from tierstore.credentials.sts import AssumeRoleFetcher, sts_target
from tierstore.errors import CredentialsError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, AssumeRoleSettings, StoreLocation, StoreSettings


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableStore]:
    store = RestartableStore()
    yield store
    store.close()


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def stand_at(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


class CountingFetch:
    """The real AssumeRole, with when each try began and how it ended."""

    def __init__(self, fetch: AssumeRoleFetcher) -> None:
        self._fetch = fetch
        self.tries: list[tuple[float, bool]] = []
        self._lock = threading.Lock()

    def __call__(self) -> Credentials:
        started = time.monotonic()
        try:
            fresh = self._fetch()
        except CredentialsError:
            with self._lock:
                self.tries.append((started, False))
            raise
        with self._lock:
            self.tries.append((started, True))
        return fresh


def _role_settings(info: StackInfo, endpoint: str | None = None) -> StoreSettings:
    admin = info.admin
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket="refresh-test", prefix=""),
        endpoint=endpoint or info.endpoint,
        region=info.region,
        keys=AccessKeys(admin.access_key_id, admin.secret_access_key),
        assume_role=AssumeRoleSettings(role_arn=info.roles["ReadWriteRole"], duration_seconds=900),
    )


def _source(
    info: StackInfo, policy: RefreshPolicy, clock: ShiftedClock
) -> tuple[RefreshingSource, CountingFetch]:
    settings = _role_settings(info)
    admin = info.admin
    base = StaticSource(Credentials(admin.access_key_id, admin.secret_access_key, source="admin keys"))
    fetch = CountingFetch(AssumeRoleFetcher(base, settings.assume_role, sts_target(settings), settings))  # type: ignore[arg-type]
    return RefreshingSource(fetch, name="AssumeRole", call="AssumeRole", policy=policy, clock=clock), fetch


def test_margin_0_never_hands_out_expired_credentials(restartable: RestartableStore) -> None:
    clock = ShiftedClock()
    policy = RefreshPolicy(margin=timedelta(0), initial_backoff=timedelta(milliseconds=200))
    source, _ = _source(restartable.info, policy, clock)
    first = source.credentials()
    assert first.expires_at is not None
    restartable.kill()
    try:
        # Due, 100 ms before expiry: the refresh fails and a 200 ms backoff begins, running past it.
        clock.stand_at(first.expires_at - timedelta(milliseconds=100))
        assert source.credentials() is first  # still good for 100 ms
        # Inside that backoff, past expiry: the old code handed out `first` here.
        clock.stand_at(first.expires_at + timedelta(milliseconds=50))
        with pytest.raises(CredentialsError, match="could not obtain credentials in time"):
            source.credentials()
    finally:
        restartable.start_again()
        restartable.wait_serving()
    fresh = source.credentials()
    assert fresh.expires_at is not None and fresh.expires_at > clock()
    assert fresh.access_key_id != first.access_key_id


def test_assume_role_goes_only_to_the_sts_endpoint(stack: StackInfo) -> None:
    """Two counting forwarders in front of SeaweedFS, one named as the S3 endpoint and one as
    the STS endpoint: AssumeRole arrives only through the STS one (fails if the setting is
    ignored), and data requests only through the S3 one."""
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port) as s3_side, Forwarder(port) as sts_side:
        settings = _role_settings(stack, endpoint=s3_side.endpoint)
        assert settings.assume_role is not None
        role = AssumeRoleSettings(
            role_arn=settings.assume_role.role_arn, duration_seconds=900, sts_endpoint=sts_side.endpoint
        )
        settings = replace(settings, assume_role=role)
        resolved = resolve_credentials(settings)
        creds = resolved.source.credentials()
        assert creds.session_token is not None
    assert [r.method for r in sts_side.requests] == ["POST"]
    assert not any(r.method == "POST" and r.target == "/" for r in s3_side.requests)
