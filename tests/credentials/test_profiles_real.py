"""``~/.aws/config`` profile kinds resolved through tierstore's chain (the shared-files source),
each against a real STS, each checked by who the credentials say they are.

Which server enforces what (measured, see shared/TEST-STACK.md):

- SeaweedFS's STS (the session's ``stack``, and ``oidc_stack`` for web identity) really runs
  AssumeRole with its trust policies and AssumeRoleWithWebIdentity with RS256 JWTs checked
  against the issuer's JWKS; GetCallerIdentity answers ``assumed-role/ROLE/SESSION``. It does
  not support the ``sts:ExternalId`` condition (one always denies), so:
- moto server (``moto_sts``) serves the ``external_id`` profile: it enforces the ExternalId
  condition for a right or a wrong value (a missing one is wrongly allowed, so only the wrong
  one's refusal shows that the id is sent at all).

The files live in the test's directory and reach the chain through its environment
(``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_PROFILE``), never the process's.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.servers.loopback import Forwarder
from tests.servers.moto import MotoServer
from tests.servers.oidc import OidcStack
from tierstore.credentials.model import Credentials
from tierstore.credentials.resolve import ResolutionContext, ResolvedCredentials, resolve_credentials
from tierstore.errors import CredentialsError
from tierstore.local import StackInfo
from tierstore.settings.model import AssumeRoleSettings, StoreLocation, StoreSettings

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

# A port nothing listens on: an STS call sent there fails at once.
CLOSED = "http://127.0.0.1:9"


def _files(tmp_path: Path, profile: str, config: str, credentials: str = "") -> dict[str, str]:
    """The chain's environment for ``profile`` in these files, and no other source."""
    config_file = tmp_path / "aws-config"
    credentials_file = tmp_path / "aws-credentials"
    config_file.write_text(config)
    credentials_file.write_text(credentials)
    credentials_file.chmod(0o600)
    return {
        "AWS_CONFIG_FILE": str(config_file),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials_file),
        "AWS_PROFILE": profile,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _settings(endpoint: str, region: str, role: AssumeRoleSettings | None = None) -> StoreSettings:
    return StoreSettings(
        location=StoreLocation(scheme="s3", bucket="profiles"),
        endpoint=endpoint,
        region=region,
        assume_role=role,
    )


def _resolve(settings: StoreSettings, environ: dict[str, str], method: str) -> ResolvedCredentials:
    """Resolved through the chain, the shared files chosen by botocore's ``method`` provider."""
    resolved = resolve_credentials(settings, ResolutionContext(environ=environ))
    chosen = [attempt for attempt in resolved.attempts if attempt.status == "chosen"]
    assert [attempt.provider for attempt in chosen] == ["shared-files"], resolved.attempts
    assert chosen[0].detail.startswith(f"{method} ("), chosen[0].detail
    return resolved


