"""Rows of the ``s3_keys`` table: each secret sealed under the secrets key, bound to its key id and user.

The server verifies SigV4 signatures, which needs the secret itself (a hash would not do, as it
does for bearer tokens), so the ``secret`` column holds it encrypted with the key file that
protects mount secrets (``secrets_at_rest``), as the JSON object ``{"enc": "v1", "kid": …,
"ct": …}``. The associated data is the access key id and the user: a sealed secret copied onto
another key's row, or a row handed to another user by editing ``user_name``, does not decrypt.

Unlike mount options there is no plain form, not even from an older tierstore: a key is only
ever written by a process holding the key file.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tierstore.namespace.metadata.errors import MetadataError
from tierstore.namespace.metadata.records import S3KeyInfo, S3KeyRecord
from tierstore.namespace.metadata.rows import Row
from tierstore.namespace.metadata.secrets_at_rest import SEALED_VERSION, SecretsKey, SecretsKeyError
from tierstore.settings.secret import Secret, mask_key_id

_AAD_PREFIX = b"tierstore s3 secret\x00"
SETTING = "tierstore.secrets.key-file"


def _aad(access_key_id: str, user: str) -> bytes:
    return _AAD_PREFIX + access_key_id.encode("utf-8") + b"\x00" + user.encode("utf-8")


def _where(access_key_id: str, user: str) -> str:
    return f"the secret of S3 key {mask_key_id(access_key_id)} of user {user}"


def no_key_error(what: str) -> SecretsKeyError:
    """S3 secrets are never kept in clear: without the key file they are neither written nor read."""
    return SecretsKeyError(
        f"{what}: S3 secrets are kept only encrypted, and this process opened the metadata database "
        f"without its secrets key file; give the server's config {SETTING} (default "
        "tierstore-secrets.key beside the config, ~/.tierstore/secrets.key for the embedded default)"
    )


def seal_s3_secret(access_key_id: str, user: str, secret: Secret, key: SecretsKey) -> str:
    """The ``secret`` column of ``user``'s key ``access_key_id``."""
    sealed = key.seal_bound(secret.reveal(), _aad(access_key_id, user))
    return json.dumps(sealed, sort_keys=True)


def stored_s3_secret(access_key_id: str, raw: str) -> dict[str, object]:
    """The ``secret`` column parsed (still sealed); MetadataError, never echoing it, if it is not one."""
    try:
        sealed = json.loads(raw)
    except json.JSONDecodeError:
        sealed = None
    if not isinstance(sealed, dict) or sealed.get("enc") != SEALED_VERSION:
        raise MetadataError(
            f"the stored secret of S3 key {mask_key_id(access_key_id)} is not a {SEALED_VERSION} "
            "encrypted value: revoke the key (tierstore users s3-keys revoke) and create another"
        )
    return sealed


def open_s3_secret(access_key_id: str, user: str, raw: str, key: SecretsKey | None) -> Secret:
    """The secret the ``secret`` column ``raw`` holds; SecretsKeyError when ``key`` cannot open it."""
    sealed = stored_s3_secret(access_key_id, raw)
    where = _where(access_key_id, user)
    if key is None:
        raise no_key_error(f"{where} cannot be read")
    plain = key.unseal_bound(
        sealed,
        _aad(access_key_id, user),
        where=where,
        damaged=(
            "the stored value was damaged, or copied from another key or user (tampering?); "
            f"revoke the key (tierstore users s3-keys list {user} shows its id) and create another"
        ),
    )
    return Secret(plain)


def s3_key_values(record: S3KeyRecord, key: SecretsKey) -> dict[str, Any]:
    """The row for ``record``, its secret sealed."""
    return {
        "access_key_id": record.access_key_id,
        "user_name": record.user,
        "secret": seal_s3_secret(record.access_key_id, record.user, record.secret, key),
        "created_at": record.created_at,
    }


def _fields(row: Row) -> tuple[str, str, datetime]:
    access_key_id, user, created_at = row["access_key_id"], row["user_name"], row["created_at"]
    if (
        not isinstance(access_key_id, str)
        or not isinstance(user, str)
        or not isinstance(created_at, datetime)
    ):
        raise MetadataError("a stored S3 key has no access key id, user or creation time")
    return access_key_id, user, created_at


def s3_key_info_from_row(row: Row) -> S3KeyInfo:
    return S3KeyInfo(*_fields(row))


def s3_key_from_row(row: Row, key: SecretsKey | None) -> S3KeyRecord:
    access_key_id, user, created_at = _fields(row)
    raw = row["secret"]
    if not isinstance(raw, str):
        raise MetadataError(f"the stored S3 key {mask_key_id(access_key_id)} has no secret")
    return S3KeyRecord(access_key_id, user, open_s3_secret(access_key_id, user, raw, key), created_at)
