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


class UnknownUserError(TierstoreError):
    """Something was to be given to a user who does not exist."""

    def __init__(self, name: str, what: str) -> None:
        super().__init__(
            f"user {name} does not exist, so it cannot be given {what}: add it first with "
            f"tierstore users add {name} (tierstore users list shows who exists)"
        )
        self.name = name


class S3KeyExistsError(ConflictError):
    """An S3 key with that access key id already exists (a new id is drawn at random: retry)."""

    def __init__(self, masked_id: str) -> None:
        super().__init__(f"an S3 key with id {masked_id} already exists: create the key again for a new id")
