"""The two files SeaweedFS reads: static identities (``-s3.config``) and IAM/STS (``-s3.iam.config``)."""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierstore.local.info import UserKeys
from tierstore.settings.secret import Secret

# SeaweedFS ignores the account id in ARNs (roles are matched by name), so AWS's documented
# placeholder account keeps every ARN well formed for clients that parse them.
ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
STS_ISSUER = "tierstore-local-sts"
OIDC_PROVIDER_NAME = "local-oidc"

ALL_BUCKETS = ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]

# Static identity name -> SeaweedFS actions. CreateBucket needs Admin; ReadAcp lets the
# reader see ACLs it cannot change.
IDENTITY_ACTIONS: dict[str, list[str]] = {
    "admin": ["Admin", "Read", "Write", "List", "Tagging", "ReadAcp", "WriteAcp"],
    "reader": ["Read", "List", "ReadAcp"],
    "writer": ["Read", "Write", "List"],
}

READ_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectAttributes",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListAllMyBuckets",
]
WRITE_ACTIONS = [
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucketMultipartUploads",
]
# Without it a role's temporary credentials are refused on every request (SeaweedFS checks
# the session against the role's own policy).
VALIDATE_SESSION = {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]}

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class OidcProvider:
    """An OpenID Connect issuer whose tokens the stack accepts for AssumeRoleWithWebIdentity."""

    issuer: str
    client_id: str
    jwks_uri: str
    name: str = OIDC_PROVIDER_NAME


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def new_user_keys() -> UserKeys:
    """Fresh random keys shaped like AWS's: a 20-character key id and a 40-character secret."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return UserKeys(key_id, Secret(secret))


def new_signing_key() -> Secret:
    return Secret(base64.b64encode(secrets.token_bytes(32)).decode("ascii"))


def identities_config(users: Mapping[str, UserKeys]) -> dict[str, Any]:
    """The ``-s3.config`` document: one identity per user, and the local KMS for SSE-KMS."""
    identities = [
        {
            "name": name,
            "credentials": [{"accessKey": keys.access_key_id, "secretKey": keys.secret_access_key.reveal()}],
            "actions": list(IDENTITY_ACTIONS[name]),
            "account": {"id": name, "displayName": name},
        }
        for name, keys in users.items()
    ]
    return {
        "identities": identities,
        "kms": {
            "default_provider": "local",
            "providers": {"local": {"type": "local", "enableOnDemandCreate": True}},
        },
    }


def _policy(actions: Sequence[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(actions), "Resource": list(ALL_BUCKETS)},
            dict(VALIDATE_SESSION),
        ],
    }


def _trust_users(users: Sequence[str]) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": [user_arn(name) for name in users]},
        "Action": ["sts:AssumeRole"],
    }


def _role(name: str, policy: str, trust: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "roleName": name,
        "roleArn": role_arn(name),
        "trustPolicy": {"Version": "2012-10-17", "Statement": trust},
        "attachedPolicies": [policy],
    }


def iam_config(
    *,
    users: Sequence[str],
    signing_key: Secret,
    oidc: OidcProvider | None = None,
    extra_roles: Sequence[Mapping[str, Any]] = (),
    extra_policies: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``-s3.iam.config`` document: STS settings, the OIDC provider if any, roles and policies.

    ``extra_roles`` and ``extra_policies`` are added as given (SeaweedFS's own shape:
    ``roleName``/``roleArn``/``trustPolicy``/``attachedPolicies`` and ``name``/``document``).
    """
    web_identity_trust = [_trust_users(users)]
    providers: list[dict[str, Any]] = []
    if oidc is not None:
        providers.append(
            {
                "name": oidc.name,
                "type": "oidc",
                "enabled": True,
                "config": {
                    "issuer": oidc.issuer,
                    "clientId": oidc.client_id,
                    "jwksUri": oidc.jwks_uri,
                },
            }
        )
        web_identity_trust.append(
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc.name},
                "Action": ["sts:AssumeRoleWithWebIdentity"],
            }
        )
    roles = [
        _role("ReadOnlyRole", "S3ReadOnlyPolicy", [_trust_users(users)]),
        _role("ReadWriteRole", "S3ReadWritePolicy", [_trust_users(users)]),
        _role("WebIdentityRole", "S3ReadOnlyPolicy", web_identity_trust),
    ]
    policies = [
        {"name": "S3ReadOnlyPolicy", "document": _policy(READ_ACTIONS)},
        {"name": "S3ReadWritePolicy", "document": _policy(READ_ACTIONS + WRITE_ACTIONS)},
    ]
    return {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": STS_ISSUER,
            "signingKey": signing_key.reveal(),
        },
        "policy": {"defaultEffect": "Deny"},
        "providers": providers,
        "roles": roles + [dict(role) for role in extra_roles],
        "policies": policies + [dict(policy) for policy in extra_policies],
    }


def role_arns(config: Mapping[str, Any]) -> dict[str, str]:
    """Role name -> ARN for every role in an IAM document."""
    return {str(role["roleName"]): str(role["roleArn"]) for role in config["roles"]}
