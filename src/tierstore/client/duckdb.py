"""DuckDB with tierstore's vended credentials: a secret scoped to a path, re-created before expiry.

    import duckdb
    from tierstore.client import Client
    from tierstore.client.duckdb import attach

    con = duckdb.connect()
    with Client() as client:
        url = attach(con, client, "/mnt/s3/table/")        # 's3://bucket/prefix/table/'
        con.sql(f"SELECT count(*) FROM read_parquet('{url}*.parquet')").fetchall()

:func:`attach` runs ``CREATE OR REPLACE TEMPORARY SECRET`` (``TYPE s3``, ``SCOPE`` the path's
``s3://bucket/prefix``, key, secret, session token, endpoint, ``URL_STYLE``, ``USE_SSL``), then
re-creates it from a background thread before the credentials are due, for as long as the
connection lives. DuckDB secrets are static, so this is the only way a long session keeps
working. A renewed secret is seen from the connection's next transaction on (secrets are
transactional, and each autocommit query is a transaction); one transaction kept open past the
old credentials' expiry would not see it. A secret is temporary (in memory), never written to
``~/.duckdb``.

A vend that fails, or an answer without usable credentials, raises tierstore's error and creates
no secret: DuckDB given empty keys would make an anonymous secret whose requests the store
refuses with a bare 403.

httpfs is loaded the offline way when the PyPI package ``duckdb-extension-httpfs`` (of DuckDB's
exact version) is installed, else with ``LOAD httpfs`` from DuckDB's own extension directory;
without either the error says what to install. DuckDB is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import threading
import weakref
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierstore.client.tool_credentials import ToolCredentials, endpoint_host
from tierstore.client.vended import Access
from tierstore.credentials.model import Credentials
from tierstore.credentials.refresh import RefreshPolicy, utc_now
from tierstore.errors import ConfigError, CredentialsError, TierstoreError
from tierstore.settings.secret import mask_key_id

if TYPE_CHECKING:
    import duckdb

    from tierstore.client.client import Client

LOGGER = logging.getLogger("tierstore.client")
HTTPFS_PACKAGE = "duckdb_extension_httpfs"
# After a refresh that changed nothing (a failed vend in its backoff), look again this soon.
_RETRY_SECONDS = 0.25
# The longest the refresher sleeps at once: it also notices a connection that went away.
_LONGEST_WAIT_SECONDS = 30.0


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def secret_name(scope: str) -> str:
    """One secret per scope: attaching the same path again replaces it."""
    return f"tierstore_{hashlib.sha256(scope.encode()).hexdigest()[:16]}"


def secret_sql(
    name: str,
    scope: str,
    credentials: Credentials,
    *,
    endpoint: str | None,
    region: str,
    path_style: bool,
) -> str:
    """``CREATE OR REPLACE TEMPORARY SECRET`` for these credentials, limited to ``scope``."""
    host, tls = endpoint_host(endpoint, scope)
    fields = {
        "TYPE": "s3",
        "KEY_ID": sql_text(credentials.access_key_id),
        "SECRET": sql_text(credentials.secret_access_key.reveal()),
        "REGION": sql_text(region),
        "URL_STYLE": sql_text("path" if path_style else "vhost"),
        "USE_SSL": "true" if tls else "false",
        "SCOPE": sql_text(scope),
    }
    if credentials.session_token:
        fields["SESSION_TOKEN"] = sql_text(credentials.session_token.reveal())
    if host is not None:
        fields["ENDPOINT"] = sql_text(host)
    listed = ", ".join(f"{key} {value}" for key, value in fields.items())
    return f"CREATE OR REPLACE TEMPORARY SECRET {name} ({listed})"


def httpfs_extension_file() -> Path | None:
    """httpfs for the installed DuckDB from the PyPI package ``duckdb-extension-httpfs``, if any."""
    import duckdb

    spec = importlib.util.find_spec(HTTPFS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    return candidate if candidate.is_file() else None


def load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    """Load httpfs without the network: from ``duckdb-extension-httpfs``, else DuckDB's own
    extension directory (an earlier ``INSTALL httpfs``); a :class:`ConfigError` says what to do."""
    import duckdb

    # fetchall, not fetchone: a result left open keeps its transaction open, and a secret made
    # after it (by attach) would not be seen by that connection's next query.
    found = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchall()
    if found and found[0][0]:
        return
    packaged = httpfs_extension_file()
    try:
        con.execute(f"LOAD {sql_text(str(packaged))}" if packaged is not None else "LOAD httpfs")
    except duckdb.Error as error:
        version = duckdb.__version__
        raise ConfigError(
            f"DuckDB {version} has no httpfs extension to load ({type(error).__name__}); install the "
            f"PyPI package duckdb-extension-httpfs=={version} (DuckDB's own build, no network needed at "
            "run time), or run INSTALL httpfs once where DuckDB can reach its extension server"
        ) from None


class DuckDBAttachment(str):
    """The ``s3://`` URL of an attached path (use it in queries), which also holds the refresher.

    ``secret_name`` is the DuckDB secret; ``recreated`` counts its re-creations with new
    credentials; ``close()`` stops renewing it and drops it.
    """

    _refresher: _Refresher

    @property
    def secret_name(self) -> str:
        return self._refresher.name

    @property
    def credentials(self) -> ToolCredentials:
        return self._refresher.tool

    @property
    def recreated(self) -> int:
        return self._refresher.recreated

    @property
    def active(self) -> bool:
        return self._refresher.is_alive()

    def close(self) -> None:
        _forget(self._refresher)
        self._refresher.stop(drop=True)


def attach(
    con: duckdb.DuckDBPyConnection,
    client: Client,
    path: str,
    access: Access = "read",
    *,
    refresh: RefreshPolicy | None = None,
) -> DuckDBAttachment:
    """Give ``con`` the credentials the server vends for ``path``; returns its ``s3://`` URL.

    A directory path ends in ``/`` (its URL does too). The secret is re-created before the
    credentials are due, while the connection lives; ``refresh`` overrides the client's policy.
    """
    load_httpfs(con)
    tool = ToolCredentials(client, path, access, refresh=refresh)  # raises before any secret
    scope = tool.url
    name = secret_name(scope)
    with _LOCK:
        attached = _ATTACHED.setdefault(con, {})
        earlier = attached.pop(name, None)
    if earlier is not None:
        earlier.stop(drop=False)  # replaced below, under the same name
    refresher = _Refresher(con, tool, name)
    # The first secret is made on the caller's own connection, so that its next query sees it
    # whatever transaction it has open; renewals come from the refresher's cursor.
    try:
        refresher.install(tool.credentials(), con)
    except BaseException:
        refresher.stop(drop=False)  # its cursor
        raise
    with _LOCK:
        _ATTACHED.setdefault(con, {})[name] = refresher
    refresher.start()
    url = DuckDBAttachment(scope)
    url._refresher = refresher
    return url


def detach(con: duckdb.DuckDBPyConnection, url: str) -> None:
    """Stop renewing the secret for ``url`` (as :func:`attach` returned it) and drop it."""
    with _LOCK:
        refresher = _ATTACHED.get(con, {}).pop(secret_name(str(url)), None)
    if refresher is not None:
        refresher.stop(drop=True)


def _forget(refresher: _Refresher) -> None:
    """Take ``refresher`` out of its connection's entry (if it is still the one there)."""
    con = refresher.connection()
    with _LOCK:
        attached = _ATTACHED.get(con, {}) if con is not None else {}
        if attached.get(refresher.name) is refresher:
            del attached[refresher.name]


