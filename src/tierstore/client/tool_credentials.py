"""Vended credentials for one namespace path, checked and renewed, as the tool adapters need them.

Each adapter (:mod:`tierstore.client.obstore`, ``.polars``, ``.duckdb``, ``.pyarrow``,
``.pyiceberg``) hands a data tool the credentials the server vends for a path, in that tool's own
shape. They share this: one vend for the path (a path ending in ``/`` is a directory prefix),
refused unless it carries usable store credentials, then a :class:`VendedSource` that vends again
at the client's refresh fraction or the server's ``refresh_at``, whichever comes first.

An answer without credentials is an error here, never an empty set of keys: a tool given empty
keys sends anonymous requests, and the store's 403 then says nothing about why (DuckDB does
exactly that when a catalog returns no credentials).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tierstore.client.vended import Access, Vended, VendedSource, VendedStore
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshPolicy, utc_now
from tierstore.errors import ConfigError, CredentialsError

if TYPE_CHECKING:
    from tierstore.client.client import Client

# What the adapters tell a tool it may connect to when the server names no endpoint: AWS S3.
AWS_REGION_DEFAULT = "us-east-1"


class ToolCredentials:
    """The credentials for one path and access, with where the data lives; thread-safe.

    ``refresh`` overrides the client's refresh policy for these credentials alone (a long job may
    want them renewed earlier); the server's ``refresh_at`` still wins when it is sooner.
    """

    def __init__(
        self, client: Client, path: str, access: Access = "read", *, refresh: RefreshPolicy | None = None
    ) -> None:
        if access not in ("read", "write"):
            raise ConfigError(f"access {access!r} for {path}: use 'read' or 'write'")
        self.path = path
        self.access: Access = access
        directory = path.endswith("/")

        def vend() -> Vended:
            if client.closed:
                raise CredentialsError(
                    f"vend {path} ({access}): the tierstore Client these credentials came from was closed; "
                    "keep it open while a tool uses them"
                )
            return checked(client.vend(path, access, directory=directory), path)

        self._client = client

        first = vend()
        assert first.store is not None
        self.store: VendedStore = first.store
        self.source = VendedSource(vend, first, policy=refresh or client.refresh_policy)

    # -- where -----------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return self.store.bucket

    @property
    def key(self) -> str:
        """The key (a file) or key prefix (a directory, ending in ``/``) the credentials cover."""
        return self.store.prefix

    @property
    def url(self) -> str:
        """``s3://bucket/key``: the path as the tools name it (a directory keeps its ``/``)."""
        return f"s3://{self.store.bucket}/{self.store.prefix}"

    @property
    def endpoint(self) -> str | None:
        """The S3 endpoint URL the server tells clients (None: AWS S3 itself)."""
        return self.store.endpoint

    @property
    def region(self) -> str:
        return self.store.region or AWS_REGION_DEFAULT

    @property
    def path_style(self) -> bool:
        """Path-style addressing (``host/bucket/key``); False: virtual-hosted (``bucket.host/key``)."""
        return bool(self.store.path_style)

    def endpoint_host(self) -> tuple[str | None, bool]:
        """``(host:port, tls)`` of the endpoint, as DuckDB and pyarrow take it (None: AWS S3)."""
        return endpoint_host(self.store.endpoint, self.path)

    # -- the credentials ----------------------------------------------------------------------

    def credentials(self) -> Credentials:
        """Usable credentials, vended again first when their refresh is due."""
        return self.source.credentials()

    def refresh_due_at(self) -> datetime | None:
        return self.source.refresh_due_at()

    def valid_until(self, credentials: Credentials) -> datetime | None:
        """What to tell a tool that caches credentials until their expiry: the refresh time, so it
        asks again then (never later than the expiry itself)."""
        due = self.source.refresh_due_at()
        expires = credentials.expires_at
        if due is None or expires is None:
            return expires
        return min(due, expires)

    @property
    def client_closed(self) -> bool:
        """Whether the client was closed: no renewal can come any more."""
        return self._client.closed

    @property
    def refreshes(self) -> int:
        """How many times new credentials replaced the first ones."""
        return max(0, self.source.refresh_count - 1)

    def __repr__(self) -> str:
        return f"ToolCredentials({self.path}, {self.access}, {self.url}, {self.source!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Tools pickle what they are given to ship queries elsewhere (polars does); these hold a
        # live client and the secret, which must not travel.
        raise TypeError(
            f"tierstore credentials for {self.path} cannot be pickled: they hold a live client and a "
            "secret; vend in the process that reads"
        )


def checked(vended: Vended, path: str) -> Vended:
    """``vended`` if it carries store credentials that a tool can use, else a :class:`CredentialsError`."""
    where = f"vend {path} ({vended.access})"
    if vended.mode != "direct" or vended.store is None or vended.credentials is None:
        raise CredentialsError(
            f"{where}: the server serves mount {vended.mount} through its data proxy (a local directory, "
            "or vending is off for this user), so there are no store credentials to give a tool; read "
            "and write it through tierstore:// or tierstore.Client"
        )
    creds = vended.credentials
    if not creds.access_key_id or not creds.secret_access_key:
        raise CredentialsError(
            f"{where}: the server's answer holds no access key; a tool given empty keys would send "
            "anonymous requests, so none is made; check the server's vending settings "
            "(tierstore.vending.role.arn)"
        )
    if creds.expires_at is not None and creds.expires_at <= utc_now():
        raise CredentialsError(
            f"{where}: the credentials had already expired (at {creds.expires_at.isoformat()}); check the "
            "clocks of this machine and the server, and tierstore.vending.duration"
        )
    return vended


def endpoint_host(endpoint: str | None, what: str) -> tuple[str | None, bool]:
    """``http://127.0.0.1:9000`` -> ``("127.0.0.1:9000", False)``; None (AWS S3) -> ``(None, True)``."""
    if not endpoint:
        return None, True
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{what}: the server names the store endpoint {endpoint!r}, which is not an http(s) URL; fix "
            "tierstore.vending.endpoint (or the mount's s3.endpoint) on the server"
        )
    return parts.netloc, parts.scheme == "https"
