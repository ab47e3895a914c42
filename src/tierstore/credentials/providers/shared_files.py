"""``~/.aws/credentials`` and ``~/.aws/config``: profiles, role profiles, credential_process.

botocore already reads these files correctly (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
AWS_CONFIG_FILE, ``role_arn`` with ``source_profile`` and ``external_id``, ``credential_process``),
so this provider runs botocore's own providers for them, in botocore's order, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import botocore.configprovider
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
        session = _session_for(self._environ)
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


def _session_for(environ: Mapping[str, str]) -> botocore.session.Session:
    """A botocore session that reads the chain's environment, not the process's.

    Every session variable botocore takes from an environment variable (the profile, the two
    files' paths, the region, STS endpoints, ...) is set on the session from ``environ``; the
    files' paths and the profile are always set, so that the process's ``AWS_PROFILE`` or
    ``AWS_CONFIG_FILE`` can never point it elsewhere. ``os.environ`` is never written: other
    threads (the server's requests) read it meanwhile.
    """
    session = botocore.session.Session()
    for name, (
        _config,
        env_names,
        default,
        convert,
    ) in botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.items():
        names = [env_names] if isinstance(env_names, str) else list(env_names or [])
        given = next((environ[env] for env in names if environ.get(env)), None)
        if given is not None:
            session.set_config_variable(name, convert(given) if convert else given)
        elif name in ("config_file", "credentials_file"):
            session.set_config_variable(name, default)
    session.set_config_variable("profile", _profile(environ))
    return session


def _profile(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
