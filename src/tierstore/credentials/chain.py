"""The credential chain: an ordered list of providers, printable for ``creds explain``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tierstore.credentials.providers.base import Provider
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError

Status = Literal["chosen", "found, not used", "skipped", "not checked", "error"]


@dataclass(frozen=True)
class Attempt:
    provider: str
    title: str
    status: Status
    detail: str


class CredentialChain:
    def __init__(self, providers: Sequence[Provider]) -> None:
        names = [provider.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"a provider appears twice in the chain: {names}")
        self.providers = list(providers)

    @property
    def names(self) -> list[str]:
        return [provider.name for provider in self.providers]

    def resolve(self) -> tuple[CredentialSource, list[Attempt]]:
        """The first provider with credentials, in order; later ones are not consulted."""
        attempts: list[Attempt] = []
        for index, provider in enumerate(self.providers):
            detection = provider.detect()
            if not detection.available:
                attempts.append(Attempt(provider.name, provider.title, "skipped", detection.detail))
                continue
            attempts.append(Attempt(provider.name, provider.title, "chosen", detection.detail))
            attempts.extend(
                Attempt(later.name, later.title, "not checked", "a source before it was chosen")
                for later in self.providers[index + 1 :]
            )
            return provider.load(), attempts
        tried = "; ".join(f"{attempt.provider}: {attempt.detail}" for attempt in attempts)
        raise CredentialsError(f"no credentials found in any source ({tried})")

    def explain(self) -> list[Attempt]:
        """Every provider's finding, the first available one marked chosen."""
        attempts: list[Attempt] = []
        chosen = False
        for provider in self.providers:
            try:
                detection = provider.detect()
            except CredentialsError as error:
                attempts.append(Attempt(provider.name, provider.title, "error", str(error)))
                continue
            if not detection.available:
                attempts.append(Attempt(provider.name, provider.title, "skipped", detection.detail))
            elif chosen:
                attempts.append(Attempt(provider.name, provider.title, "found, not used", detection.detail))
            else:
                chosen = True
                attempts.append(Attempt(provider.name, provider.title, "chosen", detection.detail))
        return attempts

    def __repr__(self) -> str:
        return f"CredentialChain({' > '.join(self.names)})"
