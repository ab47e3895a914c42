"""The server's one ASGI app over its two protocols: the JSON API, and the S3 gateway on a port of
its own. uvicorn serves both listening sockets from one process (and each worker of
``--workers``), so both protocols share one namespace in memory, one permission layer, one set
of users and one upload pool; a request goes to the S3 gateway when it arrived on the S3 port.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class ByPort:
    """Requests that arrived on one of ``s3_ports`` go to ``s3``, every other one (and the
    lifespan events) to ``api``."""

    def __init__(self, api: ASGIApp, s3: ASGIApp, s3_ports: frozenset[int]) -> None:
        self.api = api
        self.s3 = s3
        self.s3_ports = s3_ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] in self.s3_ports:
            await self.s3(scope, receive, send)
        else:
            await self.api(scope, receive, send)
