"""Vended credentials, used straight on SeaweedFS, reach no more than the API lets the caller reach.

Every case vends through the real server (AssumeRole on SeaweedFS's STS with the session policy
tierstore builds) and then calls SeaweedFS with boto3 and the vended keys, as a hostile user would.
SeaweedFS enforces the session policy's Allow and Deny statements and the ``s3:prefix`` condition.
"""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from tests.security.conftest import SECRET, Hostile


def _denied(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def test_a_read_vend_of_a_parent_does_not_reach_a_private_directory_below(hostile: Hostile) -> None:
    answer = hostile.vend(hostile.bob, "/shared/", "read")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    s3 = hostile.vended_s3(body)
    secret_key = hostile.key_of("/shared/alice/secret.txt")
    assert _denied(lambda: s3.get_object(Bucket=hostile.bucket, Key=secret_key))
    # Names below the private directory are hidden too: a vend with stricter paths below carries
    # no listing right at all (S3 cannot hide keys below a prefix from a recursive listing).
    assert body["store"]["list"] is False
    assert body["store"]["restricted"] == [hostile.key_of("/shared/alice")]
    assert _denied(lambda: s3.list_objects_v2(Bucket=hostile.bucket, Prefix=hostile.key_of("/shared/")))
    # What bob may read is still readable with the same keys.
    hostile.admin.put("/v1/data", params={"path": "/shared/open.txt"}, content=b"open")
    got = s3.get_object(Bucket=hostile.bucket, Key=hostile.key_of("/shared/open.txt"))["Body"].read()
    assert got == b"open"


def test_a_write_vend_of_a_parent_cannot_overwrite_a_private_file(hostile: Hostile) -> None:
    answer = hostile.vend(hostile.bob, "/shared/", "write")
    assert answer.status_code == 200, answer.text
    s3 = hostile.vended_s3(answer.json())
    secret_key = hostile.key_of("/shared/alice/secret.txt")
    assert _denied(lambda: s3.put_object(Bucket=hostile.bucket, Key=secret_key, Body=b"owned"))
    assert _denied(lambda: s3.delete_object(Bucket=hostile.bucket, Key=secret_key))
    assert _denied(
        lambda: s3.create_multipart_upload(Bucket=hostile.bucket, Key=hostile.key_of("/shared/alice/new"))
    )
    s3.put_object(Bucket=hostile.bucket, Key=hostile.key_of("/shared/bob.txt"), Body=b"mine")
    assert hostile.alice.get("/v1/data", params={"path": "/shared/alice/secret.txt"}).content == SECRET


def test_a_read_only_subdirectory_is_denied_for_writing_only(hostile: Hostile) -> None:
    hostile.admin.post("/v1/fs/mkdir", json={"path": "/shared/docs"})
    hostile.admin.put("/v1/data", params={"path": "/shared/docs/manual.txt"}, content=b"manual")
    hostile.admin.post("/v1/fs/chmod", json={"path": "/shared/docs", "mode": "0755"})
    answer = hostile.vend(hostile.bob, "/shared/", "write")
    assert answer.status_code == 200, answer.text
    s3 = hostile.vended_s3(answer.json())
    key = hostile.key_of("/shared/docs/manual.txt")
    assert s3.get_object(Bucket=hostile.bucket, Key=key)["Body"].read() == b"manual"
    assert _denied(lambda: s3.put_object(Bucket=hostile.bucket, Key=key, Body=b"x"))


def test_a_chmod_below_changes_the_next_vend_even_when_cached(hostile: Hostile) -> None:
    assert hostile.alice.post("/v1/fs/mkdir", json={"path": "/shared/alice-pub"}).is_success
    hostile.alice.put("/v1/data", params={"path": "/shared/alice-pub/a.txt"}, content=b"a")
    first = hostile.vend(hostile.bob, "/shared/", "read").json()
    s3 = hostile.vended_s3(first)
    key = hostile.key_of("/shared/alice-pub/a.txt")
    # alice's new directory is 0755 (umask 022): bob may read it.
    assert s3.get_object(Bucket=hostile.bucket, Key=key)["Body"].read() == b"a"
    assert hostile.alice.post("/v1/fs/chmod", json={"path": "/shared/alice-pub", "mode": "0700"}).is_success
    second = hostile.vend(hostile.bob, "/shared/", "read").json()
    assert second["credentials"]["access_key_id"] != first["credentials"]["access_key_id"]
    assert _denied(lambda: hostile.vended_s3(second).get_object(Bucket=hostile.bucket, Key=key))


def test_one_users_cached_answer_never_serves_another(hostile: Hostile) -> None:
    alice = hostile.vend(hostile.alice, "/shared/", "read").json()
    bob = hostile.vend(hostile.bob, "/shared/", "read").json()
    assert alice["credentials"]["access_key_id"] != bob["credentials"]["access_key_id"]
    secret_key = hostile.key_of("/shared/alice/secret.txt")
    assert hostile.vended_s3(alice).get_object(Bucket=hostile.bucket, Key=secret_key)["Body"].read() == SECRET
    assert _denied(lambda: hostile.vended_s3(bob).get_object(Bucket=hostile.bucket, Key=secret_key))


@pytest.mark.parametrize(
    "path", ["/shared/*/secret.txt", "/shared/?lice/secret.txt", "/shared/${aws:username}/"]
)
def test_iam_wildcards_and_variables_in_a_vend_path_are_refused(hostile: Hostile, path: str) -> None:
    answer = hostile.vend(hostile.bob, path, "read")
    assert answer.status_code == 400, answer.text
    assert "not allowed in a vended path" in answer.json()["error"]["message"]


def test_a_vend_of_the_root_keeps_out_of_a_nested_mount_on_the_same_bucket(hostile: Hostile) -> None:
    nested = f"s3://{hostile.bucket}/nested-ro"
    options = {
        "alluxio.underfs.s3.endpoint": hostile.stack.endpoint,
        "aws.accessKeyId": hostile.stack.admin.access_key_id,
        "aws.secretKey": hostile.stack.admin.secret_access_key.reveal(),
    }
    added = hostile.admin.post(
        "/v1/mounts", json={"path": "/ro", "uri": nested, "options": options, "readonly": True}
    )
    assert added.status_code == 201, added.text
    hostile.admin.post("/v1/fs/chmod", json={"path": "/", "mode": "0777"})
    # The root mount lives at root/ in the bucket; vend a write of the mount's whole bucket view.
    answer = hostile.vend(hostile.bob, "/", "write")
    assert answer.status_code == 200, answer.text
    s3 = hostile.vended_s3(answer.json())
    assert _denied(
        lambda: s3.put_object(Bucket=hostile.bucket, Key="root/shared/alice/secret.txt", Body=b"x")
    )


def test_write_credentials_list_only_their_own_uploads(hostile: Hostile) -> None:
    hostile.bob.post("/v1/fs/mkdir", json={"path": "/shared/bob"})
    answer = hostile.vend(hostile.bob, "/shared/bob/", "write")
    assert answer.status_code == 200, answer.text
    s3 = hostile.vended_s3(answer.json())
    # With no prefix, or another's, the listing of multipart uploads is refused.
    assert _denied(lambda: s3.list_multipart_uploads(Bucket=hostile.bucket))
    assert _denied(
        lambda: s3.list_multipart_uploads(Bucket=hostile.bucket, Prefix=hostile.key_of("/shared/"))
    )
    mine = s3.list_multipart_uploads(Bucket=hostile.bucket, Prefix=hostile.key_of("/shared/bob/"))
    assert mine["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_sessions_and_audit_lines_name_the_user(hostile: Hostile, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tierstore.audit")
    answer = hostile.vend(hostile.bob, "/shared/", "read").json()
    s3 = hostile.vended_s3(answer)
    del s3
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tierstore.audit"]
    vend = lines[-1]
    key_id = answer["credentials"]["access_key_id"]
    assert vend["user"] == "bob" and vend["event"] == "vend"
    assert vend["key"] == f"{key_id[:4]}…" and len(vend["key_sha256"]) == 16
    assert key_id not in caplog.text
    assert answer["credentials"]["secret_access_key"] not in caplog.text
    # The STS session is named for the user: SeaweedFS says who the keys belong to.
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=hostile.stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=answer["credentials"]["secret_access_key"],
        aws_session_token=answer["credentials"]["session_token"],
    )
    assert "ts-bob-read" in sts.get_caller_identity()["Arn"]


def test_a_vend_path_too_long_for_a_session_policy_is_414(hostile: Hostile) -> None:
    long_path = "/shared/" + "d" * 700 + "/"
    answer = hostile.vend(hostile.admin, long_path, "read")
    assert answer.status_code == 414, answer.text
    assert "2048" in answer.json()["error"]["message"]
