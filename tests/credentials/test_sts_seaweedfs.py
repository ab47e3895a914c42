"""STS session credentials against the real SeaweedFS STS (which enforces roles, session policies
and expiry; it does not implement GetSessionToken nor the sts:ExternalId condition)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.resolve import ResolutionContext, resolve_credentials
from tierstore.errors import AccessDeniedError, CredentialsError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, AssumeRoleSettings, StoreLocation, StoreSettings
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NO_AMBIENT = ResolutionContext(environ={"AWS_EC2_METADATA_DISABLED": "true"})


def settings_for(
    stack: StackInfo, bucket: str, user: str, role: AssumeRoleSettings | None, prefix: str = ""
) -> StoreSettings:
    keys = stack.users[user]
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket=bucket, prefix=prefix),
        endpoint=stack.endpoint,
        region=stack.region,
        keys=AccessKeys(keys.access_key_id, keys.secret_access_key),
        assume_role=role,
    )


def test_assume_read_only_role_reads_and_is_denied_writes(
    stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    admin_s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"readable")
    role = AssumeRoleSettings(
        role_arn=stack.roles["ReadOnlyRole"], session_name="ro-test", duration_seconds=900
    )
    settings = settings_for(stack, bucket, "writer", role)
    resolved = resolve_credentials(settings, NO_AMBIENT)
    assert resolved.session is not None and resolved.session.call == "AssumeRole"
    creds = resolved.source.credentials()
    assert creds.session_token is not None
    assert creds.expires_at is not None
    with S3Store(settings, resolved.source) as store:
        assert store.get("doc.txt") == b"readable"
        with pytest.raises(AccessDeniedError) as caught:
            store.put("new.txt", b"no")
    assert f"s3://{bucket}/new.txt" in str(caught.value)


def test_session_policy_narrows_a_read_write_role_to_one_prefix(
    stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    admin_s3.put_object(Bucket=bucket, Key="other/x.txt", Body=b"x")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/allowed/*"],
                },
                {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]},
            ],
        }
    )
    role = AssumeRoleSettings(role_arn=stack.roles["ReadWriteRole"], policy=policy, duration_seconds=900)
    settings = settings_for(stack, bucket, "writer", role)
    source = resolve_credentials(settings, NO_AMBIENT).source
    with S3Store(settings, source) as store:
        store.put("allowed/ok.txt", b"inside the prefix")
        assert store.get("allowed/ok.txt") == b"inside the prefix"
        with pytest.raises(AccessDeniedError):
            store.put("other/no.txt", b"outside")
        with pytest.raises(AccessDeniedError):
            store.get("other/x.txt")


def test_get_session_token_is_refused_up_front_for_seaweedfs(stack: StackInfo, bucket: str) -> None:
    settings = settings_for(stack, bucket, "admin", None)
    context = ResolutionContext(environ={"AWS_EC2_METADATA_DISABLED": "true"}, session="get-session-token")
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials(settings, context)
    message = str(caught.value)
    assert "not supported" in message and "SeaweedFS" in message
    assert "role ARN" in message


def test_get_session_token_over_session_credentials_is_refused(stack: StackInfo, bucket: str) -> None:
    role = AssumeRoleSettings(role_arn=stack.roles["ReadOnlyRole"], duration_seconds=900)
    session = resolve_credentials(settings_for(stack, bucket, "admin", role), NO_AMBIENT).source.credentials()
    assert session.session_token is not None
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket=bucket),
        endpoint=stack.endpoint,
        keys=AccessKeys(session.access_key_id, session.secret_access_key, session.session_token),
    )
    context = ResolutionContext(environ={"AWS_EC2_METADATA_DISABLED": "true"}, session="get-session-token")
    with pytest.raises(CredentialsError, match="already session credentials"):
        resolve_credentials(settings, context)


def test_wrong_role_is_refused_with_a_message_naming_role_and_sts(stack: StackInfo, bucket: str) -> None:
    role = AssumeRoleSettings(role_arn="arn:aws:iam::000000000000:role/NoSuchRole", duration_seconds=900)
    source = resolve_credentials(settings_for(stack, bucket, "reader", role), NO_AMBIENT).source
    with pytest.raises(CredentialsError) as caught:
        source.credentials()
    message = str(caught.value)
    assert "AssumeRole into arn:aws:iam::000000000000:role/NoSuchRole" in message
    assert stack.endpoint in message
    assert stack.users["reader"].secret_access_key.reveal() not in message


def test_reader_keeps_reading_through_refreshes_with_no_failed_request(
    stack: StackInfo, bucket: str, admin_s3: S3Client
) -> None:
    admin_s3.put_object(Bucket=bucket, Key="stream.bin", Body=b"y" * 4096)
    role = AssumeRoleSettings(role_arn=stack.roles["ReadOnlyRole"], duration_seconds=900)
    settings = settings_for(stack, bucket, "reader", role)
    # 900 s credentials refreshed every ~1.8 s: the fraction setting drives refreshes quickly.
    context = ResolutionContext(
        environ={"AWS_EC2_METADATA_DISABLED": "true"},
        refresh=RefreshPolicy(fraction=0.002, margin=timedelta(seconds=5)),
    )
    source = resolve_credentials(settings, context).source
    assert isinstance(source, RefreshingSource)
    failures: list[BaseException] = []
    reads = 0
    keys_seen: set[str] = set()
    stop = threading.Event()

    def reader(store: S3Store) -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                assert store.get("stream.bin") == b"y" * 4096
                reads += 1
            except BaseException as error:  # every failure counts
                failures.append(error)

    with S3Store(settings, source) as store:
        threads = [threading.Thread(target=reader, args=(store,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            keys_seen.add(source.credentials().access_key_id)
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert reads > 100
    assert source.refresh_count >= 3
    assert len(keys_seen) >= 3
