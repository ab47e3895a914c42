"""Secret mount options at rest: AES-256-GCM under a key file that only the server can read.

The key file (mode 0600, made on first start; every server sharing one database uses the
same one)::

    # tierstore secrets key: ...
    v1:<URL-safe base64 of 32 random bytes>

In the ``mounts.options`` JSON, a secret option's value (see ``is_secret_option``) is an object
instead of a string; the other options stay readable::

    {"aws.accessKeyId": "AKIA…", "aws.secretKey": {"enc": "v1", "kid": "1a2b3c4d", "ct": "…"}}

- ``kid``: the first 8 hex digits of the key's SHA-256, so a wrong key is told apart from a
  damaged value before anything is decrypted;
- ``ct``: URL-safe base64 of a random 12-byte nonce followed by the AES-GCM ciphertext and tag.
  The associated data is the mount path and the option name, so a value copied into another
  mount or another option does not decrypt.

Users' S3 secrets are sealed the same way (``seal_bound``), with associated data of their own
(the key id and the user: see ``s3_key_rows``).

Nothing here logs, and no message holds a key, a plain value or a ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tierstore.errors import ConfigError
from tierstore.namespace.metadata.errors import MetadataError
from tierstore.namespace.metadata.records import is_secret_option

# cryptography is imported when a value is sealed or opened: a namespace whose mounts hold no
# secret options (local directories, keys from the environment) never needs it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_VERSION = "v1"
SEALED_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_DIGITS = 8
PENDING_SUFFIX = ".new"  # a rotation's new key until the database uses it and it is moved in place
RETIRED_SUFFIX = ".old"  # the replaced key, while the new one is moved in place
_AAD_PREFIX = b"tierstore mount option\x00"
_HEADER = (
    "# tierstore secrets key: it decrypts the secret mount options in the metadata database.\n"
    "# Every server sharing that database needs this same file; keep it mode 0600 and out of\n"
    "# the database's backups. Replace it only with: tierstore admin rotate-key\n"
)


class SecretsKeyError(MetadataError):
    """A key file that is missing, unreadable, open to others, or not the key the rows need."""


def key_id(raw: bytes) -> str:
    """The first 8 hex digits of the key's SHA-256: names a key without revealing it."""
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_DIGITS]


def pending_key_file(path: Path) -> Path:
    return path.with_name(path.name + PENDING_SUFFIX)


def retired_key_file(path: Path) -> Path:
    return path.with_name(path.name + RETIRED_SUFFIX)


