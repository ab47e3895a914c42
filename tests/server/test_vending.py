"""Credential vending against the real SeaweedFS, which enforces the session policy.

The Done-when matrix: read credentials for ``/mnt/s3/a/`` read under ``a/`` and nothing else;
write credentials write under ``a/`` only; a read-only mount and a user without the write bit
are refused write credentials.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.server.harness import RunningServer, start_api_server
from tests.server.vended import error_code, s3_from, vend
from tests.servers.loopback import Forwarder
from tierstore.local.info import StackInfo
from tierstore.server.policies import session_policy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient


def admin_options(stack: StackInfo) -> dict[str, str]:
    keys = stack.admin
    return {
        "aws.accessKeyId": keys.access_key_id,
        "aws.secretKey": keys.secret_access_key.reveal(),
        "alluxio.underfs.s3.endpoint": stack.endpoint,
        "alluxio.underfs.s3.region": "us-east-1",
    }


@pytest.fixture
def data_bucket(make_bucket: Callable[[], str], admin_s3: S3Client) -> str:
    name = make_bucket()
    for key in ("data/a/x.txt", "data/a/deep/y.txt", "data/b/z.txt", "data/ab.txt"):
        admin_s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


@pytest.fixture
def mounted(client: httpx.Client, stack: StackInfo, data_bucket: str) -> str:
    answer = client.post(
        "/v1/mounts",
        json={"path": "/mnt/s3", "uri": f"s3://{data_bucket}/data", "options": admin_options(stack)},
    )
    assert answer.status_code == 201, answer.text
    return data_bucket


def test_read_credentials_read_under_the_prefix_only(client: httpx.Client, mounted: str) -> None:
    answer = vend(client, "/mnt/s3/a/", "read")
    assert answer["mode"] == "direct" and answer["scoped"] is True
    assert answer["mount"] == "/mnt/s3" and answer["path"] == "/mnt/s3/a/"
    store = answer["store"]
    assert (store["bucket"], store["prefix"], store["path_style"]) == (mounted, "data/a/", True)
    s3 = s3_from(answer)
    assert s3.get_object(Bucket=mounted, Key="data/a/x.txt")["Body"].read() == b"data/a/x.txt"
    assert s3.get_object(Bucket=mounted, Key="data/a/deep/y.txt")["Body"].read() == b"data/a/deep/y.txt"
    listed = s3.list_objects_v2(Bucket=mounted, Prefix="data/a/")
    assert sorted(item["Key"] for item in listed["Contents"]) == ["data/a/deep/y.txt", "data/a/x.txt"]
    # Denied by the session policy, enforced by SeaweedFS:
    assert error_code(s3.put_object, Bucket=mounted, Key="data/a/new.txt", Body=b"no") == "AccessDenied"
    assert error_code(s3.delete_object, Bucket=mounted, Key="data/a/x.txt") == "AccessDenied"
    assert error_code(s3.get_object, Bucket=mounted, Key="data/b/z.txt") == "AccessDenied"
    # "a/" is a directory: its sibling "ab.txt" shares the letters but not the prefix.
    assert error_code(s3.get_object, Bucket=mounted, Key="data/ab.txt") == "AccessDenied"
    assert error_code(s3.list_objects_v2, Bucket=mounted, Prefix="data/b/") == "AccessDenied"


def test_write_credentials_write_under_the_prefix_only(
    client: httpx.Client, mounted: str, admin_s3: S3Client
) -> None:
    answer = vend(client, "/mnt/s3/a/", "write")
    assert answer["access"] == "write" and answer["store"]["prefix"] == "data/a/"
    s3 = s3_from(answer)
    s3.put_object(Bucket=mounted, Key="data/a/new.txt", Body=b"written directly")
    assert admin_s3.get_object(Bucket=mounted, Key="data/a/new.txt")["Body"].read() == b"written directly"
    upload = s3.create_multipart_upload(Bucket=mounted, Key="data/a/big.bin")
    part = s3.upload_part(
        Bucket=mounted, Key="data/a/big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024
    )
    s3.complete_multipart_upload(
        Bucket=mounted,
        Key="data/a/big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert admin_s3.head_object(Bucket=mounted, Key="data/a/big.bin")["ContentLength"] == 1024
    s3.delete_object(Bucket=mounted, Key="data/a/new.txt")
    assert error_code(s3.put_object, Bucket=mounted, Key="data/b/new.txt", Body=b"no") == "AccessDenied"
    assert error_code(s3.put_object, Bucket=mounted, Key="data/top.txt", Body=b"no") == "AccessDenied"
    assert error_code(s3.delete_object, Bucket=mounted, Key="data/b/z.txt") == "AccessDenied"
    assert admin_s3.get_object(Bucket=mounted, Key="data/b/z.txt")["Body"].read() == b"data/b/z.txt"


def test_a_file_path_covers_that_key_alone(client: httpx.Client, mounted: str, admin_s3: S3Client) -> None:
    # Keys that merely start with the file's key are other files: not covered.
    for other in ("data/a/x.txt.bak", "data/a/x.txt/inner"):
        admin_s3.put_object(Bucket=mounted, Key=other, Body=b"other")
    answer = vend(client, "/mnt/s3/a/x.txt", "read")
    assert answer["store"]["prefix"] == "data/a/x.txt"
    s3 = s3_from(answer)
    assert s3.get_object(Bucket=mounted, Key="data/a/x.txt")["Body"].read() == b"data/a/x.txt"
    assert error_code(s3.get_object, Bucket=mounted, Key="data/a/deep/y.txt") == "AccessDenied"
    assert error_code(s3.get_object, Bucket=mounted, Key="data/a/x.txt.bak") == "AccessDenied"
    assert error_code(s3.get_object, Bucket=mounted, Key="data/a/x.txt/inner") == "AccessDenied"


def test_write_credentials_are_refused_on_a_read_only_mount(
    client: httpx.Client, stack: StackInfo, data_bucket: str
) -> None:
    added = client.post(
        "/v1/mounts",
        json={
            "path": "/mnt/ro",
            "uri": f"s3://{data_bucket}/data",
            "options": admin_options(stack),
            "readonly": True,
        },
    )
    assert added.status_code == 201, added.text
    refused = client.post("/v1/credentials", json={"path": "/mnt/ro/a/", "access": "write"})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden"
    assert "/mnt/ro" in error["message"] and "read-only" in error["message"]
    # Reading it is fine.
    assert vend(client, "/mnt/ro/a/", "read")["store"]["prefix"] == "data/a/"


def test_the_users_bits_decide_read_and_write(client: httpx.Client, api: RunningServer, mounted: str) -> None:
    alice = api.add_user("alice", ["staff"])
    # The mount's mode comes from the bucket ACL: rwx for its owner only (no tierstore user).
    denied = client.post("/v1/credentials", json={"path": "/mnt/s3/a/"}, headers=api.auth(alice))
    assert denied.status_code == 403 and "search (x)" in denied.json()["error"]["message"]
    for directory in ("/", "/mnt", "/mnt/s3"):
        assert client.post("/v1/fs/chmod", json={"path": directory, "mode": "0711"}).status_code == 200
    denied = client.post("/v1/credentials", json={"path": "/mnt/s3/a/"}, headers=api.auth(alice))
    assert denied.status_code == 403 and "needs the read bit" in denied.json()["error"]["message"]
    assert client.post("/v1/fs/chmod", json={"path": "/mnt/s3/a", "mode": "0755"}).status_code == 200
    answer = vend(client, "/mnt/s3/a/", "read", token=alice)
    assert s3_from(answer).get_object(Bucket=mounted, Key="data/a/x.txt")["Body"].read() == b"data/a/x.txt"
    refused = client.post(
        "/v1/credentials", json={"path": "/mnt/s3/a/", "access": "write"}, headers=api.auth(alice)
    )
    assert refused.status_code == 403
    assert "needs the write bit" in refused.json()["error"]["message"]
    # The mode of /mnt/s3/a covers what is below it too.
    assert vend(client, "/mnt/s3/a/deep/", "read", token=alice)["store"]["prefix"] == "data/a/deep/"
    assert client.post("/v1/fs/chown", json={"path": "/mnt/s3/a", "group": "staff"}).status_code == 200
    assert client.post("/v1/fs/chmod", json={"path": "/mnt/s3/a", "mode": "0775"}).status_code == 200
    assert vend(client, "/mnt/s3/a/", "write", token=alice)["access"] == "write"


def sample(api: RunningServer, name: str, **labels: str) -> float:
    return api.state.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_second_vend_is_served_from_the_cache(
    client: httpx.Client, api: RunningServer, mounted: str
) -> None:
    first = vend(client, "/mnt/s3/a/", "read")
    second = vend(client, "/mnt/s3/a/", "read")
    assert second == first  # a warm vend answers exactly as the cold one did
    assert second["credentials"] == first["credentials"]
    assert second["refresh_at"] == first["refresh_at"] < first["expires_at"]
    assert sample(api, "tierstore_sts_calls_total", call="AssumeRole") == 1
    assert sample(api, "tierstore_vended_credentials_total", access="read", cache="miss") == 1
    assert sample(api, "tierstore_vended_credentials_total", access="read", cache="hit") == 1
    # Another access level or prefix is another key.
    assert vend(client, "/mnt/s3/a/", "write")["credentials"] != first["credentials"]
    assert vend(client, "/mnt/s3/b/", "read")["store"]["prefix"] == "data/b/"
    assert sample(api, "tierstore_sts_calls_total", call="AssumeRole") == 3


def test_concurrent_vends_of_one_key_make_one_sts_call(
    client: httpx.Client, api: RunningServer, mounted: str
) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def one(_: int) -> str:
        barrier.wait()
        answer = httpx.post(
            f"{api.url}/v1/credentials",
            json={"path": "/mnt/s3/b/", "access": "read"},
            headers=api.auth(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        key_id: str = answer.json()["credentials"]["access_key_id"]
        return key_id

    with ThreadPoolExecutor(max_workers=threads) as pool:
        key_ids = set(pool.map(one, range(threads)))
    assert len(key_ids) == 1
    assert sample(api, "tierstore_sts_calls_total", call="AssumeRole") == 1
    assert sample(api, "tierstore_vended_credentials_total", access="read", cache="hit") == threads - 1


def test_the_vending_identity_is_not_the_data_identity(
    tmp_path: Path, stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    """The server reads its data with session credentials of ReadOnlyRole, which SeaweedFS does not
    let call AssumeRole; vending still works because STS is called with the writer's keys."""
    reader = stack.users["reader"]
    sts = sts_client(stack, reader.access_key_id, reader.secret_access_key.reveal())
    session = sts.assume_role(
        RoleArn=stack.roles["ReadOnlyRole"], RoleSessionName="data", DurationSeconds=900
    )
    data = session["Credentials"]
    # The data identity itself cannot call STS: had the server used it, vending would fail.
    own_sts = sts_client(stack, data["AccessKeyId"], data["SecretAccessKey"], data["SessionToken"])
    assert error_code(own_sts.assume_role, RoleArn=stack.roles["ReadWriteRole"], RoleSessionName="no") != "ok"
    admin_s3.put_object(Bucket=bucket, Key="root/a/x.txt", Body=b"served by the data identity")
    writer = stack.users["writer"]
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {stack.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {data['AccessKeyId']}\n"
        f"s3.secret-key: {data['SecretAccessKey']}\n"
        f"s3.session-token: {data['SessionToken']}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
        f"tierstore.vending.access-key: {writer.access_key_id}\n"
        f"tierstore.vending.secret-key: {writer.secret_access_key.reveal()}\n"
        f"tierstore.vending.role.arn: {stack.roles['ReadWriteRole']}\n"
    )
    server = start_api_server(config)
    try:
        with httpx.Client(base_url=server.url, headers=server.auth(), timeout=30) as http:
            proxied = http.get("/v1/data", params={"path": "/a/x.txt"})
            assert proxied.content == b"served by the data identity"
            answer = vend(http, "/a/", "write")
        s3_from(answer).put_object(Bucket=bucket, Key="root/a/new.txt", Body=b"direct")
        assert admin_s3.get_object(Bucket=bucket, Key="root/a/new.txt")["Body"].read() == b"direct"
        assert sample(server, "tierstore_sts_failures_total", call="AssumeRole") == 0
    finally:
        server.stop()


