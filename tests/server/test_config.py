"""The server's own config keys: defaults, errors that name the key and the file, no dialect
warnings about them, and the start-up refusal of a store that cannot delegate."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tierstore.cli.main import main
from tierstore.errors import ConfigError, CredentialsError
from tierstore.namespace.config import embedded_default, load_server_config
from tierstore.namespace.metadata.cached import CachedMetadataStore
from tierstore.namespace.server_metadata import open_server_metadata
from tierstore.server.config import load_api_options
from tierstore.server.run import build_server, uvicorn_config
from tierstore.settings import load_store_settings

ROOT = "remote.data.dir: s3://some-bucket/base\ns3.endpoint: http://127.0.0.1:1\n"


def config_with(tmp_path: Path, text: str, name: str = "server.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_and_every_key(tmp_path: Path) -> None:
    defaults = load_api_options(None)
    assert (defaults.host, defaults.port, defaults.tls) == ("127.0.0.1", 9870, False)
    assert (defaults.vending.duration_seconds, defaults.vending.cache_fraction) == (3600, 0.5)
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    path = config_with(
        tmp_path,
        ROOT + "tierstore.server.host: 0.0.0.0\n"
        "tierstore.server.port: 8443\n"
        "tierstore.server.tls.cert: c.pem\n"
        "tierstore.server.tls.key: k.pem\n"
        "tierstore.vending.access-key: VENDKEYID\n"
        "tierstore.vending.secret-key: vend-secret\n"
        "tierstore.vending.role.arn: arn:aws:iam::000000000000:role/ClientRole\n"
        "tierstore.vending.sts.endpoint: http://sts.internal:8000/\n"
        "tierstore.vending.duration: 900\n"
        "tierstore.vending.cache.fraction: 0.25\n"
        "tierstore.vending.endpoint: https://s3.example.com\n",
    )
    options = load_api_options(path)
    assert (options.host, options.port, options.tls_cert) == ("0.0.0.0", 8443, tmp_path / "c.pem")
    vending = options.vending
    assert vending.keys is not None and vending.keys.access_key_id == "VENDKEYID"
    assert vending.role_arn == "arn:aws:iam::000000000000:role/ClientRole"
    assert (vending.sts_endpoint, vending.endpoint) == ("http://sts.internal:8000", "https://s3.example.com")
    assert (vending.duration_seconds, vending.cache_fraction) == (900, 0.25)
    assert "vend-secret" not in repr(options)
    # The store settings loader reads the same file without a word about our keys.
    assert load_store_settings(path).warnings == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "tierstore.vending.duration: 60\n",
            r"tierstore.vending.duration: 60 is out of range; use 900 to 43200",
        ),
        ("tierstore.vending.duration: soon\n", r"tierstore.vending.duration: 'soon' is not a whole number"),
        ("tierstore.vending.cache.fraction: 1.5\n", r"tierstore.vending.cache.fraction: '?1.5'? must be"),
        ("tierstore.server.port: 70000\n", r"tierstore.server.port: 70000 is out of range"),
        ("tierstore.server.tls.cert: c.pem\n", r"tierstore.server.tls.key is missing"),
        ("tierstore.vending.access-key: AKIAX\n", r"tierstore.vending.secret-key is missing"),
        ("tierstore.vending.role.arn: ClientRole\n", r"'ClientRole' is not a role ARN"),
        (
            "tierstore.vending.endpoint: s3.example.com\n",
            r"tierstore.vending.endpoint: 's3.example.com' is not a URL",
        ),
        ("tierstore.s3.port: -1\n", r"tierstore.s3.port: -1 is out of range"),
        ("tierstore.s3.enabled: maybe\n", r"tierstore.s3.enabled: 'maybe' is not true or false"),
        ("tierstore.s3.region: 'us east'\n", r"tierstore.s3.region: 'us east' is not a region name"),
        (
            "tierstore.s3.domain: http://s3.example.com\n",
            r"tierstore.s3.domain: 'http://s3.example.com' is not a host name",
        ),
        ("tierstore.s3.prot: 1\n", r"unknown tierstore key; did you mean tierstore.s3.port\?"),
        (
            "tierstore.vending.rol.arn: x\n",
            r"unknown tierstore key; did you mean tierstore.vending.role.arn\?",
        ),
    ],
)
def test_a_bad_value_names_the_key_and_the_file(tmp_path: Path, lines: str, expected: str) -> None:
    path = config_with(tmp_path, ROOT + lines)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_api_options(path)
    assert str(caught.value).startswith(str(path))


def test_the_s3_gateways_keys(tmp_path: Path) -> None:
    defaults = load_api_options(None).s3
    assert (defaults.enabled, defaults.port, defaults.region, defaults.domains) == (
        True,
        9871,
        "us-east-1",
        (),
    )
    path = config_with(
        tmp_path,
        ROOT + "tierstore.s3.enabled: false\ntierstore.s3.port: 9999\ntierstore.s3.region: eu-west-1\n"
        "tierstore.s3.domain: S3.Example.com., s3.local\n",
    )
    options = load_api_options(path).s3
    assert (options.enabled, options.port, options.region) == (False, 9999, "eu-west-1")
    assert options.domains == ("s3.example.com", "s3.local")


def test_a_store_that_cannot_delegate_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_with(tmp_path, ROOT + f"tierstore.metadata.url: sqlite:///{tmp_path / 'ns.db'}\n")
    with pytest.raises(CredentialsError, match="set keys or a role ARN") as caught:
        build_server(path)
    # Each way out is named: the vending identity's keys and the role keys.
    assert "tierstore.vending.access-key" in str(caught.value)
    assert "tierstore.vending.role.arn" in str(caught.value)
    assert main(["serve", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tierstore: error: s3://some-bucket/base/: to hand credentials to clients")
    assert "Traceback" not in err


def test_the_readme_names_where_each_mount_table_lives(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    beside = load_server_config(config_with(tmp_path, "remote.data.dir: file:///tmp/x\n"))
    assert beside.metadata_url == f"sqlite:///{tmp_path.resolve() / 'tierstore-namespace.db'}"
    assert "beside the config by default (`tierstore-namespace.db`)" in readme
    home = tmp_path / "home"
    assert embedded_default(home).metadata_url == f"sqlite:///{home / 'namespace.db'}"
    assert "`~/.tierstore/namespace.db` on the embedded default" in readme


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "'soon' is not a number of seconds; use e.g. 0.25"),
        ("-1", "-1.0 is out of range; use 0 (read the database on every request) up to 10 seconds"),
        ("60", "60.0 is out of range"),
    ],
)
def test_a_bad_sync_interval_names_the_key_and_the_fix(tmp_path: Path, value: str, message: str) -> None:
    path = config_with(
        tmp_path, f"remote.data.dir: file:///tmp/x\ntierstore.metadata.sync.interval: '{value}'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_server_config(path)
    assert str(caught.value).startswith(f"{path}: tierstore.metadata.sync.interval: ")
    assert message in str(caught.value)


def test_the_sync_interval_reaches_the_servers_store(tmp_path: Path) -> None:
    base = (
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'ns.db'}\n"
    )
    config = load_server_config(config_with(tmp_path, base + "tierstore.metadata.sync.interval: 0.5\n"))
    with open_server_metadata(config, in_memory=True) as store:
        assert isinstance(store, CachedMetadataStore) and store.poll_interval == 0.5
    with open_server_metadata(config) as store:  # short-lived commands read the database
        assert not isinstance(store, CachedMetadataStore)
    off = load_server_config(
        config_with(tmp_path, base + "tierstore.metadata.sync.interval: 0\n", "off.yaml")
    )
    with open_server_metadata(off, in_memory=True) as store:
        assert not isinstance(store, CachedMetadataStore)


def test_uvicorn_writes_access_lines_only_when_its_logger_would_show_them(tmp_path: Path) -> None:
    """uvicorn builds each access line's fields before asking its logger: tierstore asks once, at
    start (``-v`` shows them, as before; without it none is built)."""
    data = tmp_path / "data"
    path = config_with(
        tmp_path,
        f"remote.data.dir: file://{data}\ntierstore.metadata.url: sqlite:///{tmp_path / 'ns.db'}\n",
    )
    built = build_server(path, clean_up=False)
    access = logging.getLogger("uvicorn.access")
    level = access.level
    try:
        options = built.state.options
        access.setLevel(logging.WARNING)
        assert uvicorn_config(built, options, host="127.0.0.1", port=0).access_log is False
        access.setLevel(logging.INFO)
        assert uvicorn_config(built, options, host="127.0.0.1", port=0).access_log is True
    finally:
        access.setLevel(level)
        built.state.close()
