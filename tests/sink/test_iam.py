"""The sink's IAM policy and role trust policy: their content, and the trust policy's ExternalId
condition enforced by moto server (SeaweedFS does not support that condition; see TEST-STACK)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.servers.moto import MotoServer
from tests.sink.sink_samples import MINIMAL

from tierstore.sink.config import sink_config_from_mapping
from tierstore.sink.iam import sink_actions, sink_policy, trust_policy

EXACT_ACTIONS = {
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucketMultipartUploads",
}


def _config(**changes: Any) -> Any:
    return sink_config_from_mapping({**MINIMAL, **changes})


def _actions(policy: dict[str, Any]) -> list[str]:
    return [action for statement in policy["Statement"] for action in statement["Action"]]


def test_policy_with_cleanup_is_exactly_the_documented_actions() -> None:
    policy = sink_policy(_config(**{"aws.s3.prefix": "kafka/events/"}))
    assert policy["Version"] == "2012-10-17"
    actions = _actions(policy)
    assert sorted(actions) == sorted(EXACT_ACTIONS | {"s3:ListBucket"})  # each once, nothing else
    assert policy["Statement"] == [
        {
            "Sid": "SinkWritesFiles",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": "arn:aws:s3:::warehouse/kafka/events/*",
        },
        {
            "Sid": "SinkFindsUploads",
            "Effect": "Allow",
            "Action": ["s3:ListBucketMultipartUploads"],
            "Resource": "arn:aws:s3:::warehouse",
        },
        {
            "Sid": "SinkCleanupLists",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": "arn:aws:s3:::warehouse",
            "Condition": {"StringLike": {"s3:prefix": ["kafka/events/*"]}},
        },
    ]


def test_policy_without_cleanup_has_no_list_bucket() -> None:
    policy = sink_policy(_config(**{"aws.s3.prefix": "p/", "s3.multipart.cleanup.on.start": "false"}))
    assert sorted(_actions(policy)) == sorted(EXACT_ACTIONS)
    assert "s3:ListBucket" not in json.dumps(policy).replace("s3:ListBucketMultipartUploads", "")
    assert sink_actions(cleanup_on_start=False) == tuple(_actions(policy))


def test_policy_for_the_bucket_root_and_other_partitions() -> None:
    root = sink_policy(_config())
    assert root["Statement"][0]["Resource"] == "arn:aws:s3:::warehouse/*"
    assert "Condition" not in root["Statement"][2]  # the whole bucket is the sink's: no prefix to hold it to
    china = sink_policy(_config(**{"aws.s3.region": "cn-north-1"}))
    assert china["Statement"][1]["Resource"] == "arn:aws-cn:s3:::warehouse"


def test_trust_policy_with_and_without_external_id() -> None:
    role = {"aws.sts.role.arn": "arn:aws:iam::123456789012:role/sink"}
    with_id = trust_policy(
        _config(**role, **{"aws.sts.role.external.id": "team-42"}), "arn:aws:iam::1:user/u"
    )
    assert with_id == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:user/u"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "team-42"}},
            }
        ],
    }
    without = trust_policy(_config(**role), "arn:aws:iam::1:user/u")
    assert "Condition" not in without["Statement"][0]


def test_moto_enforces_the_trust_policy_external_id(moto_sts: MotoServer) -> None:
    """The printed trust policy, pasted into a role: the right external id assumes it, a wrong
    one is refused. moto enforces sts:ExternalId (a right or wrong value); SeaweedFS cannot."""
    external_id = f"sink-{secrets.token_hex(4)}"
    config = _config(
        **{"aws.sts.role.arn": "arn:aws:iam::123456789012:role/x", "aws.sts.role.external.id": external_id}
    )
    keys = moto_sts.user_keys
    iam = boto3.client(
        "iam",
        endpoint_url=moto_sts.endpoint,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key.reveal(),
        config=Config(region_name="us-east-1", retries={"max_attempts": 1}),
    )
    role_name = f"SinkRole{secrets.token_hex(4)}"
    role = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust_policy(config, moto_sts.user_arn))
    )["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName="sink", PolicyDocument=json.dumps(sink_policy(config)))
    sts = moto_sts.user_sts()
    granted = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sink", ExternalId=external_id)
    assert granted["Credentials"]["AccessKeyId"]
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sink", ExternalId="wrong-id")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
