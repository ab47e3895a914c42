"""The bare endpoint the server benchmark measures tierstore against: the same framework
(Starlette), the same ASGI server and settings, and no work but what every route must do.

Each route checks the bearer header, parses the request (a small JSON body for POST, the query
for GET) and answers a fixed JSON document of ``--size`` bytes, so the difference to a tierstore
route of the same answer size is tierstore's own work.

    python bench/bare_app.py --port P --size BYTES --token T
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    # uvicorn's defaults as tierstore serve uses them: "auto" loop and HTTP protocol (uvloop and
    # httptools when installed), no access log.
    uvicorn.run(
        make_app(args.size, args.token),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
