"""Tries of one data request: which failures are worth another try, and how long to wait first.

obstore and the part uploads are given no retries of their own: tierstore counts every attempt
here, so ``retry.max_attempts`` means exactly that many requests, and a transfer that retries
knows where it stopped (a read goes on from the byte it reached, an upload sends again only the
part that failed). botocore's control calls keep botocore's retries, given the same attempts.

The waits double from ``retry.interval_seconds`` up to ``retry.max_interval_seconds`` and each is
cut by a random part of up to half ("equal jitter"), so that many clients stopped by the same
outage do not all come back in the same instant.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tierstore.errors import StoreError, StoreUnavailableError, ThrottledError
from tierstore.settings.model import StoreSettings

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """A failure that another try may not meet: unreachable, timed out, 5xx or slow-down."""
    return isinstance(error, StoreUnavailableError | ThrottledError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    interval_seconds: float
    max_interval_seconds: float
    endpoint: str

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.retry.max_attempts,
            interval_seconds=settings.retry.interval_seconds,
            max_interval_seconds=settings.retry.max_interval_seconds,
            endpoint=settings.endpoint or f"AWS S3 ({settings.effective_region})",
        )

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 for the first retry)."""
        full = min(self.max_interval_seconds, self.interval_seconds * 2.0 ** (attempt - 2))
        return full / 2 + random.uniform(0, full / 2)  # jitter, not a secret

    def attempts(self) -> Attempts:
        return Attempts(self)

    def run(self, call: Callable[[], T]) -> T:
        """``call`` until it succeeds, fails for good, or the attempts are spent."""
        attempts = self.attempts()
        while True:
            try:
                return call()
            except StoreError as error:
                attempts.failed(error)

    async def run_async(self, call: Callable[[], Awaitable[T]]) -> T:
        """:meth:`run` on an event loop: the waits between attempts do not block it."""
        attempts = self.attempts()
        while True:
            try:
                return await call()
            except StoreError as error:
                wait = attempts.next_wait(error)
            await asyncio.sleep(wait)


class Attempts:
    """The attempts of one request; a transfer that made progress calls :meth:`progressed`.

    A stream that moved some bytes between two failures starts its count again: an outage costs
    the attempts it lasts, not those of every earlier hiccup of a long transfer.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.made = 0
        self._started = time.monotonic()

    def progressed(self) -> None:
        self.made = 0
        self._started = time.monotonic()

    def failed(self, error: StoreError) -> None:
        """Wait before the next attempt, or raise ``error`` (naming the endpoint) when done."""
        time.sleep(self.next_wait(error))

    def next_wait(self, error: StoreError) -> float:
        """The seconds to wait before the next attempt, or ``error`` raised (naming the endpoint)
        when there is none."""
        self.made += 1
        if not is_transient(error):
            raise error
        if self.made >= self.policy.max_attempts:
            raise _given_up(error, self.made, time.monotonic() - self._started, self.policy.endpoint)
        wait = self.policy.wait_before(self.made + 1)
        LOGGER.info("attempt %d failed (%s); trying again in %.2f s", self.made, error, wait)
        return wait


def _given_up(error: StoreError, made: int, elapsed: float, endpoint: str) -> StoreError:
    tries = "1 attempt" if made == 1 else f"{made} attempts"
    message = (
        f"{error} at {endpoint}, after {tries} over {elapsed:.1f} s "
        "(retry.max_attempts and timeouts.* set how long to keep trying)"
    )
    given_up = type(error)(message, bucket=error.bucket, key=error.key)
    given_up.__cause__ = error.__cause__
    return given_up