_LOCK = threading.Lock()
# The refreshers of each connection, by secret name; a connection that is garbage-collected
# drops its entry (and its refreshers notice and stop).
_ATTACHED: weakref.WeakKeyDictionary[Any, dict[str, _Refresher]] = weakref.WeakKeyDictionary()


class _Refresher(threading.Thread):
    """Re-creates one secret with new credentials when they are due, while the connection lives.

    It holds the connection weakly (a connection nobody uses any more is not kept alive by its
    refresher) and a cursor of its own made at attach time: DuckDB runs the re-creation on the
    same database while the connection's own thread runs queries.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, tool: ToolCredentials, name: str) -> None:
        super().__init__(name=f"tierstore-duckdb-{name}", daemon=True)
        self.tool = tool
        self.name = name
        self.recreated = 0
        self._connection = weakref.ref(con)
        self._cursor = con.cursor()
        self._installed: Credentials | None = None
        self._stopping = threading.Event()
        self._write = threading.Lock()

    def connection(self) -> duckdb.DuckDBPyConnection | None:
        return self._connection()

    def install(self, credentials: Credentials, con: duckdb.DuckDBPyConnection | None = None) -> None:
        """(Re-)create the secret, through ``con`` or else the refresher's own cursor."""
        import duckdb

        tool = self.tool
        sql = secret_sql(
            self.name,
            tool.url,
            credentials,
            endpoint=tool.endpoint,
            region=tool.region,
            path_style=tool.path_style,
        )
        with self._write:
            if self._stopping.is_set() and self._installed is not None:
                return
            try:
                (con or self._cursor).execute(sql)
            except duckdb.ConnectionException:
                raise  # closed: the refresher stops (attach cannot meet this: it made the cursor)
            except duckdb.Error as error:
                raise CredentialsError(
                    f"DuckDB refused the secret {self.name} for {tool.url}: "
                    f"{_scrubbed(str(error), credentials)}"
                ) from None
            if self._installed is not None:
                self.recreated += 1
            self._installed = credentials
        LOGGER.info(
            "DuckDB secret %s for %s: credentials %s until %s",
            self.name,
            tool.url,
            mask_key_id(credentials.access_key_id),
            credentials.expires_at.isoformat() if credentials.expires_at else "never",
        )

    def run(self) -> None:
        import duckdb

        failures = 0
        wait = self._seconds_to_due()
        while wait is not None and not self._stopping.wait(wait):
            if self._connection() is None:
                break  # the connection is gone: nothing left to keep working
            if self.tool.client_closed:
                LOGGER.warning(
                    "DuckDB secret %s for %s: no longer renewed: its tierstore Client was closed",
                    self.name,
                    self.tool.url,
                )
                break
            try:
                self._cursor.execute("SELECT 1")  # closed by its owner? (before a vend for nothing)
                fresh = self.tool.credentials()
                if fresh is not self._installed:
                    self.install(fresh)
                failures = 0
                left = self._seconds_to_due()
                # Past due with the same credentials: a refresh in its backoff; look again soon.
                wait = None if left is None else max(left, _RETRY_SECONDS)
            except duckdb.ConnectionException:
                break  # closed by its owner
            except Exception as error:  # a refresher must outlive any one failure
                # Tierstore's errors name what failed and never hold a secret; anything else is
                # named by its type alone, as it might quote the statement.
                shown = error if isinstance(error, TierstoreError) else type(error).__name__
                LOGGER.warning(
                    "DuckDB secret %s for %s: not renewed yet: %s", self.name, self.tool.url, shown
                )
                failures += 1
                wait = min(_RETRY_SECONDS * 2**failures, _LONGEST_WAIT_SECONDS)
        self._close_cursor()

    def _seconds_to_due(self) -> float | None:
        due = self.tool.refresh_due_at()
        if due is None:
            return None  # credentials that never expire: nothing to renew
        left = (due - utc_now()) / timedelta(seconds=1)
        return min(max(left, 0.0), _LONGEST_WAIT_SECONDS)

    def stop(self, *, drop: bool) -> None:
        import duckdb

        self._stopping.set()
        with self._write:
            if drop:
                # A closed connection took its secrets with it: nothing to drop then.
                with contextlib.suppress(duckdb.Error):
                    self._cursor.execute(f"DROP SECRET IF EXISTS {self.name}")
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)
        self._close_cursor()

    def _close_cursor(self) -> None:
        with self._write:
            try:
                self._cursor.close()
            except Exception:  # closing twice, or after the connection: nothing to do
                LOGGER.debug("DuckDB secret %s: cursor already closed", self.name)


def _scrubbed(message: str, credentials: Credentials) -> str:
    """DuckDB's parse errors quote the statement: never let the secret through."""
    for secret in (credentials.secret_access_key, credentials.session_token):
        if secret:
            message = message.replace(secret.reveal(), "****")
    return message.replace(credentials.access_key_id, mask_key_id(credentials.access_key_id))
