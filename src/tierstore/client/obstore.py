"""obstore with tierstore's vended credentials: a credential provider, and a store for a path.

    from tierstore.client import Client
    from tierstore.client.obstore import s3_store
    import obstore

    with Client() as client:
        store = s3_store(client, "/mnt/s3/table/")          # rooted at the directory
        obstore.get(store, "part-0.parquet").bytes()

obstore asks a credential provider again only as the expiry it was given draws near (about five
minutes before it). The provider gives the refresh time as that expiry, so obstore comes back
when the credentials are due and gets new ones without a failed request. obstore is imported
only inside these functions.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, cast

from tierstore.client.tool_credentials import ToolCredentials
from tierstore.client.vended import Access
from tierstore.credentials.refresh import RefreshPolicy

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config, S3Credential, S3Store

    from tierstore.client.client import Client


class ObstoreCredentialProvider:
    """What ``obstore.store.S3Store(..., credential_provider=...)`` calls for credentials."""

    def __init__(self, credentials: ToolCredentials) -> None:
        self.credentials = credentials

    def __call__(self) -> S3Credential:
        creds = self.credentials.credentials()
        return {
            "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key.reveal(),
            "token": creds.session_token.reveal() if creds.session_token else None,
            "expires_at": self.credentials.valid_until(creds),
        }

    def __repr__(self) -> str:
        return f"ObstoreCredentialProvider({self.credentials!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        return self.credentials.__reduce__()


def credential_provider(
    client: Client, path: str, access: Access = "read", *, refresh: RefreshPolicy | None = None
) -> ObstoreCredentialProvider:
    """A provider of the credentials the server vends for ``path``, renewed before they expire.

    ``provider.credentials`` tells where the data lives (``bucket``, ``key``, ``endpoint``,
    ``region``, ``path_style``, ``url``) for building a store by hand.
    """
    return ObstoreCredentialProvider(ToolCredentials(client, path, access, refresh=refresh))


def s3_store(
    client: Client,
    path: str,
    access: Access = "read",
    *,
    refresh: RefreshPolicy | None = None,
    client_options: dict[str, Any] | None = None,
) -> S3Store:
    """An ``obstore.store.S3Store`` rooted at ``path``: keys are relative to it.

    For a directory (``path`` ending in ``/``) the store's root is the directory; for a file it is
    the file's directory, and the credentials cover that one file (its name is the store key).
    Endpoint, region and addressing style come from the vend; ``client_options`` adds obstore's
    HTTP options (timeouts, say).
    """
    from obstore.store import S3Store

    provider = credential_provider(client, path, access, refresh=refresh)
    tool = provider.credentials
    key = tool.key
    root = key.rstrip("/") if key.endswith("/") or not key else posixpath.dirname(key)
    config: dict[str, Any] = {"region": tool.region, "virtual_hosted_style_request": not tool.path_style}
    options: dict[str, Any] = dict(client_options or {})
    if tool.endpoint:
        config["endpoint"] = tool.endpoint
        if tool.endpoint.startswith("http://"):
            options.setdefault("allow_http", True)
    return S3Store(
        tool.bucket,
        prefix=root or None,
        config=cast("S3Config", config),
        client_options=cast("ClientConfig", options),
        credential_provider=provider,
    )
