"""The namespace's metadata store: mount table, per-path attributes, users and their S3 keys, on
SQLite or PostgreSQL.

Every method runs in its own short transaction on a pooled connection, so one store may be
shared by threads, and several processes (servers sharing a PostgreSQL database) see each
other's changes as soon as they commit. Uniqueness is left to the primary keys: two servers
mounting at one path race in the database, not in Python, and exactly one wins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    and_,
    delete,
    exc,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import Executable

from tierstore.blocking import require_io
from tierstore.namespace.metadata import schema
from tierstore.namespace.metadata.base import ChangeKind, MetadataStore
from tierstore.namespace.metadata.creations import Creation, CreationBatcher
from tierstore.namespace.metadata.engine import (
    Target,
    create_store_engine,
    is_unique_violation,
    parse_url,
    transaction,
)
from tierstore.namespace.metadata.errors import (
    MountExistsError,
    S3KeyExistsError,
    UnknownUserError,
    UserExistsError,
)
from tierstore.namespace.metadata.migrations import LATEST_VERSION, migrate
from tierstore.namespace.metadata.records import (
    MountRecord,
    PathAttributes,
    S3KeyInfo,
    S3KeyRecord,
    UserRecord,
    check_mode,
    check_path,
    is_s3_key_id,
    is_secret_option,
)
from tierstore.namespace.metadata.rows import attributes_from_row, mount_from_row, user_from_row
from tierstore.namespace.metadata.s3_key_rows import (
    no_key_error,
    s3_key_from_row,
    s3_key_info_from_row,
    s3_key_values,
)
from tierstore.namespace.metadata.sealing import (
    Rotation,
    check_and_seal,
    check_writable,
    rotate,
    scrub_sqlite,
)
from tierstore.namespace.metadata.secrets_at_rest import SecretsKey, options_json, seal_options
from tierstore.namespace.metadata.sqlite_file import make_private
from tierstore.settings.secret import mask_key_id

LOGGER = logging.getLogger("tierstore.namespace.metadata")

_mounts = schema.mounts
_attrs = schema.path_attributes
_users = schema.users
_s3_keys = schema.s3_keys
_changes = schema.namespace_changes
_content = schema.content_changes


def _creation(path: str, owner: str, group: str, mode: int) -> Creation:
    """A new file's attributes, each checked."""
    check_path(path)
    _check_name(owner, "owner", path)
    _check_name(group, "group", path)
    return Creation(path, owner, group, check_mode(mode, f"mode for {path}"))


def _raise_counter(connection: Connection, kind: str, by: int = 1) -> int:
    """Raise ``kind``'s change counter by ``by`` in ``connection``'s transaction; its new value."""
    return int(
        connection.execute(
            update(_changes)
            .where(_changes.c.kind == kind)
            .values(counter=_changes.c.counter + by)
            .returning(_changes.c.counter)
        ).scalar_one()
    )


def _under(column: ColumnElement[str], path: str) -> ColumnElement[bool]:
    """``column`` is ``path`` or below it: "/a" matches "/a" and "/a/b", never "/ab".

    A range rather than LIKE: LIKE would need its "%" and "_" escaped in every path, is
    case-insensitive on SQLite, and cannot use the primary key index under every collation.
    """
    if path == "/":
        return true()
    # "0" is the character right after "/", so this is every string that starts with path + "/".
    return or_(column == path, and_(column >= path + "/", column < path + "0"))


def _mount_values(connection: Connection, record: MountRecord, key: SecretsKey | None) -> dict[str, Any]:
    """The row for ``record``: secret options encrypted with ``key``, in the transaction writing it."""
    options: dict[str, object] = dict(record.options)
    if any(is_secret_option(name) for name in options):
        check_writable(connection, key)  # the database still uses this key (or has none)
        if key is not None:
            options = dict(seal_options(record.options, key, mount=record.path))
    return {
        "path": record.path,
        "uri": record.uri,
        "options": options_json(options),
        "readonly": record.readonly,
        "shared": record.shared,
        "owner": record.owner,
        "grp": record.group,
        "mode": record.mode,
        "created_at": record.created_at,
    }