class SecretsKey:
    """The AES-256-GCM key read from ``path``; ``kid`` names it, nothing shows the key itself."""

    def __init__(self, raw: bytes, path: Path) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(f"a secrets key is {KEY_BYTES} bytes, not {len(raw)}")
        self.path = path
        self.kid = key_id(raw)
        self._raw = raw
        self._aead: AESGCM | None = None

    def __repr__(self) -> str:
        return f"SecretsKey(path={str(self.path)!r}, kid={self.kid!r})"

    __str__ = __repr__

    @property
    def _cipher(self) -> AESGCM:
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(self._raw)
        return self._aead

    def seal(self, value: str, *, mount: str, option: str) -> dict[str, str]:
        return self.seal_bound(value, _aad(mount, option))

    def unseal(self, sealed: Mapping[str, object], *, mount: str, option: str) -> str:
        return self.unseal_bound(
            sealed,
            _aad(mount, option),
            where=f"the secret option {option} of the mount at {mount}",
            damaged=(
                "the stored value was damaged, or copied from another mount or option "
                "(tampering?); restore the database from a backup, or delete that mount's row "
                "from the mounts table and mount it again"
            ),
        )

    def seal_bound(self, value: str, associated: bytes) -> dict[str, str]:
        """``value`` encrypted, opening only with the same ``associated`` data (what it belongs to)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._cipher.encrypt(nonce, value.encode("utf-8"), associated)
        token = base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")
        return {"enc": SEALED_VERSION, "kid": self.kid, "ct": token}

    def unseal_bound(
        self, sealed: Mapping[str, object], associated: bytes, *, where: str, damaged: str
    ) -> str:
        """The value ``seal_bound`` sealed with ``associated``; SecretsKeyError naming ``where``
        (and saying ``damaged`` when the value does not open under this key)."""
        from cryptography.exceptions import InvalidTag

        kid = sealed.get("kid")
        if kid != self.kid:
            raise SecretsKeyError(
                f"{where} was encrypted with key id {kid}, but key file {self.path} holds key id "
                f"{self.kid}: give this process the key file the other servers of this database use "
                "(after tierstore admin rotate-key, restart every server with the new file)"
            )
        try:
            blob = base64.urlsafe_b64decode(str(sealed.get("ct", "")).encode("ascii"))
            if len(blob) <= NONCE_BYTES:
                raise ValueError("too short")
            plain = self._cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
            return plain.decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error, UnicodeError):
            raise SecretsKeyError(
                f"{where} cannot be decrypted with key file {self.path} (key id {self.kid}, the one "
                f"it names): {damaged}"
            ) from None


def _aad(mount: str, option: str) -> bytes:
    return _AAD_PREFIX + mount.encode("utf-8") + b"\x00" + option.encode("utf-8")


def is_sealed(value: object) -> bool:
    """True for an option value stored encrypted (an object marked ``"enc"``)."""
    return isinstance(value, dict) and "enc" in value


def sealed_kid(value: object) -> str | None:
    return str(value.get("kid")) if isinstance(value, dict) else None


# -- the options column ----------------------------------------------------------------------


def stored_options(mount: str, raw: str) -> dict[str, str | dict[str, object]]:
    """The options column as stored: each value a plain string or an encrypted object."""
    try:
        options = json.loads(raw)
    except json.JSONDecodeError:
        options = None
    if isinstance(options, dict) and all(
        isinstance(key, str)
        and (isinstance(value, str) or (is_sealed(value) and value.get("enc") == SEALED_VERSION))
        for key, value in options.items()
    ):
        return options
    # Never echo the stored text: it may hold a secret key.
    raise MetadataError(
        f"the stored options of the mount at {mount} are not a JSON object of strings "
        f"and {SEALED_VERSION} encrypted values"
    )


def has_sealed(stored: Mapping[str, object]) -> bool:
    return any(is_sealed(value) for value in stored.values())


def has_plain_secret(stored: Mapping[str, object]) -> bool:
    return any(is_secret_option(name) and isinstance(value, str) for name, value in stored.items())


def open_options(
    stored: Mapping[str, str | dict[str, object]], key: SecretsKey | None, *, mount: str
) -> dict[str, str]:
    """The options in clear; SecretsKeyError when one is encrypted and ``key`` cannot open it."""
    options: dict[str, str] = {}
    for name, value in stored.items():
        if isinstance(value, str):
            options[name] = value
        elif key is None:
            raise SecretsKeyError(
                f"the secret option {name} of the mount at {mount} is encrypted and this process "
                "opened the metadata database without its key file (tierstore.secrets.key-file)"
            )
        else:
            options[name] = key.unseal(value, mount=mount, option=name)
    return options


def seal_options(
    options: Mapping[str, str], key: SecretsKey, *, mount: str, keep: Mapping[str, object] | None = None
) -> dict[str, str | dict[str, object]]:
    """``options`` with every secret one encrypted; a value already sealed in ``keep`` stays as it was."""
    sealed: dict[str, str | dict[str, object]] = {}
    for name, value in options.items():
        previous = (keep or {}).get(name)
        if not is_secret_option(name):
            sealed[name] = value
        elif isinstance(previous, dict) and sealed_kid(previous) == key.kid:
            sealed[name] = previous
        else:
            sealed[name] = dict(key.seal(value, mount=mount, option=name))
    return sealed


def options_json(options: Mapping[str, object]) -> str:
    return json.dumps(dict(options), sort_keys=True)


# -- the key file ----------------------------------------------------------------------------


def load_key(path: Path) -> SecretsKey:
    """The key in ``path``; SecretsKeyError if it is missing, open to others, or not a key."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SecretsKeyError(f"secrets key file {path} does not exist") from None
    except OSError as error:
        raise SecretsKeyError(f"secrets key file {path} cannot be read: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise SecretsKeyError(
                f"secrets key file {path} is mode {mode:04o}: other users may read or change it; "
                f"chmod 600 {path} (and check who could have copied it)"
            )
        content = handle.read(4096)
    try:
        lines = [line.strip() for line in content.decode("ascii").splitlines()]
        keys = [line for line in lines if line and not line.startswith("#")]
        if len(keys) != 1 or not keys[0].startswith(f"{KEY_VERSION}:"):
            raise ValueError("no key line")
        raw = base64.urlsafe_b64decode(keys[0].removeprefix(f"{KEY_VERSION}:").encode("ascii"))
        return SecretsKey(raw, path)
    except (ValueError, binascii.Error, UnicodeError):
        raise SecretsKeyError(
            f"secrets key file {path} is not a tierstore secrets key (one line "
            f"{KEY_VERSION}:<base64 of {KEY_BYTES} bytes>): restore it from where you keep its copy"
        ) from None


def create_key(path: Path) -> SecretsKey:
    """A new random key written to ``path`` (0600, never over an existing file), in a 0700 directory."""
    raw = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise SecretsKeyError(f"secrets key file {path} cannot be created: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            line = f"{KEY_VERSION}:{base64.urlsafe_b64encode(raw).decode('ascii')}\n"
            handle.write((_HEADER + line).encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
        sync_directory(path.parent)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise SecretsKeyError(f"secrets key file {path} cannot be written: {error.strerror}") from None
    return SecretsKey(raw, path)


def sync_directory(directory: Path) -> None:
    """Makes a rename or a new file in ``directory`` durable (fsync of the directory itself)."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def keep_private(directory: Path) -> None:
    """``directory`` made 0700 (created so, or narrowed): for homes that only tierstore uses."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_IMODE(directory.stat().st_mode) & 0o077:
            directory.chmod(0o700)
    except OSError as error:
        raise ConfigError(f"directory {directory} cannot be made private (0700): {error.strerror}") from None
