"""The Python S3 clients of the client-tool tests (test_clients_*.py), made for the shared
gateway with a user's key: s3fs (fsspec over aiobotocore) and obstore (Rust's object_store).
The command-line tools, pyarrow and DuckDB have theirs in :mod:`tests.tools`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import s3fs  # type: ignore[import-untyped]
from obstore.store import S3Store

from tests.server.s3.conftest import Keys, ToolGateway
from tests.tools import REGION


def s3fs_of(gateway: ToolGateway, keys: Keys | None = None) -> Any:
    """An s3fs filesystem on the gateway: a new instance (not fsspec's cached one), no listing
    cache, so each call is a request the test sees answered."""
    who = keys or gateway.admin
    return s3fs.S3FileSystem(
        endpoint_url=gateway.endpoint,
        key=who.key_id,
        secret=who.secret,
        client_kwargs={"region_name": REGION},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def obstore_of(gateway: ToolGateway, bucket: str, keys: Keys | None = None) -> S3Store:
    who = keys or gateway.admin
    return S3Store(
        bucket,
        endpoint=gateway.endpoint,
        access_key_id=who.key_id,
        secret_access_key=who.secret,
        region=REGION,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
        # A test sees the first answer: 5xx and dropped connections are not tried again.
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=30)},
    )
