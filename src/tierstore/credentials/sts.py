"""STS calls that turn base credentials into session credentials.

AssumeRole (role ARN, external ID, session name, duration, session policy), GetSessionToken
and AssumeRoleWithWebIdentity, against AWS or a store's own STS (SeaweedFS, MinIO and Ceph serve
it on their S3 endpoint). Each fetcher makes one call and returns credentials with their expiry;
refreshing is :mod:`tierstore.credentials.refresh`'s job.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierstore.credentials.model import Credentials
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError
from tierstore.settings.model import AssumeRoleSettings, StoreSettings
from tierstore.settings.secret import Secret, mask_key_id

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

LOGGER = logging.getLogger("tierstore.credentials")

MIN_DURATION = 900
MAX_DURATION = 43200
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "IDPCommunicationError",
}
_logged_choices: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class StsTarget:
    """Where STS calls go: ``endpoint`` None means AWS's regional endpoint for ``region``."""

    endpoint: str | None
    region: str
    region_source: str

    def describe(self) -> str:
        where = self.endpoint or f"AWS STS ({self.region})"
        return f"{where}, region {self.region} ({self.region_source})"


def sts_target(settings: StoreSettings) -> StsTarget:
    """The STS endpoint and region for a store, with the region fallback logged once.

    A store with a custom endpoint and no STS endpoint of its own is assumed to serve STS on
    its S3 endpoint, as SeaweedFS, MinIO and Ceph RGW do; AWS S3 itself has no custom endpoint.
    """
    role = settings.assume_role
    endpoint = (role.sts_endpoint if role else None) or settings.endpoint
    if role is not None and role.sts_region:
        region, source = role.sts_region, "the STS region setting"
    elif settings.region:
        region, source = settings.region, "the store's region"
    else:
        region, source = "us-east-1", "default, no STS or store region set"
    target = StsTarget(endpoint=endpoint, region=region, region_source=source)
    choice = (endpoint or "aws", region)
    if choice not in _logged_choices:
        _logged_choices.add(choice)
        LOGGER.info("STS calls go to %s", target.describe())
    return target


def default_session_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return sanitize_session_name(f"tierstore-{user}-{socket.gethostname()}")


def sanitize_session_name(name: str) -> str:
    """STS accepts ``[\\w+=,.@-]{2,64}``: replace anything else and cut to 64 characters."""
    cleaned = _SESSION_NAME_CHARS.sub("-", name)[:64]
    return cleaned if len(cleaned) >= 2 else f"tierstore-{cleaned}"


# The fetchers' calls run under a RefreshingSource, whose capped backoff is the one retry
# policy: botocore's own retries underneath would multiply the attempts during an STS outage and
# sleep (up to 6 s with 3 attempts) while every caller waits for the refresh.
FETCH_ATTEMPTS = 1


def sts_client(
    target: StsTarget, settings: StoreSettings, credentials: Credentials | None, *, attempts: int = 3
) -> STSClient:
    """An STS client signed by ``credentials``, or unsigned (web identity) when None; botocore
    tries each call ``attempts`` times."""
    # botocore is imported by the calls that need it: resolving static keys (most stores) must
    # not pay for it.
    import botocore
    import botocore.config

    from tierstore.credentials.botocore_sessions import new_session

    proxies = None
    if settings.proxy is not None:
        url = settings.proxy.url()
        proxies = {"http": url, "https": url}
    config = botocore.config.Config(
        region_name=target.region,
        proxies=proxies,
        connect_timeout=settings.timeouts.connect_seconds,
        read_timeout=settings.timeouts.read_seconds,
        # total_max_attempts counts the first try; botocore's max_attempts would count retries only.
        retries={"mode": "standard", "total_max_attempts": attempts},
        signature_version=botocore.UNSIGNED if credentials is None else None,
    )
    session = new_session()
    keys: dict[str, Any] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key.reveal(),
            "aws_session_token": credentials.session_token.reveal() if credentials.session_token else None,
        }
    client: STSClient = session.create_client(  # type: ignore[assignment]
        "sts", endpoint_url=target.endpoint, region_name=target.region, config=config, **keys
    )
    return client


def _session_credentials(response: dict[str, Any], source: str) -> Credentials:
    found = response["Credentials"]
    expiration = found["Expiration"]
    if isinstance(expiration, str):
        expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return Credentials(
        access_key_id=found["AccessKeyId"],
        secret_access_key=Secret(found["SecretAccessKey"]),
        session_token=Secret(found["SessionToken"]),
        expires_at=expiration,
        source=source,
    )


def _failure(call: str, target: StsTarget, error: Exception, hint: str = "") -> CredentialsError:
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "") or "no error code"
        message = str(details.get("Message") or "")[:300]
        retryable = code in _RETRYABLE_CODES
        text = f"{call} at {target.describe()} was refused: {code}"
        if message:
            text += f": {message}"
    else:
        retryable = True
        text = f"{call} at {target.describe()} failed: {type(error).__name__}: {str(error)[:300]}"
    if hint:
        text += f". {hint}"
    return CredentialsError(text, retryable=retryable)


