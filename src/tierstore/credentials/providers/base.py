"""What every credential provider is: a name, a cheap detection and a load."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierstore.credentials.model import Credentials
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError
from tierstore.settings.secret import Secret

# botocore is imported where its credentials are used: a chain that finds static keys (mount
# options, the environment) never needs it.
if TYPE_CHECKING:
    import botocore.credentials


@dataclass(frozen=True)
class Detection:
    """Whether a source has credentials; ``detail`` says where they are or why not."""

    available: bool
    detail: str


class Provider(abc.ABC):
    #: a short identifier, as shown by ``creds explain``
    name: str
    #: what the source is, for ``creds explain``
    title: str

    @abc.abstractmethod
    def detect(self) -> Detection:
        """Look for credentials without using them; raises CredentialsError for a half-set source."""

    @abc.abstractmethod
    def load(self) -> CredentialSource:
        """The credentials, after a detection that found them."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class BotocoreSource:
    """A botocore credentials object (refreshing or not) seen as a tierstore credential source."""

    def __init__(self, found: botocore.credentials.Credentials, name: str) -> None:
        self._found = found
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def credentials(self) -> Credentials:
        import botocore.exceptions

        try:
            # A role profile's or a process's credentials are fetched (and refreshed) here.
            frozen = self._found.get_frozen_credentials()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _failure(self._name, error) from None
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(f"{self._name} returned incomplete credentials (no key id or secret)")
        expiry: Any = getattr(self._found, "_expiry_time", None)
        return Credentials(
            access_key_id=frozen.access_key,
            secret_access_key=Secret(frozen.secret_key),
            session_token=Secret(frozen.token) if frozen.token else None,
            expires_at=expiry if isinstance(expiry, datetime) else None,
            source=self._name,
        )

    def refresh_due_at(self) -> datetime | None:
        # botocore refreshes these itself, ahead of their expiry.
        return None

    def __repr__(self) -> str:
        return f"BotocoreSource({self._name})"


# Failures that may pass: the STS or the metadata service was busy or out of reach.
_RETRYABLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"}


def _failure(source: str, error: Exception) -> CredentialsError:
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "no error code")
        message = str(details.get("Message") or "")[:300]
        operation = error.operation_name or "the call"
        return CredentialsError(
            f"{source}: {operation} was refused: {code}{': ' + message if message else ''}. "
            "Check the profile's role_arn, external_id, source_profile and the role's trust policy",
            retryable=code in _RETRYABLE_CODES,
        )
    unreachable = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
    return CredentialsError(
        f"{source}: {type(error).__name__}: {str(error)[:300]}", retryable=isinstance(error, unreachable)
    )
