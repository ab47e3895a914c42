"""``~/.aws/credentials`` and ``~/.aws/config``: profiles, role profiles, credential_process.

botocore already reads these files correctly (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
AWS_CONFIG_FILE, ``role_arn`` with ``source_profile`` and ``external_id``, ``credential_process``),
so this provider runs botocore's own providers for them, in botocore's order, and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from unittest import mock

import botocore.credentials
import botocore.exceptions
import botocore.session

from tierstore.credentials.providers.base import BotocoreSource, Detection, Provider
from tierstore.credentials.source import CredentialSource
from tierstore.errors import CredentialsError

# botocore's METHOD names of the providers that read the shared files.
_FILE_METHODS = ("assume-role", "shared-credentials-file", "custom-process", "config-file")


class SharedFilesProvider(Provider):
    name = "shared-files"
    title = "shared files (~/.aws/credentials, ~/.aws/config)"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._found: tuple[botocore.credentials.Credentials, str] | None = None

    def _files(self) -> str:
        credentials = self._environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        config = self._environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        profile = self._environ.get("AWS_PROFILE") or self._environ.get("AWS_DEFAULT_PROFILE") or "default"
        return f"profile {profile} in {credentials} and {config}"

    def detect(self) -> Detection:
        where = self._files()
        credentials = Path(
            self._environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        ).expanduser()
        config = Path(self._environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser()
        if not credentials.exists() and not config.exists():
            return Detection(False, f"no file ({where})")
        # botocore reads os.environ itself; give it exactly the environment this chain was built with.
        with mock.patch.dict(os.environ, self._environ, clear=True):
            session = botocore.session.Session()
            resolver = botocore.credentials.create_credential_resolver(session)
            for method in _FILE_METHODS:
                provider = resolver.get_provider(method)
                try:
                    found = provider.load()
                except botocore.exceptions.ProfileNotFound:
                    return Detection(False, f"profile not found ({where})")
                except botocore.exceptions.BotoCoreError as error:
                    raise CredentialsError(f"{self.title}: {method} failed: {error}") from None
                if found is not None:
                    self._found = (found, f"{method}, {where}")
                    return Detection(True, f"{method} ({where})")
        return Detection(False, f"no credentials in {where}")

    def load(self) -> CredentialSource:
        if self._found is None and not self.detect().available:
            raise CredentialsError(f"{self.title}: no credentials found")
        assert self._found is not None
        found, where = self._found
        return BotocoreSource(found, f"shared files: {where}")
