"""Session policies that narrow a role to one bucket and key prefix.

An STS session policy can only narrow the role it is attached to, so the vended credentials
allow the intersection: what the role allows, on ``bucket/prefix*`` only.

- read: ``s3:GetObject`` (and its version) on the prefix, ``s3:ListBucket`` on the bucket
  with an ``s3:prefix`` condition so a listing outside the prefix is refused.
- write: read, plus put, delete and the multipart actions.

SeaweedFS needs ``sts:ValidateSession`` in the *role's* policy for its sessions to work, but not
in the session policy (measured: tests/server/test_vending.py), so the session policy leaves it
out and holds S3 actions only.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Access = Literal["read", "write"]

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
WRITE_BUCKET_ACTIONS = ("s3:ListBucketMultipartUploads",)


def session_policy(bucket: str, prefix: str, access: Access) -> dict[str, Any]:
    """The policy document for ``access`` to ``prefix`` in ``bucket``.

    A directory prefix (ending in ``/``, or empty for the whole bucket) covers every key below
    it; any other prefix is one file's key and covers that key alone, not ``key.bak`` or ``key/x``.
    """
    is_directory = prefix == "" or prefix.endswith("/")
    objects = f"arn:aws:s3:::{bucket}/{prefix}*" if is_directory else f"arn:aws:s3:::{bucket}/{prefix}"
    listed = [prefix, f"{prefix}*"] if is_directory else [prefix]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    object_actions = list(READ_OBJECT_ACTIONS)
    if access == "write":
        object_actions += WRITE_OBJECT_ACTIONS
    statements: list[dict[str, Any]] = [
        {"Sid": "Objects", "Effect": "Allow", "Action": object_actions, "Resource": [objects]},
        {
            "Sid": "List",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": listed}},
        },
    ]
    if access == "write":
        statements.append(
            {
                "Sid": "Uploads",
                "Effect": "Allow",
                "Action": list(WRITE_BUCKET_ACTIONS),
                "Resource": [bucket_arn],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def session_policy_json(bucket: str, prefix: str, access: Access) -> str:
    """The policy as STS takes it: compact JSON (the Policy parameter is limited to 2048 bytes)."""
    return json.dumps(session_policy(bucket, prefix, access), separators=(",", ":"))
