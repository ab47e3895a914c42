"""The ASGI middleware that counts every answer by route template, method and status, and times it."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierstore.server.metrics import ServerMetrics

# Methods counted under their own name in the metrics; any other is "other", so made-up methods
# cannot grow /metrics without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class MetricsMiddleware:
    """Counts every answer by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        timed = False
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"

        async def send_and_watch(message: Message) -> None:
            nonlocal status, timed
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = _route_of(scope)
                self.metrics.timed(route, method).observe(time.perf_counter() - started)
                timed = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = _route_of(scope)
            if not timed:
                self.metrics.timed(route, method).observe(time.perf_counter() - started)
            self.metrics.answered(route, method, status).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
