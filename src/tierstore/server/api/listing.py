"""``GET /v1/fs/ls``'s answer: one page, ``{"entries": [...], "next": token-or-null}``.

A page small enough to come from memory (a cached first page) is answered on the event loop,
its encoding reused while the cache hands out the same page. Any other page is streamed: the
first entry is fetched before the answer starts, so a refusal or an unreachable store is still
a 4xx/5xx with a message, and the rest goes out batch by batch as the store pages arrive, so the
server never holds more than a store page of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from tierstore.blocking import NeedsIO, memory_only
from tierstore.namespace.filesystem import FileStatus
from tierstore.namespace.listing import STORE_PAGE, PageWalker
from tierstore.server.responses import EncodedBodies

# Entries encoded per chunk of a streamed page: large enough that a chunk costs one thread hop
# per few hundred entries, small enough that it is sent while the next store page is fetched.
BATCH = 500
PageOpener = Callable[[], PageWalker]


def page_document(entries: list[FileStatus], next_token: str | None) -> dict[str, object]:
    return {"entries": [entry.as_dict() for entry in entries], "next": next_token}


async def listing_response(open_page: PageOpener, bodies: EncodedBodies) -> Response:
    try:
        with memory_only():
            walker = open_page()
            entries = list(walker)
    except NeedsIO:
        return await run_in_threadpool(_streamed, open_page)
    source = walker.source
    if source is None:
        return Response(orjson.dumps(page_document(entries, walker.next)), media_type="application/json")
    body = bodies.body(source, lambda: page_document(entries, walker.next))
    return Response(body, media_type="application/json")


def _streamed(open_page: PageOpener) -> Response:
    walker = open_page()
    entries = iter(walker)
    # The first store page is fetched here, not mid-answer, and is in memory anyway: a page that
    # fits in it (the default limit) goes out whole, with a Content-Length, in one write.
    first = list(itertools.islice(entries, STORE_PAGE + 1))
    if len(first) <= STORE_PAGE:
        return Response(orjson.dumps(page_document(first, walker.next)), media_type="application/json")
    return StreamingResponse(_chunks(walker, first, entries), media_type="application/json")


def _chunks(walker: PageWalker, first: list[FileStatus], rest: Iterator[FileStatus]) -> Iterator[bytes]:
    # Few, large writes: a small one (the opening bracket alone) would wait on the client's
    # delayed ACK under Nagle's algorithm.
    head = b'{"entries":['
    batch = first
    for entry in rest:
        batch.append(entry)
        if len(batch) >= BATCH:
            yield head + _joined(batch)
            head, batch = b",", []
    tail = b'],"next":' + orjson.dumps(walker.next) + b"}"
    yield (head + _joined(batch) if batch else head.rstrip(b",")) + tail


def _joined(batch: list[FileStatus]) -> bytes:
    return orjson.dumps([entry.as_dict() for entry in batch])[1:-1]
