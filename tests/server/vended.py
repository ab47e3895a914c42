"""Helpers for tests that use vended credentials: a boto3 client built only from a vend answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def vend(client: httpx.Client, path: str, access: str = "read", token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = client.post("/v1/credentials", json={"path": path, "access": access}, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def s3_from(answer: dict[str, Any]) -> S3Client:
    """An S3 client that knows only what the vend answer says: endpoint, region, style, keys."""
    store, creds = answer["store"], answer["credentials"]
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=store["endpoint"],
        region_name=store["region"],
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"],
        config=Config(
            s3={"addressing_style": "path" if store["path_style"] else "virtual"},
            retries={"mode": "standard", "max_attempts": 1},
        ),
    )
    return client


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    """The S3 error code ``call`` fails with, or "ok" when it succeeds."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code"))
    return "ok"
