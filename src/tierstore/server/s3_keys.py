"""Users' S3 access keys: made here, kept encrypted in the metadata store, looked up from memory.

A key is an access key id shaped like AWS's (``TSK3`` and 16 upper-case letters and digits, 20
characters) and a 40-character secret (30 random bytes in URL-safe base64). The secret is shown
to whoever creates the key and never again. Unlike a bearer token it cannot be kept as a hash,
since verifying a SigV4 signature needs it: the metadata store keeps it encrypted under the
server's secrets key file (``tierstore.secrets.key-file``), bound to the key id and its user.

The S3 gateway (``tierstore.server.s3``) knows nothing of the namespace, so this module lives
beside it rather than in it: the gateway is given :meth:`S3KeyDirectory.secret_for` as its
``SigV4Verifier`` lookup. On a server the metadata store holds every key in memory, kept in step
with the database by its change counters, so a key revoked (or a user removed) through any
process sharing the database is refused by every server within
``tierstore.metadata.sync.interval``, and a known key is checked without a query.
"""

from __future__ import annotations

import builtins
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import TierstoreError
from tierstore.namespace.metadata import MetadataStore
from tierstore.namespace.metadata.records import (
    S3_KEY_ID_LENGTH,
    S3_KEY_ID_PREFIX,
    S3KeyInfo,
    S3KeyRecord,
    is_s3_key_id,
)
from tierstore.settings.secret import Secret, mask_key_id

__all__ = [
    "S3Identity",
    "S3KeyDirectory",
    "S3KeyError",
    "S3KeyInfo",
    "new_access_key_id",
    "new_secret",
]

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
# 30 bytes are 40 characters of base64 with no padding: as long as an AWS secret, 240 bits.
SECRET_BYTES = 30


class S3KeyError(TierstoreError):
    """An S3 key operation the rules refuse; the message says what to do."""


@dataclass(frozen=True, repr=False)
class S3Identity:
    """Who signs with ``access_key_id``: its ``user``, and the ``secret`` to check signatures with."""

    access_key_id: str
    secret: Secret
    user: str

    def __repr__(self) -> str:
        return f"S3Identity(access_key_id={mask_key_id(self.access_key_id)!r}, user={self.user!r})"

    __str__ = __repr__


def new_access_key_id() -> str:
    random_part = S3_KEY_ID_LENGTH - len(S3_KEY_ID_PREFIX)
    return S3_KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(random_part))


def new_secret() -> Secret:
    return Secret(secrets.token_urlsafe(SECRET_BYTES))


class S3KeyDirectory:
    """The S3 keys in ``metadata``: created, listed, revoked, and looked up for signature checks.

    Secrets are sealed and opened by the store with its key file; a store opened without one
    refuses to create keys (they are never kept in clear) and to look them up.
    """

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def create(self, user: str) -> tuple[str, Secret]:
        """A new key for ``user``: its id and secret, the only time the secret is given out.

        S3KeyError for a name no user could have; UnknownUserError (naming ``tierstore users
        add``) for a user who does not exist; SecretsKeyError for a store opened without its key.
        (A new id equal to an existing one, a 1 in 36**16 event, is S3KeyExistsError: retry.)
        """
        access_key_id, secret = new_access_key_id(), new_secret()
        try:
            record = S3KeyRecord(access_key_id, user, secret, datetime.now(UTC))
        except ValueError as error:
            raise S3KeyError(f"no S3 key created: {error}") from None  # a user name no user has
        self.metadata.add_s3_key(record)
        return access_key_id, secret

    def list(self, user: str | None = None) -> builtins.list[S3KeyInfo]:
        """Every key (of ``user`` only, if given): ids, users and creation times, never a secret."""
        found = self.metadata.s3_keys(user)
        if not found and user is not None:
            self._check_user(user)
        return found

    def revoke(self, access_key_id: str) -> None:
        """Removes the key ``access_key_id``; every server refuses it within the sync interval."""
        if not self.metadata.remove_s3_key(access_key_id):
            raise S3KeyError(
                f"S3 key {mask_key_id(access_key_id)} does not exist "
                "(tierstore users s3-keys list shows the keys there are)"
            )

    def revoke_all(self, user: str) -> int:
        """Removes every key of ``user``; returns how many there were (S3KeyError: no such user)."""
        removed = self.metadata.remove_s3_keys_of(user)
        if not removed:
            self._check_user(user)
        return removed

    def lookup(self, access_key_id: str) -> S3Identity | None:
        """The identity signing with ``access_key_id``, None for an unknown (or revoked) key.

        May query the database (a key not in memory yet); SecretsKeyError when the store cannot
        open the secret (opened without the key file, or still holding a key since rotated).
        """
        if not is_s3_key_id(access_key_id):
            return None
        record = self.metadata.s3_key(access_key_id)
        return None if record is None else S3Identity(record.access_key_id, record.secret, record.user)

    def recent(self, access_key_id: str) -> tuple[bool, S3Identity | None]:
        """``(True, identity or None)`` when memory can answer for ``access_key_id``, else
        ``(False, None)``: then call :meth:`lookup` on a thread. Never blocks, so the event loop
        may call it."""
        if not is_s3_key_id(access_key_id):
            return True, None
        try:
            with memory_only():
                return True, self.lookup(access_key_id)
        except NeedsIO:
            return False, None

    def secret_for(self, access_key_id: str) -> Secret | None:
        """The ``lookup`` a ``SigV4Verifier`` takes: the key's secret, None if there is none.

        Inside :func:`tierstore.blocking.memory_only` it raises ``NeedsIO`` where it would query,
        so ``in_memory_or_thread(lambda: verifier.verify(parts))`` verifies a known key's request
        on the event loop and retries on a thread otherwise.
        """
        identity = self.lookup(access_key_id)
        return None if identity is None else identity.secret

    def _check_user(self, user: str) -> None:
        if not any(record.name == user for record in self.metadata.users()):
            raise S3KeyError(f"user {user} does not exist (tierstore users list shows who does)")
