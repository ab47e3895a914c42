"""Access keys for gateway tests, held in memory (until the key store lands)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from tierstore.settings.secret import Secret


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: Secret
    user: str


@dataclass
class MemoryKeys:
    keys: dict[str, Key] = field(default_factory=dict)

    def add(self, user: str) -> Key:
        key = Key("TSK3" + secrets.token_hex(8).upper(), Secret(secrets.token_urlsafe(30)), user)
        self.keys[key.access_key_id] = key
        return key

    def lookup(self, access_key_id: str) -> Key | None:
        return self.keys.get(access_key_id)
