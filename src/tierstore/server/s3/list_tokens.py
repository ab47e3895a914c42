"""Where a listing stands between two requests: ListObjectsV2's continuation tokens, and the
states behind the markers ListObjects gave.

**Tokens** carry a :class:`~tierstore.server.s3.key_walk.WalkState` (the last key given, and per
open directory the namespace's own token and the directories held back) as compact JSON,
deflated, with an HMAC-SHA256 tag (16 bytes), in URL-safe base64: a few hundred characters (about
250 a level or three down, 400 eight levels down in 47-character names), well within the 16 KiB a
query may hold. The tag's key is derived from the caller's own S3 secret (``HMAC(secret,
purpose)``), so a token is good for the access key it was given to, on every server sharing the
key store and across restarts, and a token that was not made here (edited, truncated, made up, or
given to another key) is refused as ``InvalidArgument`` before anything of it is used: no crafted
position reaches the namespace or a store. What it leads to is still checked: the namespace checks
the caller's permissions on every page it reads.

**Markers** are keys (ListObjects has no token), so a listing given ``marker=K`` would read each
directory on the way to ``K`` from its start. The state where a truncated page stopped is kept in
memory under the marker the client will send back (the page's last entry) with who asked and
what, at most :data:`MARKER_STATES` of them per server, least recently used out first: paging
through a large directory then costs what ListObjectsV2 does. A marker not found there (another
server, a restart, a marker chosen by the client) is resumed the slow way, with the same answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import weakref
import zlib
from typing import Any

from tierstore.lru import BoundedLRU
from tierstore.namespace.mounts import MountTable
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.key_order import CursorState
from tierstore.server.s3.key_walk import LevelState, WalkState
from tierstore.server.s3.signing import hmac_sha256

VERSION = 1
PURPOSE = b"tierstore S3 listing continuation token v1"
TAG_BYTES = 16
# As much as a query may hold (sigv4.MAX_QUERY_BYTES): a token is a few hundred characters.
MAX_TOKEN_CHARS = 16_384
MAX_DOCUMENT_BYTES = 256 * 1024
MARKER_STATES = 1024


def token_key(secret: str) -> bytes:
    """The key continuation tokens are tagged with for the holder of ``secret``."""
    return hmac_sha256(secret.encode(), PURPOSE)


def _incorrect(why: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"The continuation token provided is incorrect: {why}; start the listing again without it.",
        details=[("ArgumentName", "continuation-token")],
    )


def encode_token(state: WalkState, scope: tuple[str, str, str | None], key: bytes) -> str:
    """A continuation token for ``state``, valid for a listing of ``scope`` (bucket, prefix,
    delimiter) signed with the secret ``key`` was derived from."""
    document = {
        "v": VERSION,
        "s": list(scope),
        "a": state.after,
        "m": state.start_marker,
        "l": [
            [level.directory, level.cursor.resume, list(level.cursor.held), level.cursor.mounts_after]
            for level in state.levels
        ],
    }
    packed = zlib.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), 6)
    tag = hmac_sha256(key, packed)[:TAG_BYTES]
    return base64.urlsafe_b64encode(tag + packed).rstrip(b"=").decode("ascii")


def decode_token(token: str, scope: tuple[str, str, str | None], key: bytes) -> WalkState:
    """The state ``token`` stands for; ``InvalidArgument`` unless this server made it for this
    key and this listing."""
    if not token:
        raise _incorrect("it is empty")
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise _incorrect("it is not one this server gave")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _incorrect("it is not one this server gave") from None
    tag, packed = raw[:TAG_BYTES], raw[TAG_BYTES:]
    if len(tag) < TAG_BYTES or not hmac.compare_digest(tag, hmac_sha256(key, packed)[:TAG_BYTES]):
        raise _incorrect("it is not one this server gave to this access key")
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(packed, MAX_DOCUMENT_BYTES)
        if inflate.unconsumed_tail:
            raise ValueError("too large")
        document = json.loads(text)
        state, found_scope = _state(document)
    except (ValueError, TypeError, KeyError, zlib.error):
        raise _incorrect("it is not one this server gave") from None
    if found_scope != scope:
        raise _incorrect("it belongs to a listing of another bucket, prefix or delimiter")
    return state


def _text(value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("a text was expected")
    return value


def _state(document: Any) -> tuple[WalkState, tuple[str, str, str | None]]:
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise ValueError("not a listing state")
    bucket, prefix, delimiter = document["s"]
    scope = (str(_text(bucket)), str(_text(prefix)), _text(delimiter, optional=True))
    levels = []
    for directory, resume, held, mounts_after in document["l"]:
        if not isinstance(held, list):
            raise TypeError("held directories are a list")
        cursor = CursorState(
            _text(resume, optional=True),
            tuple(str(_text(name)) for name in held),
            _text(mounts_after, optional=True),
        )
        levels.append(LevelState(str(_text(directory)), cursor))
    marker = document["m"]
    if not isinstance(marker, bool):
        raise TypeError("the marker flag is a boolean")
    return WalkState(_text(document["a"], optional=True), tuple(levels), marker), scope


# -- ListObjects' markers ----------------------------------------------------------------------

MarkerKey = tuple[str, str, str, str | None, str]  # access key id, bucket, prefix, delimiter, marker

_marker_states: weakref.WeakKeyDictionary[MountTable, BoundedLRU[MarkerKey, WalkState]] = (
    weakref.WeakKeyDictionary()
)
_marker_lock = threading.Lock()


def _states_of(table: MountTable) -> BoundedLRU[MarkerKey, WalkState]:
    # One set per namespace (a process may serve several, as tests do): a state is only ever
    # resumed over the namespace it was taken from.
    with _marker_lock:
        found = _marker_states.get(table)
        if found is None:
            found = _marker_states[table] = BoundedLRU(MARKER_STATES)
        return found


def remember_marker(table: MountTable, key: MarkerKey, state: WalkState) -> None:
    _states_of(table).put(key, state)


def state_for_marker(table: MountTable, key: MarkerKey) -> WalkState | None:
    state = _states_of(table).get(key)
    return state if state is not None and state.after == key[-1] else None
