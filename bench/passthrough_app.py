"""The floor under the S3 gateway's small operations: an ASGI app that does nothing but forward.

Each PUT, GET or HEAD of ``/BUCKET/KEY`` becomes one obstore call to SeaweedFS (the key in
``PASSTHROUGH_BUCKET``), answered with the status, size and ETag, on the same uvicorn, uvloop and
httptools as ``tierstore serve``. No signature is checked, no namespace, no permission, no audit,
no error document: whatever the gateway adds to a request costs more than this. So a figure of
this app says how far any Python server that forwards each request can go on this machine, and
the gateway's figure over it says how much of that it keeps. ``bench/s3_gateway_bench.py --floor``
starts it (``uvicorn passthrough_app:app``) with the stack's endpoint and admin keys in the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import obstore
from obstore.store import S3Store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STORE = S3Store(
    os.environ.get("PASSTHROUGH_BUCKET", "bench"),
    config={
        "endpoint": os.environ.get("PASSTHROUGH_ENDPOINT", "http://127.0.0.1:8333"),
        "region": os.environ.get("PASSTHROUGH_REGION", "us-east-1"),
        "access_key_id": os.environ.get("PASSTHROUGH_KEY_ID", ""),
        "secret_access_key": os.environ.get("PASSTHROUGH_SECRET", ""),
        "virtual_hosted_style_request": False,
    },
    client_options={"allow_http": True, "pool_max_idle_per_host": "64"},
)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    _, _, key = str(scope["path"]).lstrip("/").partition("/")
    method = scope["method"]
    try:
        if method == "PUT":
            parts = []
            while True:
                message = await receive()
                parts.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            result = await obstore.put_async(STORE, key, b"".join(parts), use_multipart=False)
            await _answer(send, 200, [(b"etag", str(result["e_tag"]).encode()), (b"content-length", b"0")])
        elif method == "HEAD":
            meta = await obstore.head_async(STORE, key)
            await _answer(
                send,
                200,
                [(b"content-length", str(meta["size"]).encode()), (b"etag", str(meta["e_tag"]).encode())],
            )
        elif method == "GET":
            found = await obstore.get_async(STORE, key)
            body = bytes(await found.bytes_async())
            await _answer(send, 200, [(b"content-length", str(len(body)).encode())], body)
        else:
            await _answer(send, 405, [(b"content-length", b"0")])
    except FileNotFoundError:
        await _answer(send, 404, [(b"content-length", b"0")])
