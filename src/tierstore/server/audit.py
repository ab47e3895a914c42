"""The audit log: one JSON object per line on the ``tierstore.audit`` logger, one per credential vend.

Who asked for what, what they got and until when; never a secret or session token. Every value
is a JSON string, number or boolean, so a path holding a newline or a quote cannot forge a line
or a field: ``json.dumps`` escapes it (and ``ensure_ascii`` every other control character).

The access key id appears as its first 4 characters (``ASIA`` for every STS key, so it only
tells the kind) and as ``key_sha256``, the first 16 hex digits of its SHA-256: enough to match
a line to the store's own access log or CloudTrail entry, which name the whole key id, without
putting a usable id in the trail. The role session name (``ts-<user>-<access>``) names the
user in those logs too.

Route the logger to its own handler to keep the trail apart from the server's log.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from datetime import UTC, datetime

from tierstore.settings.secret import mask_key_id

AUDIT = logging.getLogger("tierstore.audit")
# Made once: json.dumps with options builds an encoder for every line.
_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode


@functools.lru_cache(maxsize=4096)  # every hit of a cached vend names the same key again
def key_fingerprint(access_key_id: str) -> str:
    """The first 16 hex digits of the key id's SHA-256: matches a store's log line, reveals no id."""
    return hashlib.sha256(access_key_id.encode("utf-8")).hexdigest()[:16]


def record(event: str, **fields: object) -> None:
    """One audit line: ``{"event": ..., "time": ..., **fields}`` as compact, ASCII-only JSON."""
    line = {"event": event, "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **fields}
    AUDIT.info("%s", _ENCODE(line))


def vend_line(
    *,
    user: str,
    path: str,
    access: str,
    mount: str,
    mode: str,
    scoped: bool,
    access_key_id: str | None,
    expires_at: datetime | None,
    cache: str,
    restricted: int,
) -> None:
    record(
        "vend",
        user=user,
        path=path,
        access=access,
        mount=mount,
        mode=mode,
        scoped=scoped,
        key=mask_key_id(access_key_id) if access_key_id else None,
        key_sha256=key_fingerprint(access_key_id) if access_key_id else None,
        expires=expires_at.isoformat() if expires_at else None,
        cache=cache,
        restricted=restricted,
    )
