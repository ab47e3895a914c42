"""What storage asks for credentials: something that always returns usable ones."""

from __future__ import annotations

from typing import Protocol

from tierstore.credentials.model import Credentials


class CredentialSource(Protocol):
    """Returns credentials valid for a while yet; refreshing sources refresh behind this call."""

    @property
    def name(self) -> str: ...

    def credentials(self) -> Credentials: ...


class StaticSource:
    """Keys that do not change for the life of the process."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    @property
    def name(self) -> str:
        return self._credentials.source

    def credentials(self) -> Credentials:
        return self._credentials

    def __repr__(self) -> str:
        return f"StaticSource({self._credentials!r})"