def _check_name(value: str | None, what: str, path: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{what} for {path} is {value!r}; give a non-empty name, or None to leave it")


class SqlMetadataStore(MetadataStore):
    """A namespace's metadata through SQLAlchemy Core, on SQLite or PostgreSQL. Open with
    :func:`open_metadata`."""

    def __init__(self, engine: Engine, target: Target, secrets_key: SecretsKey | None = None) -> None:
        self._engine = engine
        self._target = target
        # None: opened without a key file; secret options are then neither read nor written
        # once the database encrypts them.
        self._secrets_key = secrets_key
        self.url_for_display: str = target.display
        self._creations = CreationBatcher(self._write_creations)
        self._upserts: dict[str, Executable] = {}  # by dialect: see _creation_upsert

    def __repr__(self) -> str:
        return f"MetadataStore({self.url_for_display!r})"

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        require_io("the metadata database")
        with transaction(self._engine, self._target, write=False) as connection:
            yield connection

    @contextmanager
    def _write(self, *kinds: ChangeKind) -> Iterator[Connection]:
        """A write transaction that also raises each of ``kinds``' change counters, so every
        server sharing the database learns that what it holds of them is stale."""
        require_io("the metadata database")
        counters: dict[ChangeKind, int] = {}
        with transaction(self._engine, self._target, write=True) as connection:
            yield connection
            for kind in kinds:
                counters[kind] = _raise_counter(connection, kind)
        for kind, counter in counters.items():
            self._changed(kind, counter)

    def _changed(self, kind: ChangeKind, counter: int) -> None:
        """Called after a change of ``kind`` committed in this process, raising its counter to
        ``counter`` (a cache's hook)."""

    def change_counters(self) -> dict[str, int]:
        """Each kind's change counter: one small query, polled by caching servers."""
        with self._read() as connection:
            rows = connection.execute(select(_changes.c.kind, _changes.c.counter)).all()
        return {str(kind): int(counter) for kind, counter in rows}

    # -- content changes (see schema.content_changes) -------------------------------------------

    def record_content_changes(self, paths: Sequence[str]) -> tuple[int, int]:
        """Number ``paths`` (written or removed through this server) with the next values of the
        "content" change counter, in one transaction, so that servers sharing the namespace drop
        what they hold of them; the oldest rows past ``CONTENT_CHANGES_KEPT`` go. Returns the
        first and last numbers given."""
        require_io("the metadata database")
        count = len(paths)
        with transaction(self._engine, self._target, write=True) as connection:
            # The row lock (PostgreSQL) or the write lock (SQLite) taken here orders concurrent
            # writers, so each number is given once.
            last = _raise_counter(connection, "content", count)
            first = last - count + 1
            connection.execute(
                insert(_content), [{"seq": first + index, "path": path} for index, path in enumerate(paths)]
            )
            connection.execute(delete(_content).where(_content.c.seq <= last - schema.CONTENT_CHANGES_KEPT))
        self._content_recorded(first, last)
        return first, last

    def _content_recorded(self, first: int, last: int) -> None:
        """Called after this process numbered changes ``first..last`` (a cache's hook)."""

    def content_changes_since(self, seen: int) -> list[str] | None:
        """The paths numbered after ``seen``, oldest first; None when some of them are no longer
        kept (a reader that far behind must assume anything changed)."""
        with self._read() as connection:
            rows = connection.execute(
                select(_content.c.seq, _content.c.path).where(_content.c.seq > seen).order_by(_content.c.seq)
            ).all()
            if rows and int(rows[0][0]) != seen + 1:
                return None
            if not rows:  # nothing after seen: kept, unless the counter moved past what is kept
                counter = connection.execute(
                    select(_changes.c.counter).where(_changes.c.kind == "content")
                ).scalar_one()
                if int(counter) > seen:
                    return None
        return [str(path) for _, path in rows]

    @staticmethod
    def _upsert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can take ON CONFLICT: each dialect has its own, with one API."""
        if connection.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # -- mounts -------------------------------------------------------------------------------

    def mounts(self) -> list[MountRecord]:
        """Every mount, sorted by path (so a parent mount comes before the ones inside it)."""
        with self._read() as connection:
            rows = connection.execute(select(_mounts).order_by(_mounts.c.path)).mappings().all()
        return [mount_from_row(row, self._secrets_key) for row in rows]

    def mount(self, path: str) -> MountRecord | None:
        check_path(path, "mount path")
        with self._read() as connection:
            row = connection.execute(select(_mounts).where(_mounts.c.path == path)).mappings().first()
        return None if row is None else mount_from_row(row, self._secrets_key)

    def add_mount(self, record: MountRecord) -> None:
        """Adds ``record``; MountExistsError if its path is taken, here or by another process."""
        try:
            with self._write("mounts") as connection:
                values = _mount_values(connection, record, self._secrets_key)
                connection.execute(_mounts.insert().values(values))
        except exc.IntegrityError as error:
            if is_unique_violation(error):
                raise MountExistsError(record.path) from None
            raise
        LOGGER.info("mount added: %r", record)

    def replace_mount(self, record: MountRecord) -> None:
        """Adds ``record`` or overwrites the mount at its path (the root mount, re-read from config)."""
        with self._write("mounts") as connection:
            values = _mount_values(connection, record, self._secrets_key)
            statement = self._upsert(connection, _mounts).values(values)
            statement = statement.on_conflict_do_update(
                index_elements=[_mounts.c.path],
                set_={name: statement.excluded[name] for name in values if name != "path"},
            )
            connection.execute(statement)
        LOGGER.info("mount replaced: %r", record)

    def remove_mount(self, path: str) -> bool:
        """Removes the mount at ``path``; False if there was none."""
        check_path(path, "mount path")
        with self._write("mounts") as connection:
            removed = connection.execute(delete(_mounts).where(_mounts.c.path == path)).rowcount > 0
        if removed:
            LOGGER.info("mount removed: %s", path)
        return removed

    # -- path attributes ----------------------------------------------------------------------

    def set_attributes(
        self,
        path: str,
        *,
        owner: str | None = None,
        group: str | None = None,
        mode: int | None = None,
    ) -> PathAttributes:
        """Sets the given fields on ``path`` (creating its row if need be); the others keep their
        value. Every process, this one too, drops the attributes it holds."""
        check_path(path)
        _check_name(owner, "owner", path)
        _check_name(group, "group", path)
        changes: dict[str, Any] = {}
        if owner is not None:
            changes["owner"] = owner
        if group is not None:
            changes["grp"] = group
        if mode is not None:
            changes["mode"] = check_mode(mode, f"mode for {path}")
        if not changes:
            raise ValueError(f"set_attributes({path!r}) was given nothing to set: pass owner, group or mode")
        now = datetime.now(UTC)
        with self._write("attributes") as connection:
            statement = self._upsert(connection, _attrs).values(path=path, updated_at=now, **changes)
            upsert = statement.on_conflict_do_update(
                index_elements=[_attrs.c.path],
                set_={name: statement.excluded[name] for name in (*changes, "updated_at")},
            ).returning(_attrs.c.path, _attrs.c.owner, _attrs.c.grp, _attrs.c.mode)
            row = connection.execute(upsert).mappings().one()
        attributes = attributes_from_row(row)
        LOGGER.debug("attributes set on %s: %s", path, changes)
        return attributes

    def record_creation(self, path: str, *, owner: str, group: str, mode: int) -> PathAttributes:
        """Written with the other creations recorded at the same moment, in one transaction
        (group commit, :class:`~tierstore.namespace.metadata.creations.CreationBatcher`): on
        SQLite each transaction takes the one write lock, for which concurrent writers of new
        files otherwise queue (and poll). Returns once the row is committed.

        Asked inside :func:`~tierstore.blocking.memory_only` (an event loop), it raises NeedsIO
        before joining a transaction: it would otherwise wait there for another thread's commit,
        or, as the first of a batch, hand NeedsIO to the threads whose rows joined it."""
        require_io("the metadata database")
        return self._creations.record(_creation(path, owner, group, mode))

    async def record_creation_async(self, path: str, *, owner: str, group: str, mode: int) -> PathAttributes:
        """:meth:`record_creation` awaited on the event loop: its transaction runs on a worker
        thread with the others recorded meanwhile, and no thread waits for it."""
        return await self._creations.record_async(_creation(path, owner, group, mode))

    def _write_creations(self, batch: list[Creation]) -> list[PathAttributes]:
        """Each creation's row upserted (one statement, executed for every row) and the
        attributes counter raised once, in one transaction. The rows are what was written: an
        upsert sets every field, so nothing needs reading back."""
        require_io("the metadata database")
        now = datetime.now(UTC)
        rows = [
            {"path": new.path, "owner": new.owner, "grp": new.group, "mode": new.mode, "updated_at": now}
            for new in batch
        ]
        counter: int | None = None
        try:
            with transaction(self._engine, self._target, write=True) as connection:
                connection.execute(self._creation_upsert(connection), rows)
                counter = _raise_counter(connection, "attributes")
                # Before the commit makes it visible: a poll between the commit and the rows
                # taken in would otherwise see another process's change and drop every row.
                self._counter_taken("attributes", counter)
        except BaseException:
            if counter is not None:  # maybe never committed: another process may take the value
                self._counter_released("attributes", counter)
            raise
        recorded = [PathAttributes(new.path, new.owner, new.group, new.mode) for new in batch]
        for creation, attributes in zip(batch, recorded, strict=True):
            self._attributes_created(creation.path, attributes)
        LOGGER.debug("attributes of %d new file(s) recorded", len(batch))
        return recorded

    def _creation_upsert(self, connection: Connection) -> Executable:
        """The upsert of a new file's row, made once per dialect: building it per transaction
        (and its cache key) cost as much as running it."""
        dialect = connection.dialect.name
        found = self._upserts.get(dialect)
        if found is None:
            statement = self._upsert(connection, _attrs)
            found = self._upserts[dialect] = statement.on_conflict_do_update(
                index_elements=[_attrs.c.path],
                set_={name: statement.excluded[name] for name in ("owner", "grp", "mode", "updated_at")},
            )
        return found

    def _attributes_created(self, path: str, attributes: PathAttributes) -> None:
        """Called after this process recorded a new file's own attributes (its counter value
        given to :meth:`_counter_taken` before the commit): a cache's hook."""

    def _counter_taken(self, kind: ChangeKind, counter: int) -> None:
        """This process's open transaction raised ``kind``'s counter to ``counter``: a cache's
        hook, called before the commit."""

    def _counter_released(self, kind: ChangeKind, counter: int) -> None:
        """The transaction that took ``counter`` (:meth:`_counter_taken`) failed: a cache's hook."""

    def attributes(self, path: str) -> PathAttributes | None:
        check_path(path)
        with self._read() as connection:
            row = connection.execute(select(_attrs).where(_attrs.c.path == path)).mappings().first()
        return None if row is None else attributes_from_row(row)

    def attributes_of(self, paths: list[str]) -> dict[str, PathAttributes]:
        """The attributes of each of ``paths`` that has any, by path, in one query."""
        for path in paths:
            check_path(path)
        if not paths:
            return {}
        with self._read() as connection:
            rows = connection.execute(select(_attrs).where(_attrs.c.path.in_(paths))).mappings().all()
        return {attributes.path: attributes for attributes in map(attributes_from_row, rows)}

    def attributes_under(self, path: str) -> dict[str, PathAttributes]:
        """The attributes of ``path`` and of every path below it, by path."""
        check_path(path)
        with self._read() as connection:
            rows = (
                connection.execute(select(_attrs).where(_under(_attrs.c.path, path)).order_by(_attrs.c.path))
                .mappings()
                .all()
            )
        return {attributes.path: attributes for attributes in map(attributes_from_row, rows)}

    def attributes_under_at_most(self, path: str, count: int) -> dict[str, PathAttributes] | None:
        """:meth:`attributes_under` when ``path`` and its subtree hold at most ``count`` of them
        (one query of at most ``count + 1`` rows), else None."""
        check_path(path)
        with self._read() as connection:
            query = select(_attrs).where(_under(_attrs.c.path, path)).order_by(_attrs.c.path).limit(count + 1)
            rows = connection.execute(query).mappings().all()
        if len(rows) > count:
            return None
        return {attributes.path: attributes for attributes in map(attributes_from_row, rows)}

    def move_attributes(self, source: str, dest: str) -> None:
        """Renames ``source`` and everything below it to ``dest``, replacing what ``dest`` had.

        Like rename(2), a path cannot move into itself or onto one of its ancestors.
        """
        check_path(source, "source")
        check_path(dest, "dest")
        if source == dest:
            return
        for inner, outer in ((dest, source), (source, dest)):
            if outer == "/" or inner.startswith(outer + "/"):
                raise ValueError(
                    f"cannot move attributes from {source} to {dest}: {inner} lies inside {outer}; "
                    "move to a path outside the source's subtree"
                )
        # Only paths under dest are written, and dest's old subtree is gone first, so the
        # renamed keys cannot collide with anything.
        renamed = literal(dest, Text) + func.substr(_attrs.c.path, len(source) + 1)
        with self._write("attributes") as connection:
            connection.execute(delete(_attrs).where(_under(_attrs.c.path, dest)))
            moved = connection.execute(
                update(_attrs).where(_under(_attrs.c.path, source)).values(path=renamed)
            ).rowcount
        LOGGER.debug("attributes moved: %s -> %s (%d paths)", source, dest, moved)

    def remove_attributes_under(self, path: str) -> int:
        """Forgets the attributes of ``path`` and everything below it; returns how many paths had some."""
        check_path(path)
        with self._write("attributes") as connection:
            removed = connection.execute(delete(_attrs).where(_under(_attrs.c.path, path))).rowcount
        LOGGER.debug("attributes removed under %s: %d paths", path, removed)
        return removed

    # -- users ----------------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        """Every user of the API server, sorted by name."""
        with self._read() as connection:
            rows = connection.execute(select(_users).order_by(_users.c.name)).mappings().all()
        return [user_from_row(row) for row in rows]

    def user_by_token_hash(self, token_sha256: str) -> UserRecord | None:
        """The user whose bearer token hashes to ``token_sha256`` (an indexed lookup)."""
        with self._read() as connection:
            row = (
                connection.execute(select(_users).where(_users.c.token_sha256 == token_sha256))
                .mappings()
                .first()
            )
        return None if row is None else user_from_row(row)

    def add_user(self, record: UserRecord) -> None:
        """Adds ``record``; UserExistsError if the name is taken, here or by another process."""
        values = {
            "name": record.name,
            "token_sha256": record.token_sha256,
            "groups": json.dumps(list(record.groups)),
            "admin": record.admin,
            "created_at": record.created_at,
        }
        try:
            with self._write("users") as connection:
                connection.execute(_users.insert().values(values))
        except exc.IntegrityError as error:
            if is_unique_violation(error):
                raise UserExistsError(record.name) from None
            raise
        LOGGER.info("user added: %r", record)

    def remove_user(self, name: str) -> bool:
        """Removes the user ``name`` and its S3 keys; False if there was no such user."""
        # The user's row first: on PostgreSQL this waits for an add_s3_key holding it (FOR
        # SHARE), whose key the second statement then sees and removes too.
        with self._write("users", "s3_keys") as connection:
            removed = connection.execute(delete(_users).where(_users.c.name == name)).rowcount > 0
            keys = connection.execute(delete(_s3_keys).where(_s3_keys.c.user_name == name)).rowcount
        if removed:
            LOGGER.info("user removed: %s (and %d S3 key(s))", name, keys)
        return removed

    # -- S3 access keys -------------------------------------------------------------------------

    def s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        """Every S3 key (of ``user`` only, if given), by user then creation: never a secret."""
        query = select(_s3_keys.c.access_key_id, _s3_keys.c.user_name, _s3_keys.c.created_at)
        if user is not None:
            query = query.where(_s3_keys.c.user_name == user)
        query = query.order_by(_s3_keys.c.user_name, _s3_keys.c.created_at, _s3_keys.c.access_key_id)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [s3_key_info_from_row(row) for row in rows]

    def s3_key(self, access_key_id: str) -> S3KeyRecord | None:
        """The key ``access_key_id`` with its secret decrypted, None if there is none."""
        if not is_s3_key_id(access_key_id):
            return None  # not one of ours: no query for it
        with self._read() as connection:
            row = (
                connection.execute(select(_s3_keys).where(_s3_keys.c.access_key_id == access_key_id))
                .mappings()
                .first()
            )
        return None if row is None else s3_key_from_row(row, self._secrets_key)

    def _s3_key_records(self) -> list[S3KeyRecord]:
        """Every key with its secret decrypted (what a server holds in memory)."""
        with self._read() as connection:
            rows = connection.execute(select(_s3_keys).order_by(_s3_keys.c.access_key_id)).mappings().all()
        return [s3_key_from_row(row, self._secrets_key) for row in rows]

    def add_s3_key(self, record: S3KeyRecord) -> None:
        """Adds ``record``, its secret sealed under this store's key; UnknownUserError if its user
        does not exist (checked in the same transaction), SecretsKeyError without a key file."""
        key = self._secrets_key
        if key is None:
            raise no_key_error(f"an S3 key for user {record.user} cannot be stored")
        try:
            with self._write("s3_keys") as connection:
                check_writable(connection, key)  # the database still uses this key
                # FOR SHARE: a remove_user of the same user waits for this transaction (PostgreSQL;
                # SQLite's writers queue anyway), so no key outlives its user.
                found = connection.execute(
                    select(_users.c.name).where(_users.c.name == record.user).with_for_update(read=True)
                ).first()
                if found is None:
                    raise UnknownUserError(record.user, "an S3 key")
                connection.execute(_s3_keys.insert().values(s3_key_values(record, key)))
        except exc.IntegrityError as error:
            if is_unique_violation(error):
                raise S3KeyExistsError(mask_key_id(record.access_key_id)) from None
            raise
        LOGGER.info("S3 key added: %r", record)

    def remove_s3_key(self, access_key_id: str) -> bool:
        """Removes the key ``access_key_id``; False if there was none."""
        if not is_s3_key_id(access_key_id):
            return False
        with self._write("s3_keys") as connection:
            removed = (
                connection.execute(delete(_s3_keys).where(_s3_keys.c.access_key_id == access_key_id)).rowcount
                > 0
            )
        if removed:
            LOGGER.info("S3 key removed: %s", mask_key_id(access_key_id))
        return removed

    def remove_s3_keys_of(self, user: str) -> int:
        """Removes every key of ``user``; returns how many there were."""
        with self._write("s3_keys") as connection:
            removed = int(connection.execute(delete(_s3_keys).where(_s3_keys.c.user_name == user)).rowcount)
        if removed:
            LOGGER.info("S3 keys of user %s removed: %d", user, removed)
        return removed

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the pooled connections; the store must not be used afterwards."""
        self._engine.dispose()


def _open_engine(url: str) -> tuple[Engine, Target]:
    """The engine for ``url``, its schema brought up to date (the SQLite file made 0600 first)."""
    target = parse_url(url)
    if target.is_sqlite:
        make_private(target.url.database, target.display)
    engine = create_store_engine(target)
    try:
        found, now = migrate(engine, target)
    except BaseException:
        engine.dispose()
        raise
    if found != now:
        LOGGER.info("metadata database %s migrated from schema version %d to %d", target.display, found, now)
    return engine, target


def open_metadata(
    url: str, *, key_file: Path | None = None, poll_interval: float | None = None
) -> SqlMetadataStore:
    """Opens the metadata database at ``url``, bringing its schema up to date first.

    ``url``: ``sqlite:////absolute/path.db`` or ``postgresql+psycopg://user@host:port/db``.
    ``key_file``: the secrets key (made 0600 if the database never had one); every encrypted
    option must decrypt with it and plain secret options are encrypted now, else SecretsKeyError
    and nothing changed. Without it, secret options are kept in clear until a process with a key
    opens the database, and refused once they are encrypted.
    ``poll_interval``: reads come from memory, checked against the database's change counters
    every this many seconds (a :class:`~tierstore.namespace.metadata.cached.CachedMetadataStore`).
    ConfigError for a URL it cannot use, MetadataUnavailableError for a database it cannot reach.
    """
    engine, target = _open_engine(url)
    key = None
    try:
        if key_file is not None:
            key, sealed = check_and_seal(engine, target, key_file)
            if sealed and target.is_sqlite:
                scrub_sqlite(engine, target)  # no plain copy left in free pages or the -wal
    except BaseException:
        engine.dispose()
        raise
    LOGGER.info("metadata database %s opened (schema version %d)", target.display, LATEST_VERSION)
    if poll_interval is not None:
        from tierstore.namespace.metadata.cached import CachedMetadataStore  # it subclasses this module's

        return CachedMetadataStore(engine, target, key, poll_interval=poll_interval)
    return SqlMetadataStore(engine, target, key)


def rotate_secrets_key(url: str, key_file: Path) -> Rotation:
    """A new key in ``key_file`` and every secret option of ``url`` re-encrypted with it (one transaction)."""
    engine, target = _open_engine(url)
    try:
        rotation = rotate(engine, target, key_file)
        if target.is_sqlite:
            scrub_sqlite(engine, target)  # no copy under the old key left behind
    finally:
        engine.dispose()
    return rotation
