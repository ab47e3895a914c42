"""The three dialects fill the same StoreSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.settings.settings_samples import KEY_ID, SECRET_KEY
from tierstore.settings import (
    StoreSettings,
    load_store_settings,
    settings_from_mapping,
    settings_from_options,
)
from tierstore.settings.model import (
    AccessKeys,
    AssumeRoleSettings,
    CredentialRefresh,
    Encryption,
    MultipartSettings,
    ProxySettings,
    StoreLocation,
)
from tierstore.settings.secret import Secret

MiB = 1024 * 1024

EXPECTED = StoreSettings(
    location=StoreLocation(scheme="s3", bucket="warehouse", prefix="tables/"),
    endpoint="http://127.0.0.1:8333",
    region="us-east-1",
    path_style=True,
    proxy=ProxySettings(host="proxy.internal", port=3128),
    encryption=Encryption(algorithm="aws:kms", kms_key_id="alias/tierstore"),
    multipart=MultipartSettings(part_size=32 * MiB),
    keys=AccessKeys(KEY_ID, Secret(SECRET_KEY)),
    assume_role=AssumeRoleSettings(
        role_arn="arn:aws:iam::123456789012:role/writer",
        external_id="team-42",
        session_name="ingest",
        duration_seconds=3600,
        sts_endpoint="http://127.0.0.1:8333",
    ),
)


def test_fluss_alluxio_and_kafka_connect_describe_the_same_store(
    fluss_file: Path, alluxio_file: Path, kafka_file: Path
) -> None:
    fluss = load_store_settings(fluss_file)
    alluxio = load_store_settings(alluxio_file)
    kafka = load_store_settings(kafka_file)

    assert fluss.settings == EXPECTED
    assert alluxio.settings == EXPECTED
    assert kafka.settings == EXPECTED
    assert (fluss.dialect, alluxio.dialect, kafka.dialect) == ("fluss", "alluxio", "kafka-connect")
    assert fluss.warnings == alluxio.warnings == kafka.warnings == []


def test_fluss_ignores_the_rest_of_server_yaml(fluss_file: Path) -> None:
    loaded = load_store_settings(fluss_file)
    assert loaded.warnings == []
    assert loaded.extras == {}


def test_kafka_connect_passes_connector_keys_through_untouched(kafka_file: Path) -> None:
    loaded = load_store_settings(kafka_file)
    assert loaded.extras == {
        "name": "events-to-s3",
        "connector.class": "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector",
        "tasks.max": "2",
        "topics": "events",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "format.output.type": "jsonl",
        "file.compression.type": "zstd",
    }
    assert loaded.warnings == []


def test_kafka_connect_plain_config_object_works_like_the_rest_shape() -> None:
    config = {
        "aws.s3.bucket.name": "warehouse",
        "errors.tolerance": "all",
        "consumer.override.max.poll.records": "500",
        "offset.flush.interval.ms": "10000",
        "bootstrap.servers": "localhost:9092",
        "topics.regex": "events-.*",
    }
    loaded = settings_from_mapping(config, "kafka-connect", "inline")
    assert loaded.settings.location == StoreLocation(scheme="s3", bucket="warehouse")
    assert set(loaded.extras) == set(config) - {"aws.s3.bucket.name"}


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        (
            "s3a://warehouse/fluss/remote",
            StoreLocation(scheme="s3", bucket="warehouse", prefix="fluss/remote/"),
        ),
        ("s3://warehouse", StoreLocation(scheme="s3", bucket="warehouse")),
        ("file:///var/lib/fluss", StoreLocation(scheme="file", path=Path("/var/lib/fluss"))),
    ],
)
def test_fluss_location_schemes(uri: str, location: StoreLocation) -> None:
    loaded = settings_from_mapping({"remote.data.dir": uri}, "fluss", "inline")
    assert loaded.settings.location == location


def test_fluss_accepts_fs_s3a_spellings_and_nested_yaml(tmp_path: Path) -> None:
    path = tmp_path / "server.yml"
    path.write_text(
        "remote.data.dir: s3://warehouse/t\n"
        "fs.s3a.endpoint: minio.internal:9000\n"
        "fs.s3a.path.style.access: true\n"
        "fs.s3a.access.key: AKIAOTHER\n"
        "fs.s3a.secret.key: other-secret\n"
        "s3:\n"
        "  connection:\n"
        "    timeout: 5000\n"
        "    establish.timeout: 2s\n"
        "  assumed.role:\n"
        "    arn: arn:aws:iam::123456789012:role/r\n"
        "    policy: {Version: '2012-10-17', Statement: []}\n"
    )
    settings = load_store_settings(path).settings
    # Without a scheme the endpoint is HTTPS, as S3A's connection.ssl.enabled defaults to true.
    assert settings.endpoint == "https://minio.internal:9000"
    assert settings.path_style is True
    assert settings.keys == AccessKeys("AKIAOTHER", Secret("other-secret"))
    assert settings.timeouts.read_seconds == 5.0  # plain numbers are milliseconds in S3A
    assert settings.timeouts.connect_seconds == 2.0
    assert settings.assume_role is not None
    assert settings.assume_role.policy == '{"Statement":[],"Version":"2012-10-17"}'


def test_alluxio_endpoint_without_scheme_follows_secure_http() -> None:
    base = {"alluxio.master.mount.table.root.ufs": "s3://warehouse/"}
    plain = settings_from_mapping({**base, "alluxio.underfs.s3.endpoint": "store:9000"}, "alluxio", "x")
    secure = settings_from_mapping(
        {
            **base,
            "alluxio.underfs.s3.endpoint": "store:9000",
            "alluxio.underfs.s3.secure.http.enabled": "true",
        },
        "alluxio",
        "x",
    )
    assert plain.settings.endpoint == "http://store:9000"
    assert secure.settings.endpoint == "https://store:9000"


def test_alluxio_permissions_retries_and_plain_sse() -> None:
    loaded = settings_from_mapping(
        {
            "alluxio.master.mount.table.root.ufs": "s3://warehouse/",
            "alluxio.underfs.s3.owner.id.to.username.mapping": "79a1=hdfs; 5c4d=alluxio",
            "alluxio.underfs.s3.inherit.acl": "false",
            "alluxio.underfs.s3.default.mode": "0750",
            "alluxio.underfs.s3.max.error.retry": "2",
            "alluxio.underfs.s3.server.side.encryption.enabled": "true",
            "alluxio.underfs.s3.socket.timeout": "50sec",
        },
        "alluxio",
        "inline",
    )
    settings = loaded.settings
    assert dict(settings.permissions.owner_id_to_username) == {"79a1": "hdfs", "5c4d": "alluxio"}
    assert settings.permissions.inherit_acl is False
    assert settings.permissions.default_mode == 0o750
    assert settings.retry.max_attempts == 3  # two retries after the first attempt
    assert settings.encryption == Encryption(algorithm="AES256")
    assert settings.timeouts.read_seconds == 50.0


def test_alluxio_root_mount_options_in_site_properties(tmp_path: Path) -> None:
    path = tmp_path / "alluxio-site.properties"
    path.write_text(
        "alluxio.master.mount.table.root.ufs=s3://warehouse/\n"
        "alluxio.master.mount.table.root.option.aws.accessKeyId=AKIAROOT\n"
        "alluxio.master.mount.table.root.option.aws.secretKey=root-secret\n"
        "alluxio.master.mount.table.root.option.alluxio.underfs.s3.region=eu-west-1\n"
    )
    settings = load_store_settings(path).settings
    assert settings.keys == AccessKeys("AKIAROOT", Secret("root-secret"))
    assert settings.region == "eu-west-1"


def test_mount_options_layer_over_base(fluss_file: Path) -> None:
    base = load_store_settings(fluss_file).settings
    loaded = settings_from_options(
        {
            "aws.accessKeyId": "AKIAMOUNT",
            "aws.secretKey": "mount-secret",
            "alluxio.underfs.s3.region": "eu-central-1",
            "alluxio.underfs.s3.upload.threads.max": "4",
        },
        location="s3://other-bucket/mnt",
        base=base,
    )
    settings = loaded.settings
    assert settings.location == StoreLocation(scheme="s3", bucket="other-bucket", prefix="mnt/")
    assert settings.keys == AccessKeys("AKIAMOUNT", Secret("mount-secret"))
    assert settings.region == "eu-central-1"
    assert settings.multipart == MultipartSettings(part_size=32 * MiB, concurrency=4)
    # Everything the options leave alone comes from the base.
    assert settings.endpoint == base.endpoint
    assert settings.assume_role == base.assume_role
    assert settings.encryption == base.encryption
    assert settings.proxy == base.proxy


def test_mount_options_without_base_and_location_key_warning() -> None:
    loaded = settings_from_options(
        {"alluxio.master.mount.table.root.ufs": "s3://ignored/", "alluxio.underfs.s3.region": "us-west-2"},
        location="s3a://mounted/data",
    )
    assert loaded.settings.location == StoreLocation(scheme="s3", bucket="mounted", prefix="data/")
    assert [w.key for w in loaded.warnings] == ["alluxio.master.mount.table.root.ufs"]
    assert "mount command" in loaded.warnings[0].message


REFRESH_IN_EACH_DIALECT = {
    "fluss": {
        "remote.data.dir": "s3://warehouse/tables",
        "s3.assumed.role.refresh.fraction": 0.5,
        "s3.assumed.role.refresh.margin": "2m",
    },
    "fluss (fs.s3a. spelling, plain seconds)": {
        "remote.data.dir": "s3://warehouse/tables",
        "fs.s3a.assumed.role.refresh.fraction": "0.5",
        "fs.s3a.assumed.role.refresh.margin": 120,
    },
    "alluxio": {
        "alluxio.master.mount.table.root.ufs": "s3://warehouse/tables",
        "alluxio.underfs.s3.assumed.role.refresh.fraction": "0.5",
        "alluxio.underfs.s3.assumed.role.refresh.margin": "120",
    },
    "alluxio (root mount options)": {
        "alluxio.master.mount.table.root.ufs": "s3://warehouse/tables",
        "alluxio.master.mount.table.root.option.alluxio.underfs.s3.assumed.role.refresh.fraction": "0.5",
        "alluxio.master.mount.table.root.option.alluxio.underfs.s3.assumed.role.refresh.margin": "2min",
    },
    "kafka-connect": {
        "aws.s3.bucket.name": "warehouse",
        "aws.s3.prefix": "tables",
        "aws.sts.role.refresh.fraction": "0.5",
        "aws.sts.role.refresh.margin": "120",
    },
}


@pytest.mark.parametrize(
    ("dialect", "values"),
    [(name.split()[0], values) for name, values in REFRESH_IN_EACH_DIALECT.items()],
    ids=list(REFRESH_IN_EACH_DIALECT),
)
def test_refresh_keys_of_every_dialect_fill_the_same_credential_refresh(
    dialect: str, values: dict[str, object]
) -> None:
    # No role ARN needed: the refresh also applies to GetSessionToken and web identity sessions.
    loaded = settings_from_mapping(values, dialect, "inline")
    assert loaded.warnings == []
    assert loaded.settings.refresh == CredentialRefresh(fraction=0.5, margin_seconds=120.0)
    assert loaded.settings == StoreSettings(
        location=StoreLocation(scheme="s3", bucket="warehouse", prefix="tables/"),
        refresh=CredentialRefresh(fraction=0.5, margin_seconds=120.0),
    )


def test_refresh_keys_in_files_of_every_dialect(tmp_path: Path) -> None:
    files = {
        "server.yaml": "remote.data.dir: s3://warehouse/t\n"
        "s3:\n  assumed.role:\n    refresh: {fraction: 0.6, margin: 30s}\n",
        "alluxio-site.properties": "alluxio.master.mount.table.root.ufs=s3://warehouse/t\n"
        "alluxio.underfs.s3.assumed.role.refresh.fraction=0.6\n"
        "alluxio.underfs.s3.assumed.role.refresh.margin=30\n",
        "sink.json": '{"name": "s", "config": {"aws.s3.bucket.name": "warehouse", "aws.s3.prefix": "t",'
        ' "aws.sts.role.refresh.fraction": 0.6, "aws.sts.role.refresh.margin": "30s"}}',
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        loaded = load_store_settings(path)
        assert loaded.warnings == [], name
        assert loaded.settings.refresh == CredentialRefresh(fraction=0.6, margin_seconds=30.0), name


@pytest.mark.parametrize(
    ("dialect", "values"),
    [
        ("fluss", {"remote.data.dir": "s3://warehouse/t"}),
        ("alluxio", {"alluxio.master.mount.table.root.ufs": "s3://warehouse/t"}),
        ("kafka-connect", {"aws.s3.bucket.name": "warehouse"}),
    ],
)
def test_refresh_defaults_when_unset(dialect: str, values: dict[str, object]) -> None:
    refresh = settings_from_mapping(values, dialect, "inline").settings.refresh
    assert refresh == CredentialRefresh()
    assert (refresh.fraction, refresh.margin_seconds) == (0.75, 60.0)


def test_refresh_margin_may_be_zero() -> None:
    values = {"aws.s3.bucket.name": "warehouse", "aws.sts.role.refresh.margin": "0"}
    refresh = settings_from_mapping(values, "kafka-connect", "inline").settings.refresh
    assert refresh == CredentialRefresh(fraction=0.75, margin_seconds=0.0)


def test_mount_options_override_the_base_refresh_one_setting_at_a_time() -> None:
    # Built by hand, with a whole number of seconds where the parsers would give a float.
    base = StoreSettings(
        location=StoreLocation(scheme="s3", bucket="warehouse"),
        refresh=CredentialRefresh(fraction=0.5, margin_seconds=30),
    )
    untouched = settings_from_options({}, location="s3://warehouse/m", base=base).settings
    assert untouched.refresh == CredentialRefresh(fraction=0.5, margin_seconds=30.0)
    assert isinstance(untouched.refresh.margin_seconds, float)

    options = {"alluxio.underfs.s3.assumed.role.refresh.margin": "5m"}
    margin_only = settings_from_options(options, location="s3://warehouse/m", base=base).settings
    assert margin_only.refresh == CredentialRefresh(fraction=0.5, margin_seconds=300.0)

    # A new role replaces the base's role settings, not its refresh schedule.
    role = {"alluxio.underfs.s3.assumed.role.arn": "arn:aws:iam::123456789012:role/other"}
    new_role = settings_from_options(role, location="s3://warehouse/m", base=base).settings
    assert new_role.refresh == base.refresh
