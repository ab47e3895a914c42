"""The policy ``sink iam-policy`` prints, attached to roles on a real SeaweedFS: every call the
sink makes is allowed, everything else is denied. SeaweedFS enforces the actions, the resources
and the ``s3:prefix`` condition; it also shows that ListMultipartUploads is authorized by
``s3:ListBucketMultipartUploads`` (not ``s3:ListBucket``)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.sink.sink_samples import MINIMAL

from tierstore.local import StackInfo, start_stack, stop_stack
from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.iam import sink_policy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "sink-iam"
PREFIX = "in/"
ACCOUNT_ROLE = "arn:aws:iam::000000000000:role/{}"
# SeaweedFS needs this on a role's policy for its sessions to work at all (see TEST-STACK.md).
VALIDATE_SESSION = {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]}


def _policy(cleanup: bool, *, drop: str | None = None) -> dict[str, Any]:
    values = {
        **MINIMAL,
        "aws.s3.bucket.name": BUCKET,
        "aws.s3.prefix": PREFIX,
        "s3.multipart.cleanup.on.start": str(cleanup).lower(),
    }
    policy = sink_policy(sink_config_from_mapping(values))
    statements = [s for s in policy["Statement"] if drop is None or drop not in s["Action"]]  # type: ignore[union-attr]
    return {**policy, "Statement": [*statements, VALIDATE_SESSION]}


ROLES = {
    "SinkCleanup": _policy(True),
    "SinkNoCleanup": _policy(False),
    "SinkNoUploadListing": _policy(False, drop="s3:ListBucketMultipartUploads"),
}


@pytest.fixture(scope="module")
def iam_stack() -> Iterator[StackInfo]:
    roles = [
        {
            "roleName": name,
            "roleArn": ACCOUNT_ROLE.format(name),
            "trustPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ["arn:aws:iam::000000000000:user/writer"]},
                        "Action": ["sts:AssumeRole"],
                    }
                ],
            },
            "attachedPolicies": [f"{name}Policy"],
        }
        for name in ROLES
    ]
    policies = [{"name": f"{name}Policy", "document": document} for name, document in ROLES.items()]
    directory = Path(tempfile.mkdtemp(prefix="tierstore-sink-iam-"))
    info = start_stack(directory, extra_roles=roles, extra_policies=policies)
    try:
        admin = _client(info, info.admin.access_key_id, info.admin.secret_access_key.reveal())
        admin.create_bucket(Bucket=BUCKET)
        admin.put_object(Bucket=BUCKET, Key="out/existing", Body=b"x")
        yield info
    finally:
        stop_stack(info.directory)


def _client(info: StackInfo, key_id: str, secret: str, token: str | None = None) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    return client


def _as_role(info: StackInfo, role: str) -> S3Client:
    writer = info.users["writer"]
    sts = boto3.client(
        "sts",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id=writer.access_key_id,
        aws_secret_access_key=writer.secret_access_key.reveal(),
    )
    credentials = sts.assume_role(RoleArn=ACCOUNT_ROLE.format(role), RoleSessionName="sink-test")[
        "Credentials"
    ]
    return _client(
        info, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )


def _allowed(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("AccessDenied", "403"):
            return False
        raise
    return True


def _sink_calls(s3: S3Client, name: str) -> None:
    """Everything the sink does to write one file and clean up a failed one, under the prefix."""
    key = f"{PREFIX}{name}"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"a" * 10)["ETag"]
    assert [
        part["PartNumber"] for part in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload)["Parts"]
    ] == [1]
    listed = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=PREFIX).get("Uploads", [])
    assert upload in [u["UploadId"] for u in listed]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 10
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"a" * 10
    failed = s3.create_multipart_upload(Bucket=BUCKET, Key=f"{key}-failed")["UploadId"]
    s3.abort_multipart_upload(Bucket=BUCKET, Key=f"{key}-failed", UploadId=failed)
    s3.put_object(Bucket=BUCKET, Key=f"{key}-small", Body=b"small file, one PUT")


@pytest.mark.parametrize("role", ["SinkCleanup", "SinkNoCleanup"])
def test_the_policy_allows_every_call_the_sink_makes(iam_stack: StackInfo, role: str) -> None:
    _sink_calls(_as_role(iam_stack, role), f"{role}-file")


@pytest.mark.parametrize("role", ["SinkCleanup", "SinkNoCleanup"])
def test_the_policy_denies_everything_else(iam_stack: StackInfo, role: str) -> None:
    s3 = _as_role(iam_stack, role)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{role}-victim", Body=b"x")
    assert not _allowed(lambda: s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}{role}-victim"))
    assert not _allowed(lambda: s3.put_object(Bucket=BUCKET, Key="out/escape", Body=b"x"))
    assert not _allowed(lambda: s3.get_object(Bucket=BUCKET, Key="out/existing"))
    assert not _allowed(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="out/"))
    assert not _allowed(lambda: s3.list_objects_v2(Bucket=BUCKET))
    assert not _allowed(lambda: s3.create_bucket(Bucket=f"{role.lower()}-new"))


def test_list_bucket_only_with_cleanup_and_only_under_the_prefix(iam_stack: StackInfo) -> None:
    with_cleanup = _as_role(iam_stack, "SinkCleanup")
    assert _allowed(lambda: with_cleanup.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX))
    assert not _allowed(lambda: with_cleanup.list_objects_v2(Bucket=BUCKET, Prefix="out/"))
    without = _as_role(iam_stack, "SinkNoCleanup")
    assert not _allowed(lambda: without.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX))


def test_list_multipart_uploads_needs_its_own_action(iam_stack: StackInfo) -> None:
    """Without s3:ListBucketMultipartUploads the leftover uploads cannot be found (s3:ListBucket does
    not stand in for it), so the policy grants it whether or not start-up cleanup is on."""
    s3 = _as_role(iam_stack, "SinkNoUploadListing")
    assert _allowed(lambda: s3.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}probe"))
    assert not _allowed(lambda: s3.list_multipart_uploads(Bucket=BUCKET, Prefix=PREFIX))
