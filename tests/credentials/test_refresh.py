"""Refresh timing, single flight, backoff and failure, on a controlled clock."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.errors import CredentialsError
from tierstore.settings.secret import Secret

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Fetcher:
    """Hands out numbered credentials living ``lifetime`` seconds; can be told to fail."""

    def __init__(self, clock: Clock, lifetime: float = 1000.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail_with: CredentialsError | None = None
        self.delay = 0.0
        # A slow STS on the controlled clock: each call takes this long.
        self.takes = 0.0

    def __call__(self) -> Credentials:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        self.clock.advance(self.takes)
        if self.fail_with is not None:
            raise self.fail_with
        return Credentials(
            access_key_id=f"ASIA{self.calls:016d}",
            secret_access_key=Secret(f"secret-{self.calls}"),
            session_token=Secret(f"token-{self.calls}"),
            expires_at=self.clock() + timedelta(seconds=self.lifetime),
            source="test",
        )


def make(clock: Clock, fetcher: Fetcher, **policy: object) -> RefreshingSource:
    return RefreshingSource(
        fetcher,
        name="test source",
        call="AssumeRole",
        policy=RefreshPolicy(**policy),
        clock=clock,  # type: ignore[arg-type]
    )


def test_refreshes_at_the_fraction_of_the_lifetime() -> None:
    clock, fetcher = Clock(), Fetcher(Clock())
    fetcher.clock = clock
    source = make(clock, fetcher, fraction=0.5, margin=timedelta(seconds=10))
    first = source.credentials()
    assert source.refresh_due_at() == START + timedelta(seconds=500)
    clock.advance(499)
    assert source.credentials() is first
    clock.advance(2)
    second = source.credentials()
    assert second.access_key_id != first.access_key_id
    assert fetcher.calls == 2


def test_margin_wins_over_a_late_fraction() -> None:
    clock = Clock()
    fetcher = Fetcher(clock, lifetime=100)
    source = make(clock, fetcher, fraction=0.99, margin=timedelta(seconds=30))
    source.credentials()
    assert source.refresh_due_at() == START + timedelta(seconds=70)


def test_fraction_must_be_between_zero_and_one() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        RefreshPolicy(fraction=1.5)


def test_one_refresh_at_a_time_however_many_threads_ask() -> None:
    clock = Clock()
    fetcher = Fetcher(clock)
    source = make(clock, fetcher, fraction=0.5, margin=timedelta(seconds=10))
    source.credentials()
    clock.advance(995)  # past the margin: every caller must wait for the one refresh
    fetcher.delay = 0.2
    results: list[Credentials] = []
    threads = [threading.Thread(target=lambda: results.append(source.credentials())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetcher.calls == 2
    assert {creds.access_key_id for creds in results} == {"ASIA0000000000000002"}


def test_due_refresh_failure_keeps_current_credentials_and_backs_off() -> None:
    clock = Clock()
    fetcher = Fetcher(clock)
    source = make(clock, fetcher, fraction=0.5, margin=timedelta(seconds=10))
    first = source.credentials()
    clock.advance(600)
    fetcher.fail_with = CredentialsError("STS unavailable", retryable=True)
    assert source.credentials() is first  # still valid, so it is handed out
    calls = fetcher.calls
    assert source.credentials() is first  # backing off: no new STS call straight away
    assert fetcher.calls == calls
    clock.advance(200)  # backoff is capped below the remaining lifetime
    fetcher.fail_with = None
    assert source.credentials().access_key_id != first.access_key_id


def test_never_hands_out_expired_credentials_and_names_source_and_call() -> None:
    clock = Clock()
    fetcher = Fetcher(clock, lifetime=1000)
    source = make(
        clock, fetcher, fraction=0.5, margin=timedelta(seconds=10), initial_backoff=timedelta(milliseconds=1)
    )
    source.credentials()
    clock.advance(2000)  # long expired
    fetcher.fail_with = CredentialsError("AccessDenied", retryable=False)
    with pytest.raises(CredentialsError) as caught:
        source.credentials()
    assert "AccessDenied" in str(caught.value)


def test_retryable_failures_retry_until_the_deadline_then_say_which_call() -> None:
    clock = Clock()
    fetcher = Fetcher(clock)
    fetcher.fail_with = CredentialsError("connection refused", retryable=True)
    source = make(
        clock,
        fetcher,
        initial_backoff=timedelta(milliseconds=1),
        max_backoff=timedelta(milliseconds=4),
    )
    with pytest.raises(CredentialsError) as caught:
        source.credentials()
    message = str(caught.value)
    assert "test source" in message
    assert "AssumeRole failed" in message
    assert fetcher.calls >= 2


def test_a_slow_failed_refresh_never_hands_out_what_expired_meanwhile() -> None:
    clock = Clock()
    fetcher = Fetcher(clock, lifetime=1000)
    source = make(clock, fetcher, margin=timedelta(0))
    first = source.credentials()
    clock.advance(999.5)  # due, and good for half a second more
    fetcher.fail_with = CredentialsError("connection refused", retryable=True)
    fetcher.takes = 1.0  # the refresh fails after a second: past expiry
    with pytest.raises(CredentialsError, match="could not obtain credentials in time") as caught:
        handed = source.credentials()
        assert handed is not first, "expired credentials handed out after a slow failed refresh"
    assert "connection refused" in str(caught.value)


def test_callers_inside_a_backoff_after_expiry_make_no_call_and_the_backoff_doubles_to_its_cap() -> None:
    clock = Clock()
    fetcher = Fetcher(clock, lifetime=1000)
    source = make(clock, fetcher, initial_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=4))
    source.credentials()
    clock.advance(1001)  # expired, and STS is down
    fetcher.fail_with = CredentialsError("connection refused", retryable=True)
    tries_at: list[float] = []
    for _ in range(200):  # 20 s in steps of 0.1 s, ten callers each step
        for _ in range(10):
            before = fetcher.calls
            with pytest.raises(CredentialsError, match="could not obtain credentials in time"):
                source.credentials()
            if fetcher.calls != before:
                tries_at.append((clock() - START).total_seconds())
        clock.advance(0.1)
    gaps = [round(later - earlier, 1) for earlier, later in itertools.pairwise(tries_at)]
    assert gaps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0], tries_at
    fetcher.fail_with = None  # STS is back: the next try, at most the cap later, succeeds
    clock.advance(4)
    assert source.credentials().expires_at is not None
    assert fetcher.calls == 1 + len(tries_at) + 1