class AssumeRoleFetcher:
    """AssumeRole signed by the base credentials."""

    def __init__(
        self, base: CredentialSource, role: AssumeRoleSettings, target: StsTarget, settings: StoreSettings
    ) -> None:
        validate_duration(role.duration_seconds, "role session duration")
        if role.policy is not None:
            validate_policy(role.policy)
        self.base = base
        self.role = role
        self.target = target
        self.session_name = (
            sanitize_session_name(role.session_name) if role.session_name else default_session_name()
        )
        self._settings = settings

    def describe(self) -> str:
        return f"AssumeRole into {self.role.role_arn}"

    def __call__(self) -> Credentials:
        request: dict[str, Any] = {
            "RoleArn": self.role.role_arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.role.duration_seconds,
        }
        if self.role.external_id:
            request["ExternalId"] = self.role.external_id
        if self.role.policy:
            request["Policy"] = self.role.policy
        import botocore.exceptions

        base = self.base.credentials()
        try:
            client = sts_client(self.target, self._settings, base, attempts=FETCH_ATTEMPTS)
            response = client.assume_role(**request)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            hint = (
                "An external ID was sent: check that it matches the sts:ExternalId condition in the role's "
                "trust policy"
                if self.role.external_id
                else ""
            )
            if not hint:
                hint = f"The call was signed by {mask_key_id(base.access_key_id)} from {base.source}"
            raise _failure(self.describe(), self.target, error, hint) from None
        return _session_credentials(dict(response), f"AssumeRole {self.role.role_arn} over {base.source}")


class SessionTokenFetcher:
    """GetSessionToken: session credentials for the same identity (Fluss's default without a role)."""

    def __init__(
        self, base: CredentialSource, target: StsTarget, settings: StoreSettings, duration_seconds: int = 3600
    ) -> None:
        validate_duration(duration_seconds, "session token duration", maximum=129600)
        self.base = base
        self.target = target
        self.duration_seconds = duration_seconds
        self._settings = settings

    def describe(self) -> str:
        return "GetSessionToken"

    def __call__(self) -> Credentials:
        import botocore.exceptions

        base = self.base.credentials()
        if base.session_token is not None:
            raise CredentialsError(
                f"GetSessionToken needs long-term keys, but {base.source} gave session credentials; "
                "set a role ARN (s3.assumed.role.arn / aws.sts.role.arn) to use AssumeRole instead"
            )
        try:
            client = sts_client(self.target, self._settings, base, attempts=FETCH_ATTEMPTS)
            response = client.get_session_token(DurationSeconds=self.duration_seconds)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _failure(
                "GetSessionToken",
                self.target,
                error,
                "Many S3-compatible stores do not implement GetSessionToken: "
                "set a role ARN to use AssumeRole",
            ) from None
        return _session_credentials(dict(response), f"GetSessionToken over {base.source}")


class WebIdentityFetcher:
    """AssumeRoleWithWebIdentity with a token read afresh from its file on every call (IRSA)."""

    def __init__(
        self,
        role_arn: str,
        token_file: Path,
        session_name: str | None,
        target: StsTarget,
        settings: StoreSettings,
    ) -> None:
        self.role_arn = role_arn
        self.token_file = token_file
        self.session_name = sanitize_session_name(session_name) if session_name else default_session_name()
        self.target = target
        self._settings = settings

    def describe(self) -> str:
        return f"AssumeRoleWithWebIdentity into {self.role_arn}"

    def __call__(self) -> Credentials:
        import botocore.exceptions

        try:
            token = self.token_file.read_text().strip()
        except OSError as error:
            raise CredentialsError(
                f"web identity token file {self.token_file} cannot be read ({error.strerror}); "
                "check AWS_WEB_IDENTITY_TOKEN_FILE"
            ) from None
        try:
            client = sts_client(self.target, self._settings, None, attempts=FETCH_ATTEMPTS)
            response = client.assume_role_with_web_identity(
                RoleArn=self.role_arn, RoleSessionName=self.session_name, WebIdentityToken=token
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _failure(self.describe(), self.target, error) from None
        return _session_credentials(dict(response), f"web identity {self.role_arn}")


def validate_duration(seconds: int, what: str, *, maximum: int = MAX_DURATION) -> None:
    if not MIN_DURATION <= seconds <= maximum:
        raise CredentialsError(
            f"{what} {seconds} s is out of range: STS accepts {MIN_DURATION} to {maximum} seconds"
        )


def validate_policy(policy: str) -> None:
    try:
        document = json.loads(policy)
    except json.JSONDecodeError as error:
        raise CredentialsError(
            f"the session policy is not valid JSON ({error.msg} at position {error.pos})"
        ) from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise CredentialsError('the session policy must be a JSON object with a "Statement" list')
