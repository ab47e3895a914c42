"""``POST /v1/credentials``: temporary store credentials for one path, read or write.

The vendor (``tierstore.server.vending``) decides the scope and caches the answer; a warm vend
is answered on the event loop. ``"shape": "iceberg"`` answers as Iceberg REST catalogs do
(``{"storage-credentials": [{"prefix", "config"}]}``, see :mod:`tierstore.credentials.shapes`).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tierstore.credentials.shapes import iceberg_config, iceberg_storage_credentials
from tierstore.server.authentication import authenticated
from tierstore.server.errors import ApiError
from tierstore.server.loop_or_thread import in_memory_or_thread
from tierstore.server.request_inputs import body_field, checked_path, json_body
from tierstore.server.responses import JsonResponse
from tierstore.server.state import state_of
from tierstore.server.users import User


@authenticated
async def credentials(request: Request, user: User) -> Response:
    """Vend credentials.
    ---
    summary: Temporary credentials scoped to a path, plus how to reach the store
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [path]
            properties:
              path: {type: string, description: 'a directory ends in "/"'}
              access: {type: string, enum: [read, write]}
              shape:
                type: string
                enum: [tierstore, iceberg]
                description: 'iceberg: {"storage-credentials": [{"prefix", "config"}]}, as Iceberg
                  REST catalogs answer'
    responses:
      200:
        description: 'path, mount, access, mode (direct|proxy), scoped, store, credentials,
          expires_at, refresh_at; or, with shape iceberg, storage-credentials'
      403: {description: 'the user lacks the bit, or a write to a read-only mount'}
      409: {description: 'shape iceberg for a path served through the data proxy (no credentials)'}
    """
    body = await json_body(request)
    path = checked_path(body_field(body, "path", str), "path")
    access = body_field(body, "access", str, "read")
    if access not in ("read", "write"):
        raise ApiError(400, f"'access' is {access!r}; use read or write")
    shape = body_field(body, "shape", str, "tierstore")
    if shape not in ("tierstore", "iceberg"):
        raise ApiError(400, f"'shape' is {shape!r}; use tierstore (the default) or iceberg")
    answer = await in_memory_or_thread(functools.partial(state_of(request).vendor.vend, user, path, access))
    if shape == "iceberg":
        answer = iceberg_answer(answer)
    return JsonResponse(answer, headers={"Cache-Control": "no-store"})


def iceberg_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The vend answer as ``storage-credentials``; a proxy-mode answer (no credentials) is a 409.

    An empty list would be the Iceberg way to say "none", and a tool such as DuckDB then makes an
    anonymous secret whose every request is refused: an error that names the cause is better.
    """
    store, creds = answer.get("store"), answer.get("credentials")
    if answer.get("mode") != "direct" or not store or not creds:
        raise ApiError(
            409,
            f"{answer.get('path')}: mount {answer.get('mount')} is served through the data proxy (a local "
            "directory), so there are no store credentials to give in the iceberg shape; read and write "
            "it through /v1/data (tierstore://, tierstore.Client)",
        )
    expiration = creds.get("expiration")
    config = iceberg_config(
        access_key_id=creds["access_key_id"],
        secret_access_key=creds["secret_access_key"],
        session_token=creds.get("session_token"),
        expires_at=datetime.fromisoformat(expiration.replace("Z", "+00:00")) if expiration else None,
        endpoint=store.get("endpoint"),
        region=store.get("region") or "us-east-1",
        path_style=bool(store.get("path_style")),
    )
    return iceberg_storage_credentials(f"s3://{store['bucket']}/{store['prefix']}", config)