def test_seaweedfs_does_not_need_validate_session_in_the_session_policy(
    stack: StackInfo, mounted: str
) -> None:
    """The roles of the local stack allow sts:ValidateSession, which SeaweedFS requires of a role.
    A session policy without it (ours) still works, so it is left out: S3 actions only."""
    policy = session_policy(mounted, "data/a/", "read")
    assert all(
        action.startswith("s3:") for statement in policy["Statement"] for action in statement["Action"]
    )
    writer = stack.users["writer"]
    sts = sts_client(stack, writer.access_key_id, writer.secret_access_key.reveal())
    creds = sts.assume_role(
        RoleArn=stack.roles["ReadWriteRole"], RoleSessionName="vs", Policy=json.dumps(policy)
    )["Credentials"]
    s3 = s3_from(
        {
            "store": {"endpoint": stack.endpoint, "region": "us-east-1", "path_style": True},
            "credentials": {
                "access_key_id": creds["AccessKeyId"],
                "secret_access_key": creds["SecretAccessKey"],
                "session_token": creds["SessionToken"],
            },
        }
    )
    assert s3.get_object(Bucket=mounted, Key="data/a/x.txt")["Body"].read() == b"data/a/x.txt"
    assert error_code(s3.get_object, Bucket=mounted, Key="data/b/z.txt") == "AccessDenied"


