"""The local stack against its real servers: identities, STS roles, SSE-KMS, Kafka, the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tierstore.local import (
    LocalStackError,
    OidcProvider,
    StackInfo,
    StackPorts,
    is_running,
    read_stack,
    start_stack,
    stop_stack,
)
from tierstore.local.ports import choose_ports

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import CredentialsTypeDef


PATH_STYLE = Config(region_name="us-east-1", s3={"addressing_style": "path"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _s3(stack: StackInfo, user: str = "admin", credentials: CredentialsTypeDef | None = None) -> S3Client:
    """An S3 client for one of the stack's users, or for temporary credentials from STS."""
    if credentials is not None:
        key_id, secret = credentials["AccessKeyId"], credentials["SecretAccessKey"]
        token: str | None = credentials["SessionToken"]
    else:
        key_id, secret, token = (
            stack.users[user].access_key_id,
            stack.users[user].secret_access_key.reveal(),
            None,
        )
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=PATH_STYLE,
    )
    return client


def _sts(stack: StackInfo, user: str) -> STSClient:
    """STS is served on the S3 port itself."""
    keys = stack.users[user]
    client: STSClient = boto3.client(
        "sts",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key.reveal(),
    )
    return client


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str | None:
    return error.value.response.get("Error", {}).get("Code")


def _assume(stack: StackInfo, user: str, role: str) -> CredentialsTypeDef:
    answer = _sts(stack, user).assume_role(
        RoleArn=stack.roles[role], RoleSessionName=f"test-{user}", DurationSeconds=900
    )
    return answer["Credentials"]


def test_admin_reader_and_writer_identities(stack: StackInfo, bucket: str) -> None:
    # The bucket fixture created the bucket with the admin's keys.
    admin, reader, writer = _s3(stack, "admin"), _s3(stack, "reader"), _s3(stack, "writer")
    admin.put_object(Bucket=bucket, Key="from-admin", Body=b"a")

    listed = [entry["Key"] for entry in reader.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["from-admin"]
    assert reader.get_object(Bucket=bucket, Key="from-admin")["Body"].read() == b"a"
    with pytest.raises(ClientError) as denied:
        reader.put_object(Bucket=bucket, Key="from-reader", Body=b"r")
    assert _error_code(denied) == "AccessDenied"

    writer.put_object(Bucket=bucket, Key="from-writer", Body=b"w")
    assert admin.get_object(Bucket=bucket, Key="from-writer")["Body"].read() == b"w"
    with pytest.raises(ClientError) as no_create:
        writer.create_bucket(Bucket=f"{bucket}-w")
    assert _error_code(no_create) == "AccessDenied"


def test_read_only_role_reads_and_is_denied_writes(stack: StackInfo, admin_s3: S3Client, bucket: str) -> None:
    admin_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    session = _s3(stack, credentials=_assume(stack, "reader", "ReadOnlyRole"))

    assert session.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert [entry["Key"] for entry in session.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    with pytest.raises(ClientError) as denied:
        session.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert _error_code(denied) == "AccessDenied"


def test_read_write_role_writes_deletes_and_uploads_in_parts(
    stack: StackInfo, admin_s3: S3Client, bucket: str
) -> None:
    credentials = _assume(stack, "admin", "ReadWriteRole")
    session = _s3(stack, credentials=credentials)

    session.put_object(Bucket=bucket, Key="written", Body=b"rw")
    assert admin_s3.get_object(Bucket=bucket, Key="written")["Body"].read() == b"rw"
    upload = session.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    session.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"p")
    session.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload)
    session.delete_object(Bucket=bucket, Key="written")
    assert "Contents" not in admin_s3.list_objects_v2(Bucket=bucket)

    identity = boto3.client(
        "sts",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/ReadWriteRole/test-admin")


def test_sse_kms_with_a_key_id(admin_s3: S3Client, bucket: str) -> None:
    put = admin_s3.put_object(
        Bucket=bucket,
        Key="sealed",
        Body=b"secret data",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="tierstore-test",
    )
    assert put["ServerSideEncryption"] == "aws:kms"
    got = admin_s3.get_object(Bucket=bucket, Key="sealed")
    assert got["Body"].read() == b"secret data"
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"] == "tierstore-test"


def test_kafka_produce_and_consume_one_record(stack: StackInfo) -> None:
    assert stack.kafka_bootstrap is not None
    topic = f"t-{uuid.uuid4().hex[:12]}"
    common: dict[str, str | int | float | bool] = {"bootstrap.servers": stack.kafka_bootstrap}
    admin = AdminClient(common)
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=10)

    producer = Producer(common)
    producer.produce(topic, key=b"k", value=b"hello tansu")
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            **common,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            # tansu holds a join for half the session timeout: keep it short.
            "session.timeout.ms": 2000,
            "heartbeat.interval.ms": 400,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        message = None
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(0.5)
            if polled is None:
                continue
            error = polled.error()
            if error is None:
                message = polled
            else:
                assert not error.fatal(), error
    finally:
        consumer.close()
    assert message is not None, "no record came back within 20 s"
    assert (message.key(), message.value()) == (b"k", b"hello tansu")


