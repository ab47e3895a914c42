"""The audit log: one line per credential vend on the ``tierstore.audit`` logger.

Who asked for what, what they got and until when; never a secret or session token, and the
access key id only as its first 4 characters. Route the logger to its own handler to keep the
trail apart from the server's log.
"""

from __future__ import annotations

import logging
from datetime import datetime

from tierstore.settings.secret import mask_key_id

AUDIT = logging.getLogger("tierstore.audit")


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
) -> None:
    AUDIT.info(
        "vend user=%s path=%s access=%s mount=%s mode=%s scoped=%s key=%s expires=%s cache=%s",
        user,
        path,
        access,
        mount,
        mode,
        str(scoped).lower(),
        mask_key_id(access_key_id) if access_key_id else "-",
        expires_at.isoformat() if expires_at else "-",
        cache,
    )