def sts_client(stack: StackInfo, key_id: str, secret: str, token: str | None = None) -> STSClient:
    client: STSClient = boto3.client(
        "sts",
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    return client


def test_a_mounts_own_vending_keys_override_the_servers(
    client: httpx.Client, stack: StackInfo, data_bucket: str
) -> None:
    options = {
        **admin_options(stack),
        "tierstore.vending.role.arn": stack.roles["ReadOnlyRole"],
        "tierstore.vending.endpoint": "http://s3.public.example:8333",
    }
    added = client.post(
        "/v1/mounts", json={"path": "/mnt/ro-role", "uri": f"s3://{data_bucket}/data", "options": options}
    )
    assert added.status_code == 201, added.text
    answer = vend(client, "/mnt/ro-role/a/", "write")
    assert answer["store"]["endpoint"] == "http://s3.public.example:8333"  # what clients are told
    answer["store"]["endpoint"] = stack.endpoint  # this test's client reaches the store directly
    s3 = s3_from(answer)
    # The session policy allows writes, but the role (ReadOnlyRole) does not: SeaweedFS intersects them.
    assert s3.get_object(Bucket=data_bucket, Key="data/a/x.txt")["Body"].read() == b"data/a/x.txt"
    assert error_code(s3.put_object, Bucket=data_bucket, Key="data/a/new.txt", Body=b"no") == "AccessDenied"


def test_a_cold_vend_stuck_on_sts_never_stalls_warm_requests(
    client: httpx.Client, api: RunningServer, stack: StackInfo, data_bucket: str
) -> None:
    """Warm vends and stats are answered on the event loop; a vend that must call STS moves to a
    thread first. With that STS call hanging (STS, behind a forwarder, gets the request and its
    answer is held back), warm requests still answer at once: the call never ran on the loop."""
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port) as sts:
        options = {
            **admin_options(stack),
            "tierstore.vending.role.arn": stack.roles["ReadWriteRole"],
            "tierstore.vending.sts.endpoint": sts.endpoint,
        }
        mounted = {"path": "/mnt/slow-sts", "uri": f"s3://{data_bucket}/data", "options": options}
        assert client.post("/v1/mounts", json=mounted).status_code == 201
        # The mount's vending set-up and its attributes are in memory: only STS is left to block.
        assert vend(client, "/mnt/slow-sts/a/", "read")["mode"] == "direct"
        assert vend(client, "/", "read")["mode"] == "direct"  # warm from now on
        sts.hold_answers.set()
        stuck: list[int] = []

        def cold_vend() -> None:
            answer = httpx.post(
                f"{api.url}/v1/credentials",
                # The path read was vended for: only the credentials for writing are new.
                json={"path": "/mnt/slow-sts/a/", "access": "write"},
                headers=api.auth(),
                timeout=120,
            )
            stuck.append(answer.status_code)

        waiting = threading.Thread(target=cold_vend)
        waiting.start()
        time.sleep(0.5)  # the cold vend is waiting for STS's answer now
        for _ in range(20):
            began = time.monotonic()
            assert client.post("/v1/credentials", json={"path": "/", "access": "read"}).status_code == 200
            assert client.get("/v1/fs/stat", params={"path": "/"}).status_code == 200
            assert time.monotonic() - began < 2.0
        assert stuck == [] and waiting.is_alive()  # still stuck all along
        sts.hold_answers.clear()
        waiting.join(timeout=60)
    assert stuck == [200]  # STS answered at last: the cold vend completes
