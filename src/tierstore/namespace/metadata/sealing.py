"""The metadata's secrets (secret mount options, S3 keys' secrets) and the key file: the check at
every start, and key rotation.

``check_and_seal`` runs when a process opens the store with a key file, right after the schema
migrations and under the same lock (PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE),
in one transaction:

1. the key: read from the file; made (0600) only when the database has never had one, so a
   server missing its copy never makes a key of its own beside rows it could not read;
2. the database's recorded key id (table ``secrets_key``) must be the file's: a server with
   another key refuses to start, naming the file and the mounts, before it reads or writes a row;
3. every encrypted value must decrypt, S3 keys' secrets included; every plain secret option
   (from a tierstore before encryption, or written without a key) is encrypted in place. (S3
   secrets are never plain: only a process holding the key writes them.)

Any refusal rolls the whole transaction back: nothing is written that could not be read.

``rotate`` makes a new key in ``<file>.new``, re-encrypts every row (mounts and S3 keys) and
records the new id in one transaction, then moves the new file in place. At any moment the key
the database uses is in ``<file>`` or ``<file>.new``; a crash in between is finished by running
the rotation again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from tierstore.namespace.metadata import schema
from tierstore.namespace.metadata.engine import Target, transaction, unavailable_as_error
from tierstore.namespace.metadata.errors import MetadataError
from tierstore.namespace.metadata.migrations import ADVISORY_LOCK_KEY
from tierstore.namespace.metadata.s3_key_rows import open_s3_secret, seal_s3_secret, stored_s3_secret
from tierstore.namespace.metadata.secrets_at_rest import (
    SecretsKey,
    SecretsKeyError,
    create_key,
    has_plain_secret,
    has_sealed,
    load_key,
    open_options,
    options_json,
    pending_key_file,
    retired_key_file,
    seal_options,
    sealed_kid,
    stored_options,
    sync_directory,
)

LOGGER = logging.getLogger("tierstore.namespace.metadata")
_ROW_ID = 1
_NAMED_MOUNTS = 5  # how many mounts a message names before "and N more"


@dataclass(frozen=True)
class Rotation:
    """What ``tierstore admin rotate-key`` did: key ids only, never a key."""

    key_file: Path
    old_kid: str | None
    new_kid: str
    mounts: int  # rows whose secret options were re-encrypted
    finished_interrupted: bool = False
    s3_keys: int = 0  # S3 keys whose secret was re-encrypted


def _lock(connection: Connection) -> None:
    """Serializes with migrations and other starts on PostgreSQL (SQLite: BEGIN IMMEDIATE did)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def recorded_kid(connection: Connection, *, lock: Literal["share", "update"] | None = None) -> str | None:
    """The key id the database's secrets use, None before any key.

    ``lock``: "share" for a writer (a rotation waits for it, or it waits for the rotation and
    then sees the new id), "update" for a rotation. SQLite ignores both: its writers queue anyway.
    """
    table = schema.secrets_key
    query = select(table.c.kid).where(table.c.id == _ROW_ID)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    found = connection.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def _record_kid(connection: Connection, kid: str, *, existed: bool) -> None:
    table = schema.secrets_key
    now = datetime.now(UTC)
    if existed:
        connection.execute(update(table).where(table.c.id == _ROW_ID).values(kid=kid, updated_at=now))
    else:
        connection.execute(insert(table).values(id=_ROW_ID, kid=kid, updated_at=now))


def _rows(connection: Connection, *, for_update: bool = False) -> Iterator[tuple[str, str]]:
    mounts = schema.mounts
    query = select(mounts.c.path, mounts.c.options).order_by(mounts.c.path)
    if for_update:
        query = query.with_for_update()
    for path, raw in connection.execute(query):
        yield str(path), str(raw)


def _s3_rows(connection: Connection, *, for_update: bool = False) -> list[tuple[str, str, str]]:
    """Every S3 key as (access key id, user, sealed secret)."""
    keys = schema.s3_keys
    query = select(keys.c.access_key_id, keys.c.user_name, keys.c.secret).order_by(keys.c.access_key_id)
    if for_update:
        query = query.with_for_update()
    return [(str(key_id), str(user), str(raw)) for key_id, user, raw in connection.execute(query)]


def _named(paths: list[str]) -> str:
    shown = ", ".join(paths[:_NAMED_MOUNTS])
    more = len(paths) - _NAMED_MOUNTS
    return shown + (f" and {more} more" if more > 0 else "")


def _sealed_mounts(rows: list[tuple[str, str]]) -> list[str]:
    return [path for path, raw in rows if has_sealed(stored_options(path, raw))]


def _first_sealed_kid(rows: list[tuple[str, str]]) -> str | None:
    for path, raw in rows:
        for value in stored_options(path, raw).values():
            if isinstance(value, dict):
                return sealed_kid(value)
    return None


