"""``~/.aws/credentials`` and ``~/.aws/config``: profiles, role profiles, credential_process.

botocore already reads these files correctly (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
AWS_CONFIG_FILE, ``role_arn`` with ``source_profile`` and ``external_id``,
``web_identity_token_file``, ``credential_process``), so this provider runs botocore's own
providers for them, in botocore's order, and nothing else.

Where a role profile's STS calls go, first found wins: ``AWS_ENDPOINT_URL_STS``, then
``AWS_ENDPOINT_URL`` in the chain's environment; the profile's ``services`` section (``sts =``
``endpoint_url``), then its ``endpoint_url``; then the store's own STS endpoint setting
(``s3.assumed.role.sts.endpoint`` / ``aws.sts.config.endpoint``); else AWS STS.
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` (or ``ignore_configured_endpoint_urls``) skips the
environment and the files, as in botocore.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tierstore.credentials.providers.base import BotocoreSource, Detection, Provider
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError

# botocore is imported when there are files to read: every chain builds this provider, and
# most machines running tierstore have no ~/.aws at all.
if TYPE_CHECKING:
    import botocore.credentials

# botocore's METHOD names of the providers that read the shared files, in botocore's order.
_FILE_METHODS = (
    "assume-role",
    "assume-role-with-web-identity",
    "shared-credentials-file",
    "custom-process",
    "config-file",
)
# Whose credentials come from an STS call, for the detail shown by ``creds explain``.
_STS_METHODS = ("assume-role", "assume-role-with-web-identity")


class SharedFilesProvider(Provider):
    name = "shared-files"
    title = "shared files (~/.aws/credentials, ~/.aws/config)"

    def __init__(self, environ: Mapping[str, str], sts_endpoint: str | None = None) -> None:
        """``sts_endpoint``: the store's explicit STS endpoint, for role profiles that name none."""
        self._environ = dict(environ)
        self._sts_endpoint = sts_endpoint
        self._found: tuple[botocore.credentials.Credentials, str] | None = None

    def _files(self) -> str:
        credentials = self._environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        config = self._environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        profile = _profile(self._environ)
        return f"profile {profile} in {credentials} and {config}"

    def detect(self) -> Detection:
        where = self._files()
        credentials = Path(
            self._environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        ).expanduser()
        config = Path(self._environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser()
        if not credentials.exists() and not config.exists():
            return Detection(False, f"no file ({where})")
        import botocore.credentials
        import botocore.exceptions

        from tierstore.credentials.providers.chain_session import session_for

        session = session_for(self._environ, self._sts_endpoint, profile=_profile(self._environ))
        resolver = botocore.credentials.create_credential_resolver(session)
        for method in _FILE_METHODS:
            provider = resolver.get_provider(method)
            try:
                found = provider.load()
                # A profile's services section that names a missing one fails here, up front.
                sts = f", STS at {session.sts_endpoint() or 'AWS STS'}" if method in _STS_METHODS else ""
            except botocore.exceptions.ProfileNotFound:
                return Detection(False, f"profile not found ({where})")
            except botocore.exceptions.BotoCoreError as error:
                raise CredentialsError(f"{self.title}: {method} failed ({where}): {error}") from None
            if found is not None:
                self._found = (found, f"{method}, {where}{sts}")
                return Detection(True, f"{method} ({where}){sts}")
        return Detection(False, f"no credentials in {where}")

    def load(self) -> CredentialSource:
        if self._found is None and not self.detect().available:
            raise CredentialsError(f"{self.title}: no credentials found")
        assert self._found is not None
        found, where = self._found
        return BotocoreSource(found, f"shared files: {where}")


def _profile(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
