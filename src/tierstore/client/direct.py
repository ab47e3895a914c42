"""Direct access to the store with vended credentials: one store client per vended scope.

The store is opened over the whole bucket (keys are full keys) with the vended endpoint,
region, addressing style, checksum mode and encryption, and a :class:`VendedSource` as its
credential source, so every read and write goes from this process straight to S3 through
obstore, with the credentials refreshed underneath.
"""

from __future__ import annotations

from dataclasses import replace

from tierstore.client.vended import VendedSource, VendedStore
from tierstore.errors import NotFoundError, StoreUnavailableError
from tierstore.settings.model import MultipartSettings, RetrySettings, Timeouts
from tierstore.storage.factory import open_backend
from tierstore.storage.interface import Store


class DirectScope:
    """Credentials and a store client for one (mount, prefix, access)."""

    def __init__(
        self,
        mount: str,
        store_info: VendedStore,
        source: VendedSource,
        *,
        multipart: MultipartSettings | None = None,
    ) -> None:
        self.mount = mount
        self.info = store_info
        self.source = source
        settings = store_info.settings()
        settings = replace(
            settings,
            multipart=multipart or MultipartSettings(part_size=16 * 1024 * 1024, concurrency=8),
            timeouts=Timeouts(connect_seconds=5.0, read_seconds=60.0),
        )
        # Transfers ride through a store's restart with the full retry policy; the first contact
        # is one try, so that a store this process cannot reach at all is noticed in seconds and
        # the client turns to the server's data proxy.
        self._probe_settings = replace(settings, retry=RetrySettings(max_attempts=1))
        self.store: Store = open_backend(settings, source)

    def probe(self, key: str) -> None:
        """One HEAD of ``key`` without retries; raises the store's error (a missing key is fine)."""
        with open_backend(self._probe_settings, self.source) as store:
            try:
                store.head(key)
            except NotFoundError:
                return

    def covers(self, key: str) -> bool:
        return self.info.covers(key)

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"DirectScope({self.mount}, s3://{self.info.bucket}/{self.info.prefix}, {self.source!r})"


def is_unreachable(error: BaseException) -> bool:
    """A store that could not be reached at all (not one that answered with an error)."""
    return isinstance(error, StoreUnavailableError) and "HTTP " not in str(error)