def _needing(mounts: list[str], s3_keys: int) -> str:
    """What needs the key: "the secret options of the mounts at /a, /b and the secrets of 2 S3 keys"."""
    parts = []
    if mounts:
        parts.append(f"the secret options of the mount{'s' if len(mounts) > 1 else ''} at {_named(mounts)}")
    if s3_keys:
        parts.append(
            f"the secret{'s' if s3_keys > 1 else ''} of {s3_keys} S3 key{'s' if s3_keys > 1 else ''}"
        )
    return " and ".join(parts)


def _wrong_key(
    key_file: Path, held: str, recorded: str, rows: list[tuple[str, str]], s3_keys: int = 0
) -> SecretsKeyError:
    needing = _needing(_sealed_mounts(rows), s3_keys)
    unreadable = f"; {needing} cannot be read with it" if needing else ""
    pending = pending_key_file(key_file)
    hint = "give this server the key file the other servers of this database use"
    try:
        if pending.exists() and load_key(pending).kid == recorded:
            hint = (
                f"a key rotation was interrupted: {pending} holds key id {recorded}; run "
                "tierstore admin rotate-key again to finish it"
            )
    except SecretsKeyError:
        pass
    return SecretsKeyError(
        f"secrets key file {key_file} holds key id {held}, but the metadata database's secret "
        f"options are encrypted with key id {recorded}{unreadable}: {hint}; refusing to start, "
        "nothing was changed"
    )


def _key_for_start(
    key_file: Path, recorded: str | None, rows: list[tuple[str, str]], s3_rows: list[tuple[str, str, str]]
) -> SecretsKey:
    if key_file.exists() or key_file.is_symlink():
        key = load_key(key_file)
        if recorded is not None and recorded != key.kid:
            raise _wrong_key(key_file, key.kid, recorded, rows, len(s3_rows))
        return key
    mounts = _sealed_mounts(rows)
    if recorded is not None or mounts or s3_rows:
        kid = recorded or _first_sealed_kid(rows)
        if kid is None:
            key_id, _, raw = s3_rows[0]
            kid = str(stored_s3_secret(key_id, raw).get("kid"))
        what = _needing(mounts, len(s3_rows))
        needing = f" ({what})" if what else ""
        raise SecretsKeyError(
            f"secrets key file {key_file} does not exist, but the metadata database's secrets are "
            f"encrypted with key id {kid}{needing}: copy the key file the other servers of this "
            "database use to that path (or set tierstore.secrets.key-file to it); refusing to "
            "start without making a key that could not read them"
        )
    key = create_key(key_file)
    LOGGER.warning(
        "made a new secrets key in %s (key id %s); keep a copy apart from the database", key_file, key.kid
    )
    return key


def check_and_seal(engine: Engine, target: Target, key_file: Path) -> tuple[SecretsKey, int]:
    """The key of ``key_file``, checked against every row; returns it and how many rows it encrypted."""
    sealed = 0
    with transaction(engine, target, write=True) as connection:
        _lock(connection)
        recorded = recorded_kid(connection, lock="update")
        rows = list(_rows(connection))
        s3_rows = _s3_rows(connection)
        key = _key_for_start(key_file, recorded, rows, s3_rows)
        for key_id, user, raw_secret in s3_rows:
            open_s3_secret(key_id, user, raw_secret, key)  # every S3 secret must decrypt too
        for path, raw in rows:
            stored = stored_options(path, raw)
            plain = open_options(stored, key, mount=path)  # every encrypted value must decrypt
            if has_plain_secret(stored):
                values = options_json(seal_options(plain, key, mount=path, keep=stored))
                connection.execute(
                    update(schema.mounts).where(schema.mounts.c.path == path).values(options=values)
                )
                sealed += 1
        if recorded is None:
            _record_kid(connection, key.kid, existed=False)
    if sealed:
        LOGGER.info("encrypted the secret options of %d mount(s) with key id %s", sealed, key.kid)
    return key, sealed


def check_writable(connection: Connection, key: SecretsKey | None) -> None:
    """Before writing secret options: the database must still use ``key`` (None: no key at all)."""
    recorded = recorded_kid(connection, lock="share")
    if key is None and recorded is not None:
        raise SecretsKeyError(
            "secret mount options cannot be written in clear: the metadata database encrypts them "
            f"(key id {recorded}); open it with its key file (tierstore.secrets.key-file)"
        )
    if key is not None and recorded is not None and recorded != key.kid:
        raise SecretsKeyError(
            f"the metadata database's secrets key was rotated to key id {recorded}, but this process "
            f"holds key id {key.kid} from {key.path}: restart it with the current key file"
        )


