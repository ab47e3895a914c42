"""Web identity against SeaweedFS (which validates the JWT against the issuer's JWKS), and what
SeaweedFS lacks, against moto server: moto enforces the sts:ExternalId trust condition and
answers GetSessionToken (it does not enforce session policies or expiry, so those are tested on
SeaweedFS in test_sts_seaweedfs.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from tests.servers.imds import InstanceMetadataService
from tests.servers.moto import MotoServer
from tests.servers.oidc import OidcStack
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.resolve import ResolutionContext, resolve_credentials
from tierstore.errors import CredentialsError
from tierstore.settings.model import AccessKeys, AssumeRoleSettings, StoreLocation, StoreSettings
from tierstore.storage.s3.store import S3Store


def test_web_identity_reads_with_a_jwt_and_rereads_the_token_file(
    oidc_stack: OidcStack, tmp_path: Path
) -> None:
    stack = oidc_stack.stack
    admin = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=stack.region,
        aws_access_key_id=stack.admin.access_key_id,
        aws_secret_access_key=stack.admin.secret_access_key.reveal(),
    )
    admin.create_bucket(Bucket="web-identity")
    admin.put_object(Bucket="web-identity", Key="hello.txt", Body=b"for the workload")
    token_file = tmp_path / "token"
    token_file.write_text(oidc_stack.issuer.token(subject="pod-1"))
    environ = {
        "AWS_ROLE_ARN": oidc_stack.role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "pod-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket="web-identity"),
        endpoint=stack.endpoint,
        region=stack.region,
    )
    context = ResolutionContext(
        environ=environ, refresh=RefreshPolicy(fraction=0.001, margin=timedelta(seconds=1))
    )
    source = resolve_credentials(settings, context).source
    assert isinstance(source, RefreshingSource)
    with S3Store(settings, source) as store:
        assert store.get("hello.txt") == b"for the workload"
        first = source.credentials()
        # Kubernetes rotates the token file; the next refresh must read the new one.
        token_file.write_text(oidc_stack.issuer.token(subject="pod-1", lifetime_seconds=1800))
        source._next_attempt_at = None
        forced = source.refresh_count
        while source.refresh_count == forced:
            source.credentials()
        assert source.credentials().access_key_id != first.access_key_id
        assert store.get("hello.txt") == b"for the workload"
        # A token the issuer did not sign is refused at the next refresh, with the call named.
        token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    fresh = resolve_credentials(settings, context).source
    with pytest.raises(CredentialsError, match="AssumeRoleWithWebIdentity into"):
        fresh.credentials()


def moto_settings(moto_sts: MotoServer, role: AssumeRoleSettings | None) -> StoreSettings:
    keys = moto_sts.user_keys
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket="moto-bucket"),
        endpoint=moto_sts.endpoint,
        region="us-east-1",
        keys=AccessKeys(keys.access_key_id, keys.secret_access_key),
        assume_role=role,
    )


NO_AMBIENT = ResolutionContext(environ={"AWS_EC2_METADATA_DISABLED": "true"})


def test_assume_role_with_the_right_external_id(moto_sts: MotoServer) -> None:
    role = AssumeRoleSettings(
        role_arn=moto_sts.role_arn, external_id=moto_sts.external_id, session_name="ext-ok"
    )
    creds = resolve_credentials(moto_settings(moto_sts, role), NO_AMBIENT).source.credentials()
    assert creds.session_token is not None
    assert creds.expires_at is not None


def test_assume_role_with_a_wrong_external_id_is_refused_naming_it(moto_sts: MotoServer) -> None:
    role = AssumeRoleSettings(
        role_arn=moto_sts.role_arn, external_id="not-the-agreed-id", session_name="ext-bad"
    )
    source = resolve_credentials(moto_settings(moto_sts, role), NO_AMBIENT).source
    with pytest.raises(CredentialsError) as caught:
        source.credentials()
    message = str(caught.value)
    assert "external ID" in message
    assert "AccessDenied" in message
    assert moto_sts.user_keys.secret_access_key.reveal() not in message


def test_get_session_token_is_called_and_parsed(moto_sts: MotoServer) -> None:
    context = ResolutionContext(environ={"AWS_EC2_METADATA_DISABLED": "true"}, session="get-session-token")
    resolved = resolve_credentials(moto_settings(moto_sts, None), context)
    assert resolved.session is not None and resolved.session.call == "GetSessionToken"
    creds = resolved.source.credentials()
    assert creds.session_token is not None and creds.session_token.reveal()
    assert creds.expires_at is not None
    assert creds.access_key_id != moto_sts.user_keys.access_key_id


def test_instance_metadata_asks_for_a_token_first(
    imds_endpoint: InstanceMetadataService, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    imds_endpoint.set_credentials(
        "IMDSKEY0000000000000", "imds-secret", "imds-token", datetime.now(UTC) + timedelta(hours=1)
    )
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket="imds-bucket"), endpoint="http://127.0.0.1:9"
    )
    context = ResolutionContext(
        environ={
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_endpoint.url,
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
        }
    )
    creds = resolve_credentials(settings, context).source.credentials()
    assert creds.access_key_id == "IMDSKEY0000000000000"
    requests = imds_endpoint.requests
    assert requests[0].method == "PUT" and requests[0].path == "/latest/api/token"
    assert requests[1].path == "/latest/meta-data/iam/security-credentials/"
    assert requests[2].path.startswith("/latest/meta-data/iam/security-credentials/")
    assert all(request.had_token for request in requests[1:])
