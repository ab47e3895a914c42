"""Container credentials (ECS/EKS pod identity) and EC2 instance metadata (IMDSv2).

Both protocols are botocore's own providers; this module configures them from the chain's
environment and reports clearly what was tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tierstore.credentials.providers.base import BotocoreSource, Detection, Provider
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError

# botocore is imported when a provider is asked: every chain builds these two, few reach them.
if TYPE_CHECKING:
    import botocore.credentials

DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"


class ContainerProvider(Provider):
    name = "container"
    title = "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI)"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._found: botocore.credentials.Credentials | None = None

    def _where(self) -> str | None:
        relative = self._environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        if relative:
            return f"http://169.254.170.2{relative}"
        return self._environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")

    def detect(self) -> Detection:
        where = self._where()
        if not where:
            return Detection(False, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI not set")
        import botocore.credentials
        import botocore.exceptions

        provider = botocore.credentials.ContainerProvider(environ=self._environ)
        try:
            self._found = provider.load()
        except (botocore.exceptions.BotoCoreError, ValueError) as error:
            raise CredentialsError(f"{self.title}: {where} did not give credentials: {error}") from None
        if self._found is None:
            return Detection(False, f"{where} gave nothing")
        return Detection(True, where)

    def load(self) -> CredentialSource:
        if self._found is None and not self.detect().available:
            raise CredentialsError(f"{self.title}: no credentials found")
        assert self._found is not None
        return BotocoreSource(self._found, f"container credentials at {self._where()}")


class InstanceMetadataProvider(Provider):
    name = "instance-metadata"
    title = "instance metadata (IMDSv2)"

    def __init__(self, environ: Mapping[str, str], *, timeout: int = 1) -> None:
        self._environ = dict(environ)
        self._timeout = timeout
        self._found: botocore.credentials.Credentials | None = None

    @property
    def endpoint(self) -> str:
        return self._environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", DEFAULT_IMDS_ENDPOINT).rstrip("/")

    def detect(self) -> Detection:
        if self._environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            return Detection(False, "AWS_EC2_METADATA_DISABLED=true")
        import botocore.credentials
        import botocore.utils

        fetcher = botocore.utils.InstanceMetadataFetcher(
            timeout=self._timeout,
            num_attempts=1,
            env=self._environ,
            config={"ec2_metadata_service_endpoint": self.endpoint},
        )
        provider = botocore.credentials.InstanceMetadataProvider(iam_role_fetcher=fetcher)
        self._found = provider.load()
        if self._found is None:
            return Detection(False, f"no instance metadata service answered at {self.endpoint}")
        return Detection(True, f"role credentials from {self.endpoint}")

    def load(self) -> CredentialSource:
        if self._found is None and not self.detect().available:
            raise CredentialsError(f"{self.title}: no credentials at {self.endpoint}")
        assert self._found is not None
        return BotocoreSource(self._found, f"instance metadata at {self.endpoint}")
