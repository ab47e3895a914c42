"""What storage asks for credentials: something that always returns usable ones."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tierstore.credentials.model import Credentials


class CredentialSource(Protocol):
    """Returns credentials valid for a while yet; refreshing sources refresh behind this call."""

    @property
    def name(self) -> str: ...

    def credentials(self) -> Credentials: ...

    def refresh_due_at(self) -> datetime | None:
        """When to ask again at the latest (None: whenever the credentials themselves expire)."""
        ...


class StaticSource:
    """Keys that do not change for the life of the process."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    @property
    def name(self) -> str:
        return self._credentials.source

    def credentials(self) -> Credentials:
        return self._credentials

    def refresh_due_at(self) -> datetime | None:
        return None

    def __repr__(self) -> str:
        return f"StaticSource({self._credentials!r})"
