"""A botocore client configured from the store settings, for the calls obstore does not make.

STS, bucket ACLs, listing and aborting multipart uploads and bucket checks go through botocore;
the same settings (endpoint, region, addressing, proxy, retries, timeouts, checksum mode) apply.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import botocore.config
import botocore.credentials

from tierstore.credentials.botocore_sessions import new_session
from tierstore.credentials.source import CredentialSource
from tierstore.settings.model import StoreSettings
from tierstore.storage.s3.wire_log import attach_wire_logging

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Ask our source again this long before expiry; it refreshes on its own schedule behind that.
_REFRESH_BEFORE_EXPIRY = timedelta(seconds=60)


def sse_request_fields(settings: StoreSettings) -> dict[str, Any]:
    """The SSE parameters botocore's write calls take, from the store's settings."""
    encryption = settings.encryption
    if encryption is None:
        return {}
    fields: dict[str, Any] = {"ServerSideEncryption": encryption.algorithm}
    if encryption.kms_key_id:
        fields["SSEKMSKeyId"] = encryption.kms_key_id
    return fields


def botocore_config(settings: StoreSettings) -> botocore.config.Config:
    proxies = None
    if settings.proxy is not None:
        url = settings.proxy.url()
        proxies = {"http": url, "https": url}
    return botocore.config.Config(
        region_name=settings.effective_region,
        proxies=proxies,
        connect_timeout=settings.timeouts.connect_seconds,
        read_timeout=settings.timeouts.read_seconds,
        retries={"mode": settings.retry.mode, "max_attempts": settings.retry.max_attempts},
        s3={"addressing_style": "path" if settings.uses_path_style else "virtual"},
        signature_version="s3v4",
        request_checksum_calculation=settings.checksum_mode,
        response_checksum_validation=settings.checksum_mode,
        max_pool_connections=max(10, settings.multipart.concurrency * 2),
    )


def _botocore_credentials(source: CredentialSource) -> botocore.credentials.Credentials:
    first = source.credentials()
    if first.expires_at is None:
        return botocore.credentials.Credentials(
            first.access_key_id,
            first.secret_access_key.reveal(),
            first.session_token.reveal() if first.session_token else None,
            method=source.name,
        )

    def refresh() -> dict[str, Any]:
        creds = source.credentials()
        expiry = creds.expires_at or datetime.now(UTC) + timedelta(hours=1)
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key.reveal(),
            "token": creds.session_token.reveal() if creds.session_token else None,
            "expiry_time": (expiry - _REFRESH_BEFORE_EXPIRY).isoformat(),
        }

    return botocore.credentials.RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method=source.name
    )


_session_lock = threading.Lock()


def build_s3_client(settings: StoreSettings, source: CredentialSource) -> S3Client:
    # botocore sessions are not safe to create clients from concurrently.
    with _session_lock:
        session = new_session()
        session.set_config_variable("region", settings.effective_region)
        # botocore has no public way to give a session refreshable credentials of our own.
        session._credentials = _botocore_credentials(source)  # type: ignore[attr-defined]
        client: S3Client = session.create_client(  # type: ignore[assignment]
            "s3",
            endpoint_url=settings.endpoint,
            config=botocore_config(settings),
        )
    if settings.wire_log:
        attach_wire_logging(client.meta.events)
    return client
