"""Web identity (IRSA): AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE.

Written here rather than taken from botocore so that the STS call can go to a store's own STS
endpoint (SeaweedFS, MinIO) and so that the token file is read afresh on every refresh, as
Kubernetes rotates it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tierstore.credentials.providers.base import Detection, Provider
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.source import CredentialSource
from tierstore.credentials.sts import StsTarget, WebIdentityFetcher
from tierstore.errors import CredentialsError
from tierstore.settings.model import StoreSettings


class WebIdentityProvider(Provider):
    name = "web-identity"
    title = "web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)"

    def __init__(
        self,
        environ: Mapping[str, str],
        settings: StoreSettings,
        target: Callable[[], StsTarget],
        policy: RefreshPolicy,
    ) -> None:
        self._role_arn = environ.get("AWS_ROLE_ARN", "")
        self._token_file = environ.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
        self._session_name = environ.get("AWS_ROLE_SESSION_NAME") or None
        self._settings = settings
        self._target = target
        self._policy = policy

    def detect(self) -> Detection:
        if not self._role_arn and not self._token_file:
            return Detection(False, "AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE not set")
        if not self._role_arn or not self._token_file:
            missing = "AWS_ROLE_ARN" if not self._role_arn else "AWS_WEB_IDENTITY_TOKEN_FILE"
            raise CredentialsError(f"{self.title}: {missing} is not set, but its pair is")
        if not Path(self._token_file).is_file():
            raise CredentialsError(
                f"{self.title}: token file {self._token_file} does not exist; "
                "check AWS_WEB_IDENTITY_TOKEN_FILE"
            )
        return Detection(True, f"{self._role_arn} with token file {self._token_file}")

    def load(self) -> CredentialSource:
        fetcher = WebIdentityFetcher(
            self._role_arn, Path(self._token_file), self._session_name, self._target(), self._settings
        )
        return RefreshingSource(
            fetcher, name=f"web identity {self._role_arn}", call=fetcher.describe(), policy=self._policy
        )
