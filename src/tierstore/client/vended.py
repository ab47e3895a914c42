"""Vended credentials: what ``POST /v1/credentials`` answers, and a source that re-vends them.

The server hands out short-lived credentials scoped to one prefix of one mount. The client
keeps them in a :class:`VendedSource`, a :class:`RefreshingSource` whose fetch is the vend call:
refreshed at a fraction of their lifetime (the client's policy) or at the server's
``refresh_at``, whichever comes first, one refresh at a time, with backoff capped below the time
left. The store client (obstore) is told the refresh time, so the data path picks up the new
credentials without a failed request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tierstore.client.errors import ServerError, ServerUnreachableError
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import Clock, RefreshingSource, RefreshPolicy, utc_now
from tierstore.errors import CredentialsError, TierstoreError
from tierstore.settings.model import Encryption, StoreLocation, StoreSettings
from tierstore.settings.secret import Secret

Access = Literal["read", "write"]


@dataclass(frozen=True)
class VendedStore:
    """Where the data lives and how to talk to it, as the server tells its clients."""

    scheme: str
    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None
    path_style: bool | None
    checksum_mode: str | None
    sse_algorithm: str | None
    sse_kms_key_id: str | None

    def covers(self, key: str) -> bool:
        """Whether the vended scope includes ``key`` (a directory scope ends in ``/``)."""
        if not self.prefix:
            return True
        if self.prefix.endswith("/"):
            return key.startswith(self.prefix)
        return key == self.prefix or key.startswith(f"{self.prefix}/")

    def settings(self) -> StoreSettings:
        """Settings for a store over the whole bucket; keys are full keys within it."""
        encryption = None
        if self.sse_algorithm in ("AES256", "aws:kms"):
            encryption = Encryption(algorithm=self.sse_algorithm, kms_key_id=self.sse_kms_key_id)  # type: ignore[arg-type]
        return StoreSettings(
            location=StoreLocation(scheme="s3", bucket=self.bucket, prefix=""),
            endpoint=self.endpoint,
            region=self.region,
            path_style=self.path_style,
            encryption=encryption,
            checksum_mode="when_required" if self.checksum_mode == "when_required" else "when_supported",
        )


@dataclass(frozen=True)
class Vended:
    """One answer of ``POST /v1/credentials``."""

    path: str
    mount: str
    access: Access
    mode: Literal["direct", "proxy"]
    scoped: bool
    store: VendedStore | None
    credentials: Credentials | None
    expires_at: datetime | None
    refresh_at: datetime | None

    def __repr__(self) -> str:
        return (
            f"Vended({self.path}, mount={self.mount}, {self.access}, {self.mode}, "
            f"credentials={self.credentials!r})"
        )


def parse_vended(document: Any, *, asked_path: str) -> Vended:
    """The vend answer as typed values; a malformed answer is a :class:`ServerError`."""
    try:
        store_doc = document.get("store")
        store = None
        if store_doc:
            sse = store_doc.get("sse") or {}
            store = VendedStore(
                scheme=str(store_doc.get("scheme") or "s3"),
                bucket=str(store_doc["bucket"]),
                prefix=str(store_doc.get("prefix") or ""),
                endpoint=store_doc.get("endpoint"),
                region=store_doc.get("region"),
                path_style=store_doc.get("path_style"),
                checksum_mode=store_doc.get("checksum_mode"),
                sse_algorithm=sse.get("algorithm"),
                sse_kms_key_id=sse.get("kms_key_id"),
            )
        creds_doc = document.get("credentials")
        expires_at = _time(document.get("expires_at"))
        credentials = None
        if creds_doc:
            token = creds_doc.get("session_token")
            credentials = Credentials(
                access_key_id=str(creds_doc["access_key_id"]),
                secret_access_key=Secret(str(creds_doc["secret_access_key"])),
                session_token=Secret(str(token)) if token else None,
                expires_at=_time(creds_doc.get("expiration")) or expires_at,
                source=f"tierstore vend {asked_path}",
            )
        mode = document.get("mode")
        access = document.get("access")
        if mode not in ("direct", "proxy") or access not in ("read", "write"):
            raise ValueError(f"mode={mode!r}, access={access!r}")
        return Vended(
            path=str(document.get("path") or asked_path),
            mount=str(document["mount"]),
            access=access,
            mode=mode,
            scoped=bool(document.get("scoped")),
            store=store,
            credentials=credentials,
            expires_at=expires_at,
            refresh_at=_time(document.get("refresh_at")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ServerError(
            f"POST /v1/credentials {asked_path}: the server's answer is not a vend result ({error})"
        ) from None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class VendedSource(RefreshingSource):
    """Credentials for one (mount, prefix, access), re-vended before they run out.

    ``vend`` performs ``POST /v1/credentials`` for the path the scope was first vended for.
    The next refresh is due at the policy's fraction of the lifetime or the server's
    ``refresh_at``, whichever is earlier. Server errors become :class:`CredentialsError`
    (retryable when the server could not be reached or answered 5xx), which is what the
    refresh loop's backoff understands.
    """

    def __init__(
        self,
        vend: Callable[[], Vended],
        first: Vended,
        *,
        policy: RefreshPolicy | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._vend = vend
        self.latest = first
        self.vend_count = 0
        self._pending: Vended | None = first
        super().__init__(
            self._fetch_credentials,
            name=f"tierstore vend {first.path} ({first.access})",
            call="POST /v1/credentials",
            policy=policy,
            clock=clock,
        )

    def _fetch_credentials(self) -> Credentials:
        if self._pending is not None:
            vended, self._pending = self._pending, None
        else:
            try:
                vended = self._vend()
            except (ServerUnreachableError, ServerError) as error:
                status = getattr(error, "status", None)
                retryable = isinstance(error, ServerUnreachableError) or (
                    status is not None and status >= 500
                )
                raise CredentialsError(str(error), retryable=retryable) from None
            except CredentialsError:
                raise
            except TierstoreError as error:
                raise CredentialsError(str(error), retryable=False) from None
            self.vend_count += 1
        if vended.credentials is None:
            raise CredentialsError(
                f"POST /v1/credentials {vended.path}: the server now serves this path through its data "
                "proxy (no credentials)",
                retryable=False,
            )
        self.latest = vended
        return vended.credentials

    def refresh_due_at(self) -> datetime | None:
        due = super().refresh_due_at()
        server_due = self.latest.refresh_at
        if server_due is None or self._issued_at is None:
            return due
        # A refresh time already past when the credentials arrived (clock skew) must not turn
        # every call into a vend: give the credentials a second at least.
        server_due = max(server_due, self._issued_at + timedelta(seconds=1))
        return server_due if due is None else min(due, server_due)
