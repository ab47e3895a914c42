"""Refresh against a real STS (SeaweedFS's, on its S3 port), stopped and started again.

Every STS call is real. Two ways to stand at a chosen point of a 900 s session's life without
waiting for it: a clock moved past the expiry of the credentials STS gave last, which follows
real time again as soon as STS gives fresh ones (so these never look expired); or, on the real
clock, a refresh margin just under SeaweedFS's minimum lifetime of 900 s, so that real
credentials reach their refresh time and margin within seconds, fresh ones as much as the first.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Try:
    """One AssumeRole: when it began and ended (monotonic seconds), and whether it succeeded."""

    started: float
    ended: float
    ok: bool


class CountingFetch:
    """The real AssumeRole, with when each try began and how it ended, and what it last gave."""

    def __init__(self, fetch: Callable[[], Credentials]) -> None:
        self._fetch = fetch
        self.tries: list[Try] = []
        self.latest: Credentials | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Credentials:
        started = time.monotonic()
        try:
            fresh = self._fetch()
        except CredentialsError:
            with self._lock:
                self.tries.append(Try(started, time.monotonic(), ok=False))
            raise
        with self._lock:
            self.tries.append(Try(started, time.monotonic(), ok=True))
            self.latest = fresh
        return fresh


class FollowingClock:
    """Real time moved to a chosen moment of the life of the credentials the fetch gave last;
    real time again once it gives fresh ones."""

    def __init__(self, fetch: CountingFetch) -> None:
        self._fetch = fetch
        self._anchor: Credentials | None = None
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        now = datetime.now(UTC)
        if self._anchor is not None and self._fetch.latest is self._anchor:
            return now + self._offset
        return now

    def stand_at(self, moment: datetime) -> None:
        self._anchor = self._fetch.latest
        self._offset = moment - datetime.now(UTC)


def _role_settings(info: StackInfo, endpoint: str | None = None) -> StoreSettings:
    admin = info.admin
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket="refresh-test", prefix=""),
        endpoint=endpoint or info.endpoint,
        region=info.region,
        keys=AccessKeys(admin.access_key_id, admin.secret_access_key),
        assume_role=AssumeRoleSettings(role_arn=info.roles["ReadWriteRole"], duration_seconds=900),
    )


def _fetcher(info: StackInfo, sts_endpoint: str | None = None) -> AssumeRoleFetcher:
    settings = _role_settings(info)
    assert settings.assume_role is not None
    role = replace(settings.assume_role, sts_endpoint=sts_endpoint)
    settings = replace(settings, assume_role=role)
    admin = info.admin
    base = StaticSource(Credentials(admin.access_key_id, admin.secret_access_key, source="admin keys"))
    return AssumeRoleFetcher(base, role, sts_target(settings), settings)


def _source(info: StackInfo, policy: RefreshPolicy) -> tuple[RefreshingSource, CountingFetch, FollowingClock]:
    fetch = CountingFetch(_fetcher(info))
    clock = FollowingClock(fetch)
    source = RefreshingSource(fetch, name="AssumeRole", call="AssumeRole", policy=policy, clock=clock)
    return source, fetch, clock


def _until_fresh(source: RefreshingSource, old: Credentials, seconds: float = 30.0) -> Credentials:
    """Ask until fresh credentials come (weed answers 500 for a while after a restart)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fresh = source.credentials()
        except CredentialsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        assert fresh.access_key_id != old.access_key_id
        return fresh


def test_margin_0_never_hands_out_expired_credentials(restartable: RestartableStore) -> None:
    policy = RefreshPolicy(
        margin=timedelta(0), initial_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=2)
    )
    source, _, clock = _source(restartable.info, policy)
    first = source.credentials()
    assert first.expires_at is not None
    restartable.kill()
    try:
        # Due, a second before expiry: the refresh fails and a backoff begins, capped at expiry.
        clock.stand_at(first.expires_at - timedelta(seconds=1))
        assert source.credentials() is first  # still good for a second
        # Past expiry, the backoff's end not reached in the old code: it handed out `first` here.
        clock.stand_at(first.expires_at + timedelta(milliseconds=50))
        with pytest.raises(CredentialsError, match="could not obtain credentials in time"):
            source.credentials()
    finally:
        restartable.start_again()
        restartable.wait_serving()
    fresh = _until_fresh(source, first)
    assert fresh.expires_at is not None and fresh.expires_at > clock()


