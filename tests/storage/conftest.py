from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tierstore.credentials.resolve import credential_source_for
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, MultipartSettings, StoreLocation, StoreSettings
from tierstore.storage.interface import Store
from tierstore.storage.layers import LoggingLayer
from tierstore.storage.local import LocalStore
from tierstore.storage.s3.botocore_store import BotocoreS3Store
from tierstore.storage.s3.store import S3Store

SettingsFactory = Callable[..., StoreSettings]

# Small parts so that multipart paths run on a few MiB of data.
SMALL_PARTS = MultipartSettings(part_size=5 * 1024 * 1024, concurrency=4)


@pytest.fixture
def s3_settings(stack: StackInfo, bucket: str) -> SettingsFactory:
    """Settings for this test's bucket on the local stack, signed by one of its users."""

    def make(user: str = "admin", prefix: str = "", **changes: Any) -> StoreSettings:
        keys = stack.users[user]
        values: dict[str, Any] = {
            "location": StoreLocation(scheme="s3", bucket=bucket, prefix=prefix),
            "endpoint": stack.endpoint,
            "region": stack.region,
            "path_style": True,
            "keys": AccessKeys(keys.access_key_id, keys.secret_access_key),
            "multipart": SMALL_PARTS,
        }
        return StoreSettings(**{**values, **changes})

    return make


@pytest.fixture
def s3_store(s3_settings: SettingsFactory) -> Iterator[S3Store]:
    from tierstore.credentials.resolve import credential_source_for

    settings = s3_settings(prefix="base/")
    store = S3Store(settings, credential_source_for(settings))
    yield store
    store.close()


@pytest.fixture(params=["s3", "local"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The same contract, run on every backend."""
    if request.param == "s3":
        store: Store = request.getfixturevalue("s3_store")
        return store
    return LocalStore(tmp_path / "store")


@pytest.fixture(params=["s3", "local", "wire", "layered-s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend: S3 through obstore, a local directory, S3 through botocore alone (the
    wire-logged store) and S3 under the logging layer (a module may override it)."""
    if request.param == "s3":
        yield request.getfixturevalue("s3_store")
    elif request.param == "layered-s3":
        yield LoggingLayer(request.getfixturevalue("s3_store"))
    elif request.param == "local":
        yield LocalStore(tmp_path / "store")
    else:
        settings = request.getfixturevalue("s3_settings")(prefix="base/")
        wire = BotocoreS3Store(settings, credential_source_for(settings))
        yield wire
        wire.close()
