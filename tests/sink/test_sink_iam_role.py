"""The sink runs under a role whose policy is exactly what ``tierstore sink iam-policy`` prints.

A dedicated SeaweedFS (no Kafka: the session's tansu serves the records) is started with one more
role, ``SinkRole``, trusted by the ``writer`` user, with two policies attached: the document
``sink iam-policy`` prints for the config, unchanged, and ``sts:ValidateSession``, which SeaweedFS
needs on every role before its sessions may do anything (AWS has no such action). The sink assumes
the role through STS on that SeaweedFS, with an external id and a session name.

Who enforces what: SeaweedFS enforces the role's policy on every S3 call (shown below: a write
outside the prefix and a delete are refused to the role's session) and the trust policy's
principal. It does not support the ``sts:ExternalId`` condition (a condition on it always denies;
without one the external id is ignored), so the trust policy here has no condition; the external
id is sent all the same. The ExternalId condition itself is covered against moto in the
credentials tests.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tests.conftest import s3_client_config
from tests.sink import runtime_support as rs

from tierstore.cli.main import main
from tierstore.local import StackInfo, start_stack, stop_stack
from tierstore.local.seaweed_config import VALIDATE_SESSION, role_arn, user_arn
from tierstore.sink.config import load_sink_config
from tierstore.sink.worker import run_sink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PER_PARTITION = {0: 700, 1: 700, 2: 700}
VALUE_SIZE = 10_000  # 700 x 10 KB: each file is a multipart upload of 5 MiB parts
ROLE = "SinkRole"
EXTERNAL_ID = "sink-ext-42"
SESSION_NAME = "sink-iam-test"


def _printed_policy(config: Path) -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sink", "iam-policy", "-c", str(config)]) == 0
    printed: dict[str, Any] = json.loads(out.getvalue())
    return printed


def _sink_settings(
    session: StackInfo, kafka: str, topic: str, bucket: str, endpoint: str, *, writer: tuple[str, str]
) -> dict[str, Any]:
    return {
        "name": rs.unique("iam"),
        "topics": topic,
        "bootstrap.servers": kafka,
        "aws.s3.bucket.name": bucket,
        "aws.s3.prefix": "sink/out/",
        "aws.s3.endpoint": endpoint,
        "aws.s3.region": session.region,
        "aws.s3.part.size.bytes": str(5 * 1024 * 1024),
        "aws.access.key.id": writer[0],
        "aws.secret.access.key": writer[1],
        "aws.sts.role.arn": role_arn(ROLE),
        "aws.sts.role.external.id": EXTERNAL_ID,
        "aws.sts.role.session.name": SESSION_NAME,
        "aws.sts.config.endpoint": endpoint,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "format.output.type": "jsonl",
        "format.output.fields": "key,value,offset,timestamp",
        "format.output.fields.value.encoding": "none",
        "file.compression.type": "none",
        "file.name.template": "{{topic}}-{{partition}}-{{start_offset}}",
        **rs.FAST_GROUP,
    }


@pytest.fixture
def directory() -> Iterator[Path]:
    # Short and outside the rootdir: weed's unix sockets live in it (108-byte path limit).
    path = Path(tempfile.mkdtemp(prefix="ts-iam-"))
    yield path
    stop_stack(path)


def test_sink_runs_with_exactly_the_printed_policy(stack: StackInfo, directory: Path, tmp_path: Path) -> None:
    assert stack.kafka_bootstrap is not None
    topic = rs.create_topic(stack.kafka_bootstrap, rs.unique("iam"), 3)
    rs.produce(stack.kafka_bootstrap, topic, PER_PARTITION, size=VALUE_SIZE)
    bucket = rs.unique("sink-iam")
    # The policy depends on the bucket and prefix only: print it before the store exists.
    draft = tmp_path / "draft.json"
    draft.write_text(
        json.dumps(
            _sink_settings(
                stack, stack.kafka_bootstrap, topic, bucket, "http://127.0.0.1:9", writer=("AKIADRAFT", "x")
            )
        )
    )
    policy = _printed_policy(draft)["policy"]
    actions = sorted(a for statement in policy["Statement"] for a in statement["Action"])
    assert actions == sorted(
        [
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
            "s3:ListBucketMultipartUploads",
            "s3:ListBucket",
        ]
    )
    iam = start_stack(
        directory,
        extra_roles=[
            {
                "roleName": ROLE,
                "roleArn": role_arn(ROLE),
                "trustPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": [user_arn("writer")]},
                            "Action": ["sts:AssumeRole"],
                        }
                    ],
                },
                "attachedPolicies": ["SinkPolicy", "SinkSessions"],
            }
        ],
        extra_policies=[
            {"name": "SinkPolicy", "document": policy},
            {"name": "SinkSessions", "document": {"Version": "2012-10-17", "Statement": [VALIDATE_SESSION]}},
        ],
    )
    admin = boto3.client(
        "s3",
        endpoint_url=iam.endpoint,
        aws_access_key_id=iam.admin.access_key_id,
        aws_secret_access_key=iam.admin.secret_access_key.reveal(),
        config=s3_client_config(),
    )
    admin.create_bucket(Bucket=bucket)
    # An upload a crashed sink left for partition 0: the sink must find and abort it.
    left = admin.create_multipart_upload(Bucket=bucket, Key=f"sink/out/{topic}-0-12345")
    admin.upload_part(
        Bucket=bucket, Key=f"sink/out/{topic}-0-12345", UploadId=left["UploadId"], PartNumber=1, Body=b"x"
    )
    writer = iam.users["writer"]
    config_path = tmp_path / "sink.json"
    config_path.write_text(
        json.dumps(
            _sink_settings(
                stack,
                stack.kafka_bootstrap,
                topic,
                bucket,
                iam.endpoint,
                writer=(writer.access_key_id, writer.secret_access_key.reveal()),
            )
        )
    )
    assert _printed_policy(config_path)["policy"] == policy
    config = load_sink_config(config_path)

    summary = run_sink(config, until_idle=0.5)

    assert summary.left_over_uploads_aborted == 1
    check = rs.check_exactly_once(
        admin,
        bucket,
        "sink/out/",
        topic=topic,
        expected=PER_PARTITION,
        output_format="jsonl",
        value_size=VALUE_SIZE,
    )
    assert check.files == 3
    assert rs.open_uploads(admin, bucket) == []
    _role_is_held_to_the_policy(iam, bucket, writer.access_key_id, writer.secret_access_key.reveal())


def _role_is_held_to_the_policy(iam: StackInfo, bucket: str, key_id: str, secret: str) -> None:
    """SeaweedFS refuses the role's session what the policy does not grant."""
    sts = boto3.client(
        "sts",
        endpoint_url=iam.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    credentials = sts.assume_role(
        RoleArn=role_arn(ROLE), RoleSessionName=SESSION_NAME, ExternalId=EXTERNAL_ID
    )["Credentials"]
    session: S3Client = boto3.client(
        "s3",
        endpoint_url=iam.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=s3_client_config(),
    )
    session.put_object(Bucket=bucket, Key="sink/out/allowed", Body=b"ok")
    for attempt in (
        lambda: session.put_object(Bucket=bucket, Key="elsewhere/denied", Body=b"no"),
        lambda: session.delete_object(Bucket=bucket, Key="sink/out/allowed"),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