def rotate(engine: Engine, target: Target, key_file: Path) -> Rotation:
    """A new key for every row (see the module's docstring); the old key file is replaced."""
    current = load_key(key_file)
    pending = pending_key_file(key_file)
    if pending.exists() or pending.is_symlink():
        interrupted = _pending_rotation(engine, target, key_file, current)
        if interrupted is not None:
            return interrupted
    new = create_key(pending)
    try:
        with transaction(engine, target, write=True) as connection:
            _lock(connection)
            recorded = recorded_kid(connection, lock="update")
            rows = list(_rows(connection))
            if recorded is not None and recorded != current.kid:
                raise _wrong_key(key_file, current.kid, recorded, rows, len(_s3_rows(connection)))
            # The id first: a writer holding the old key waits for this row, then sees the new id.
            _record_kid(connection, new.kid, existed=recorded is not None)
            changed = 0
            for path, raw in _rows(connection, for_update=True):
                stored = stored_options(path, raw)
                if not (has_sealed(stored) or has_plain_secret(stored)):
                    continue
                plain = open_options(stored, current, mount=path)
                values = options_json(seal_options(plain, new, mount=path))
                connection.execute(
                    update(schema.mounts).where(schema.mounts.c.path == path).values(options=values)
                )
                changed += 1
            s3_changed = _reseal_s3_keys(connection, current, new)
    except BaseException:
        pending.unlink(missing_ok=True)  # never used: the database still needs the current key
        raise
    _move_in_place(key_file, pending, new.kid)
    LOGGER.warning(
        "secrets key rotated: key id %s -> %s (%d mounts, %d S3 keys)",
        current.kid,
        new.kid,
        changed,
        s3_changed,
    )
    return Rotation(
        key_file=key_file, old_kid=current.kid, new_kid=new.kid, mounts=changed, s3_keys=s3_changed
    )


def _reseal_s3_keys(connection: Connection, current: SecretsKey, new: SecretsKey) -> int:
    """Every S3 key's secret opened with ``current`` and sealed again with ``new``; how many."""
    keys = schema.s3_keys
    rows = _s3_rows(connection, for_update=True)
    for key_id, user, raw in rows:
        secret = open_s3_secret(key_id, user, raw, current)
        connection.execute(
            update(keys)
            .where(keys.c.access_key_id == key_id)
            .values(secret=seal_s3_secret(key_id, user, secret, new))
        )
    return len(rows)


def _pending_rotation(engine: Engine, target: Target, key_file: Path, current: SecretsKey) -> Rotation | None:
    """A ``<file>.new`` left by a rotation: finished if the database uses it, else removed."""
    pending = pending_key_file(key_file)
    new = load_key(pending)
    with transaction(engine, target, write=False) as connection:
        recorded = recorded_kid(connection)
    if recorded == new.kid:
        _move_in_place(key_file, pending, new.kid)
        LOGGER.warning("finished an interrupted secrets key rotation: key id %s is in %s", new.kid, key_file)
        return Rotation(key_file, current.kid, new.kid, mounts=0, finished_interrupted=True)
    if recorded in (None, current.kid):
        pending.unlink()  # a rotation that never committed: its key encrypted nothing
        return None
    raise SecretsKeyError(
        f"the metadata database's secrets use key id {recorded}, which is neither {key_file} "
        f"(key id {current.kid}) nor {pending} (key id {new.kid}): put the key file the other "
        "servers of this database use in place; nothing was changed"
    )


def _move_in_place(key_file: Path, pending: Path, new_kid: str) -> None:
    """``pending`` becomes ``key_file`` atomically; the old key is kept as ``<file>.old`` meanwhile."""
    retired = retired_key_file(key_file)
    try:
        retired.unlink(missing_ok=True)
        os.link(key_file, retired)
        os.replace(pending, key_file)
        sync_directory(key_file.parent)
        retired.unlink()
        sync_directory(key_file.parent)
    except OSError as error:
        raise SecretsKeyError(
            f"the metadata database now uses key id {new_kid}, kept in {pending}, but it could not "
            f"be moved to {key_file} ({error.strerror}): move it there by hand, then restart the servers"
        ) from None


def scrub_sqlite(engine: Engine, target: Target) -> None:
    """Rewrites the SQLite file and empties its write-ahead log, so no old copy of a row is left.

    After secrets were encrypted in place (or re-encrypted) their previous bytes may remain in
    free space of the file and in the -wal; VACUUM rebuilds the file, a truncating checkpoint
    empties the log. Best effort: another process reading at that moment can keep the log.
    """
    try:
        with unavailable_as_error(target), closing(engine.raw_connection()) as raw:
            cursor = raw.cursor()
            try:
                cursor.execute("VACUUM")
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                cursor.close()
    except (sqlite3.Error, MetadataError) as error:
        LOGGER.warning("metadata database %s: could not rewrite it after encrypting: %s", target.where, error)
        return
    if busy and busy[0]:
        LOGGER.warning(
            "metadata database %s: another connection kept its write-ahead log; old copies of the "
            "encrypted rows stay in %s-wal until it is checkpointed",
            target.where,
            target.where,
        )
