"""Building the server from its config, and running it on uvicorn until SIGINT/SIGTERM.

On a signal uvicorn stops accepting connections and lets requests in flight finish (a
download in progress completes) for up to ``GRACEFUL_SHUTDOWN_SECONDS``; then the mount table
and the metadata store are closed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tierstore.credentials.resolve import check_can_delegate
from tierstore.errors import ConfigError
from tierstore.namespace.change_notices import ChangeNotices
from tierstore.namespace.config import ServerConfig, load_server_config
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.namespace.uploads import clean_up_stores
from tierstore.server.app import serving_app
from tierstore.server.config import PORT as PORT_KEY
from tierstore.server.config import S3_PORT as S3_PORT_KEY
from tierstore.server.config import ApiServerOptions, load_api_options
from tierstore.server.heap import freeze_start_up
from tierstore.server.limits import protocol_class
from tierstore.server.state import ServerState
from tierstore.server.users import ADMIN_TOKEN_FILE, UserDirectory
from tierstore.server.workers import run_workers

LOGGER = logging.getLogger("tierstore.server")
GRACEFUL_SHUTDOWN_SECONDS = 30
# uvicorn's own listen backlog, for the socket the workers of --workers share.
BACKLOG = 2048


@dataclass
class BuiltServer:
    state: ServerState
    config: ServerConfig
    # The first admin's token when this start created it (None otherwise): print it once.
    admin_token: str | None
    # The start-up clean-up of left-over uploads, running beside the server.
    upload_cleanup: threading.Thread | None = None

    @property
    def admin_token_file(self) -> Path:
        return self.state.options.home / ADMIN_TOKEN_FILE


def build_server(config_path: Path | None, *, clean_up: bool = True, sole: bool = True) -> BuiltServer:
    """Loads the config, opens the metadata store and mount table, creates the first admin.

    ``clean_up``: start the clean-up of left-over uploads beside serving (a worker of
    ``--workers`` leaves it to the supervisor, which runs it once). ``sole``: this process is
    the server's only one (not a worker of ``--workers``); on an embedded (SQLite) namespace it
    then sees every write made through the server, so its S3 gateway's HEAD may answer from the
    namespace cache (``ServerState.cached_heads``); workers and servers sharing a database do not
    see each other's writes at once, so theirs ask the store every time."""
    config = load_server_config(config_path)
    options = load_api_options(config_path)
    location = config.root.location
    if location.scheme == "file" and location.path is not None:
        location.path.mkdir(parents=True, exist_ok=True)
    if location.scheme == "s3" and options.vending.keys is None and options.vending.role_arn is None:
        # Handing out the server's own keys is exactly what vending exists to avoid.
        check_can_delegate(config.root)
    # With the secrets key: a wrong key file stops the start here, before anything is written.
    metadata = open_server_metadata(config, in_memory=True)
    try:
        table = MountTable(config, metadata)
        table.sync_root()
        users = UserDirectory(metadata)
        token = users.bootstrap_admin(options.home)
    except BaseException:
        metadata.close()
        raise
    cached_heads = heads_from_cache(config.metadata_url, sole=sole)
    # Processes sharing the namespace tell each other the paths they change (the poller of each
    # drops them from its cache), which a server alone on its namespace need not.
    notices = (
        ChangeNotices(metadata) if not cached_heads and isinstance(metadata, CachedMetadataStore) else None
    )
    state = ServerState(table=table, users=users, options=options, cached_heads=cached_heads, notices=notices)
    if isinstance(metadata, CachedMetadataStore) and notices is not None:
        metadata.on_content_changes(state.changed_elsewhere)
    cleanup = start_upload_cleanup(table) if clean_up else None
    return BuiltServer(state=state, config=config, admin_token=token, upload_cleanup=cleanup)


def heads_from_cache(metadata_url: str, *, sole: bool) -> bool:
    """Whether a server may answer the S3 gateway's HEAD from its namespace cache: only when it
    sees every write made through tierstore, that is when it is the server's only process
    (``sole``) on an embedded namespace (SQLite), not one sharing a database with others."""
    return sole and metadata_url.startswith("sqlite")


def start_upload_cleanup(table: MountTable) -> threading.Thread:
    """Abort left-over uploads of the mounts' stores, beside serving: a store that is down must
    not hold the start up (see :func:`tierstore.namespace.uploads.clean_up_stores`)."""

    def run() -> None:
        try:
            aborted = clean_up_stores(table)
        except Exception as error:  # a thread of its own: say why in one line, never a traceback
            LOGGER.warning("upload clean-up at start stopped: %s", error)
            return
        if aborted:
            LOGGER.info("aborted %d left-over multipart upload(s) at start", aborted)

    thread = threading.Thread(target=run, name="tierstore-upload-cleanup", daemon=True)
    thread.start()
    return thread


