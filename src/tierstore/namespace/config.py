"""The server's configuration: the root mount's store settings plus tierstore's own keys.

The root mount is the store a Fluss ``server.yaml`` (``remote.data.dir`` + ``s3.*``) or an
Alluxio properties file (``alluxio.master.mount.table.root.ufs`` + root options) describes.
tierstore's own keys sit beside them in the same file:

- ``tierstore.metadata.url``: where the mount table lives; default SQLite beside the config
  (``<config dir>/tierstore-namespace.db``); ``postgresql+psycopg://…`` to share one namespace
  between several servers.
- ``tierstore.metadata.cache.ttl``: seconds listings and stats are cached per mount (default 10);
  0: no cache. Alluxio's ``alluxio.user.metadata.cache.expiration.time`` (a duration such as
  ``10min``; a plain number is milliseconds, as in Alluxio) says the same.
- ``tierstore.metadata.cache.max.entries``: how many stats the cache holds at most, a listing
  counting one per name (default 100,000); 0: no cache. Alluxio's
  ``alluxio.user.metadata.cache.max.size`` says the same.
- ``tierstore.fs.concurrency``: how many files a tree operation (``cp -r``, ``mv``, ``rm -r``,
  ``du``) works on at once (default 16, 1 to 256); ``--concurrency N`` overrides it per command.
- ``tierstore.metadata.sync.interval``: how often (seconds, default 0.25) a server checks the
  database's change counters, so mounts, attributes and users changed by another process are
  seen within about this long; 0 reads the database on every request instead of memory.
- ``tierstore.secrets.key-file``: the key that encrypts secret mount options in the metadata
  database (made 0600 on first start); default ``<config dir>/tierstore-secrets.key``, or
  ``~/.tierstore/secrets.key`` for the embedded default. Servers sharing one database share it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from tierstore.errors import ConfigError
from tierstore.settings import load_store_settings
from tierstore.settings.dialects import dialect_for_path
from tierstore.settings.model import StoreLocation, StoreSettings
from tierstore.settings.parsers import InvalidValueError, duration
from tierstore.settings.readers import UnreadableError, flatten, read_document, read_text

METADATA_URL = "tierstore.metadata.url"
CACHE_TTL = "tierstore.metadata.cache.ttl"
CACHE_MAX_ENTRIES = "tierstore.metadata.cache.max.entries"
SYNC_INTERVAL = "tierstore.metadata.sync.interval"
SECRETS_KEY_FILE = "tierstore.secrets.key-file"
FS_CONCURRENCY = "tierstore.fs.concurrency"
SERVER_KEYS = (METADATA_URL, CACHE_TTL, CACHE_MAX_ENTRIES, SYNC_INTERVAL, SECRETS_KEY_FILE, FS_CONCURRENCY)
DEFAULT_FS_CONCURRENCY = 16
# Each file in flight holds up to a chunk (2 MiB) or a multipart writer's parts in memory, and
# a thread: past this, memory and threads grow with no gain on any store we measured.
MAX_FS_CONCURRENCY = 256
# Alluxio's client metadata cache keys, which mean what ours do: an Alluxio file may use them.
ALLUXIO_CACHE_TTL = "alluxio.user.metadata.cache.expiration.time"
ALLUXIO_CACHE_MAX_SIZE = "alluxio.user.metadata.cache.max.size"
ALLUXIO_KEYS = (ALLUXIO_CACHE_TTL, ALLUXIO_CACHE_MAX_SIZE)
DEFAULT_CACHE_TTL = 10.0
# About 40 MB of stats or 60 MB of listings (a cached stat or kind costs about 400 bytes with its
# bookkeeping, a listed name about 620: bench/cache_bench.py); as many paths as Alluxio's client
# metadata cache holds by default.
DEFAULT_CACHE_MAX_ENTRIES = 100_000
# Far past any sane setting (tens of GB): a bigger number is a typo.
MAX_CACHE_MAX_ENTRIES = 100_000_000
# Alluxio durations: a plain number is milliseconds; at most a year.
_ALLUXIO_DURATION = duration(plain_unit=0.001, high_seconds=365 * 86400.0, zero_ok=True)
DEFAULT_SYNC_INTERVAL = 0.25
# Longer and a removed user or a chmod would take too long to reach the other servers.
MAX_SYNC_INTERVAL = 10.0
EMBEDDED_HOME = Path.home() / ".tierstore"
DEFAULT_KEY_FILE = "tierstore-secrets.key"  # beside the config
EMBEDDED_KEY_FILE = "secrets.key"  # in the embedded home


@dataclass(frozen=True)
class ServerConfig:
    root: StoreSettings
    metadata_url: str
    cache_ttl_seconds: float
    source: str
    # At most this many cached stats (a listing counts one per name); 0: no cache.
    cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES
    # The secrets key (see metadata.secrets_at_rest); None: the store is opened without one.
    secrets_key_file: Path | None = None
    # A directory only tierstore uses (the embedded home), kept 0700.
    private_home: Path | None = None
    # Seconds between checks of the database's change counters; 0: no namespace in memory.
    sync_interval_seconds: float = DEFAULT_SYNC_INTERVAL
    # Files a tree operation (cp -r, mv, rm -r, du) works on at once.
    fs_concurrency: int = DEFAULT_FS_CONCURRENCY


def embedded_default(home: Path = EMBEDDED_HOME) -> ServerConfig:
    """No config at all: the root is a local directory and the mount table a SQLite file."""
    root = home / "root"
    return ServerConfig(
        root=StoreSettings(location=StoreLocation(scheme="file", path=root)),
        metadata_url=f"sqlite:///{home / 'namespace.db'}",
        cache_ttl_seconds=DEFAULT_CACHE_TTL,
        source="embedded default",
        secrets_key_file=home / EMBEDDED_KEY_FILE,
        private_home=home,
    )


def load_server_config(path: Path | None) -> ServerConfig:
    if path is None:
        return embedded_default()
    root = load_store_settings(path).settings
    own = read_tierstore_keys(path)
    metadata_url = str(
        own.get(METADATA_URL) or f"sqlite:///{path.resolve().parent / 'tierstore-namespace.db'}"
    )
    ttl = _cache_ttl(path, own)
    max_entries = _cache_max_entries(path, own)
    sync = _seconds(path, own, SYNC_INTERVAL, DEFAULT_SYNC_INTERVAL, example="0.25")
    if not 0 <= sync <= MAX_SYNC_INTERVAL:
        raise ConfigError(
            f"{path}: {SYNC_INTERVAL}: {sync} is out of range; use 0 (read the database on every "
            f"request) up to {MAX_SYNC_INTERVAL:g} seconds"
        )
    concurrency = own.get(FS_CONCURRENCY, DEFAULT_FS_CONCURRENCY)
    try:
        fs_concurrency = parse_concurrency(concurrency)
    except ValueError as error:
        raise ConfigError(f"{path}: {FS_CONCURRENCY}: {error}") from None
    key_text = str(own.get(SECRETS_KEY_FILE) or DEFAULT_KEY_FILE)
    key_file = Path(key_text).expanduser()
    if not key_file.is_absolute():
        key_file = path.resolve().parent / key_file
    return ServerConfig(
        root=root,
        metadata_url=metadata_url,
        cache_ttl_seconds=ttl,
        source=str(path),
        cache_max_entries=max_entries,
        secrets_key_file=key_file,
        sync_interval_seconds=sync,
        fs_concurrency=fs_concurrency,
    )


def parse_concurrency(value: object) -> int:
    """How many files at once, from a config value or ``--concurrency``; ValueError says why not."""
    text = str(value).strip()
    # bool is an int to Python (and YAML's "yes" a bool), but "true" files at once means nothing.
    if isinstance(value, bool) or not re.fullmatch("[+-]?[0-9]+", text):
        raise ValueError(
            f"{text!r} is not a whole number of files to work on at once; use 1 to {MAX_FS_CONCURRENCY}, "
            f"e.g. {DEFAULT_FS_CONCURRENCY}"
        )
    number = int(text)
    if not 1 <= number <= MAX_FS_CONCURRENCY:
        raise ValueError(
            f"{number} is out of range; use 1 (one file at a time) to {MAX_FS_CONCURRENCY} files at once"
        )
    return number


def _seconds(path: Path, own: Mapping[str, object], key: str, default: float, *, example: str) -> float:
    """The number of seconds ``key`` gives (``default`` when absent), or ConfigError naming it."""
    text = own.get(key, default)
    try:
        return float(str(text))
    except ValueError:
        raise ConfigError(f"{path}: {key}: {text!r} is not a number of seconds; use e.g. {example}") from None


def _cache_ttl(path: Path, own: Mapping[str, object]) -> float:
    ttl = _seconds(path, own, CACHE_TTL, DEFAULT_CACHE_TTL, example="10")
    if not ttl >= 0:  # also NaN, which would never expire
        raise ConfigError(f"{path}: {CACHE_TTL}: {ttl} must be 0 (no cache) or more seconds")
    if ALLUXIO_CACHE_TTL not in own:
        return ttl
    raw = own[ALLUXIO_CACHE_TTL]
    try:
        alluxio = _ALLUXIO_DURATION(raw)
    except InvalidValueError as error:
        raise ConfigError(f"{path}: {ALLUXIO_CACHE_TTL}: {raw!r} {error.reason}") from None
    return _one_of(path, own, (CACHE_TTL, ttl), (ALLUXIO_CACHE_TTL, alluxio))


def _cache_max_entries(path: Path, own: Mapping[str, object]) -> int:
    found: list[tuple[str, float]] = []
    for key in (CACHE_MAX_ENTRIES, ALLUXIO_CACHE_MAX_SIZE):
        if key not in own:
            continue
        raw = own[key]
        try:
            number = int(str(raw).strip())
        except ValueError:
            number = -1
        if isinstance(raw, bool) or not 0 <= number <= MAX_CACHE_MAX_ENTRIES:
            raise ConfigError(
                f"{path}: {key}: {raw!r} is not a number of entries; use a whole number from 0 "
                f"(no cache) to {MAX_CACHE_MAX_ENTRIES}, e.g. {DEFAULT_CACHE_MAX_ENTRIES}"
            )
        found.append((key, number))
    if not found:
        return DEFAULT_CACHE_MAX_ENTRIES
    return int(_one_of(path, own, *found))


def _one_of(path: Path, own: Mapping[str, object], *given: tuple[str, float]) -> float:
    """The value of a setting that ours and Alluxio's key may both give: they must agree."""
    present = [(key, value) for key, value in given if key in own]
    (first, value), *others = present
    for other, other_value in others:
        if other_value != value:
            raise ConfigError(
                f"{path}: {other}: conflicts with {first}, which sets the same setting to another "
                f"value ({own[first]!r} there); keep one of them"
            )
    return value


def read_tierstore_keys(path: Path, whole_keys: Collection[str] = ()) -> dict[str, object]:
    """Every ``tierstore.*`` key of a server config, in any of the three dialects, and the Alluxio
    keys that mean the same as one of ours (:data:`ALLUXIO_KEYS`).

    ``whole_keys`` are kept whole when nested YAML is flattened (``tierstore: {metadata: …}``).
    """
    dialect = dialect_for_path(path)
    try:
        document = read_document(read_text(path), dialect.file_format, str(path))
    except UnreadableError as error:
        raise ConfigError(f"{path}: {error.problem.message}") from None
    values: Mapping[str, object] = document.values
    if isinstance(values.get("config"), dict):  # Kafka Connect's REST shape
        values = values["config"]  # type: ignore[assignment]
    whole = {*SERVER_KEYS, *whole_keys}
    entries = flatten(values, nested=dialect.nested, keep_whole=lambda key: key in whole)
    return {
        entry.key: entry.value
        for entry in entries
        if entry.key.startswith("tierstore.") or entry.key in ALLUXIO_KEYS
    }
