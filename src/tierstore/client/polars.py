"""polars with tierstore's vended credentials: a credential provider and the URL and options.

    from tierstore.client import Client
    from tierstore.client.polars import credential_provider
    import polars as pl

    with Client() as client:
        creds = credential_provider(client, "/mnt/s3/table/")
        frame = pl.scan_parquet(f"{creds.url}*.parquet", storage_options=creds.storage_options,
                                credential_provider=creds).collect()

polars calls the provider for ``(credentials, expiry)`` and again once the expiry (Unix seconds)
has passed, also in the middle of a long scan. The provider gives the refresh time as the
expiry, so polars asks again when the credentials are due, and gets new ones without a failed
request. polars itself is never imported here: the provider is a plain callable of the shape
``polars.CredentialProvider`` documents.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tierstore.client.tool_credentials import ToolCredentials
from tierstore.client.vended import Access
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshPolicy

if TYPE_CHECKING:
    from tierstore.client.client import Client


class PolarsCredentialProvider:
    """``provider()`` -> ``({"aws_access_key_id": ..., ...}, expiry in Unix seconds)``.

    ``url`` and ``storage_options`` name the path for polars' ``scan_*``/``read_*``/``write_*``.
    """

    def __init__(self, credentials: ToolCredentials) -> None:
        self.credentials = credentials

    @property
    def url(self) -> str:
        """``s3://bucket/key``; a directory ends in ``/`` (add a file name or a glob)."""
        return self.credentials.url

    @property
    def storage_options(self) -> dict[str, str]:
        """Endpoint, region and addressing style (no credentials: the provider gives those)."""
        return location_options(self.credentials)

    def __call__(self) -> tuple[dict[str, str], int | None]:
        creds = self.credentials.credentials()
        keys = self.keys_of(creds)
        until = self.credentials.valid_until(creds)
        if until is None:
            return keys, None
        # Whole seconds, rounded up: polars asks again once that second has come, by when the
        # refresh is due (rounded down, it would ask before and be handed the same keys again).
        return keys, math.ceil(until.timestamp())

    @staticmethod
    def keys_of(creds: Credentials) -> dict[str, str]:
        """The credentials as polars' ``aws_*`` options."""
        keys = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret_access_key.reveal(),
        }
        if creds.session_token:
            keys["aws_session_token"] = creds.session_token.reveal()
        return keys

    def __repr__(self) -> str:
        return f"PolarsCredentialProvider({self.credentials!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        return self.credentials.__reduce__()


def credential_provider(
    client: Client, path: str, access: Access = "read", *, refresh: RefreshPolicy | None = None
) -> PolarsCredentialProvider:
    """A provider for polars' ``credential_provider=``, for ``path`` (a directory ends in ``/``)."""
    return PolarsCredentialProvider(ToolCredentials(client, path, access, refresh=refresh))


def location_options(credentials: ToolCredentials) -> dict[str, str]:
    """polars' ``storage_options`` for the store the credentials are for, without the keys."""
    return store_options(credentials.endpoint, credentials.region, credentials.path_style)


def store_options(endpoint: str | None, region: str, path_style: bool) -> dict[str, str]:
    """polars' ``storage_options`` naming a store: endpoint, region, addressing style."""
    options = {
        "aws_region": region,
        "aws_virtual_hosted_style_request": "false" if path_style else "true",
    }
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        options["aws_allow_http"] = "true" if endpoint.startswith("http://") else "false"
    return options


def storage_options(
    client: Client, path: str, access: Access = "read", *, with_keys: bool = False
) -> tuple[str, dict[str, str]]:
    """``(url, storage_options)`` for ``path``: the ``s3://`` URL and what polars needs to reach it.

    With ``with_keys`` the options also hold the credentials vended now (they do not renew: for a
    job shorter than their lifetime, or a tool that takes no provider); else pass
    :func:`credential_provider` as ``credential_provider=``.
    """
    tool = ToolCredentials(client, path, access)
    options = location_options(tool)
    if with_keys:
        keys, _ = PolarsCredentialProvider(tool)()
        options.update(keys)
    return tool.url, options
