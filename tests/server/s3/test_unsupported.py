"""What the gateway does not implement is answered as S3 answers a feature it lacks:
``NotImplemented`` (501), cleanly, with nothing written: a sample of each family the conformance
suites test (ACLs, policies, versioning, lifecycle, encryption, object lock, tagging, CORS,
browser-based uploads), by sub-resource and by request header; and what is accepted because it
asks for nothing tierstore lacks (``x-amz-acl: private``, ``STANDARD``, the governance bypass).

One gateway serves the module.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server.harness import RunningServer
from tests.server.s3.conftest import admin_of, gateway_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SSE_C = {
    "SSECustomerAlgorithm": "AES256",
    "SSECustomerKey": "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=",
}


@pytest.fixture(scope="module")
def main(module_gateway: RunningServer, module_s3_for: Callable[[str], S3Client]) -> S3Client:
    return module_s3_for(admin_of(module_gateway))


@pytest.fixture(scope="module")
def bucket(main: S3Client) -> str:
    name = f"u-{secrets.token_hex(4)}"
    main.create_bucket(Bucket=name)
    main.put_object(Bucket=name, Key="there", Body=b"x")
    return name


def _not_implemented(call: Callable[..., Any], **parameters: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call(**parameters)
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501, response
    if call.__name__ != "head_object":  # a HEAD's answer has no document
        assert response["Error"]["Code"] == "NotImplemented"
    return str(response["Error"]["Message"])


def test_sub_resources_of_each_family(main: S3Client, bucket: str) -> None:
    policy = '{"Version": "2012-10-17", "Statement": []}'
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "x/"}, "Expiration": {"Days": 1}}
    for call, parameters in (
        (main.get_bucket_acl, {}),
        (main.put_bucket_acl, {"ACL": "public-read"}),
        (main.get_object_acl, {"Key": "there"}),
        (main.put_object_acl, {"Key": "there", "ACL": "private"}),
        (main.put_bucket_policy, {"Policy": policy}),
        (main.get_bucket_policy, {}),
        (main.get_bucket_policy_status, {}),
        (main.put_bucket_versioning, {"VersioningConfiguration": {"Status": "Enabled"}}),
        (main.put_bucket_lifecycle_configuration, {"LifecycleConfiguration": {"Rules": [rule]}}),
        (main.get_bucket_lifecycle_configuration, {}),
        (
            main.put_bucket_encryption,
            {
                "ServerSideEncryptionConfiguration": {
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                }
            },
        ),
        (main.get_object_lock_configuration, {}),
        (main.get_object_retention, {"Key": "there"}),
        (main.put_object_legal_hold, {"Key": "there", "LegalHold": {"Status": "ON"}}),
        (main.put_object_tagging, {"Key": "there", "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
        (main.get_object_tagging, {"Key": "there"}),
        (main.get_bucket_tagging, {}),
        (
            main.put_bucket_cors,
            {"CORSConfiguration": {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}},
        ),
        (main.get_bucket_cors, {}),
        (main.get_public_access_block, {}),
    ):
        _not_implemented(call, Bucket=bucket, **parameters)
    # Nothing of them reached the object or the bucket.
    assert main.get_object(Bucket=bucket, Key="there")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("header", "parameters"),
    [
        ("x-amz-acl", {"ACL": "public-read"}),
        ("x-amz-grant-read", {"GrantRead": 'id="someone"'}),
        ("x-amz-server-side-encryption", {"ServerSideEncryption": "AES256"}),
        ("x-amz-server-side-encryption", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "testkey-1"}),
        ("x-amz-server-side-encryption-customer-algorithm", SSE_C),
        ("x-amz-tagging", {"Tagging": "a=b"}),
        (
            "x-amz-object-lock-mode",
            {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01"},
        ),
        ("x-amz-object-lock-legal-hold", {"ObjectLockLegalHoldStatus": "ON"}),
        ("x-amz-storage-class", {"StorageClass": "GLACIER"}),
        ("x-amz-website-redirect-location", {"WebsiteRedirectLocation": "/elsewhere"}),
    ],
)
def test_headers_asking_for_what_tierstore_lacks(
    main: S3Client, bucket: str, header: str, parameters: dict[str, Any]
) -> None:
    key = f"refused-{secrets.token_hex(3)}"
    message = _not_implemented(main.put_object, Bucket=bucket, Key=key, Body=b"body", **parameters)
    assert header in message
    with pytest.raises(ClientError) as nothing:
        main.head_object(Bucket=bucket, Key=key)
    assert nothing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_headers_on_other_operations(main: S3Client, bucket: str) -> None:
    name = f"u-{secrets.token_hex(4)}"
    _not_implemented(main.create_bucket, Bucket=name, ACL="public-read-write")
    _not_implemented(main.create_bucket, Bucket=name, ObjectLockEnabledForBucket=True)
    _not_implemented(main.create_bucket, Bucket=name, ObjectOwnership="ObjectWriter")
    with pytest.raises(ClientError) as never_made:
        main.head_bucket(Bucket=name)
    assert never_made.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    _not_implemented(main.get_object, Bucket=bucket, Key="there", **SSE_C)
    _not_implemented(main.head_object, Bucket=bucket, Key="there", **SSE_C)
    source = {"Bucket": bucket, "Key": "there"}
    _not_implemented(
        main.copy_object, Bucket=bucket, Key="c", CopySource=source, TaggingDirective="REPLACE", Tagging="a=b"
    )
    _not_implemented(main.create_multipart_upload, Bucket=bucket, Key="m", ServerSideEncryption="AES256")


def test_what_asks_for_nothing_missing_is_taken(main: S3Client, bucket: str) -> None:
    name = f"u-{secrets.token_hex(4)}"
    main.create_bucket(Bucket=name, ACL="private", ObjectOwnership="BucketOwnerEnforced")
    main.put_object(Bucket=name, Key="a", Body=b"a", ACL="private", StorageClass="STANDARD")
    source = {"Bucket": name, "Key": "a"}
    main.copy_object(Bucket=name, Key="b", CopySource=source, ACL="private", TaggingDirective="COPY")
    answer = main.delete_objects(
        Bucket=name,
        Delete={"Objects": [{"Key": "a", "VersionId": "null"}, {"Key": "b"}], "Quiet": True},
        BypassGovernanceRetention=True,
    )
    assert "Errors" not in answer
    main.delete_bucket(Bucket=name)


def test_browser_uploads_and_anonymous_requests(module_gateway: RunningServer, bucket: str) -> None:
    assert module_gateway.s3_url is not None
    # A form POST (its credentials are in the form): NotImplemented, whoever sends it.
    form = {"key": (None, "posted.txt"), "acl": (None, "private"), "file": ("f", b"bar")}
    answer = httpx.post(f"{module_gateway.s3_url}/{bucket}", files=form, timeout=30)
    assert answer.status_code == 501 and b"<Code>NotImplemented</Code>" in answer.content
    anonymous = boto3.client(
        "s3",
        endpoint_url=module_gateway.s3_url,
        region_name="us-east-1",
        config=Config(
            signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    for call, parameters in (
        (anonymous.list_objects, {}),
        (anonymous.get_object, {"Key": "there"}),
        (anonymous.put_object, {"Key": "anon", "Body": b"x"}),
    ):
        with pytest.raises(ClientError) as refused:
            call(Bucket=bucket, **parameters)
        response = refused.value.response
        assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
            403,
            "AccessDenied",
        )
    # An empty Authorization header signs nothing: anonymous too.
    empty = httpx.put(
        f"{module_gateway.s3_url}/{bucket}/anon", headers={"Authorization": ""}, content=b"x", timeout=30
    )
    assert empty.status_code == 403 and b"<Code>AccessDenied</Code>" in empty.content
    wrong_key = gateway_client(module_gateway.s3_url, "TSKNOSUCHKEY00000000", "secret")
    with pytest.raises(ClientError) as unknown:
        wrong_key.list_buckets()
    assert unknown.value.response["Error"]["Code"] == "InvalidAccessKeyId"
