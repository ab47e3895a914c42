"""Credentials refreshed before they expire, one refresh at a time.

A refresh is due at ``fraction`` of the credentials' lifetime (default 0.75) and never later
than ``margin`` before expiry. Between the due time and the margin, one caller refreshes while
the others keep using the current credentials; past the margin every caller waits for the one
refresh in flight (single flight). A failed refresh is retried with exponential backoff capped
below the time left, and expired credentials are never handed out: when no refresh succeeds in
time, the error names the source and the call that failed.
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
        self._next_attempt_at: datetime | None = None
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
        now = self._clock()
        current = self._current
        # Usable first: a backoff after a failed refresh may run past the margin (with a margin
        # of 0, past expiry), and credentials past it are never handed out.
        if current is not None and self._usable(current, now) and not self._needs_refresh(current, now):
            return current
        if current is not None and self._usable(current, now):
            # Due but not urgent: one caller refreshes, the rest carry on with what they have.
            if self._lock.acquire(blocking=False):
                try:
                    self._refresh_once(now)
                finally:
                    self._lock.release()
            return self._current or current
        with self._lock:
            current = self._current
            now = self._clock()
            if current is not None and self._usable(current, now):
                return current
            return self._refresh_until_valid()

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
        self.refresh_count += 1
        LOGGER.info(
            "%s: new credentials %s, next refresh at %s",
            self._name,
            fresh,
            (self.refresh_due_at() or now).isoformat(),
        )
        return fresh

    def _refresh_once(self, now: datetime) -> None:
        try:
            self._install(self._fetch())
        except CredentialsError as error:
            backoff = self._backoff_after_failure(now)
            LOGGER.warning(
                "%s: refresh by %s failed, retrying in %s: %s", self._name, self._call, backoff, error
            )

    def _backoff_after_failure(self, now: datetime) -> timedelta:
        current = self._current
        remaining = (
            current.expires_at - self._policy.margin - now
            if current is not None and current.expires_at is not None
            else self._policy.max_backoff
        )
        backoff = min(self._policy.max_backoff, max(self._policy.initial_backoff, remaining / 4))
        self._next_attempt_at = now + backoff
        return backoff

    def _refresh_until_valid(self) -> Credentials:
        """Blocking refresh: retry with backoff while the current credentials (if any) last."""
        backoff = self._policy.initial_backoff
        deadline = self._deadline()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._install(self._fetch())
            except CredentialsError as error:
                now = self._clock()
                if not error.retryable:
                    raise
                if now + backoff >= deadline:
                    raise CredentialsError(
                        f"{self._name}: could not obtain credentials in time; {self._call} failed "
                        f"{attempt} time(s), last: {error}"
                    ) from None
                LOGGER.warning(
                    "%s: %s failed (attempt %d), retrying in %s", self._name, self._call, attempt, backoff
                )
                time.sleep(backoff.total_seconds())
                backoff = min(backoff * 2, self._policy.max_backoff)

    def _deadline(self) -> datetime:
        current = self._current
        now = self._clock()
        if current is not None and current.expires_at is not None:
            # Keep trying only while the old credentials would still have been good.
            return max(current.expires_at, now + self._policy.initial_backoff)
        return now + self._policy.max_backoff

    def __repr__(self) -> str:
        return f"RefreshingSource({self._name}, via {self._call}, current={self._current!r})"
