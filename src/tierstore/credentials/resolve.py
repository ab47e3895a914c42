"""Pick the credential source for a store's settings."""

from __future__ import annotations

from datetime import datetime

import botocore.credentials
import botocore.session

from tierstore.credentials.model import Credentials
from tierstore.credentials.source import CredentialSource, StaticSource
from tierstore.errors import CredentialsError
from tierstore.settings.model import StoreSettings
from tierstore.settings.secret import Secret


class BotocoreChainSource:
    """botocore's default chain (environment, shared files, web identity, containers, IMDS)."""

    def __init__(self) -> None:
        session = botocore.session.get_session()
        found = session.get_credentials()
        if found is None:
            raise CredentialsError(
                "no credentials found: give keys for the store (s3.access-key / aws.accessKeyId / "
                "aws.access.key.id) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        self._found: botocore.credentials.Credentials = found
        self._method = getattr(found, "method", "botocore chain")

    @property
    def name(self) -> str:
        return f"botocore:{self._method}"

    def credentials(self) -> Credentials:
        frozen = self._found.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(f"{self.name} returned incomplete credentials (no key id or secret)")
        expiry = getattr(self._found, "_expiry_time", None)
        return Credentials(
            access_key_id=frozen.access_key,
            secret_access_key=Secret(frozen.secret_key),
            session_token=Secret(frozen.token) if frozen.token else None,
            expires_at=expiry if isinstance(expiry, datetime) else None,
            source=self.name,
        )


def credential_source_for(settings: StoreSettings) -> CredentialSource:
    """Explicit keys for the store win; otherwise the standard AWS chain."""
    if settings.keys is not None:
        keys = settings.keys
        return StaticSource(
            Credentials(
                access_key_id=keys.access_key_id,
                secret_access_key=keys.secret_access_key,
                session_token=keys.session_token,
                source="store keys",
            )
        )
    return BotocoreChainSource()
