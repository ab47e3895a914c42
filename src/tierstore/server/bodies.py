"""Request bodies read against the clock and within a size, and the uploads' own thread pool.

A body must keep coming: each chunk within ``body_timeout`` seconds, and, once the server has
waited ``body_timeout`` seconds for it in all, at ``body_min_rate`` bytes a second on average
(so a client trickling a byte a second is cut off too, not only one that stops). Only the time
spent waiting for the client counts: an upload whose store is slow to take a part is not
blamed for it. A body that falls behind is answered 408 and its connection closed; what it was
for is abandoned (an upload is aborted, nothing is written).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request

from tierstore.server.errors import ApiError
from tierstore.server.limits import ServerLimits

T = TypeVar("T")

BODY_TIMEOUT_KEY = "tierstore.server.limits.body-timeout"
BODY_MIN_RATE_KEY = "tierstore.server.limits.body-min-rate"
JSON_BODY_KEY = "tierstore.server.limits.json-body"
UPLOADS_KEY = "tierstore.server.limits.uploads"
# JSON bodies up to this size (every request the API expects) are read under one deadline.
SMALL_JSON_BODY = 16 * 1024


class BodyPace:
    """How long the next chunk of one body may take, from what has arrived and been waited."""

    def __init__(self, timeout: float, min_rate: int) -> None:
        self.timeout = timeout
        self.min_rate = min_rate
        self.received = 0
        self.waited = 0.0

    def allowance(self) -> float:
        """Seconds the next chunk may take: ``timeout``, or less where the rate calls for it."""
        if not self.min_rate:
            return self.timeout
        earned = self.timeout + self.received / self.min_rate - self.waited
        return max(0.0, min(self.timeout, earned))

    def record(self, waited: float, size: int) -> None:
        self.waited += waited
        self.received += size

    def too_slow(self, allowance: float) -> ApiError:
        if allowance < self.timeout:
            # Both settings are named: the rate's budget starts with body-timeout's seconds, so a
            # body that stalled after its first bytes is cut a little before body-timeout runs
            # out for the stall alone, and either setting gives a slow client more room.
            why = (
                f"the request body fell behind {self.min_rate} bytes/s ({self.received} bytes in "
                f"{self.waited + allowance:.1f} s, none in the last {allowance:.1f} s; "
                f"{BODY_MIN_RATE_KEY} applies once {BODY_TIMEOUT_KEY} = {self.timeout:g} s has passed)"
            )
        else:
            why = f"no part of the request body arrived for {self.timeout:g} s ({BODY_TIMEOUT_KEY})"
        # The client is too slow to be worth keeping: close rather than read the rest.
        message = f"{why}; the request was abandoned, nothing was written"
        return ApiError(408, message, {"Connection": "close"})


async def paced_body(request: Request, limits: ServerLimits) -> AsyncGenerator[bytes, None]:
    """The request body's chunks, or :class:`ApiError` 408 when it falls behind (see above)."""
    stream = request.stream()
    pace = BodyPace(limits.body_timeout, limits.body_min_rate)
    while True:
        allowance = pace.allowance()
        started = time.monotonic()
        try:
            # asyncio's timeout rather than anyio's cancel scope: the same deadline for a tenth
            # of the cost, paid on every chunk of every request body (the server runs on asyncio).
            async with asyncio.timeout(allowance):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise pace.too_slow(allowance) from None
        except ClientDisconnect:
            raise ApiError(400, "the client went away before the request body ended") from None
        pace.record(time.monotonic() - started, len(chunk))
        if chunk:
            yield chunk


async def read_json_body(request: Request, limits: ServerLimits) -> bytes:
    """The whole (JSON) body, at most ``limits.json_body`` bytes: a larger ``Content-Length``
    is 413 before a byte is read, and a body without one is counted as it arrives."""
    limit = limits.json_body
    too_large = ApiError(413, f"the JSON body is larger than {limit} bytes ({JSON_BODY_KEY})")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isascii() or not declared.isdigit() or int(declared) > limit):
        raise too_large
    if declared is not None and int(declared) <= SMALL_JSON_BODY:
        return await read_declared_body(request, limits, int(declared))
    received = bytearray()
    async with contextlib.aclosing(paced_body(request, limits)) as chunks:
        async for chunk in chunks:
            if len(received) + len(chunk) > limit:
                raise too_large
            received += chunk
    return bytes(received)


async def read_declared_body(request: Request, limits: ServerLimits, size: int) -> bytes:
    """A small body of ``size`` declared bytes (a JSON body of at most :data:`SMALL_JSON_BODY`,
    an S3 PUT of at most a MiB) read whole under one deadline.

    The pace allows a body ``body_timeout`` seconds plus one second per ``body_min_rate``
    bytes in all; one timer over the whole read keeps that bound, where arming one per chunk
    (three for a one-message body) cost about half of a warm vend's time.
    """
    rate = limits.body_min_rate
    allowance = limits.body_timeout + (size / rate if rate else 0)
    try:
        async with asyncio.timeout(allowance):
            body = await request.body()
    except TimeoutError:
        message = (
            f"the request body ({size} bytes declared) did not arrive within {allowance:.3g} s "
            f"({BODY_TIMEOUT_KEY}, {BODY_MIN_RATE_KEY}); the request was abandoned, nothing was written"
        )
        raise ApiError(408, message, {"Connection": "close"}) from None
    except ClientDisconnect:
        raise ApiError(400, "the client went away before the request body ended") from None
    return body


class UploadPool:
    """Threads for uploads alone: ``size`` at once; a wait of ``wait`` seconds for one is 503.

    ``slots`` is what is counted (``/v1/ready`` looks at it); the threads run under a limiter
    of the same size, so an upload holding a slot never waits again for a thread.
    """

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self.slots = anyio.CapacityLimiter(size)
        self._threads = anyio.CapacityLimiter(size)

    async def run(self, func: Callable[[], T]) -> T:
        try:
            with anyio.fail_after(self.wait):
                await self.slots.acquire()
        except TimeoutError:
            raise ApiError(
                503,
                f"every upload thread ({self.size}, {UPLOADS_KEY}) stayed busy for {self.wait:g} s; "
                "try again later",
                {"Retry-After": "5"},
            ) from None
        try:
            return await anyio.to_thread.run_sync(func, limiter=self._threads)
        finally:
            self.slots.release()
