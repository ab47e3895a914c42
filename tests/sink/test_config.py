"""The sink config: every key read into SinkConfig, every problem reported at once, naming its key."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.sink.sink_samples import FULL, MINIMAL, SECRETS, write_config

from tierstore.settings import ConfigProblems
from tierstore.sink.config import (
    SINK_KEYS,
    SinkConfig,
    check_sink_config,
    load_sink_config,
    sink_config_from_mapping,
)
from tierstore.sink.converters import Converter


def _problems(tmp_path: Path, values: dict[str, Any], **kwargs: Any) -> dict[str | None, list[str]]:
    report = check_sink_config(write_config(tmp_path, values), **kwargs)
    found: dict[str | None, list[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.key, []).append(f"{problem.level}: {problem.message}")
    return found


def test_every_key_of_a_full_config_is_read(tmp_path: Path) -> None:
    config = load_sink_config(write_config(tmp_path, FULL))
    assert config.name == "events-to-s3"
    assert config.topics == ("events", "clicks")
    assert config.topics_regex is None
    assert config.key_converter == Converter("string", schemas_enable=True)
    assert config.value_converter == Converter("json", schemas_enable=False)
    assert config.compression == "zstd"
    assert config.output_format == "jsonl"
    assert config.output_fields == ("key", "value", "offset", "timestamp", "headers")
    assert config.value_encoding == "none"
    assert config.max_records == 50000
    assert config.max_bytes == 64 * 1024 * 1024
    assert config.rotate_interval_ms == 3_600_000
    assert config.flush_interval_ms == 30_000
    assert config.errors_tolerance == "all"
    assert config.dlq_topic == "events-dlq"
    assert config.cleanup_on_start is False
    assert config.tasks == 2
    assert config.kafka == {
        "bootstrap.servers": "127.0.0.1:9092",
        "group.id": "events-to-s3",
        "session.timeout.ms": "2000",
        "security.protocol": "SASL_SSL",
        "sasl.password": FULL["consumer.override.sasl.password"],
    }
    template = config.file_name_template
    assert template.timezone == ZoneInfo("Europe/Berlin")
    assert template.extension == ""  # a template of one's own is used as written
    # The store keys went to StoreSettings through the kafka-connect settings dialect.
    store = config.store
    assert (store.location.bucket, store.location.prefix) == ("warehouse", "kafka/events/")
    assert store.region == "eu-west-1"
    assert store.endpoint == "http://127.0.0.1:8333"
    assert store.multipart.part_size == 16 * 1024 * 1024
    assert store.encryption is not None
    assert (store.encryption.algorithm, store.encryption.kms_key_id) == ("aws:kms", "alias/sink")
    assert store.keys is not None and store.keys.access_key_id == FULL["aws.access.key.id"]
    role = store.assume_role
    assert role is not None
    assert role.role_arn == "arn:aws:iam::123456789012:role/sink-writer"
    assert (role.external_id, role.session_name, role.duration_seconds) == ("team-42", "events-sink", 3600)
    assert role.sts_endpoint == "http://127.0.0.1:8333"
    # A full, valid config has nothing to warn about: every connector key is known.
    assert config.warnings == ()


def test_defaults_follow_the_aiven_connector(tmp_path: Path) -> None:
    config = load_sink_config(write_config(tmp_path, MINIMAL))
    assert config.key_converter == Converter("bytearray")
    assert config.value_converter == Converter("bytearray")
    assert config.output_format == "csv"
    assert config.output_fields == ("value",)
    assert config.value_encoding == "base64"
    assert config.compression == "gzip"
    assert config.file_name_template.text == "{{topic}}-{{partition}}-{{start_offset}}"
    assert config.file_name_template.extension == ".gz"
    assert config.file_name_template.timezone == UTC
    assert (config.max_records, config.max_bytes, config.rotate_interval_ms) == (None, None, None)
    assert config.flush_interval_ms == 60_000
    assert (config.errors_tolerance, config.dlq_topic) == ("none", None)
    assert config.cleanup_on_start is True
    assert config.tasks == 1
    assert config.kafka == {"bootstrap.servers": "127.0.0.1:9092", "group.id": "minimal"}
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("compression", "output_format", "extension"),
    [
        ("none", "csv", ""),
        ("gzip", "jsonl", ".gz"),
        ("snappy", "json", ".snappy"),
        ("zstd", "csv", ".zst"),
        ("zstd", "parquet", ""),  # parquet compresses its column chunks; no outer extension
    ],
)
def test_default_template_gets_the_compression_extension(
    tmp_path: Path, compression: str, output_format: str, extension: str
) -> None:
    values = {**MINIMAL, "file.compression.type": compression, "format.output.type": output_format}
    config = load_sink_config(write_config(tmp_path, values))
    assert config.file_name_template.render("events", 3, 42, 0, None) == f"events-3-42{extension}"


def test_rest_shape_is_read_like_the_flat_one(tmp_path: Path) -> None:
    flat = load_sink_config(write_config(tmp_path, FULL, "flat.json"))
    inner = {key: value for key, value in FULL.items() if key != "name"}
    rest = load_sink_config(write_config(tmp_path, {"name": FULL["name"], "config": inner}, "rest.json"))
    assert rest == flat
    assert rest.kafka["group.id"] == "events-to-s3"


def test_topics_regex_and_group_override(tmp_path: Path) -> None:
    values = {
        **MINIMAL,
        "topics": None,
        "topics.regex": r"events\..*",
        "consumer.override.group.id": "other-group",
    }
    del values["topics"]
    config = load_sink_config(write_config(tmp_path, values))
    assert config.topics == ()
    assert config.topics_regex == r"events\..*"
    assert config.kafka["group.id"] == "other-group"


def test_bootstrap_option_wins_over_the_file_and_replaces_a_missing_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL)
    assert (
        load_sink_config(path, bootstrap_servers="10.0.0.1:9093").kafka["bootstrap.servers"]
        == "10.0.0.1:9093"
    )
    without = {key: value for key, value in MINIMAL.items() if key != "bootstrap.servers"}
    other = write_config(tmp_path, without, "without.json")
    found = _problems(tmp_path, without)
    assert any("--bootstrap-servers" in message for message in found["bootstrap.servers"])
    assert load_sink_config(other, bootstrap_servers="b:1").kafka["bootstrap.servers"] == "b:1"
    assert load_sink_config(other, require_bootstrap=False).kafka == {"group.id": "minimal"}


BROKEN: dict[str, Any] = {
    "name": "broken",
    "topics": "events, bad topic!",
    "topics.regex": "events.*",
    "aws.s3.bucket.name": "Not_A_Bucket",
    "aws.s3.part.size.bytes": "1MB",
    "aws.secret.access.key": SECRETS[0],
    "key.converter": "io.confluent.connect.avro.AvroConverter",
    "file.name.template": "{{topic}}-{{offset}}-{{timestamp:unit=mm}}",
    "file.compression.type": "lz4",
    "format.output.type": "avro",
    "format.output.fields": "value,partition",
    "format.output.fields.value.encoding": "hex",
    "file.max.records": "-1",
    "file.max.bytes": "lots",
    "rotate.interval.ms": "1h",
    "offset.flush.interval.ms": "0",
    "errors.tolerance": "some",
    "errors.deadletterqueue.topic.name": "dlq topic",
    "s3.multipart.cleanup.on.start": "yes",
    "file.name.timestamp.source": "wallclock",
    "file.name.timestamp.timezone": "Mars/Olympus",
    "consumer.override.enable.auto.commit": "true",
    "transforms": "unwrap",
    "file.max.record": "5",
}


def test_every_problem_is_reported_at_once_naming_its_key(tmp_path: Path) -> None:
    found = _problems(tmp_path, BROKEN)
    expected_errors = {
        "topics": "'bad topic!'",
        "topics.regex": "keep one of them",
        "aws.s3.bucket.name": "bucket",
        "aws.s3.part.size.bytes": "minimum",
        "aws.secret.access.key": "without aws.access.key.id",
        "key.converter": "ByteArrayConverter",  # lists the converters there are
        "file.name.template": "{{offset}}",
        "file.compression.type": "none, gzip, snappy, zstd",
        "format.output.type": "csv, jsonl, json, parquet",
        "format.output.fields": "'partition'",
        "format.output.fields.value.encoding": "base64, none",
        "file.max.records": "out of range",
        "file.max.bytes": "not a size",
        "rotate.interval.ms": "whole number",
        "offset.flush.interval.ms": "out of range",
        "errors.tolerance": "none, all",
        "errors.deadletterqueue.topic.name": "topic name",
        "s3.multipart.cleanup.on.start": "true or false",
        "file.name.timestamp.source": "exactly-once",
        "file.name.timestamp.timezone": "time zone",
        "consumer.override.enable.auto.commit": "commits offsets itself",
        "transforms": "transforms",
        "bootstrap.servers": "--bootstrap-servers",
    }
    for key, needle in expected_errors.items():
        messages = found.get(key, [])
        assert any(m.startswith("error") and needle in m for m in messages), (key, messages)
    assert found["file.max.record"] == ["warning: unknown key; did you mean file.max.records?"]
    # The template's own problems are each reported: unknown placeholder, bad unit, no partition.
    template = " ".join(found["file.name.template"])
    assert "{{offset}}" in template and "unit=mm" in template and "{{partition}}" in template
    # The secret is never echoed, whatever the message.
    rendered = "\n".join(p.render() for p in check_sink_config(write_config(tmp_path, BROKEN)).problems)
    assert SECRETS[0] not in rendered


def test_load_raises_config_problems_with_every_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigProblems) as raised:
        load_sink_config(write_config(tmp_path, BROKEN))
    keys = {problem.key for problem in raised.value.errors}
    assert {"topics", "file.compression.type", "aws.s3.bucket.name", "errors.tolerance"} <= keys
    assert SECRETS[0] not in str(raised.value)


@pytest.mark.parametrize(
    ("change", "key", "needle"),
    [
        ({"name": ""}, "name", "empty"),
        (
            {"topics": "a,b", "file.name.template": "{{partition}}-{{start_offset}}"},
            "file.name.template",
            "{{topic}}",
        ),
        (
            {"errors.deadletterqueue.topic.name": "events", "errors.tolerance": "all"},
            "errors.deadletterqueue.topic.name",
            "also a topic",
        ),
        ({"key.converter": "Avro"}, "key.converter", "JsonConverter"),
        (
            {"file.name.template": "{{topic}}-{{partition}}-{{start_offset:padding=yes}}"},
            "file.name.template",
            "padding is true or false",
        ),
        (
            {"file.name.template": "{{topic}}-{{partition}}-{{start_offset}}-{{timestamp}}"},
            "file.name.template",
            "needs a unit",
        ),
    ],
)
def test_cross_key_and_template_errors(tmp_path: Path, change: dict[str, Any], key: str, needle: str) -> None:
    found = _problems(tmp_path, {**MINIMAL, **change})
    assert any(m.startswith("error") and needle in m for m in found.get(key, [])), found


def test_missing_name_and_topics(tmp_path: Path) -> None:
    found = _problems(tmp_path, {"aws.s3.bucket.name": "warehouse", "bootstrap.servers": "b:1"})
    assert any("required" in m for m in found["name"])
    assert any("set topics" in m for m in found[None])


@pytest.mark.parametrize(
    ("change", "key", "needle"),
    [
        ({"errors.tolerance": "all"}, "errors.tolerance", "skipped and lost"),
        (
            {"errors.deadletterqueue.topic.name": "dlq"},
            "errors.deadletterqueue.topic.name",
            "only with errors.tolerance=all",
        ),
        (
            {"key.converter.schemas.enable": "true"},
            "key.converter.schemas.enable",
            "only to the JSON converter",
        ),
        (
            {"format.output.type": "parquet", "format.output.fields.value.encoding": "none"},
            "format.output.fields.value.encoding",
            "parquet",
        ),
        (
            {"file.name.template": "{{topic}}/{{partition}}/{{start_offset}}"},
            "file.name.template",
            "will not end in .gz",
        ),
        (
            {"file.name.template": "{{key}}-{{partition}}-{{start_offset}}"},
            "file.name.template",
            "first record's key",
        ),
        ({"format.output.envelope": "true"}, "format.output.envelope", "unknown key"),
        ({"topic": "events"}, "topic", "did you mean topics?"),
    ],
)
def test_warnings_leave_the_config_usable(
    tmp_path: Path, change: dict[str, Any], key: str, needle: str
) -> None:
    report = check_sink_config(write_config(tmp_path, {**MINIMAL, **change}))
    messages = [p.message for p in report.problems if p.key == key]
    assert report.ok, report.problems
    assert any(needle in message for message in messages), messages
    assert report.config is not None


def test_unreadable_files_are_one_error(tmp_path: Path) -> None:
    missing = check_sink_config(tmp_path / "nope.json")
    assert [p.message for p in missing.problems] == ["the file does not exist"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",')
    report = check_sink_config(broken)
    assert not report.ok and "not valid JSON" in report.problems[0].message


def test_native_json_types_are_accepted(tmp_path: Path) -> None:
    values = {
        **MINIMAL,
        "file.max.records": 10,
        "s3.multipart.cleanup.on.start": False,
        "offset.flush.interval.ms": 1000,
    }
    config = load_sink_config(write_config(tmp_path, values))
    assert (config.max_records, config.cleanup_on_start, config.flush_interval_ms) == (10, False, 1000)


def test_repr_and_problems_hold_no_secret(tmp_path: Path) -> None:
    config = load_sink_config(write_config(tmp_path, FULL))
    text = repr(config)
    for secret in SECRETS:
        assert secret not in text
    assert "****" in text


def test_the_settings_dialect_knows_every_sink_key(tmp_path: Path) -> None:
    """``tierstore config check`` on a sink file warns about no valid sink key."""
    from tierstore.settings import check_store_settings

    problems = check_store_settings(write_config(tmp_path, FULL))
    assert problems == []
    assert {key.name for key in SINK_KEYS} >= {
        k for k in FULL if not k.startswith(("aws.", "consumer.override."))
    }


def test_from_mapping_is_the_same_reader() -> None:
    config = sink_config_from_mapping({"name": "m", "config": {**MINIMAL, "name": "m"}})
    assert isinstance(config, SinkConfig)
    assert config.kafka["group.id"] == "m"


def test_subscription_for_librdkafka(tmp_path: Path) -> None:
    listed = load_sink_config(write_config(tmp_path, MINIMAL))
    assert listed.subscription == ["events"]
    values = {key: value for key, value in MINIMAL.items() if key != "topics"}
    regex = load_sink_config(
        write_config(tmp_path, {**values, "topics.regex": "events|clicks"}, "regex.json")
    )
    # librdkafka takes a regex when it starts with ^; anchored whole, as Kafka Connect matches it.
    assert regex.subscription == ["^(events|clicks)$"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [("h:99999", "not host:port"), ("a b:1", "not host:port"), ("a:1,,b:2", "names no broker")],
)
def test_bad_brokers_in_the_file_and_the_option(tmp_path: Path, value: str, needle: str) -> None:
    found = _problems(tmp_path, {**MINIMAL, "bootstrap.servers": value})
    assert any(needle in message for message in found["bootstrap.servers"])
    found = _problems(tmp_path, MINIMAL, bootstrap_servers=value)
    assert any(needle in message for message in found["--bootstrap-servers"])


def test_brokers_may_come_from_a_consumer_override(tmp_path: Path) -> None:
    values = {key: value for key, value in MINIMAL.items() if key != "bootstrap.servers"}
    config = load_sink_config(
        write_config(tmp_path, {**values, "consumer.override.bootstrap.servers": "k1:9092,k2:9092"})
    )
    assert config.kafka["bootstrap.servers"] == "k1:9092,k2:9092"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"file.compression.type": "snappy", "file.compression.level": "3"}, "snappy has no levels"),
        (
            {"file.compression.type": "gzip", "file.compression.level": "12"},
            "12 is out of range for gzip; use 1 to 9",
        ),
        ({"file.compression.type": "zstd", "file.compression.level": "0"}, "out of range"),
    ],
)
def test_compression_level_errors(tmp_path: Path, change: dict[str, Any], needle: str) -> None:
    found = _problems(tmp_path, {**MINIMAL, **change})
    assert any(needle in message for message in found["file.compression.level"]), found


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {
                "file.compression.type": "zstd",
                "file.name.template": "{{topic}}-{{partition}}-{{start_offset}}.gz",
            },
            "names end in .gz but files are zstd-compressed",
        ),
        (
            {
                "file.compression.type": "none",
                "file.name.template": "{{topic}}-{{partition}}-{{start_offset}}.gz",
            },
            "files are not compressed",
        ),
        (
            {
                "format.output.type": "parquet",
                "file.name.template": "{{topic}}-{{partition}}-{{start_offset}}.gz",
            },
            "Parquet files carry no outer compression",
        ),
    ],
)
def test_template_extension_that_lies_is_warned_about(
    tmp_path: Path, change: dict[str, Any], needle: str
) -> None:
    report = check_sink_config(write_config(tmp_path, {**MINIMAL, **change}))
    assert report.ok
    assert any(needle in p.message for p in report.problems if p.key == "file.name.template"), report.problems


def test_confluent_keys_get_one_warning_naming_the_key_to_use(tmp_path: Path) -> None:
    values = {
        **MINIMAL,
        "flush.size": "1000",
        "rotate.schedule.interval.ms": "600000",
        "s3.bucket.name": "warehouse",
        "storage.class": "io.confluent.connect.s3.storage.S3Storage",
    }
    report = check_sink_config(write_config(tmp_path, values))
    assert report.ok
    by_key: dict[str | None, list[str]] = {}
    for problem in report.problems:
        by_key.setdefault(problem.key, []).append(problem.message)
    assert by_key["flush.size"] == [
        "is a Confluent S3 sink key tierstore does not read; use file.max.records"
    ]
    assert len(by_key["rotate.schedule.interval.ms"]) == 1  # not also the store dialect's warning
    assert "wall clock" in by_key["rotate.schedule.interval.ms"][0]
    assert by_key["s3.bucket.name"] == [
        "is a Confluent S3 sink key tierstore does not read; use aws.s3.bucket.name"
    ]
    assert "remove the key" in by_key["storage.class"][0]


def test_a_connect_standalone_properties_file_is_read_too(tmp_path: Path) -> None:
    lines = [f"{key}={value}" for key, value in FULL.items()]
    path = tmp_path / "s3-sink.properties"
    path.write_text("# Kafka Connect standalone connector config\n" + "\n".join(lines) + "\n")
    assert load_sink_config(path) == load_sink_config(write_config(tmp_path, FULL))
    path.write_text(
        "name=p\ntopics=events\nbootstrap.servers=b:1\naws.s3.bucket.name=warehouse\nfile.max.records=many\n"
    )
    (problem,) = check_sink_config(path).problems
    assert problem.render() == (
        f"{path}:5: error: file.max.records: 'many' is not a whole number; use a whole number from 0 up"
    )


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("0", "is out of range; use a whole number from 1 to 64"),
        ("65", "is out of range; use a whole number from 1 to 64"),
        ("two", "is not a whole number"),
    ],
)
def test_tasks_max_errors(tmp_path: Path, value: str, needle: str) -> None:
    found = _problems(tmp_path, {**MINIMAL, "tasks.max": value})
    assert any(needle in message for message in found["tasks.max"]), found
