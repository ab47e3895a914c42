"""HTTP calls to the tierstore server and the mapping of its errors onto ``tierstore.errors``.

The public ``Client`` speaks in paths and results; this module speaks HTTP: the bearer token,
JSON bodies, the error envelope ``{"error": {"code", "message"}}`` and status codes. The token
is held as a :class:`Secret` and only ever placed in the ``Authorization`` header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from tierstore import errors
from tierstore.client.errors import ServerError, ServerUnreachableError, UnauthorizedError
from tierstore.errors import ConfigError
from tierstore.settings.secret import Secret

LOGGER = logging.getLogger("tierstore.client")

URL_ENV = "TIERSTORE_URL"
TOKEN_ENV = "TIERSTORE_TOKEN"

_PATH_ERRORS: dict[int, type[errors.StoreError]] = {
    403: errors.AccessDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    503: errors.StoreUnavailableError,
}


def resolve_endpoint(url: str | None, token: str | Secret | None) -> tuple[str, Secret]:
    """The server URL and token from the arguments, else ``TIERSTORE_URL`` / ``TIERSTORE_TOKEN``."""
    url = url or os.environ.get(URL_ENV) or None
    if token is None and os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV]
    missing = []
    if not url:
        missing.append(
            f"the server URL (Client(url=...), the storage option server=..., --url, or ${URL_ENV})"
        )
    if not token:
        missing.append(f"a bearer token (token=..., --token or ${TOKEN_ENV})")
    if missing:
        raise ConfigError(
            f"tierstore client: missing {' and '.join(missing)}; both are needed to reach the server"
        )
    assert url is not None and token is not None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"tierstore client: server URL {url!r} needs a scheme, e.g. http://{url}")
    return url.rstrip("/"), token if isinstance(token, Secret) else Secret(token)


class Transport:
    """One pooled HTTP client to one server, shared by every thread of a :class:`Client`."""

    def __init__(self, url: str, token: Secret, *, timeout: float = 60.0) -> None:
        self.url = url
        self._client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token.reveal()}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def get_json(self, route: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._json(self._send("GET", route, params=params))

    def post_json(self, route: str, body: Mapping[str, Any]) -> Any:
        return self._json(self._send("POST", route, json=dict(body)))

    def delete(self, route: str, params: Mapping[str, Any]) -> Any:
        return self._json(self._send("DELETE", route, params=params))

    def get_bytes(
        self, route: str, params: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bytes:
        return self._send("GET", route, params=params, headers=headers).content

    @contextmanager
    def stream_get(self, route: str, params: Mapping[str, Any]) -> Iterator[Iterator[bytes]]:
        request = self._client.build_request("GET", route, params=dict(params))
        response = self._perform(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise self._error(response)
            yield response.iter_bytes()
        finally:
            response.close()

    def put_stream(self, route: str, params: Mapping[str, Any], body: bytes | Iterable[bytes]) -> Any:
        return self._json(self._send("PUT", route, params=params, content=body))

    def _send(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        request = self._client.build_request(
            method,
            route,
            params=_params(params),
            json=json,
            content=content,
            headers=dict(headers) if headers else None,
        )
        response = self._perform(request, stream=False)
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _perform(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        try:
            return self._client.send(request, stream=stream)
        except httpx.TransportError as error:
            raise ServerUnreachableError(
                f"{request.method} {self.url}{request.url.path} failed: the tierstore server could not be "
                f"reached ({type(error).__name__}); check the URL and that the server runs"
            ) from None

    def _error(self, response: httpx.Response) -> errors.TierstoreError:
        code, message = _envelope(response)
        request = response.request
        path = request.url.params.get("path")
        if path is None and request.method == "POST" and request.content:
            path = _path_in_body(request.content)
        where = f"{request.method} {request.url.path}" + (f" {path}" if path else "")
        text = f"{where}: {message} ({code or 'error'}, HTTP {response.status_code})"
        if response.status_code == 401:
            return UnauthorizedError(
                f"{where}: the server at {self.url} refused the bearer token ({message}); "
                f"check token= or ${TOKEN_ENV}"
            )
        kind = _PATH_ERRORS.get(response.status_code)
        if kind is not None:
            return kind(text, key=path)
        return ServerError(text, status=response.status_code, code=code)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"{response.request.method} {response.request.url.path}: the server answered "
                f"HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from None

    def close(self) -> None:
        self._client.close()

    @property
    def closed(self) -> bool:
        return self._client.is_closed

    def __repr__(self) -> str:
        return f"Transport({self.url}, token=****)"


def _params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}


def _envelope(response: httpx.Response) -> tuple[str | None, str]:
    try:
        document = response.json()
    except ValueError:
        return None, (response.text[:200].strip() or response.reason_phrase)
    problem = document.get("error") if isinstance(document, dict) else None
    if isinstance(problem, dict):
        return str(problem.get("code") or "") or None, str(problem.get("message") or response.reason_phrase)
    return None, response.reason_phrase


def _path_in_body(content: bytes) -> str | None:
    import json

    try:
        body = json.loads(content)
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("path", "source"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None
