"""Users of the API server: bearer tokens made once, kept only as SHA-256 hashes.

A token is ``tsk_`` followed by 32 random bytes in URL-safe base64. It is shown to whoever
creates the user and never again: the metadata store holds its hash, so a copy of the
database does not let anyone in.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tierstore.blocking import NeedsIO, memory_only
from tierstore.errors import TierstoreError
from tierstore.namespace.metadata import MetadataStore, UserRecord
from tierstore.namespace.metadata.errors import UserExistsError
from tierstore.namespace.permissions import Caller

LOGGER = logging.getLogger("tierstore.server")

TOKEN_PREFIX = "tsk_"
TOKEN_BYTES = 32
ADMIN_TOKEN_FILE = "admin.token"
BOOTSTRAP_ADMIN = "admin"


class UserError(TierstoreError):
    """A users add/remove the rules refuse; the message says what to do."""


@dataclass(frozen=True)
class User:
    name: str
    groups: frozenset[str]
    admin: bool

    def caller(self) -> Caller:
        """An admin is the namespace's superuser; everyone else is checked by mode bits."""
        return Caller(user=self.name, groups=self.groups, superuser=self.admin)

    def as_dict(self) -> dict[str, object]:
        return {"user": self.name, "groups": sorted(self.groups), "admin": self.admin}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(record: UserRecord) -> User:
    return User(name=record.name, groups=frozenset(record.groups), admin=record.admin)


class UserDirectory:
    """Users in the metadata store.

    The server's store keeps every user in memory, kept in step with the database by its change
    counters (``tierstore.metadata.sync.interval``): a user removed by any server sharing the
    database is refused by every one within that interval, and a token is checked without a
    query.
    """

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def add(self, name: str, groups: list[str] | tuple[str, ...] = (), *, admin: bool = False) -> str:
        """Creates the user and returns its token: the only time the token exists in clear."""
        token = new_token()
        try:
            record = UserRecord(
                name=name,
                token_sha256=token_hash(token),
                groups=tuple(sorted(set(groups))),
                admin=admin,
                created_at=datetime.now(UTC),
            )
        except ValueError as error:
            raise UserError(str(error)) from None
        self.metadata.add_user(record)
        return token

    def remove(self, name: str) -> None:
        if not self.metadata.remove_user(name):
            raise UserError(f"user {name} does not exist (see: tierstore users list)")

    def exists(self, name: str) -> bool:
        return any(record.name == name for record in self.metadata.users())

    def list(self) -> list[User]:
        return [_user(record) for record in self.metadata.users()]

    def named(self, name: str) -> User | None:
        """The user called ``name``, or None (from memory on the server, whose store caches users)."""
        for record in self.metadata.users():
            if record.name == name:
                return _user(record)
        return None

    def named_now(self, name: str) -> User | None:
        """:meth:`named` after taking in what other processes changed: a user added a moment ago
        by ``tierstore users add``, whose S3 key is already in use, before the next poll."""
        self.metadata.catch_up()
        return self.named(name)

    def recent(self, token: str) -> tuple[bool, User | None]:
        """``(True, user or None)`` when ``token`` can be checked from memory, else ``(False, None)``.

        Never blocks, so the event loop may call it without a thread.
        """
        if not token.startswith(TOKEN_PREFIX):
            return True, None
        try:
            with memory_only():
                return True, self.authenticate(token)
        except NeedsIO:
            return False, None

    def authenticate(self, token: str) -> User | None:
        """The user holding ``token``, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        record = self.metadata.user_by_token_hash(token_hash(token))
        return None if record is None else _user(record)

    def bootstrap_admin(self, home: Path) -> str | None:
        """With no users at all, create ``admin`` and write its token to ``home/admin.token`` (0600).

        Returns the token when it made one, for the caller to print once.
        """
        if self.metadata.users():
            return None
        try:
            token = self.add(BOOTSTRAP_ADMIN, admin=True)
        except UserExistsError:
            # Another server sharing the database made it first.
            return None
        write_token_file(home / ADMIN_TOKEN_FILE, token)
        LOGGER.warning(
            "no users were defined: created the admin user %s; its token is in %s",
            BOOTSTRAP_ADMIN,
            home / ADMIN_TOKEN_FILE,
        )
        return token


def write_token_file(path: Path, token: str) -> None:
    """Writes ``token`` to ``path`` readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
