"""Vended credentials printed for other tools: shell exports, JSON, AWS ``credential_process``,
Iceberg REST's ``storage-credentials``, a DuckDB ``CREATE SECRET`` and polars' ``storage_options``.

Printing the secret is the whole point of these formats; nothing here logs it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from tierstore.client.tool_credentials import AWS_REGION_DEFAULT
from tierstore.client.vended import Vended, VendedStore
from tierstore.credentials.model import Credentials
from tierstore.credentials.shapes import iceberg_config, iceberg_storage_credentials
from tierstore.errors import CredentialsError


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def render_vended(vended: Vended, output: str) -> str:
    creds, store = vended.credentials, vended.store
    if creds is None or store is None:
        raise CredentialsError(
            f"{vended.path}: the server serves mount {vended.mount} through its data proxy "
            "(a local directory, or vending is off), so there are no store credentials to print; "
            "read and write it through the server (tierstore fs, tierstore.Client)"
        )
    secret = creds.secret_access_key.reveal()
    token = creds.session_token.reveal() if creds.session_token else None
    if output == "env":
        lines = [
            f"export AWS_ACCESS_KEY_ID={shlex.quote(creds.access_key_id)}",
            f"export AWS_SECRET_ACCESS_KEY={shlex.quote(secret)}",
            f"export AWS_SESSION_TOKEN={shlex.quote(token)}" if token else "unset AWS_SESSION_TOKEN",
        ]
        if store.endpoint:
            lines.append(f"export AWS_ENDPOINT_URL={shlex.quote(store.endpoint)}")
        if store.region:
            lines.append(f"export AWS_REGION={shlex.quote(store.region)}")
        lines.append(
            f"# s3://{store.bucket}/{store.prefix} ({vended.access}), expires {_iso(creds.expires_at)}"
        )
        return "\n".join(lines)
    if output in ("iceberg", "duckdb", "polars"):
        return _tool_shape(output, creds, store, vended.access)
    if output == "credential-process":
        document: dict[str, Any] = {
            "Version": 1,
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": secret,
        }
        if token:
            document["SessionToken"] = token
        if creds.expires_at:
            document["Expiration"] = _iso(creds.expires_at)
        return json.dumps(document)
    return json.dumps(
        {
            "path": vended.path,
            "mount": vended.mount,
            "access": vended.access,
            "mode": vended.mode,
            "scoped": vended.scoped,
            "store": {
                "scheme": store.scheme,
                "bucket": store.bucket,
                "prefix": store.prefix,
                "endpoint": store.endpoint,
                "region": store.region,
                "path_style": store.path_style,
                "checksum_mode": store.checksum_mode,
                "sse": {"algorithm": store.sse_algorithm, "kms_key_id": store.sse_kms_key_id}
                if store.sse_algorithm
                else None,
            },
            "credentials": {
                "access_key_id": creds.access_key_id,
                "secret_access_key": secret,
                "session_token": token,
                "expiration": _iso(creds.expires_at),
            },
            "expires_at": _iso(vended.expires_at),
            "refresh_at": _iso(vended.refresh_at),
        },
        indent=2,
    )


def _tool_shape(output: str, creds: Credentials, store: VendedStore, access: str) -> str:
    """The shapes the tool adapters hand their tools (see ``tierstore.client.<tool>``)."""
    url = f"s3://{store.bucket}/{store.prefix}"
    region = store.region or AWS_REGION_DEFAULT
    path_style = bool(store.path_style)
    secret = creds.secret_access_key.reveal()
    token = creds.session_token.reveal() if creds.session_token else None
    if output == "iceberg":
        config = iceberg_config(
            access_key_id=creds.access_key_id,
            secret_access_key=secret,
            session_token=token,
            expires_at=creds.expires_at,
            endpoint=store.endpoint,
            region=region,
            path_style=path_style,
        )
        return json.dumps(iceberg_storage_credentials(url, config), indent=2)
    if output == "duckdb":
        from tierstore.client.duckdb import secret_name, secret_sql

        statement = secret_sql(
            secret_name(url), url, creds, endpoint=store.endpoint, region=region, path_style=path_style
        )
        return f"-- {url} ({access}), expires {_iso(creds.expires_at)}; needs httpfs loaded\n{statement};"
    from tierstore.client.polars import PolarsCredentialProvider, store_options

    options = store_options(store.endpoint, region, path_style)
    options.update(PolarsCredentialProvider.keys_of(creds))
    document = {"url": url, "storage_options": options, "expires_at": _iso(creds.expires_at)}
    return json.dumps(document, indent=2)