def test_state_round_trip_and_reprs_hide_secrets(stack: StackInfo) -> None:
    assert StackInfo.from_json(stack.to_json()) == stack
    text = repr(stack)
    for keys in stack.users.values():
        assert keys.secret_access_key.reveal() not in text
        assert keys.access_key_id not in text
        assert keys.access_key_id[:4] in repr(keys)
        assert len(keys.access_key_id) == 20 and keys.access_key_id.isupper() and keys.access_key_id.isalnum()
        assert len(keys.secret_access_key.reveal()) == 40
    state = stack.directory / "stack.json"
    assert state.stat().st_mode & 0o777 == 0o600


def _process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return True
    # A busy test session starts many processes: the pid may already belong to another one.
    if b"weed" not in command and b"tansu" not in command:
        return True
    # A zombie has exited; only its parent's bookkeeping remains.
    return stat.rpartition(")")[2].split()[0] == "Z"


def _weed_tmp_sockets(ports: dict[str, Any]) -> list[Path]:
    grpc = {name: ports[f"{name}_grpc"] for name in ("master", "volume", "filer", "s3", "admin")}
    return [Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock") for name, port in grpc.items()]


def test_extra_role_oidc_provider_foreign_env_keys_then_stale_state_is_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second stack: caller-given role and policy, an OIDC provider, then both servers killed.

    It starts from a shell with AWS keys exported, which weed would turn into one more admin.
    """
    foreign_key_id, foreign_secret = "FOREIGNKEYFOREIGN123", "f" * 40
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", foreign_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", foreign_secret)
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]},
        ],
    }
    role = {
        "roleName": "ListOnlyRole",
        "roleArn": "arn:aws:iam::000000000000:role/ListOnlyRole",
        "trustPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["arn:aws:iam::000000000000:user/admin"]},
                    "Action": ["sts:AssumeRole"],
                }
            ],
        },
        "attachedPolicies": ["ListOnlyPolicy"],
    }
    # Nothing listens there: the provider's keys are only fetched when a token comes.
    issuer_port = _free_port()
    oidc = OidcProvider(
        issuer=f"http://127.0.0.1:{issuer_port}",
        client_id="tierstore-tests",
        jwks_uri=f"http://127.0.0.1:{issuer_port}/jwks.json",
    )
    info = start_stack(
        tmp_path / "second",
        kafka=True,
        oidc=oidc,
        extra_roles=[role],
        extra_policies=[{"name": "ListOnlyPolicy", "document": document}],
    )
    try:
        assert info.roles["ListOnlyRole"] == role["roleArn"]
        iam = json.loads((info.directory / "weed" / "iam.json").read_text())
        assert iam["providers"][0]["config"]["issuer"] == oidc.issuer
        web_trust = next(r for r in iam["roles"] if r["roleName"] == "WebIdentityRole")["trustPolicy"]
        assert {"Federated": oidc.name} in [statement["Principal"] for statement in web_trust["Statement"]]

        with pytest.raises(LocalStackError, match="already running"):
            start_stack(info.directory)
        with pytest.raises(ClientError):
            _assume(info, "reader", "ListOnlyRole")
        session = _s3(info, credentials=_assume(info, "admin", "ListOnlyRole"))
        session.list_buckets()
        with pytest.raises(ClientError) as denied:
            session.create_bucket(Bucket="not-allowed")
        assert _error_code(denied) == "AccessDenied"

        foreign = boto3.client(
            "s3",
            endpoint_url=info.endpoint,
            aws_access_key_id=foreign_key_id,
            aws_secret_access_key=foreign_secret,
            config=PATH_STYLE,
        )
        with pytest.raises(ClientError) as unknown:
            foreign.list_buckets()
        assert _error_code(unknown) == "InvalidAccessKeyId"

        for pid in info.pids.values():
            os.kill(pid, signal.SIGKILL)
        recorded = read_stack(info.directory)
        assert recorded is not None
        assert _wait(lambda: not is_running(recorded))
    finally:
        stop_stack(info.directory)
    assert all(_process_gone(pid) for pid in info.pids.values())
    assert not info.directory.exists()
    assert not [sock for sock in _weed_tmp_sockets(info.ports.to_dict()) if sock.exists()]


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierstore.cli.main", "local", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_cli_up_status_env_down_leaves_nothing_behind(tmp_path: Path) -> None:
    directory = tmp_path / "cli-stack"
    env = {**os.environ, "TIERSTORE_LOCAL_DIR": str(tmp_path / "not-this-one")}

    up = _cli("up", "--dir", str(directory), "--kafka", env=env)
    assert up.returncode == 0, up.stderr
    status = _cli("status", "--dir", str(directory), "--json", env=env)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    try:
        assert document["running"] is True
        assert up.stdout.splitlines()[0] == document["endpoint"]
        assert set(document["users"]) == {"admin", "reader", "writer"}
        assert set(document["roles"]) >= {"ReadOnlyRole", "ReadWriteRole", "WebIdentityRole"}
        assert document["kafka_bootstrap"] == f"127.0.0.1:{document['ports']['kafka']}"

        again = _cli("up", "--dir", str(directory), env=env)
        assert again.returncode == 0 and "already running" in again.stdout

        human = _cli("status", "--dir", str(directory), env=env)
        admin = document["users"]["admin"]
        assert human.returncode == 0 and admin["access_key_id"][:4] in human.stdout
        assert admin["access_key_id"] not in human.stdout
        assert admin["secret_access_key"] not in human.stdout + human.stderr + up.stdout + up.stderr

        exported = _cli("env", "--dir", str(directory), env=env)
        assert exported.returncode == 0, exported.stderr
        variables = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in exported.stdout.splitlines()
        )
        assert variables["AWS_ENDPOINT_URL"] == document["endpoint"]
        assert variables["AWS_REGION"] == "us-east-1"
        assert variables["AWS_ACCESS_KEY_ID"] == admin["access_key_id"]
        assert variables["AWS_SECRET_ACCESS_KEY"] == admin["secret_access_key"]
        # The exported admin really works.
        client = boto3.client(
            "s3",
            endpoint_url=variables["AWS_ENDPOINT_URL"],
            region_name=variables["AWS_REGION"],
            aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
        )
        assert client.list_buckets()["Buckets"] == []
    finally:
        down = _cli("down", "--dir", str(directory), env=env)
    assert down.returncode == 0, down.stderr

    pids = [process["pid"] for process in document["processes"].values()]
    assert len(pids) == 2
    assert all(_process_gone(pid) for pid in pids)
    assert not directory.exists()
    assert not [sock for sock in _weed_tmp_sockets(document["ports"]) if sock.exists()]
    assert not (tmp_path / "not-this-one").exists()

    after = _cli("status", "--dir", str(directory), env=env)
    assert after.returncode == 2
    assert "no local stack" in after.stderr and "Traceback" not in after.stderr


def test_busy_port_is_a_clear_error_and_leaves_no_directory(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalStackError, match=rf"port {port} \(s3\).*already in use"):
            start_stack(tmp_path / "busy", ports={"s3": port})
    assert not (tmp_path / "busy").exists()


def test_missing_weed_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalStackError, match=r"'weed' was not found.*tierstore\[local\]"):
        start_stack(tmp_path / "no-weed")
    assert not (tmp_path / "no-weed").exists()


def test_a_port_taken_after_picking_is_retried_without_stray_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """weed quietly moves a busy gRPC port to the next free one; the stack restarts on new ports."""
    picks: list[StackPorts] = []
    with socket.socket() as thief:

        def choose_and_steal(*args: Any, **kwargs: Any) -> StackPorts:
            chosen = choose_ports(*args, **kwargs)
            picks.append(chosen)
            if len(picks) == 1:
                # As a racing process would: take the port between the pick and weed's bind.
                thief.bind(("127.0.0.1", chosen.volume_grpc))
                thief.listen()
            return chosen

        monkeypatch.setattr("tierstore.local.stack.choose_ports", choose_and_steal)
        info = start_stack(tmp_path / "retried")
        try:
            assert len(picks) == 2
            assert info.ports == picks[1]
            first_log = (info.directory / "weed" / "weed.log.1").read_text()
            moved = re.search(
                rf"gRPC port (\d+) for Volume is available, using it instead of {picks[0].volume_grpc}",
                first_log,
            )
            assert moved is not None
            assert not Path(f"/tmp/seaweedfs-volume-grpc-{moved.group(1)}.sock").exists()
            assert not [sock for sock in _weed_tmp_sockets(picks[0].to_dict()) if sock.exists()]
        finally:
            stop_stack(info.directory)
    assert not [sock for sock in _weed_tmp_sockets(info.ports.to_dict()) if sock.exists()]
