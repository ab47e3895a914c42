"""JSON answers encoded with orjson.

Starlette's ``JSONResponse`` encodes with the standard library's ``json``; on this server's
answers orjson is about 12 times faster (1.9 ms against 0.14 ms for a 1,000-entry listing, 12 µs
against 1.5 µs for a vend answer, measured). The output is the same compact UTF-8 JSON.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    """``JSONResponse`` with orjson's encoder. Non-string keys are written as strings, as ``json``
    does (the OpenAPI description keys its responses by status code)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class EncodedBodies:
    """Encoded JSON bodies of answers built from cached objects, reused while the object is.

    A warm ls returns the very list the file system's cache holds; turning its 1,000 entries
    into dicts and bytes again on every request costs more than the rest of the request. The
    body is kept beside the object it came from (held, so its identity cannot be reused), and a
    new object (the cache refilled, a chmod) gets a new body. At most ``max_bytes`` are held,
    the least recently used dropped first.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._held = 0
        self._bodies: OrderedDict[int, tuple[object, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def body(self, source: object, build: Callable[[], Any]) -> bytes:
        """The encoded ``build()`` for ``source``, made once while ``source`` is in use."""
        key = id(source)
        with self._lock:
            found = self._bodies.get(key)
            if found is not None and found[0] is source:
                self._bodies.move_to_end(key)
                return found[1]
        body = orjson.dumps(build(), option=orjson.OPT_NON_STR_KEYS)
        if len(body) > self._max_bytes:
            return body
        with self._lock:
            replaced = self._bodies.pop(key, None)
            if replaced is not None:
                self._held -= len(replaced[1])
            self._bodies[key] = (source, body)
            self._held += len(body)
            while self._held > self._max_bytes:
                _, (_, dropped) = self._bodies.popitem(last=False)
                self._held -= len(dropped)
        return body
