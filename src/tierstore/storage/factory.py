"""Open the right backend for a store's settings, wrapped in the standard layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierstore.storage.interface import Store
from tierstore.storage.layers import LoggingLayer
from tierstore.storage.local import LocalStore

# The S3 side (credentials, obstore, botocore) is imported when an S3 store is opened: a
# namespace of local mounts never needs it.
if TYPE_CHECKING:
    from tierstore.credentials.source import CredentialSource
    from tierstore.settings.model import StoreSettings


def open_backend(settings: StoreSettings, credentials: CredentialSource | None = None) -> Store:
    """The bare backend, without layers (for callers that need backend-specific calls)."""
    location = settings.location
    if location.scheme == "file":
        assert location.path is not None
        return LocalStore(location.path)
    from tierstore.credentials.resolve import credential_source_for

    source = credentials or credential_source_for(settings)
    if settings.wire_log:
        from tierstore.storage.s3.botocore_store import BotocoreS3Store

        return BotocoreS3Store(settings, source)
    from tierstore.storage.s3.store import S3Store

    return S3Store(settings, source)


def open_store(settings: StoreSettings, credentials: CredentialSource | None = None) -> Store:
    return LoggingLayer(open_backend(settings, credentials))
