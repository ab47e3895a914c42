"""What every metadata store answers: the mount table, per-path attributes, users and their S3 keys.

Two implementations: the SQLAlchemy store (:mod:`.store`, SQLite or PostgreSQL; servers hold it
in memory, :mod:`.cached`), and the standard library's sqlite3 reading a SQLite file directly
for short-lived commands (:mod:`.direct`). This module imports neither, so that the parts of
tierstore that only pass a store around do not pay for SQLAlchemy.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Literal, Self

from tierstore.blocking import on_thread
from tierstore.namespace.metadata.records import (
    MountRecord,
    PathAttributes,
    S3KeyInfo,
    S3KeyRecord,
    UserRecord,
)

ChangeKind = Literal["mounts", "attributes", "users", "s3_keys", "content"]


class MetadataStore(abc.ABC):
    """The mount table, path attributes and users of one namespace. Open with
    :func:`~tierstore.namespace.metadata.store.open_metadata`."""

    #: the database's URL with its password masked
    url_for_display: str
    #: Whether :meth:`generation` counts changes (a store that answers from memory). One that
    #: reads the database every time answers 0 always: nothing derived from it may be kept.
    counts_generations: bool = False

    # -- mounts ---------------------------------------------------------------------------

    @abc.abstractmethod
    def mounts(self) -> list[MountRecord]:
        """Every mount, sorted by path (so a parent mount comes before the ones inside it)."""

    @abc.abstractmethod
    def mount(self, path: str) -> MountRecord | None:
        """The mount at ``path``, None if there is none."""

    @abc.abstractmethod
    def add_mount(self, record: MountRecord) -> None:
        """Adds ``record``; MountExistsError if its path is taken, here or by another process."""

    @abc.abstractmethod
    def replace_mount(self, record: MountRecord) -> None:
        """Adds ``record`` or overwrites the mount at its path (the root mount, re-read from config)."""

    @abc.abstractmethod
    def remove_mount(self, path: str) -> bool:
        """Removes the mount at ``path``; False if there was none."""

    # -- path attributes ------------------------------------------------------------------

    @abc.abstractmethod
    def set_attributes(
        self,
        path: str,
        *,
        owner: str | None = None,
        group: str | None = None,
        mode: int | None = None,
    ) -> PathAttributes:
        """Sets the given fields on ``path`` (creating its row if need be); the others keep their value."""

    def record_creation(self, path: str, *, owner: str, group: str, mode: int) -> PathAttributes:
        """:meth:`set_attributes` for a file just created, which no other path inherits from: a
        store answering from memory takes it in for that path alone (see
        :meth:`inherited_generation`), where any other change of attributes drops them all."""
        return self.set_attributes(path, owner=owner, group=group, mode=mode)

    async def record_creation_async(self, path: str, *, owner: str, group: str, mode: int) -> PathAttributes:
        """:meth:`record_creation` for an event loop: on a worker thread, unless the store can
        wait for its transaction without one."""
        return await on_thread(lambda: self.record_creation(path, owner=owner, group=group, mode=mode))

    @abc.abstractmethod
    def attributes(self, path: str) -> PathAttributes | None:
        """The attributes of ``path``, None if it has none of its own."""

    @abc.abstractmethod
    def attributes_of(self, paths: list[str]) -> dict[str, PathAttributes]:
        """The attributes of each of ``paths`` that has any, by path, in one query."""

    @abc.abstractmethod
    def attributes_under(self, path: str) -> dict[str, PathAttributes]:
        """The attributes of ``path`` and of every path below it, by path."""

    @abc.abstractmethod
    def move_attributes(self, source: str, dest: str) -> None:
        """Renames ``source`` and everything below it to ``dest``, replacing what ``dest`` had."""

    @abc.abstractmethod
    def remove_attributes_under(self, path: str) -> int:
        """Forgets the attributes of ``path`` and everything below it; returns how many paths had some."""

    # -- users ----------------------------------------------------------------------------

    @abc.abstractmethod
    def users(self) -> list[UserRecord]:
        """Every user of the API server, sorted by name."""

    @abc.abstractmethod
    def user_by_token_hash(self, token_sha256: str) -> UserRecord | None:
        """The user whose bearer token hashes to ``token_sha256`` (an indexed lookup)."""

    @abc.abstractmethod
    def add_user(self, record: UserRecord) -> None:
        """Adds ``record``; UserExistsError if the name is taken, here or by another process."""

    @abc.abstractmethod
    def remove_user(self, name: str) -> bool:
        """Removes the user ``name`` and its S3 keys; False if there was no such user."""

    # -- S3 access keys -------------------------------------------------------------------

    @abc.abstractmethod
    def s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        """Every S3 key (of ``user`` only, if given), by user then creation: never a secret."""

    @abc.abstractmethod
    def s3_key(self, access_key_id: str) -> S3KeyRecord | None:
        """The key ``access_key_id`` with its secret decrypted, None if there is none.

        SecretsKeyError when this store was opened without the key file, or with another key."""

    @abc.abstractmethod
    def add_s3_key(self, record: S3KeyRecord) -> None:
        """Adds ``record``, its secret sealed under the store's key, in one transaction with the
        check that its user exists (UnknownUserError otherwise). SecretsKeyError without a key
        file; S3KeyExistsError if the key id is taken."""

    @abc.abstractmethod
    def remove_s3_key(self, access_key_id: str) -> bool:
        """Removes the key ``access_key_id``; False if there was none."""

    @abc.abstractmethod
    def remove_s3_keys_of(self, user: str) -> int:
        """Removes every key of ``user``; returns how many there were."""

    # -- changes made by other processes --------------------------------------------------

    def generation(self, kind: ChangeKind) -> int:
        """A number that changes whenever what this store answers of ``kind`` may have changed.

        A store that reads the database every time never answers stale: always 0. (The
        server's in-memory store counts its drops.)
        """
        return 0

    def inherited_generation(self) -> int:
        """As ``generation("attributes")``, except that a new file's own record
        (:meth:`record_creation`) leaves it: what a cache of other paths' effective attributes
        (the namespace's stats and listings) is stamped with, since a file just created passes
        nothing on to any other path."""
        return self.generation("attributes")

    @abc.abstractmethod
    def change_counters(self) -> dict[str, int]:
        """Each kind's change counter: one small query, polled by caching servers."""

    # -- life cycle -----------------------------------------------------------------------

    def catch_up(self) -> None:  # noqa: B027 - a store reading the database each time has nothing to do
        """Take in what other processes changed since the last poll (a store answering from memory)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Closes the store's connections; the store must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