def uvicorn_config(
    built: BuiltServer, options: ApiServerOptions, *, host: str, port: int, s3_port: int | None = None
) -> uvicorn.Config:
    """uvicorn's config for the server; ``s3_port``: the port whose requests go to the S3 gateway."""
    return uvicorn.Config(
        serving_app(built.state, s3_port),
        host=host,
        port=port,
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        http=protocol_class(options.limits),
        timeout_keep_alive=options.limits.idle_timeout,
        limit_concurrency=options.limits.connections,
        log_config=None,  # keep tierstore's logging set-up
        # uvicorn builds each access line's fields (the path quoted again) before the logger
        # says whether it writes it: asked once here instead, as tierstore's logging is set up.
        access_log=logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO),
        server_header=False,
        lifespan="on",
    )


def serve(
    config_path: Path | None,
    *,
    host: str | None = None,
    port: int | None = None,
    s3_port: int | None = None,
    print_token: bool = False,
    workers: int = 1,
    worker_setup: Callable[[], None] | None = None,
) -> int:
    """Runs the server in this thread until a signal; returns the exit code.

    The first admin's token goes to its 0600 file; it is printed only to a terminal, or with
    ``print_token``, never into a log collector (journald, container logs) reading stdout.
    """
    show_operational_logs()
    built = build_server(config_path)
    options = built.state.options
    host = host or options.host
    port = options.port if port is None else port
    if built.admin_token is not None:
        if print_token or sys.stdout.isatty():
            # Shown once, on a terminal only (never logged); also in the 0600 file for scripts.
            print(
                f"created the admin user; its token (shown once, also in {built.admin_token_file}):\n"
                f"{built.admin_token}",
                flush=True,
            )
        else:
            print(f"created the admin user; its token is in {built.admin_token_file} (mode 0600)", flush=True)
    scheme = "https" if options.tls else "http"
    gateway = options.s3.enabled
    s3_port = options.s3.port if s3_port is None else s3_port
    # Both sockets are bound here, before any worker starts: a port in use is one clear error.
    sockets = [listen(host, port, PORT_KEY, backlog=BACKLOG)]
    if gateway:
        sockets.append(listen(host, s3_port, S3_PORT_KEY, backlog=BACKLOG))
    bound = [sock.getsockname()[1] for sock in sockets]
    s3_bound = bound[1] if gateway else None
    where = f"{scheme}://{host}:{bound[0]}"
    if s3_bound is not None:
        where += f", S3 gateway on {scheme}://{host}:{s3_bound}"
    with contextlib.ExitStack() as closing:
        for sock in sockets:
            closing.callback(sock.close)
        if workers > 1:
            # The supervisor keeps what it built only for the start (the admin, the clean-up).
            print(f"tierstore serving {built.config.source} on {where} ({workers} workers)", flush=True)
            try:
                return run_workers(
                    config_path,
                    sockets,
                    s3_port=s3_bound,
                    workers=workers,
                    setup=worker_setup,
                    grace_seconds=GRACEFUL_SHUTDOWN_SECONDS,
                )
            finally:
                built.state.close()
        print(f"tierstore serving {built.config.source} on {where}", flush=True)
        server = uvicorn.Server(uvicorn_config(built, options, host=host, port=bound[0], s3_port=s3_bound))
        freeze_start_up()
        try:
            server.run(sockets=sockets)
        finally:
            built.state.close()
    return 0 if server.started else 1


def listen(host: str, port: int, key: str, *, backlog: int = 128) -> socket.socket:
    """A listening socket, or a ConfigError naming the address, the setting and what to do."""
    try:
        return bound_socket(host, port, backlog=backlog)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({key}): {error.strerror or error}; "
            f"stop what uses the port or choose another one ({key}, or --port/--s3-port)"
        ) from None


def show_operational_logs() -> None:
    """The audit trail and the server's start/stop lines are shown even without ``-v``."""
    for name in ("tierstore.audit", "tierstore.server", "uvicorn.error"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


def bound_socket(host: str, port: int = 0, *, backlog: int = 128) -> socket.socket:
    """A listening socket on ``host`` (port 0: a free one), for servers started in tests."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
