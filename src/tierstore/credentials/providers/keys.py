"""Sources that are plain keys: given for the store, process overrides, site config, environment."""

from __future__ import annotations

from collections.abc import Mapping

from tierstore.credentials.model import Credentials
from tierstore.credentials.providers.base import Detection, Provider
from tierstore.credentials.source import CredentialSource, StaticSource
from tierstore.errors import CredentialsError
from tierstore.settings.model import AccessKeys
from tierstore.settings.secret import Secret, mask_key_id

# The key names each dialect uses, accepted by --set as by the config files.
ACCESS_KEY_NAMES = ("aws.accessKeyId", "s3.access-key", "aws.access.key.id", "fs.s3a.access.key")
SECRET_KEY_NAMES = ("aws.secretKey", "s3.secret-key", "aws.secret.access.key", "fs.s3a.secret.key")
SESSION_TOKEN_NAMES = ("aws.sessionToken", "s3.session-token", "aws.session.token", "fs.s3a.session.token")

ENV_OVERRIDES = ("TIERSTORE_ACCESS_KEY_ID", "TIERSTORE_SECRET_ACCESS_KEY", "TIERSTORE_SESSION_TOKEN")


class KeysProvider(Provider):
    """Keys known up front; ``where`` names the keys that set them, for explain output."""

    def __init__(self, name: str, title: str, keys: AccessKeys | None, where: str) -> None:
        self.name = name
        self.title = title
        self._keys = keys
        self._where = where

    def detect(self) -> Detection:
        if self._keys is None:
            return Detection(False, f"not set ({self._where})")
        return Detection(True, f"{mask_key_id(self._keys.access_key_id)} from {self._where}")

    def load(self) -> CredentialSource:
        if self._keys is None:
            raise CredentialsError(f"{self.title}: no keys set")
        return StaticSource(
            Credentials(
                access_key_id=self._keys.access_key_id,
                secret_access_key=self._keys.secret_access_key,
                session_token=self._keys.session_token,
                source=self.title,
            )
        )


def _pick(values: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = values.get(name)
        if value:
            return name, value
    return None


def _keys_from(
    values: Mapping[str, str],
    id_names: tuple[str, ...],
    secret_names: tuple[str, ...],
    token_names: tuple[str, ...],
    what: str,
) -> tuple[AccessKeys | None, str]:
    key_id = _pick(values, id_names)
    secret = _pick(values, secret_names)
    token = _pick(values, token_names)
    if key_id is None and secret is None:
        if token is not None:
            raise CredentialsError(f"{what}: {token[0]} is set without an access key id and secret")
        return None, f"none of {', '.join(id_names)}"
    if key_id is None or secret is None:
        given, missing = (key_id, secret_names) if secret is None else (secret, id_names)
        assert given is not None
        raise CredentialsError(
            f"{what}: {given[0]} is set but not its pair; set {' or '.join(missing)} as well"
        )
    keys = AccessKeys(key_id[1], Secret(secret[1]), Secret(token[1]) if token else None)
    return keys, f"{key_id[0]} / {secret[0]}"


def override_provider(overrides: Mapping[str, str], environ: Mapping[str, str]) -> KeysProvider:
    """``tierstore --set aws.accessKeyId=…`` wins over ``TIERSTORE_*`` variables."""
    keys, where = _keys_from(
        overrides, ACCESS_KEY_NAMES, SECRET_KEY_NAMES, SESSION_TOKEN_NAMES, "command-line --set"
    )
    if keys is not None:
        where = f"--set {where}"
    else:
        keys, where = _keys_from(
            environ, (ENV_OVERRIDES[0],), (ENV_OVERRIDES[1],), (ENV_OVERRIDES[2],), "TIERSTORE_* variables"
        )
        where = where if keys is not None else "no --set keys, no TIERSTORE_ACCESS_KEY_ID"
    return KeysProvider("process", "process overrides (--set, TIERSTORE_*)", keys, where)


class EnvironmentProvider(Provider):
    name = "environment"
    title = "environment (AWS_ACCESS_KEY_ID / AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY / AWS_SECRET_KEY)"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._keys, self._where = _keys_from(
            environ,
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
            ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"),
            "environment",
        )

    def detect(self) -> Detection:
        if self._keys is None:
            return Detection(False, "AWS_ACCESS_KEY_ID / AWS_ACCESS_KEY not set")
        token = " with AWS_SESSION_TOKEN" if self._keys.session_token else ""
        return Detection(True, f"{mask_key_id(self._keys.access_key_id)} from {self._where}{token}")

    def load(self) -> CredentialSource:
        return KeysProvider(self.name, self.title, self._keys, self._where).load()
