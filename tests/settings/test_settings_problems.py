"""Problems: all at once, each naming its key and file; errors across keys; unreadable files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tierstore.errors import ConfigError
from tierstore.settings import (
    ConfigProblems,
    Problem,
    check_store_settings,
    load_store_settings,
    settings_from_mapping,
    settings_from_options,
)

FLUSS_LOCATION = {"remote.data.dir": "s3://warehouse/t"}
KAFKA_LOCATION = {"aws.s3.bucket.name": "warehouse"}
ALLUXIO_LOCATION = {"alluxio.master.mount.table.root.ufs": "s3://warehouse/t"}
ROOT_OPTION = "alluxio.master.mount.table.root.option."


def problems_of(values: Mapping[str, object], dialect: str) -> list[Problem]:
    try:
        return settings_from_mapping(values, dialect, "test.conf").warnings
    except ConfigProblems as caught:
        return caught.problems


def errors(values: Mapping[str, object], dialect: str) -> dict[str | None, str]:
    return {p.key: p.message for p in problems_of(values, dialect) if p.level == "error"}


def warnings(values: Mapping[str, object], dialect: str) -> dict[str | None, str]:
    return {p.key: p.message for p in problems_of(values, dialect) if p.level == "warning"}


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(
        "remote.data.dir: s3://warehouse/t\n"
        "s3.path-style-access: yes please\n"
        "s3.multipart.size: 1MB\n"
        "s3.proxy.port: 70000\n"
        "s3.endpont: http://x\n"
        "s3.assumed.role.arn: arn:aws:iam::role\n"
        "s3.encryption.algorithm: SSE-KMS\n"
    )
    with pytest.raises(ConfigProblems) as caught:
        load_store_settings(path)
    found = [(p.level, p.key, p.line) for p in caught.value.problems]
    assert found == [
        ("error", "s3.path-style-access", 2),
        ("error", "s3.multipart.size", 3),
        ("error", "s3.proxy.port", 4),
        ("warning", "s3.endpont", 5),
        ("error", "s3.assumed.role.arn", 6),
        ("error", "s3.encryption.algorithm", 7),
    ]
    assert all(p.source == str(path) for p in caught.value.problems)
    text = str(caught.value)
    assert text.startswith(f"{path}: 5 errors, 1 warning")
    assert f"{path}:2: error: s3.path-style-access: 'yes please' is not a boolean; use true or false" in text
    assert "'1MB' is below the 5 MiB minimum part size" in text
    assert "70000 is not a port; use a number from 1 to 65535" in text
    assert "arn:aws:iam::ACCOUNT:role/NAME" in text
    assert isinstance(caught.value, ConfigError)  # callers that catch ConfigError see it too


@pytest.mark.parametrize(
    ("dialect", "values", "key", "suggestion"),
    [
        ("fluss", {**FLUSS_LOCATION, "s3.endpont": "http://x"}, "s3.endpont", "s3.endpoint"),
        ("fluss", {**FLUSS_LOCATION, "fs.s3a.acess.key": "AKIA"}, "fs.s3a.acess.key", "fs.s3a.access.key"),
        ("fluss", {**FLUSS_LOCATION, "remote.data.dri": "s3://x/y"}, "remote.data.dri", "remote.data.dir"),
        (
            "alluxio",
            {**ALLUXIO_LOCATION, "alluxio.underfs.s3.endpiont.region": "x"},
            "alluxio.underfs.s3.endpiont.region",
            "alluxio.underfs.s3.endpoint.region",
        ),
        ("alluxio", {**ALLUXIO_LOCATION, "aws.secretkey": "x"}, "aws.secretkey", "aws.secretKey"),
        ("kafka-connect", {**KAFKA_LOCATION, "aws.s3.regoin": "x"}, "aws.s3.regoin", "aws.s3.region"),
        ("kafka-connect", {**KAFKA_LOCATION, "s3.bucket.name": "x"}, "s3.bucket.name", "aws.s3.bucket.name"),
        ("kafka-connect", {**KAFKA_LOCATION, "connecter.class": "x"}, "connecter.class", "connector.class"),
    ],
)
def test_unknown_keys_warn_with_the_closest_known_key(
    dialect: str, values: dict[str, object], key: str, suggestion: str
) -> None:
    assert warnings(values, dialect) == {key: f"unknown key; did you mean {suggestion}?"}


def test_unknown_key_in_our_namespace_without_a_near_match_still_warns() -> None:
    assert warnings({**FLUSS_LOCATION, "s3.zzz": "1"}, "fluss") == {"s3.zzz": "unknown key; it is ignored"}
    assert warnings({**KAFKA_LOCATION, "flush.size": "1000"}, "kafka-connect") == {
        "flush.size": "unknown key; it is ignored"
    }


def test_foreign_keys_are_ignored_silently() -> None:
    fluss = {
        **FLUSS_LOCATION,
        "bind.listeners": "FLUSS://localhost:9123",
        "zookeeper.address": "localhost:2181",
        "data.dir": "/tmp/fluss",
        "tablet-server.id": 0,
        "default.bucket.number": 3,
        "kv.snapshot.interval": "10min",
        "remote.fs.write-buffer-size": "4kb",
        "log.segment.file-size": "1gb",
    }
    alluxio = {
        **ALLUXIO_LOCATION,
        "alluxio.master.hostname": "master",
        "alluxio.worker.ramdisk.size": "1GB",
        "alluxio.security.authentication.type": "NOSASL",
    }
    assert problems_of(fluss, "fluss") == []
    assert problems_of(alluxio, "alluxio") == []


def test_host_system_keys_tierstore_does_not_use_say_so() -> None:
    found = warnings({**ALLUXIO_LOCATION, "alluxio.underfs.s3.threads.max": "20"}, "alluxio")
    message = "is an Alluxio setting tierstore does not use; it has no effect here"
    assert found == {"alluxio.underfs.s3.threads.max": message}


@pytest.mark.parametrize(
    ("dialect", "values", "key", "fragment"),
    [
        ("fluss", {}, "remote.data.dir", "no store location: set remote.data.dir to s3://"),
        ("alluxio", {}, "alluxio.master.mount.table.root.ufs", "no store location"),
        ("kafka-connect", {"aws.s3.prefix": "x"}, "aws.s3.bucket.name", "no store location"),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.encryption.algorithm": "SSE-KMS"},
            "s3.encryption.algorithm",
            "SSE-KMS needs a KMS key id: set s3.encryption.key",
        ),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.s3.sse.algorithm": "aws:kms"},
            "aws.s3.sse.algorithm",
            "SSE-KMS needs a KMS key id: set aws.s3.sse.kms.key.id",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.encryption.algorithm": "AES256", "s3.encryption.key": "alias/k"},
            "s3.encryption.key",
            "applies only to SSE-KMS",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.encryption.key": "alias/k"},
            "s3.encryption.key",
            "does not ask for SSE-KMS",
        ),
        (
            "alluxio",
            {
                **ALLUXIO_LOCATION,
                "alluxio.underfs.s3.sse.kms.key.id": "alias/k",
                "alluxio.underfs.s3.server.side.encryption.enabled": "false",
            },
            "alluxio.underfs.s3.sse.kms.key.id",
            "asks for SSE-KMS but alluxio.underfs.s3.server.side.encryption.enabled is false",
        ),
        (
            "kafka-connect",
            {
                **KAFKA_LOCATION,
                "aws.sts.role.arn": "arn:aws:iam::123456789012:role/r",
                "aws.sts.role.session.duration": "899",
            },
            "aws.sts.role.session.duration",
            "is out of range; use 900 to 43200 seconds",
        ),
        (
            "fluss",
            {
                **FLUSS_LOCATION,
                "s3.assumed.role.arn": "arn:aws:iam::1:role/r",
                "s3.assumed.role.session.duration": "13h",
            },
            "s3.assumed.role.session.duration",
            "is out of range; use 900 to 43200 seconds",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.assumed.role.refresh.fraction": 1},
            "s3.assumed.role.refresh.fraction",
            "1 is out of range; use a number between 0 and 1, e.g. 0.75",
        ),
        (
            "alluxio",
            {**ALLUXIO_LOCATION, "alluxio.underfs.s3.assumed.role.refresh.fraction": "0"},
            "alluxio.underfs.s3.assumed.role.refresh.fraction",
            "'0' is out of range; use a number between 0 and 1, e.g. 0.75",
        ),
        (
            "alluxio",
            {**ALLUXIO_LOCATION, f"{ROOT_OPTION}alluxio.underfs.s3.assumed.role.refresh.fraction": "2"},
            f"{ROOT_OPTION}alluxio.underfs.s3.assumed.role.refresh.fraction",
            "'2' is out of range; use a number between 0 and 1, e.g. 0.75",
        ),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.sts.role.refresh.fraction": "75%"},
            "aws.sts.role.refresh.fraction",
            "'75%' is not a fraction; use a number between 0 and 1, e.g. 0.75",
        ),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.sts.role.refresh.margin": "-5"},
            "aws.sts.role.refresh.margin",
            "'-5' is not a duration",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "fs.s3a.assumed.role.refresh.margin": "2d"},
            "fs.s3a.assumed.role.refresh.margin",
            "'2d' is out of range; use 0 to 86400 seconds",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.multipart.size": "4MiB"},
            "s3.multipart.size",
            "below the 5 MiB minimum",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.multipart.size": "6GB"},
            "s3.multipart.size",
            "above the 5 GiB maximum",
        ),
        ("fluss", {**FLUSS_LOCATION, "s3.proxy.port": 0}, "s3.proxy.port", "is not a port"),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.s3.proxy.port": "3128"},
            "aws.s3.proxy.port",
            "without aws.s3.proxy.host",
        ),
        ("fluss", {**FLUSS_LOCATION, "s3.proxy.port": 3128}, "s3.proxy.port", "without s3.proxy.host"),
        ("fluss", {**FLUSS_LOCATION, "s3.access-key": "AKIAX"}, "s3.access-key", "without s3.secret-key"),
        ("fluss", {**FLUSS_LOCATION, "s3.secret-key": "sekrit"}, "s3.secret-key", "without s3.access-key"),
        (
            "alluxio",
            {**ALLUXIO_LOCATION, "aws.secretKey": "sekrit"},
            "aws.secretKey",
            "without aws.accessKeyId",
        ),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.access.key.id": "AKIAX"},
            "aws.access.key.id",
            "without aws.secret.access.key",
        ),
        ("fluss", {**FLUSS_LOCATION, "s3.session-token": "tok"}, "s3.session-token", "belongs to a key pair"),
        (
            "kafka-connect",
            {**KAFKA_LOCATION, "aws.sts.role.external.id": "team-42"},
            "aws.sts.role.external.id",
            "set aws.sts.role.arn too",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.proxy.host": "proxy", "s3.proxy.password": "pw"},
            "s3.proxy.password",
            "without s3.proxy.username",
        ),
        (
            "fluss",
            {**FLUSS_LOCATION, "s3.region": "us-east-1", "fs.s3a.endpoint.region": "eu-west-1"},
            "fs.s3a.endpoint.region",
            "conflicts with s3.region",
        ),
    ],
)
def test_errors_across_keys_and_ranges(
    dialect: str, values: dict[str, object], key: str, fragment: str
) -> None:
    found = errors(values, dialect)
    assert key in found, found
    assert fragment in found[key]


def test_a_bad_refresh_fraction_names_the_key_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("remote.data.dir: s3://warehouse/t\ns3.assumed.role.refresh.fraction: 1.5\n")
    with pytest.raises(ConfigProblems) as caught:
        load_store_settings(path)
    assert [(p.level, p.key, p.line) for p in caught.value.problems] == [
        ("error", "s3.assumed.role.refresh.fraction", 2)
    ]
    assert (
        f"{path}:2: error: s3.assumed.role.refresh.fraction: 1.5 is out of range; "
        "use a number between 0 and 1, e.g. 0.75"
    ) in str(caught.value)


def test_a_wrong_value_is_not_also_reported_as_missing() -> None:
    # The key id is there, just malformed: one error, not a second "secret without key id".
    found = errors({**FLUSS_LOCATION, "s3.access-key": "AKIA X", "s3.secret-key": "sekrit"}, "fluss")
    assert list(found) == ["s3.access-key"]
    assert list(errors({"remote.data.dir": "hdfs://nn/x"}, "fluss")) == ["remote.data.dir"]


def test_a_key_given_twice_with_the_same_value_is_fine() -> None:
    values = {**FLUSS_LOCATION, "s3.region": "us-east-1", "fs.s3a.endpoint.region": "us-east-1"}
    assert settings_from_mapping(values, "fluss", "x").settings.region == "us-east-1"


def test_proxy_host_without_port_uses_the_default_with_a_warning() -> None:
    loaded = settings_from_mapping({**FLUSS_LOCATION, "s3.proxy.host": "proxy.internal"}, "fluss", "x")
    assert loaded.settings.proxy is not None
    assert loaded.settings.proxy.url() == "http://proxy.internal:80"
    assert [w.key for w in loaded.warnings] == ["s3.proxy.host"]
    https = settings_from_mapping(
        {**FLUSS_LOCATION, "s3.proxy.host": "proxy.internal", "s3.proxy.ssl.enabled": True}, "fluss", "x"
    )
    assert https.settings.proxy is not None
    assert https.settings.proxy.url() == "https://proxy.internal:443"


def test_mount_options_keys_without_secret_are_an_error_even_over_a_base() -> None:
    base = settings_from_mapping(
        {**FLUSS_LOCATION, "s3.access-key": "AKIABASE", "s3.secret-key": "base-secret"}, "fluss", "x"
    ).settings
    with pytest.raises(ConfigProblems) as caught:
        settings_from_options({"aws.accessKeyId": "AKIAMOUNT"}, location="s3://warehouse/m", base=base)
    assert [(p.key, p.source) for p in caught.value.errors] == [("aws.accessKeyId", "mount options")]


def test_a_bad_mount_location_is_an_error() -> None:
    with pytest.raises(ConfigProblems, match="mount location is not usable"):
        settings_from_options({}, location="ftp://x/y")


def test_duplicate_keys_warn_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.properties"
    path.write_text(
        "alluxio.master.mount.table.root.ufs=s3://warehouse/\n"
        "alluxio.underfs.s3.region=us-east-1\n"
        "alluxio.underfs.s3.region=eu-west-1\n"
    )
    loaded = load_store_settings(path)
    assert loaded.settings.region == "eu-west-1"
    assert [(w.key, w.line, w.message) for w in loaded.warnings] == [
        ("alluxio.underfs.s3.region", 3, "is set more than once (lines 2 and 3); the last one wins")
    ]


@pytest.mark.parametrize(
    ("name", "content", "line", "fragment"),
    [
        ("server.yaml", "remote.data.dir: s3://w/t\ns3.region: [unclosed\n", 3, "not valid YAML"),
        ("server.yaml", "- a list\n- not a mapping\n", 1, "must hold a mapping"),
        ("sink.json", '{\n  "aws.s3.bucket.name": "warehouse",\n}', 3, "not valid JSON"),
        ("sink.json", "[1, 2]", None, "must hold a JSON object"),
        ("a.properties", "aws.secretKey=\\uZZZZ\n", 1, "malformed \\uXXXX escape"),
    ],
)
def test_syntax_errors_are_one_problem_with_the_line(
    tmp_path: Path, name: str, content: str, line: int | None, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    problems = check_store_settings(path)
    syntax = [p for p in problems if fragment in p.message]
    assert len(syntax) == 1
    assert syntax[0].level == "error"
    assert syntax[0].line == line
    assert syntax[0].source == str(path)


def test_a_missing_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert check_store_settings(path) == [Problem("error", None, "the file does not exist", str(path))]
    with pytest.raises(ConfigProblems, match="does not exist"):
        load_store_settings(path)


def test_an_unknown_extension_names_the_accepted_ones(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_store_settings(path)
    assert not isinstance(caught.value, ConfigProblems)
    for accepted in (".yaml", ".yml", ".properties", ".json"):
        assert accepted in str(caught.value)
    [problem] = check_store_settings(path)
    assert problem.level == "error"
    assert ".properties" in problem.message


def test_an_empty_yaml_file_only_lacks_a_location(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("# nothing yet\n")
    assert [(p.level, p.key) for p in check_store_settings(path)] == [("error", "remote.data.dir")]
