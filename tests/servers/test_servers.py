"""Each loopback server proven against the real client that will talk to it: SeaweedFS, botocore, the CLI."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import botocore
import jwt
import pytest
from botocore.config import Config
from botocore.credentials import ContainerProvider, InstanceMetadataProvider
from botocore.exceptions import ClientError, CredentialRetrievalError
from botocore.session import Session
from botocore.utils import ContainerMetadataFetcher, InstanceMetadataFetcher

from tests.servers.awscli import AwsCli
from tests.servers.base import LOOPBACK
from tests.servers.container import ContainerCredentialsEndpoint
from tests.servers.imds import CREDENTIALS_PATH, TOKEN_PATH, ImdsRequest, InstanceMetadataService
from tests.servers.moto import MotoServer
from tests.servers.oidc import CLIENT_ID, DISCOVERY_PATH, JWKS_PATH, OidcIssuer, OidcStack, new_rsa_key
from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

PATH_STYLE = Config(region_name="us-east-1", s3={"addressing_style": "path"})
TCP_LISTEN = "0A"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != TCP_LISTEN or int(hex_port, 16) != port:
                continue
            if len(address) == 8:  # IPv4, little-endian
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add(f"ipv6:{address}")
    return found


def test_every_server_listens_on_loopback_only(
    oidc_issuer: OidcIssuer,
    container_endpoint: ContainerCredentialsEndpoint,
    imds_endpoint: InstanceMetadataService,
    moto_sts: MotoServer,
) -> None:
    urls = [oidc_issuer.url, container_endpoint.url, imds_endpoint.url, moto_sts.endpoint]
    for url in urls:
        assert url.startswith(f"http://{LOOPBACK}:")
        assert _listening_addresses(int(url.rsplit(":", 1)[1])) == {LOOPBACK}


# --- OIDC issuer and SeaweedFS web identity -------------------------------------------------------


def test_oidc_issuer_serves_discovery_and_a_jwks_that_verifies_its_tokens(oidc_issuer: OidcIssuer) -> None:
    status, body = _get(f"{oidc_issuer.url}{DISCOVERY_PATH}")
    assert status == 200
    discovery = json.loads(body)
    assert discovery["issuer"] == oidc_issuer.url
    assert discovery["jwks_uri"] == f"{oidc_issuer.url}{JWKS_PATH}"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]

    token = oidc_issuer.token(subject="svc-1", lifetime_seconds=600, team="data")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": oidc_issuer.kid, "typ": "JWT"}
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=oidc_issuer.url
    )
    assert claims["sub"] == "svc-1"
    assert claims["team"] == "data"
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 60

    forged = oidc_issuer.token(signing_key=new_rsa_key())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["RS256"], audience=CLIENT_ID)
    assert ("GET", JWKS_PATH) in oidc_issuer.requests
    assert _get(f"{oidc_issuer.url}/nothing")[0] == 404


def _unsigned_sts(endpoint: str) -> STSClient:
    """AssumeRoleWithWebIdentity is an unsigned call: the JWT is the credential."""
    client: STSClient = boto3.client(
        "sts",
        endpoint_url=endpoint,
        config=Config(
            signature_version=botocore.UNSIGNED, region_name="us-east-1", retries={"max_attempts": 1}
        ),
    )
    return client


def _admin_s3(stack: StackInfo) -> S3Client:
    admin = stack.admin
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key.reveal(),
        config=PATH_STYLE,
    )
    return client


def test_web_identity_token_from_the_issuer_gives_seaweedfs_credentials(oidc_stack: OidcStack) -> None:
    admin = _admin_s3(oidc_stack.stack)
    bucket = f"webid-{int(time.time() * 1000) % 10**9}"
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
    try:
        answer = _unsigned_sts(oidc_stack.endpoint).assume_role_with_web_identity(
            RoleArn=oidc_stack.role_arn,
            RoleSessionName="tierstore-test",
            WebIdentityToken=oidc_stack.issuer.token(subject="svc-web"),
        )
        assert answer["SubjectFromWebIdentityToken"] == "svc-web"
        credentials = answer["Credentials"]
        assert credentials["AccessKeyId"].startswith("ASIA")
        assert credentials["Expiration"] > datetime.now(UTC) + timedelta(minutes=50)
        web = boto3.client(
            "s3",
            endpoint_url=oidc_stack.endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=PATH_STYLE,
        )
        listing = web.list_objects_v2(Bucket=bucket)
        assert [entry["Key"] for entry in listing["Contents"]] == ["hello.txt"]
        # WebIdentityRole carries the read-only policy.
        with pytest.raises(ClientError) as refused:
            web.put_object(Bucket=bucket, Key="nope.txt", Body=b"x")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        # SeaweedFS (Go's HTTP client) reads the JWKS from the configured jwksUri, and only that.
        from_seaweed = {
            (request.method, request.path)
            for request in oidc_stack.issuer.received
            if request.headers.get("user-agent", "").startswith("Go-http-client/")
        }
        assert from_seaweed == {("GET", JWKS_PATH)}
    finally:
        for key in ("hello.txt", "nope.txt"):
            admin.delete_object(Bucket=bucket, Key=key)
        admin.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    ("case", "status", "code", "message"),
    [
        ("expired", 400, "ExpiredTokenException", "token has expired"),
        ("other key", 400, "InvalidParameterValue", "signature is invalid"),
        ("other audience", 400, "InvalidParameterValue", "invalid token audience"),
        ("no kid", 403, "AccessDenied", "missing key ID"),
        ("other issuer", 403, "AccessDenied", "trust policy denies"),
    ],
)
def test_web_identity_refuses_bad_tokens(
    oidc_stack: OidcStack, case: str, status: int, code: str, message: str
) -> None:
    issuer = oidc_stack.issuer
    now = int(time.time())
    tokens = {
        "expired": lambda: issuer.token(lifetime_seconds=-60, iat=now - 3600),
        "other key": lambda: issuer.token(signing_key=new_rsa_key()),
        "other audience": lambda: issuer.token(audience="someone-else"),
        "no kid": lambda: issuer.sign(
            {"iss": issuer.issuer, "aud": CLIENT_ID, "sub": "x", "iat": now, "exp": now + 600}, kid=None
        ),
        "other issuer": lambda: issuer.token(iss="http://127.0.0.1:9"),
    }
    with pytest.raises(ClientError) as refused:
        _unsigned_sts(oidc_stack.endpoint).assume_role_with_web_identity(
            RoleArn=oidc_stack.role_arn, RoleSessionName="tierstore-test", WebIdentityToken=tokens[case]()
        )
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["Error"]["Code"] == code
    assert message in response["Error"]["Message"]


# --- Container credentials endpoint ---------------------------------------------------------------


def _expiry() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)


def test_container_endpoint_serves_botocore_with_the_token(
    container_endpoint: ContainerCredentialsEndpoint,
) -> None:
    expiration = _expiry()
    container_endpoint.set_credentials(
        "ASIACONTAINER0000001", "container-secret", "container-token", expiration
    )
    provider = ContainerProvider(
        environ={
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint.full_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": container_endpoint.auth_token,
        }
    )
    credentials = provider.load()
    assert credentials is not None
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "ASIACONTAINER0000001",
        "container-secret",
        "container-token",
    )
    assert credentials._expiry_time == expiration  # type: ignore[attr-defined]
    assert credentials.method == "container-role"
    assert container_endpoint.requests == [(container_endpoint.path, container_endpoint.auth_token)]


def test_container_endpoint_token_from_a_file(
    container_endpoint: ContainerCredentialsEndpoint, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(container_endpoint.auth_token)  # no newline: botocore refuses one
    container_endpoint.set_credentials("ASIACONTAINER0000002", "file-secret", "file-token", _expiry())
    credentials = ContainerProvider(
        environ={
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint.full_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        }
    ).load()
    assert credentials is not None
    assert credentials.get_frozen_credentials().access_key == "ASIACONTAINER0000002"
    assert container_endpoint.requests == [(container_endpoint.path, container_endpoint.auth_token)]


def test_container_endpoint_refuses_a_wrong_or_missing_token(
    container_endpoint: ContainerCredentialsEndpoint,
) -> None:
    fetcher = ContainerMetadataFetcher(sleep=lambda _seconds: None)
    provider = ContainerProvider(
        environ={
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint.full_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "not-the-token",
        },
        fetcher=fetcher,  # type: ignore[arg-type]  # the stubs name the wrong fetcher class
    )
    with pytest.raises(CredentialRetrievalError, match="401"):
        provider.load()
    # botocore tries three times.
    assert container_endpoint.requests == [(container_endpoint.path, "not-the-token")] * 3
    assert _get(container_endpoint.full_uri)[0] == 401
    assert _get(f"{container_endpoint.url}/other", {"Authorization": container_endpoint.auth_token})[0] == 404
    assert container_endpoint.requests[-2:] == [
        (container_endpoint.path, None),
        ("/other", container_endpoint.auth_token),
    ]


# --- Instance metadata (IMDSv2) -------------------------------------------------------------------


def _expected_imds_order(service: InstanceMetadataService) -> list[ImdsRequest]:
    return [
        ImdsRequest("PUT", TOKEN_PATH, had_token=False),
        ImdsRequest("GET", CREDENTIALS_PATH, had_token=True),
        ImdsRequest("GET", CREDENTIALS_PATH + service.role_name, had_token=True),
    ]


def test_imds_serves_botocore_token_first(imds_endpoint: InstanceMetadataService) -> None:
    expiration = _expiry()
    imds_endpoint.set_credentials("ASIAINSTANCE00000001", "instance-secret", "instance-token", expiration)
    fetcher = InstanceMetadataFetcher(
        timeout=1, num_attempts=1, env={}, config={"ec2_metadata_service_endpoint": imds_endpoint.url}
    )
    credentials = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
    assert credentials is not None
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "ASIAINSTANCE00000001",
        "instance-secret",
        "instance-token",
    )
    assert credentials.method == "iam-role"
    assert credentials._expiry_time == expiration  # type: ignore[attr-defined]
    assert imds_endpoint.requests == _expected_imds_order(imds_endpoint)
    assert imds_endpoint.tokens_issued == 1


def test_imds_endpoint_from_the_environment_in_the_default_chain(
    imds_endpoint: InstanceMetadataService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plain botocore session finds it through ``AWS_EC2_METADATA_SERVICE_ENDPOINT``."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_endpoint.url)
    imds_endpoint.set_credentials("ASIAINSTANCE00000002", "env-secret", "env-token", _expiry())
    credentials = Session().get_credentials()
    assert credentials is not None
    assert credentials.method == "iam-role"
    assert credentials.get_frozen_credentials().access_key == "ASIAINSTANCE00000002"
    assert imds_endpoint.requests == _expected_imds_order(imds_endpoint)


def test_imds_refuses_requests_without_a_valid_token(imds_endpoint: InstanceMetadataService) -> None:
    role_url = f"{imds_endpoint.url}{CREDENTIALS_PATH}"
    assert _get(role_url)[0] == 401
    assert _get(role_url, {"X-aws-ec2-metadata-token": "made-up"})[0] == 401
    no_ttl = urllib.request.Request(f"{imds_endpoint.url}{TOKEN_PATH}", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(no_ttl, timeout=5)
    assert refused.value.code == 400
    assert imds_endpoint.requests == [
        ImdsRequest("GET", CREDENTIALS_PATH, had_token=False),
        ImdsRequest("GET", CREDENTIALS_PATH, had_token=False),
        ImdsRequest("PUT", TOKEN_PATH, had_token=False),
    ]
    assert imds_endpoint.tokens_issued == 0


# --- moto: ExternalId and GetSessionToken ---------------------------------------------------------


def test_moto_assume_role_with_the_right_external_id(moto_sts: MotoServer) -> None:
    answer = moto_sts.user_sts().assume_role(
        RoleArn=moto_sts.role_arn, RoleSessionName="tierstore-test", ExternalId=moto_sts.external_id
    )
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/ExternalIdRole/tierstore-test")
    credentials = answer["Credentials"]
    assumed = moto_sts.sts(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert assumed.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]


def test_moto_refuses_a_wrong_external_id(moto_sts: MotoServer) -> None:
    with pytest.raises(ClientError) as refused:
        moto_sts.user_sts().assume_role(
            RoleArn=moto_sts.role_arn, RoleSessionName="tierstore-test", ExternalId="not-the-external-id"
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_moto_get_session_token_call_shape(moto_sts: MotoServer) -> None:
    credentials = moto_sts.user_sts().get_session_token(DurationSeconds=900)["Credentials"]
    assert credentials["AccessKeyId"]
    assert credentials["SecretAccessKey"]
    assert credentials["SessionToken"]
    assert credentials["Expiration"] > datetime.now(UTC)
    # Quirk: moto answers with AWS's documented example keys, and refuses them itself.
    assert credentials["AccessKeyId"] == "AKIAIOSFODNN7EXAMPLE"
    session = moto_sts.sts(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    with pytest.raises(ClientError) as refused:
        session.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


# --- The AWS CLI ----------------------------------------------------------------------------------


def test_aws_cli_lists_the_stack_with_keys_from_the_environment(
    stack: StackInfo, bucket: str, aws_cli: AwsCli
) -> None:
    admin = stack.admin
    started = time.monotonic()
    result = aws_cli.run(
        "--endpoint-url",
        stack.endpoint,
        "s3",
        "ls",
        env={
            "AWS_ACCESS_KEY_ID": admin.access_key_id,
            "AWS_SECRET_ACCESS_KEY": admin.secret_access_key.reveal(),
        },
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert bucket in result.stdout.split()
    assert elapsed < 20
    assert aws_cli.config_file.read_text() == aws_cli.credentials_file.read_text() == ""


def test_aws_cli_sees_no_credentials_but_its_own(stack: StackInfo, aws_cli: AwsCli) -> None:
    """Nothing leaks in from the caller: with empty files and no keys it has none."""
    result = aws_cli.run("--endpoint-url", stack.endpoint, "s3", "ls")
    assert result.returncode != 0
    assert "Unable to locate credentials" in result.stderr
