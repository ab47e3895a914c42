"""Errors of the metadata store; messages name the database by host:port or file, never a password."""

from __future__ import annotations

from tierstore.errors import ConflictError, TierstoreError


class MetadataError(TierstoreError):
    """The metadata database is in a state this tierstore cannot use (e.g. a newer schema)."""


class MetadataUnavailableError(MetadataError):
    """The metadata database could not be reached, opened or written (``where``: host:port or file)."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.where = where


class MountExistsError(ConflictError):
    """Something is already mounted at ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"a mount already exists at {path}: unmount it first, or mount at another path",
            key=path,
        )
        self.path = path


class UserExistsError(ConflictError):
    """A user of that name already exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"user {name} already exists: remove it first, or choose another name")
        self.name = name