def test_single_flight_many_callers_one_assume_role(stack: StackInfo) -> None:
    """Eight callers at once, first in the refresh window, then past the margin: each time one
    AssumeRole reaches the STS (counted by a forwarder in front of it, named as the STS
    endpoint), and past the margin all eight wait for it and get its credentials."""
    # 900 s credentials: due 0.45 s after issue, past the margin 2 to 3 s after it (the
    # expiry has whole seconds); fresh ones as much.
    policy = RefreshPolicy(fraction=0.0005, margin=timedelta(seconds=897))
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port) as sts_side:
        fetcher = _fetcher(stack, sts_endpoint=sts_side.endpoint)

        def slow_fetch() -> Credentials:
            # A slow STS: the callers' calls all overlap the one refresh in flight.
            time.sleep(0.3)
            return fetcher()

        source = RefreshingSource(slow_fetch, name="AssumeRole", call="AssumeRole", policy=policy)

        def assume_roles() -> int:
            return sum(
                1 for request in sts_side.requests if request.method == "POST" and request.target == "/"
            )

        first = source.credentials()
        assert first.expires_at is not None and assume_roles() == 1
        due, past_margin = source.refresh_due_at(), first.expires_at - policy.margin
        assert due is not None and due < past_margin
        _sleep_until(due + timedelta(milliseconds=50))
        in_window = _all_at_once(source, 8)
        assert assume_roles() == 2
        assert datetime.now(UTC) < past_margin, "the machine was too slow to stay in the refresh window"
        second = source.credentials()
        assert second.access_key_id != first.access_key_id
        # In the window one caller refreshes and the others carry on with what they have.
        assert {creds.access_key_id for creds in in_window} <= {first.access_key_id, second.access_key_id}

        assert second.expires_at is not None
        _sleep_until(second.expires_at - policy.margin + timedelta(milliseconds=50))
        past = _all_at_once(source, 8)
        assert assume_roles() == 3
        third = source.credentials()
        assert third.access_key_id not in (first.access_key_id, second.access_key_id)
        assert {creds.access_key_id for creds in past} == {third.access_key_id}


def _sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def _all_at_once(source: RefreshingSource, callers: int) -> list[Credentials]:
    barrier = threading.Barrier(callers)
    got: list[Credentials] = []
    failures: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            got.append(source.credentials())
        except BaseException as error:  # surfaced below
            failures.append(error)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and len(got) == callers, failures
    return got


def _most_tries(policy: RefreshPolicy, seconds: float) -> int:
    """How many tries the policy allows within ``seconds``: one, then one after each backoff."""
    tries, spent, backoff = 1, 0.0, policy.initial_backoff
    while True:
        wait = min(backoff, policy.max_backoff).total_seconds()
        if spent + wait > seconds:
            return tries
        spent, tries, backoff = spent + wait, tries + 1, backoff * 2


def test_backoff_while_sts_is_down_is_capped_and_the_first_try_after_it_is_back_succeeds(
    restartable: RestartableStore,
) -> None:
    """Four callers keep asking for expired credentials while STS is down: the tries follow one
    backoff schedule (doubling to its cap), not one try per call; every caller gets the named
    error; once STS serves again, a try within the cap brings fresh credentials."""
    policy = RefreshPolicy(
        margin=timedelta(0),
        initial_backoff=timedelta(milliseconds=100),
        max_backoff=timedelta(milliseconds=400),
    )
    source, fetch, clock = _source(restartable.info, policy)
    first = source.credentials()
    assert first.expires_at is not None
    errors: list[str] = []
    handed_out: list[tuple[float, Credentials]] = []
    stop = threading.Event()

    def caller() -> None:
        while not stop.is_set():
            try:
                creds = source.credentials()
            except CredentialsError as error:
                errors.append(str(error))
            else:
                handed_out.append((time.monotonic(), creds))
            time.sleep(0.01)

    callers = [threading.Thread(target=caller) for _ in range(4)]
    restartable.kill()
    restarted = False
    try:
        clock.stand_at(first.expires_at + timedelta(seconds=1))
        for thread in callers:
            thread.start()
        time.sleep(3.0)
        down = list(fetch.tries)
        restartable.start_again()
        restarted = True
        restartable.wait_serving()
        serving = _sts_serves(restartable.info)
        deadline = time.monotonic() + 15
        while not handed_out and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in callers:
            thread.join(timeout=10)
        if not restarted:
            restartable.start_again()
            restartable.wait_serving()
    assert not any(thread.is_alive() for thread in callers), "a caller was still blocked"

    down = down[1:]  # down[0] gave `first`
    assert not any(attempt.ok for attempt in down)
    span = down[-1].started - down[0].started
    assert 4 <= len(down) <= _most_tries(policy, span + 0.05), f"{len(down)} tries in {span:.2f} s"
    # The wait from each failure to the next try: the backoff, doubling up to its cap (the
    # slack above it is a caller's 10 ms pause and thread scheduling on a busy machine).
    waits = [later.started - earlier.ended for earlier, later in itertools.pairwise(down)]
    for index, wait in enumerate(waits):
        backoff = min(policy.initial_backoff * 2**index, policy.max_backoff).total_seconds()
        assert backoff - 0.01 <= wait <= policy.max_backoff.total_seconds() + 0.35, (index, waits)
    assert len(errors) > 2 * len(down)  # most calls were answered without an STS call
    assert all("could not obtain credentials in time" in error and "AssumeRole" in error for error in errors)

    assert handed_out, "no credentials 15 s after STS served again"
    got_at, fresh = handed_out[0]
    assert fresh.access_key_id != first.access_key_id
    assert all(creds.access_key_id != first.access_key_id for _, creds in handed_out)
    # The first try once STS served again came within the cap of its last failure.
    assert got_at - serving <= policy.max_backoff.total_seconds() + 0.5, f"{got_at - serving:.2f} s"
    assert [attempt.ok for attempt in fetch.tries].count(True) == 2  # first, then one refresh


def _sts_serves(info: StackInfo) -> float:
    """When (monotonic) AssumeRole first succeeds on a client of its own after a restart."""
    probe = _fetcher(info)
    deadline = time.monotonic() + 30
    while True:
        try:
            probe()
        except CredentialsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        return time.monotonic()


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
