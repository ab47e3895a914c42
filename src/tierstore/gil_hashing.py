"""Hashing small buffers without handing the GIL to another thread.

CPython's ``hashlib`` lets go of the GIL while it hashes a buffer of 2,048 bytes or more
(``HASHLIB_GIL_MINSIZE``), and ``hmac.digest`` lets go of it on every call. On the server's
event loop each of those is a hand-off: obstore's runtime threads wait for the GIL to hand each
finished request back to the loop, take it at once, and the loop then waits to get it back (two
context switches and, on a busy machine, a wait for a core) for a hash that takes microseconds.
Measured on the 2-core machine, 20,000 calls with one other thread wanting the GIL: ``hmac.digest``
of a string to sign went from 4 to 58 us of CPU a call, SHA-256 of 4 KiB from 4 to 11 us; an HMAC
object (which keeps the GIL for small messages) and SHA-256 fed below the threshold: 3 and 6 us,
the same as without the other thread.

Above :data:`HELD_UP_TO` a buffer is hashed in one call, the GIL released: the hash then takes
long enough that other threads should run meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

# CPython hashes a buffer at least this long with the GIL released.
GIL_RELEASED_FROM = 2048
# Buffers up to this size are fed in pieces below GIL_RELEASED_FROM (about 10 us of SHA-256).
HELD_UP_TO = 16 * 1024
_PIECE = GIL_RELEASED_FROM - 1


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


def update_holding_gil(hasher: Hasher, data: bytes) -> None:
    """``hasher.update(data)``, keeping the GIL when ``data`` is small (see the module's docstring)."""
    if GIL_RELEASED_FROM <= len(data) <= HELD_UP_TO:
        for start in range(0, len(data), _PIECE):
            hasher.update(data[start : start + _PIECE])
    else:
        hasher.update(data)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message``: an HMAC object, which keeps the GIL for a message below
    GIL_RELEASED_FROM (``hmac.digest`` always lets go of it) and is faster alone too."""
    return hmac.new(key, message, hashlib.sha256).digest()
