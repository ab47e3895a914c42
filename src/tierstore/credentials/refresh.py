"""Credentials refreshed before they expire, one refresh at a time.

A refresh is due at ``fraction`` of the credentials' lifetime (default 0.75) and never later
than ``margin`` before expiry. Between the due time and the margin, one caller refreshes while
the others keep using the current credentials; past the margin every caller waits for the one
refresh in flight (single flight). A failed refresh is retried with exponential backoff, from
``initial_backoff`` doubling up to ``max_backoff``, and never later than the margin while the
current credentials last. Failures count across callers: during an STS outage the attempts are
those of one backoff schedule however many callers ask (a caller arriving inside a backoff with
no usable credentials gets the named error at once, without an STS call), and once STS is back
the next refresh comes at most ``max_backoff`` after the last failure. Expired credentials (or
credentials past the margin) are never handed out: when no refresh succeeds in time, the error
names the source and the call that failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tierstore.credentials.model import Credentials
from tierstore.errors import CredentialsError

LOGGER = logging.getLogger("tierstore.credentials")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RefreshPolicy:
    fraction: float = 0.75
    margin: timedelta = timedelta(seconds=60)
    initial_backoff: timedelta = timedelta(milliseconds=200)
    max_backoff: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"refresh fraction {self.fraction} must be between 0 and 1 (exclusive)")
        if self.margin < timedelta(0):
            raise ValueError("refresh margin must not be negative")


class RefreshingSource:
    """A credential source over ``fetch``, which obtains fresh credentials (an STS call, say)."""

    def __init__(
        self,
        fetch: Callable[[], Credentials],
        *,
        name: str,
        call: str,
        policy: RefreshPolicy | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._fetch = fetch
        self._name = name
        self._call = call
        self._policy = policy or RefreshPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Credentials | None = None
        self._issued_at: datetime | None = None
        # When the backoff after a failed refresh ends (None: a refresh may be tried now).
        self._next_attempt_at: datetime | None = None
        self._failures = 0
        self._last_error: CredentialsError | None = None
        self.refresh_count = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def policy(self) -> RefreshPolicy:
        return self._policy

    def refresh_due_at(self) -> datetime | None:
        """When the next refresh will be attempted (None for credentials that never expire)."""
        current = self._current
        if current is None or current.expires_at is None or self._issued_at is None:
            return None
        lifetime = current.expires_at - self._issued_at
        due = self._issued_at + lifetime * self._policy.fraction
        return min(due, current.expires_at - self._policy.margin)

    def credentials(self) -> Credentials:
        now = entered = self._clock()
        current = self._current
        if current is not None and self._usable(current, now):
            if not self._needs_refresh(current, now):
                return current
            # Due but not urgent: one caller refreshes, the rest carry on with what they have.
            if self._lock.acquire(blocking=False):
                try:
                    # Another caller may have refreshed between our look and the lock.
                    latest = self._current
                    now = self._clock()
                    if latest is not None and self._needs_refresh(latest, now):
                        self._refresh_once(latest)
                finally:
                    self._lock.release()
            # A failed refresh may have taken long enough for these to run past the margin (with
            # a margin of 0, past expiry): look again before handing them out.
            latest = self._current or current
            if self._usable(latest, self._clock()):
                return latest
        with self._lock:
            current = self._current
            now = self._clock()
            if current is not None and self._usable(current, now):
                return current
            return self._refresh_until_valid(entered)

    def _needs_refresh(self, current: Credentials, now: datetime) -> bool:
        due = self.refresh_due_at()
        if due is None or now < due:
            return False
        return self._next_attempt_at is None or now >= self._next_attempt_at

    def _usable(self, current: Credentials, now: datetime) -> bool:
        return current.expires_at is None or now < current.expires_at - self._policy.margin

    def _install(self, fresh: Credentials) -> Credentials:
        now = self._clock()
        if fresh.expires_at is not None and fresh.expires_at <= now:
            raise CredentialsError(
                f"{self._name}: {self._call} returned credentials that had already expired "
                f"(at {fresh.expires_at.isoformat()}); check the clock and the session duration"
            )
        self._current = fresh
        self._issued_at = now
        self._next_attempt_at = None
        self._failures = 0
        self._last_error = None
        self.refresh_count += 1
        LOGGER.info(
            "%s: new credentials %s, next refresh at %s",
            self._name,
            fresh,
            (self.refresh_due_at() or now).isoformat(),
        )
        return fresh

    def _failed(self, error: CredentialsError, now: datetime) -> timedelta:
        """Count a failed refresh and start its backoff: doubling from the first, up to the cap."""
        self._failures += 1
        self._last_error = error
        backoff = self._policy.initial_backoff
        # Doubled one step at a time: a power of two times a long backoff could overflow timedelta.
        for _ in range(self._failures - 1):
            if backoff >= self._policy.max_backoff:
                break
            backoff *= 2
        backoff = min(backoff, self._policy.max_backoff)
        self._next_attempt_at = now + backoff
        return backoff

    def _refresh_once(self, current: Credentials) -> None:
        try:
            self._install(self._fetch())
        except CredentialsError as error:
            backoff = self._failed(error, self._clock())
            if current.expires_at is not None and self._next_attempt_at is not None:
                # Capped below the time left: at the margin a caller may always try once more.
                self._next_attempt_at = min(self._next_attempt_at, current.expires_at - self._policy.margin)
            LOGGER.warning(
                "%s: refresh by %s failed (%d in a row), next try in %s: %s",
                self._name,
                self._call,
                self._failures,
                backoff,
                error,
            )

    def _refresh_until_valid(self, entered: datetime) -> Credentials:
        """Blocking refresh, the lock held: try when the backoff allows, until the deadline."""
        deadline = self._deadline(entered)
        now = self._clock()
        wait_until = self._next_attempt_at
        while True:
            if wait_until is not None and now < wait_until:
                if wait_until >= deadline:
                    # Inside a backoff that outlasts this caller's wait: no STS call before it
                    # ends, however many callers ask.
                    raise self._out_of_time()
                LOGGER.warning(
                    "%s: %s failed (%d in a row), retrying in %s",
                    self._name,
                    self._call,
                    self._failures,
                    wait_until - now,
                )
                time.sleep((wait_until - now).total_seconds())
            try:
                return self._install(self._fetch())
            except CredentialsError as error:
                now = self._clock()
                self._failed(error, now)
                if not error.retryable:
                    raise
                wait_until = self._next_attempt_at

    def _out_of_time(self) -> CredentialsError:
        next_try = self._next_attempt_at.isoformat() if self._next_attempt_at else "now"
        return CredentialsError(
            f"{self._name}: could not obtain credentials in time; {self._call} failed "
            f"{self._failures} time(s) in a row, next try at {next_try} (backoff capped at "
            f"{self._policy.max_backoff.total_seconds():g} s), last: {self._last_error}"
        )

    def _deadline(self, entered: datetime) -> datetime:
        """How long a caller with no usable credentials may wait for a refresh: ``max_backoff``
        from its call, and never past the current credentials' expiry (once they have expired, a
        caller gets one try when no backoff is running, then the error)."""
        deadline = entered + self._policy.max_backoff
        current = self._current
        if current is not None and current.expires_at is not None:
            deadline = min(deadline, current.expires_at)
        return deadline

    def __repr__(self) -> str:
        return f"RefreshingSource({self._name}, via {self._call}, current={self._current!r})"
