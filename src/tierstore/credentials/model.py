"""Resolved credentials, with a repr that never shows a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tierstore.settings.secret import Secret, mask_key_id


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: Secret
    session_token: Secret | None = None
    expires_at: datetime | None = None
    source: str = "unknown"

    def __repr__(self) -> str:
        expiry = self.expires_at.isoformat() if self.expires_at else "never"
        token = ", session token" if self.session_token else ""
        return f"Credentials({mask_key_id(self.access_key_id)}{token}, expires {expiry}, from {self.source})"

    __str__ = __repr__

    def remaining(self, now: datetime | None = None) -> timedelta | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (now or datetime.now(UTC))
