"""Session policies that narrow a role to one bucket and key prefix, less what the caller may not reach.

An STS session policy can only narrow the role it is attached to, so the vended credentials
allow the intersection: what the role allows, on ``bucket/prefix*`` only, minus explicit
``Deny`` statements for the stricter paths below the prefix (:class:`Restrictions`).

- read: ``s3:GetObject`` (and its version) on the prefix, ``s3:ListBucket`` on the bucket
  with an ``s3:prefix`` condition so a listing outside the prefix is refused.
- write: read, plus put, delete and the multipart actions; listing in-progress uploads carries
  the same ``s3:prefix`` condition, so nobody lists other users' upload keys and ids.
- restrictions: every action denied on the subtrees the caller may not read (or search), the
  write actions denied on those they may not write. No S3 listing can hide the names below a
  denied prefix (a listing without a delimiter shows every key below the prefix, and
  SeaweedFS ignores the ``s3:delimiter`` condition key), so credentials that carry any
  restriction carry no listing permission at all: such a client lists through the API.

A resource string is matched by IAM with ``*`` and ``?`` as wildcards and ``${...}`` as a policy
variable. Allowed prefixes never hold those characters (the vendor refuses such paths); in a
``Deny`` a ``$`` is written ``?``, which matches it and more, so a deny never matches less than
the path it names.

SeaweedFS needs ``sts:ValidateSession`` in the *role's* policy for its sessions to work, but not
in the session policy (measured: tests/server/test_vending.py), so the session policy leaves it
out and holds S3 actions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

Access = Literal["read", "write"]

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
WRITE_BUCKET_ACTIONS = ("s3:ListBucketMultipartUploads",)
# STS's limit on the Policy parameter; AWS counts it packed, and compact JSON is never smaller.
MAX_POLICY_BYTES: Final = 2048
# What IAM reads as a wildcard or a variable in a resource.
POLICY_SPECIAL: Final = ("*", "?", "$")


@dataclass(frozen=True)
class Restrictions:
    """Key subtrees inside the prefix the caller may not reach: wholly, or for writing only.

    An entry without a trailing slash stands for that key and every key below it (``key`` and
    ``key/*``); one with a trailing slash for the keys below it only (``key/*``).
    """

    denied: tuple[str, ...] = ()
    write_denied: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.denied or self.write_denied)


def _deny_pattern(key: str) -> str:
    # "?" matches "$" and more: a deny never matches less than the key it names.
    return key.replace("$", "?")


def _deny_resources(bucket: str, keys: tuple[str, ...]) -> list[str]:
    resources: list[str] = []
    for key in keys:
        pattern = _deny_pattern(key)
        if key.endswith("/"):  # what lies below the key only
            resources.append(f"arn:aws:s3:::{bucket}/{pattern}*")
        else:
            resources += [f"arn:aws:s3:::{bucket}/{pattern}", f"arn:aws:s3:::{bucket}/{pattern}/*"]
    return resources


def session_policy(
    bucket: str, prefix: str, access: Access, restrictions: Restrictions = Restrictions()
) -> dict[str, Any]:
    """The policy document for ``access`` to ``prefix`` in ``bucket``, less ``restrictions``.

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
    ]
    if not restrictions:
        statements.append(
            {
                "Sid": "List",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": listed}},
            }
        )
        if access == "write":
            statements.append(
                {
                    "Sid": "Uploads",
                    "Effect": "Allow",
                    "Action": list(WRITE_BUCKET_ACTIONS),
                    "Resource": [bucket_arn],
                    "Condition": {"StringLike": {"s3:prefix": listed}},
                }
            )
    if restrictions.denied:
        statements.append(
            {
                "Sid": "Stricter",
                "Effect": "Deny",
                "Action": ["s3:*"],
                "Resource": _deny_resources(bucket, restrictions.denied),
            }
        )
    if access == "write" and restrictions.write_denied:
        statements.append(
            {
                "Sid": "ReadOnlyBelow",
                "Effect": "Deny",
                "Action": list(WRITE_OBJECT_ACTIONS),
                "Resource": _deny_resources(bucket, restrictions.write_denied),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def session_policy_json(
    bucket: str, prefix: str, access: Access, restrictions: Restrictions = Restrictions()
) -> str:
    """The policy as STS takes it: compact JSON (the Policy parameter is limited to 2048 bytes)."""
    return json.dumps(session_policy(bucket, prefix, access, restrictions), separators=(",", ":"))