def _sts(endpoint: str, region: str, creds: Credentials) -> STSClient:
    client: STSClient = boto3.client(
        "sts",
        endpoint_url=endpoint,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key.reveal(),
        aws_session_token=creds.session_token.reveal() if creds.session_token else None,
        config=Config(region_name=region, retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return client


def _caller(endpoint: str, region: str, creds: Credentials) -> str:
    return _sts(endpoint, region, creds).get_caller_identity()["Arn"]


def _keys(name: str, stack: StackInfo) -> str:
    user = stack.users["reader"]
    return (
        f"[{name}]\naws_access_key_id = {user.access_key_id}\n"
        f"aws_secret_access_key = {user.secret_access_key.reveal()}\n"
    )


def test_role_arn_with_source_profile_assumes_the_role(stack: StackInfo, tmp_path: Path) -> None:
    """The role profile's ``endpoint_url`` sends its AssumeRole to SeaweedFS."""
    config = (
        f"[profile reader]\nregion = {stack.region}\n\n"
        f"[profile reading-role]\nrole_arn = {stack.roles['ReadOnlyRole']}\nsource_profile = reader\n"
        f"role_session_name = profile-chain\nregion = {stack.region}\nendpoint_url = {stack.endpoint}\n"
    )
    environ = _files(tmp_path, "reading-role", config, _keys("reader", stack))
    resolved = _resolve(_settings(stack.endpoint, stack.region), environ, "assume-role")
    creds = resolved.source.credentials()
    assert creds.session_token is not None and creds.expires_at is not None
    assert _caller(stack.endpoint, stack.region, creds).endswith(":assumed-role/ReadOnlyRole/profile-chain")


def test_role_profile_sts_endpoint_from_the_chains_environment_not_the_process(
    stack: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AWS_ENDPOINT_URL_STS`` is read from the chain's environment; the process's (here a
    closed port, which botocore alone would have used) is not consulted."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", CLOSED)
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED)
    config = (
        f"[profile reader]\nregion = {stack.region}\n\n"
        f"[profile reading-role]\nrole_arn = {stack.roles['ReadOnlyRole']}\nsource_profile = reader\n"
        f"role_session_name = env-endpoint\nregion = {stack.region}\n"
    )
    environ = _files(tmp_path, "reading-role", config, _keys("reader", stack))
    environ["AWS_ENDPOINT_URL_STS"] = stack.endpoint
    resolved = _resolve(_settings(stack.endpoint, stack.region), environ, "assume-role")
    creds = resolved.source.credentials()
    assert _caller(stack.endpoint, stack.region, creds).endswith(":assumed-role/ReadOnlyRole/env-endpoint")


def test_role_profile_without_an_endpoint_uses_the_stores_sts_endpoint(
    stack: StackInfo, tmp_path: Path
) -> None:
    """A profile that names no STS endpoint assumes its role at the store's STS endpoint setting
    (here a counting forwarder in front of SeaweedFS; the store's S3 endpoint is a closed port,
    so the call can only have gone through the forwarder)."""
    config = (
        f"[profile reader]\nregion = {stack.region}\n\n"
        f"[profile reading-role]\nrole_arn = {stack.roles['ReadOnlyRole']}\nsource_profile = reader\n"
        f"role_session_name = store-sts\nregion = {stack.region}\n"
    )
    environ = _files(tmp_path, "reading-role", config, _keys("reader", stack))
    port = int(stack.endpoint.rsplit(":", 1)[1])
    with Forwarder(port) as sts_side:
        # The store's own session layer (ReadWriteRole) is built but not called here.
        role = AssumeRoleSettings(role_arn=stack.roles["ReadWriteRole"], sts_endpoint=sts_side.endpoint)
        resolved = _resolve(_settings(CLOSED, stack.region, role), environ, "assume-role")
        assert resolved.session is not None and resolved.session.call == "AssumeRole"
        assert f"STS at {sts_side.endpoint}" in resolved.base.name
        creds = resolved.base.credentials()
    assert [request.method for request in sts_side.requests] == ["POST"]
    assert _caller(stack.endpoint, stack.region, creds).endswith(":assumed-role/ReadOnlyRole/store-sts")


def test_the_profiles_own_endpoint_wins_over_the_stores_sts_endpoint(
    stack: StackInfo, tmp_path: Path
) -> None:
    """The profile's ``endpoint_url`` was written for its role: the store's STS endpoint (a
    closed port here) is only for profiles that name none."""
    config = (
        f"[profile reader]\nregion = {stack.region}\n\n"
        f"[profile reading-role]\nrole_arn = {stack.roles['ReadOnlyRole']}\nsource_profile = reader\n"
        f"role_session_name = own-endpoint\nregion = {stack.region}\nendpoint_url = {stack.endpoint}\n"
    )
    environ = _files(tmp_path, "reading-role", config, _keys("reader", stack))
    role = AssumeRoleSettings(role_arn=stack.roles["ReadWriteRole"], sts_endpoint=CLOSED)
    creds = _resolve(_settings(stack.endpoint, stack.region, role), environ, "assume-role").base.credentials()
    assert _caller(stack.endpoint, stack.region, creds).endswith(":assumed-role/ReadOnlyRole/own-endpoint")


def test_external_id_profile_right_id_assumes_the_role(moto_sts: MotoServer, tmp_path: Path) -> None:
    environ = _moto_profile(moto_sts, tmp_path, external_id=moto_sts.external_id, session="ext-ok")
    creds = _resolve(_settings(CLOSED, "us-east-1"), environ, "assume-role").source.credentials()
    arn = _caller(moto_sts.endpoint, "us-east-1", creds)
    assert arn == f"arn:aws:sts::{moto_sts.account_id}:assumed-role/ExternalIdRole/ext-ok"


def test_external_id_profile_wrong_id_is_refused_naming_the_profile(
    moto_sts: MotoServer, tmp_path: Path
) -> None:
    environ = _moto_profile(moto_sts, tmp_path, external_id="not-the-agreed-id", session="ext-bad")
    source = _resolve(_settings(CLOSED, "us-east-1"), environ, "assume-role").source
    with pytest.raises(CredentialsError) as caught:
        source.credentials()
    message = str(caught.value)
    assert "AccessDenied" in message
    assert "profile ext in" in message and "external_id" in message
    assert moto_sts.user_keys.secret_access_key.reveal() not in message


def _moto_profile(moto_sts: MotoServer, tmp_path: Path, *, external_id: str, session: str) -> dict[str, str]:
    keys = moto_sts.user_keys
    credentials = (
        f"[moto-user]\naws_access_key_id = {keys.access_key_id}\n"
        f"aws_secret_access_key = {keys.secret_access_key.reveal()}\n"
    )
    config = (
        f"[profile ext]\nrole_arn = {moto_sts.role_arn}\nsource_profile = moto-user\n"
        f"external_id = {external_id}\nrole_session_name = {session}\nregion = us-east-1\n"
        f"endpoint_url = {moto_sts.endpoint}\n"
    )
    return _files(tmp_path, "ext", config, credentials)


def test_credential_process_profile_gives_the_process_credentials(stack: StackInfo, tmp_path: Path) -> None:
    """The process (a script of the test's) assumes ReadOnlyRole itself and prints the session
    credentials as credential_process JSON; the chain hands out exactly those."""
    reader = stack.users["reader"]
    script = tmp_path / "assume.py"
    script.write_text(
        "import json\nimport boto3\n"
        f"sts = boto3.client('sts', endpoint_url={stack.endpoint!r}, region_name={stack.region!r},\n"
        f"    aws_access_key_id={reader.access_key_id!r},\n"
        f"    aws_secret_access_key={reader.secret_access_key.reveal()!r})\n"
        f"answer = sts.assume_role(RoleArn={stack.roles['ReadOnlyRole']!r}, RoleSessionName='from-process',\n"
        "    DurationSeconds=900)['Credentials']\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': answer['AccessKeyId'],\n"
        "    'SecretAccessKey': answer['SecretAccessKey'], 'SessionToken': answer['SessionToken'],\n"
        "    'Expiration': answer['Expiration'].isoformat()}))\n"
    )
    script.chmod(stat.S_IRWXU)
    config = f"[profile from-process]\ncredential_process = {sys.executable} {script}\n"
    environ = _files(tmp_path, "from-process", config)
    creds = _resolve(_settings(stack.endpoint, stack.region), environ, "custom-process").source.credentials()
    assert creds.session_token is not None and creds.expires_at is not None
    assert _caller(stack.endpoint, stack.region, creds).endswith(":assumed-role/ReadOnlyRole/from-process")


def test_web_identity_token_file_profile_assumes_the_role(oidc_stack: OidcStack, tmp_path: Path) -> None:
    """``web_identity_token_file`` + ``role_arn`` in the profile, the STS endpoint from a
    ``services`` section: SeaweedFS checks the JWT against the issuer's JWKS."""
    stack = oidc_stack.stack
    token_file = tmp_path / "token"
    token_file.write_text(oidc_stack.issuer.token(subject="pod-profile"))
    config = (
        f"[profile pod]\nrole_arn = {oidc_stack.role_arn}\nweb_identity_token_file = {token_file}\n"
        f"role_session_name = pod-from-profile\nregion = {stack.region}\nservices = local-sts\n\n"
        f"[services local-sts]\nsts =\n  endpoint_url = {stack.endpoint}\n"
    )
    environ = _files(tmp_path, "pod", config)
    resolved = _resolve(_settings(stack.endpoint, stack.region), environ, "assume-role-with-web-identity")
    creds = resolved.source.credentials()
    assert creds.session_token is not None and creds.expires_at is not None
    arn = _caller(stack.endpoint, stack.region, creds)
    assert arn.endswith(":assumed-role/WebIdentityRole/pod-from-profile"), arn


def test_web_identity_profile_with_a_token_the_issuer_did_not_sign_is_refused(
    oidc_stack: OidcStack, tmp_path: Path
) -> None:
    stack = oidc_stack.stack
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    config = (
        f"[profile pod]\nrole_arn = {oidc_stack.role_arn}\nweb_identity_token_file = {token_file}\n"
        f"region = {stack.region}\nendpoint_url = {stack.endpoint}\n"
    )
    environ = _files(tmp_path, "pod", config)
    source = _resolve(
        _settings(stack.endpoint, stack.region), environ, "assume-role-with-web-identity"
    ).source
    with pytest.raises(CredentialsError, match="profile pod in"):
        source.credentials()


def test_a_services_section_that_does_not_exist_is_named(tmp_path: Path) -> None:
    config = (
        "[profile reader]\naws_access_key_id = AKIAREADER000000\naws_secret_access_key = s\n\n"
        "[profile reading-role]\nrole_arn = arn:aws:iam::000000000000:role/ReadOnlyRole\n"
        "source_profile = reader\nservices = no-such-services\n"
    )
    environ = _files(tmp_path, "reading-role", config)
    with pytest.raises(
        CredentialsError, match=r"no-such-services.*does not exist|does not exist.*no-such-services"
    ):
        resolve_credentials(_settings(CLOSED, "us-east-1"), ResolutionContext(environ=environ))
