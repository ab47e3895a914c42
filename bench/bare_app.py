"""The bare endpoint the server benchmark measures tierstore against: the same framework
(Starlette), the same ASGI server and settings, and no work but what every route must do.

Each route checks the bearer header, parses the request (a small JSON body for POST, the query
for GET) and answers a fixed JSON document of ``--size`` bytes, so the difference to a tierstore
route of the same answer size is tierstore's own work.

    python bench/bare_app.py --port P --size BYTES --token T [--server NAME]

``--server``: ``uvicorn`` (its "auto" choices, as ``tierstore serve`` uses it: uvloop and
httptools when installed), ``uvicorn-h11`` (asyncio and h11, uvicorn's pure-Python defaults),
``granian`` or ``hypercorn``: the ASGI servers the server benchmark compares.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def make_app(size: int, token: str) -> Starlette:
    # A payload whose encoded form is exactly ``size`` bytes: the fields a vend answer carries,
    # padded; encoded afresh on every request, as a real route would.
    base: dict[str, object] = {"path": "/bench/", "access": "read", "pad": ""}
    overhead = len(json.dumps(base, separators=(",", ":")).encode())
    base["pad"] = "x" * max(0, size - overhead)
    expected = f"Bearer {token}"

    def refused() -> Response:
        return JSONResponse({"error": {"code": "unauthorized", "message": "bad token"}}, status_code=401)

    async def post(request: Request) -> Response:
        if request.headers.get("authorization") != expected:
            return refused()
        body = json.loads(await request.body())
        answer = dict(base, path=body.get("path", "/"))
        return JSONResponse(answer)

    async def get(request: Request) -> Response:
        if request.headers.get("authorization") != expected:
            return refused()
        answer = dict(base, path=request.query_params.get("path", "/"))
        return JSONResponse(answer)

    return Starlette(routes=[Route("/bare", post, methods=["POST"]), Route("/bare", get, methods=["GET"])])


SERVERS = ("uvicorn", "uvicorn-h11", "granian", "hypercorn")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--server", default="uvicorn", choices=SERVERS)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    app = make_app(args.size, args.token)
    quiet = {"log_level": "warning", "access_log": False}
    if args.workers > 1:
        # uvicorn's workers import the app by name: its settings go through the environment.
        os.environ["BARE_SIZE"], os.environ["BARE_TOKEN"] = str(args.size), args.token
        uvicorn.run(
            "bare_app:app_from_env",
            factory=True,
            app_dir=str(Path(__file__).parent),
            host="127.0.0.1",
            port=args.port,
            workers=args.workers,
            **quiet,  # type: ignore[arg-type]
        )
    elif args.server == "uvicorn":
        # As tierstore serve runs it: "auto" loop and HTTP protocol, no access log.
        uvicorn.run(app, host="127.0.0.1", port=args.port, **quiet)  # type: ignore[arg-type]
    elif args.server == "uvicorn-h11":
        uvicorn.run(app, host="127.0.0.1", port=args.port, loop="asyncio", http="h11", **quiet)  # type: ignore[arg-type]
    elif args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        # granian imports the app by name in its worker: its settings go through the environment.
        os.environ["BARE_SIZE"], os.environ["BARE_TOKEN"] = str(args.size), args.token
        Granian(
            "bare_app:app_from_env",
            address="127.0.0.1",
            port=args.port,
            interface=Interfaces.ASGI,
            factory=True,
            working_dir=Path(__file__).parent,
            log_access=False,
        ).serve()
    else:
        import asyncio

        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{args.port}"]
        config.accesslog = None
        asyncio.run(serve(app, config))  # type: ignore[arg-type]


def app_from_env() -> Starlette:
    return make_app(int(os.environ["BARE_SIZE"]), os.environ["BARE_TOKEN"])


if __name__ == "__main__":
    main()
