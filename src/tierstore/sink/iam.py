"""The least-privilege IAM policy the sink needs, and the trust policy of the role it assumes.

The actions are the ones the sink's issue fixes, and the policy holds exactly those. What the
sink calls with each (``tests/sink/test_iam_seaweedfs.py`` and the runtime's role test check them
on SeaweedFS):

- ``s3:PutObject`` on the objects under the prefix: PutObject for a file smaller than one part,
  CreateMultipartUpload, UploadPart and CompleteMultipartUpload for the rest.
- ``s3:AbortMultipartUpload`` on the objects: a file given up (failed upload, revoked partition,
  stop on failure) and uploads a crashed sink left for the partitions assigned.
- ``s3:ListBucketMultipartUploads`` on the bucket: ListMultipartUploads under the prefix, on every
  partition assignment, to find those left-over uploads (with ``s3.multipart.cleanup.on.start``).
  It is its own action: AWS and SeaweedFS do not accept ``s3:ListBucket`` for it.
- ``s3:GetObject`` and ``s3:ListMultipartUploadParts`` on the objects: in the issue's policy; the
  current runtime calls neither (no HEAD, no ListParts), so they only leave room for a check of a
  completed file or of an upload whose outcome is uncertain.
- ``s3:ListBucket`` on the bucket, held to the prefix by an ``s3:prefix`` condition, only with
  start-up cleanup: in the issue's policy for the cleanup; the cleanup's listing is
  ListMultipartUploads, so the current runtime does not need it either.

No ``s3:DeleteObject``: the sink never deletes; a re-delivered file overwrites its object.

The trust policy lets one principal assume the role, with an ``sts:ExternalId`` condition when
``aws.sts.role.external.id`` is set (AWS and moto enforce it; SeaweedFS does not support the
condition, see the README).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierstore.sink.config import SinkConfig

POLICY_VERSION = "2012-10-17"
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
BUCKET_ACTIONS = ("s3:ListBucketMultipartUploads",)
CLEANUP_ACTIONS = ("s3:ListBucket",)


def sink_actions(*, cleanup_on_start: bool) -> tuple[str, ...]:
    """Every action the sink needs, in the order the policy lists them."""
    return OBJECT_ACTIONS + BUCKET_ACTIONS + (CLEANUP_ACTIONS if cleanup_on_start else ())


def _partition(config: SinkConfig) -> str:
    """``aws`` unless the region says another partition (China, GovCloud)."""
    region = config.store.effective_region
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def sink_policy(config: SinkConfig) -> dict[str, object]:
    """The identity policy for the sink: exactly the actions above, on its bucket and prefix."""
    bucket = config.store.location.bucket
    prefix = config.store.location.prefix
    arn = f"arn:{_partition(config)}:s3:::{bucket}"
    statements: list[dict[str, object]] = [
        {
            "Sid": "SinkWritesFiles",
            "Effect": "Allow",
            "Action": list(OBJECT_ACTIONS),
            "Resource": f"{arn}/{prefix}*",
        },
        {
            "Sid": "SinkFindsUploads",
            "Effect": "Allow",
            "Action": list(BUCKET_ACTIONS),
            "Resource": arn,
        },
    ]
    if config.cleanup_on_start:
        listing: dict[str, object] = {
            "Sid": "SinkCleanupLists",
            "Effect": "Allow",
            "Action": list(CLEANUP_ACTIONS),
            "Resource": arn,
        }
        if prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
        statements.append(listing)
    return {"Version": POLICY_VERSION, "Statement": statements}


def trust_policy(config: SinkConfig, principal_arn: str) -> dict[str, object]:
    """The role's trust policy: ``principal_arn`` may assume it, with the external id if one is set."""
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal_arn},
        "Action": "sts:AssumeRole",
    }
    role = config.store.assume_role
    if role is not None and role.external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": role.external_id}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}
