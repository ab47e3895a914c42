"""Vended credentials in the shape Iceberg REST catalogs return them (``storage-credentials``).

Polaris and Lakekeeper answer ``loadCredentials`` with::

    {"storage-credentials": [{"prefix": "s3://bucket/prefix", "config": {"s3.access-key-id": ...}}]}

The key names are their convention (Iceberg's Java ``S3FileIO`` properties), not a standard:
PyIceberg's FileIO reads the same ``s3.*`` names, and ``s3.force-virtual-addressing`` is its own
name for the addressing style (Java's is ``s3.path-style-access``), so both are given. The server's
``POST /v1/credentials`` with ``"shape": "iceberg"``, ``tierstore creds vend --format iceberg``
and :func:`tierstore.client.pyiceberg.iceberg_properties` all build it here, so they agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iceberg_config(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    expires_at: datetime | None,
    endpoint: str | None,
    region: str,
    path_style: bool,
) -> dict[str, str]:
    """FileIO properties for these credentials and store; every value a string, as Iceberg's are."""
    config = {
        "s3.access-key-id": access_key_id,
        "s3.secret-access-key": secret_access_key,
        "s3.region": region,
        "client.region": region,
        "s3.path-style-access": "true" if path_style else "false",
        "s3.force-virtual-addressing": "false" if path_style else "true",
    }
    if session_token:
        config["s3.session-token"] = session_token
    if expires_at is not None:
        config["s3.session-token-expires-at-ms"] = str(int(expires_at.timestamp() * 1000))
    if endpoint:
        config["s3.endpoint"] = endpoint
    return config


def iceberg_storage_credentials(prefix: str, config: dict[str, str]) -> dict[str, Any]:
    """The ``loadCredentials`` answer: one entry for ``prefix`` (``s3://bucket/key``)."""
    return {"storage-credentials": [{"prefix": prefix, "config": config}]}
