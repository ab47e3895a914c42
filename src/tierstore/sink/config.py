"""The sink's configuration: a Kafka Connect S3 sink JSON file, checked whole, into :class:`SinkConfig`.

One file holds two kinds of keys. The ``aws.*`` keys describe the store and are read by
:mod:`tierstore.settings` (the ``kafka-connect`` dialect) into :class:`StoreSettings`, with every
rule of that package. The connector's own keys (topics, converters, ``file.*``, ``format.*``,
``errors.*``, …) are read here, against :data:`SINK_KEYS`. Both sets of problems end up in one
report, in the ``file: level: key: message`` form of ``tierstore config check``, so ``sink
validate`` shows everything wrong at once. Unknown keys under the connector's prefixes are warned
about with the nearest known key (``file.max.record``: did you mean ``file.max.records``?).

Both shapes are read: the flat connector config and Kafka Connect's REST shape
``{"name": …, "config": {…}}``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tierstore.settings import StoreSettings, settings_from_mapping
from tierstore.settings.parsers import InvalidValueError, parse_size
from tierstore.settings.problems import ConfigProblems, Problem, errors_of, warnings_of
from tierstore.settings.readers import UnreadableError, read_json, read_properties, read_text
from tierstore.sink.compression import (
    COMPRESSION_TYPES,
    EXTENSIONS,
    LEVELS,
    CompressionType,
    Compressor,
    PassThrough,
    compressor_for,
)
from tierstore.sink.converters import ACCEPTED_CONVERTERS, Converter, ConverterKind, converter_kind
from tierstore.sink.formats.record import (
    OUTPUT_FIELDS,
    OUTPUT_FORMATS,
    OutputField,
    OutputFormat,
    ValueEncoding,
)
from tierstore.sink.naming import DEFAULT_TEMPLATE, FileNameTemplate, TemplateError

ErrorsTolerance = Literal["none", "all"]
DEFAULT_FLUSH_INTERVAL_MS = 60_000
# tasks.max: one process each; a bound so that a typo (`tasks.max=2000`) is an error, not a fork storm.
MAX_TASKS = 64
KAFKA_PREFIX = "consumer.override."
# Kafka topic names: 1 to 249 of letters, digits, '.', '_' and '-'.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# Consumer settings the sink must own: it commits offsets itself, after a file is durable.
_OWNED_BY_SINK = {
    "enable.auto.commit": "the sink commits offsets itself, only after a file is completed in S3",
    "enable.auto.offset.store": "the sink stores offsets itself, only after a file is completed in S3",
}


@dataclass(frozen=True)
class SinkKey:
    """One connector key: how its value is read and what the README says about it."""

    name: str
    doc: str
    accepts: str
    default: str
    parse: Callable[[object], object] | None = None  # None: accepted and not used


@dataclass(frozen=True)
class SinkConfig:
    """Everything the sink runtime needs, checked. Built by :func:`load_sink_config`."""

    name: str
    topics: tuple[str, ...]
    topics_regex: str | None
    key_converter: Converter
    value_converter: Converter
    store: StoreSettings
    file_name_template: FileNameTemplate
    compression: CompressionType
    output_format: OutputFormat
    output_fields: tuple[OutputField, ...]
    value_encoding: ValueEncoding
    max_records: int | None
    max_bytes: int | None
    rotate_interval_ms: int | None
    flush_interval_ms: int
    errors_tolerance: ErrorsTolerance
    dlq_topic: str | None
    cleanup_on_start: bool
    kafka: dict[str, str]
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    compression_level: int | None = None
    tasks: int = 1

    def file_compressor(self) -> Compressor:
        """The outer compressor for one file: none for Parquet (which compresses its column
        chunks itself), else ``file.compression.type`` at ``file.compression.level``."""
        if self.output_format == "parquet":
            return PassThrough()
        return compressor_for(self.compression, self.compression_level)

    @property
    def subscription(self) -> list[str]:
        """What to pass to librdkafka's ``subscribe``: the topics, or the regex as librdkafka wants
        it (a leading ``^`` marks a regex there; anchored at both ends, as Kafka Connect matches
        ``topics.regex`` against the whole topic name)."""
        if self.topics_regex is None:
            return list(self.topics)
        return [f"^({self.topics_regex})$"]

    def __repr__(self) -> str:
        # StoreSettings masks its own secrets; kafka settings may hold sasl.password & co.
        kafka = {key: ("****" if _is_secret_kafka_key(key) else value) for key, value in self.kafka.items()}
        return (
            f"SinkConfig(name={self.name!r}, topics={self.topics!r}, topics_regex={self.topics_regex!r}, "
            f"format={self.output_format}, compression={self.compression}, "
            f"template={self.file_name_template.text!r}, store={self.store!r}, kafka={kafka!r})"
        )


def _is_secret_kafka_key(key: str) -> bool:
    lowered = key.lower()
    return any(
        word in lowered for word in ("password", "secret", "token", "jaas", "key.pem", "sasl.oauthbearer")
    )


# --- value parsers --------------------------------------------------------------------------


def _text(raw: object) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidValueError("is not a single value; give a string")
    return str(raw).strip()


def _choice(options: tuple[str, ...]) -> Callable[[object], object]:
    def parse(raw: object) -> object:
        text = _text(raw).lower()
        if text not in options:
            raise InvalidValueError(f"is not accepted; use one of {', '.join(options)}")
        return text

    return parse


def _bool(raw: object) -> object:
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text in ("true", "false"):
        return text == "true"
    raise InvalidValueError("is not a boolean; use true or false")


def _whole(low: int, high: int | None = None, *, what: str = "a whole number") -> Callable[[object], object]:
    def parse(raw: object) -> object:
        if isinstance(raw, bool):
            raise InvalidValueError(f"is not {what}")
        text = str(raw).strip() if isinstance(raw, str | int) else ""
        if not re.fullmatch(r"[+-]?\d+", text):
            upper = f" to {high}" if high is not None else " up"
            raise InvalidValueError(f"is not {what}; use a whole number from {low}{upper}")
        value = int(text)
        if value < low or (high is not None and value > high):
            span = f"from {low}" + (f" to {high}" if high is not None else " up")
            raise InvalidValueError(f"is out of range; use a whole number {span}")
        return value

    return parse


def _size(raw: object) -> object:
    value = parse_size(raw)
    if value < 0:
        raise InvalidValueError("is negative; use 0 (no limit) or a size such as 64MB")
    return value


def _topic_list(raw: object) -> object:
    text = _text(raw)
    topics = tuple(part.strip() for part in text.split(",") if part.strip())
    if not topics:
        raise InvalidValueError("names no topic; give topic names separated by commas")
    bad = [topic for topic in topics if not _TOPIC.fullmatch(topic)]
    if bad:
        raise InvalidValueError(
            f"holds {', '.join(repr(topic) for topic in bad)}, not a Kafka topic name "
            "(1 to 249 letters, digits, '.', '_', '-')"
        )
    if len(set(topics)) != len(topics):
        raise InvalidValueError("names a topic more than once")
    return topics


_BROKER = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?")


def _brokers(raw: object) -> object:
    text = _text(raw)
    brokers = [part.strip() for part in text.split(",")]
    if not text or any(not broker for broker in brokers):
        raise InvalidValueError("names no broker; give host:port, separated by commas")
    for broker in brokers:
        match = _BROKER.fullmatch(broker)
        if match is None or (match.group(1) is not None and not 1 <= int(match.group(1)) <= 65535):
            raise InvalidValueError(f"holds {broker!r}, not host:port (port 1 to 65535)")
    return ",".join(brokers)


def _regex(raw: object) -> object:
    text = _text(raw)
    try:
        re.compile(text)
    except re.error as error:
        raise InvalidValueError(f"is not a valid regular expression ({error})") from error
    return text


def _topic(raw: object) -> object:
    text = _text(raw)
    if not _TOPIC.fullmatch(text):
        raise InvalidValueError("is not a Kafka topic name (1 to 249 letters, digits, '.', '_', '-')")
    return text


def _converter(raw: object) -> object:
    text = _text(raw)
    kind = converter_kind(text)
    if kind is None:
        raise InvalidValueError(f"is not a converter tierstore has; use {ACCEPTED_CONVERTERS}")
    return kind


def _fields(raw: object) -> object:
    text = _text(raw)
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidValueError(
            f"names no field; use some of {', '.join(OUTPUT_FIELDS)}, separated by commas"
        )
    unknown = [name for name in names if name not in OUTPUT_FIELDS]
    if unknown:
        raise InvalidValueError(
            f"holds {', '.join(repr(name) for name in unknown)}; the fields are {', '.join(OUTPUT_FIELDS)}"
        )
    if len(set(names)) != len(names):
        raise InvalidValueError("names a field more than once")
    return tuple(names)


def _timezone(raw: object) -> object:
    text = _text(raw)
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidValueError("is not a time zone; use UTC or a name such as Europe/Berlin") from error


def _timestamp_source(raw: object) -> object:
    text = _text(raw).lower()
    if text == "event":
        return text
    if text == "wallclock":
        raise InvalidValueError(
            "is not supported: a wall-clock time in a name gives a replayed file another name, so the "
            "sink could not be exactly-once; use event (the first record's timestamp)"
        )
    raise InvalidValueError("is not accepted; use event")


def _template(raw: object) -> object:
    return _text(raw)


def _not_used(raw: object) -> object:
    return raw


# --- the key table ----------------------------------------------------------------------------

SINK_KEYS: tuple[SinkKey, ...] = (
    SinkKey("name", "connector name; also the Kafka consumer group (`group.id`)", "text", "required", _text),
    SinkKey(
        "connector.class",
        "accepted and not used (tierstore is the connector)",
        "any class name",
        "none",
        _not_used,
    ),
    SinkKey(
        "tasks.max",
        "tasks (worker processes) one `sink run` starts; they share the partitions as one consumer "
        "group, each on its own core (tasks beyond the partition count stay idle, as in Kafka Connect)",
        f"whole number from 1 to {MAX_TASKS}",
        "1",
        _whole(1, MAX_TASKS),
    ),
    SinkKey(
        "topics",
        "topics to read",
        "topic names separated by commas",
        "`topics` or `topics.regex` required",
        _topic_list,
    ),
    SinkKey(
        "topics.regex",
        "topics to read, by regular expression (subscribes to every match)",
        "a regular expression",
        "none",
        _regex,
    ),
    SinkKey(
        "bootstrap.servers",
        "Kafka brokers (`--bootstrap-servers` takes precedence)",
        "`host:port[,host:port…]`",
        "required unless `--bootstrap-servers` is given",
        _brokers,
    ),
    SinkKey("key.converter", "how record keys are read", ACCEPTED_CONVERTERS, "ByteArray", _converter),
    SinkKey("value.converter", "how record values are read", ACCEPTED_CONVERTERS, "ByteArray", _converter),
    SinkKey(
        "key.converter.schemas.enable",
        'JSON keys come in the `{"schema", "payload"}` envelope',
        "`true` or `false`",
        "true",
        _bool,
    ),
    SinkKey(
        "value.converter.schemas.enable",
        'JSON values come in the `{"schema", "payload"}` envelope',
        "`true` or `false`",
        "true",
        _bool,
    ),
    SinkKey(
        "header.converter",
        "accepted and not used: header values are written as their bytes",
        "any class name",
        "none",
        _not_used,
    ),
    SinkKey(
        "file.name.template",
        "object name under `aws.s3.prefix` (see the template section)",
        "a template with `{{partition}}` and `{{start_offset}}`",
        f"`{DEFAULT_TEMPLATE}` + compression extension",
        _template,
    ),
    SinkKey(
        "file.name.timestamp.timezone",
        "time zone of `{{timestamp}}`",
        "UTC or an IANA name such as Europe/Berlin",
        "UTC",
        _timezone,
    ),
    SinkKey(
        "file.name.timestamp.source",
        "where `{{timestamp}}` comes from",
        "event (the file's first record)",
        "event",
        _timestamp_source,
    ),
    SinkKey(
        "file.compression.type",
        "compression of each file (Parquet: of its column chunks)",
        ", ".join(COMPRESSION_TYPES),
        "gzip",
        _choice(COMPRESSION_TYPES),
    ),
    SinkKey(
        "file.compression.level",
        "compression level (gzip and zstd; Parquet: its column codec's level)",
        "gzip 1 (fastest) to 9, zstd 1 to 22",
        "gzip 6, zstd 3 (the libraries' defaults)",
        _whole(1, 22),
    ),
    SinkKey(
        "file.max.records",
        "rotate a file once it holds this many records",
        "whole number, 0 = no limit",
        "0 (no limit)",
        _whole(0),
    ),
    SinkKey(
        "file.max.bytes",
        "rotate a file once its encoded, uncompressed size reaches this",
        "size: bytes or `64MB`-style (binary units), 0 = no limit",
        "0 (no limit)",
        _size,
    ),
    SinkKey(
        "rotate.interval.ms",
        "rotate a file when a record's timestamp is this far past the file's first record's "
        "(record time, never the wall clock)",
        "milliseconds, 0 = off",
        "0 (off)",
        _whole(0),
    ),
    SinkKey(
        "offset.flush.interval.ms",
        "complete open files and commit their offsets at least this often, so quiet partitions land too",
        "milliseconds, at least 1",
        str(DEFAULT_FLUSH_INTERVAL_MS),
        _whole(1),
    ),
    SinkKey("format.output.type", "file format", ", ".join(OUTPUT_FORMATS), "csv", _choice(OUTPUT_FORMATS)),
    SinkKey(
        "format.output.fields",
        "record fields written, in this order",
        ", ".join(OUTPUT_FIELDS) + " (separated by commas)",
        "value",
        _fields,
    ),
    SinkKey(
        "format.output.fields.value.encoding",
        "how bytes keys, values and header values are written in csv/json/jsonl",
        "base64, none (UTF-8 text)",
        "base64",
        _choice(("base64", "none")),
    ),
    SinkKey(
        "errors.tolerance",
        "on a record a converter cannot read: stop (none), or send it to the dead-letter topic "
        "and go on (all)",
        "none, all",
        "none",
        _choice(("none", "all")),
    ),
    SinkKey(
        "errors.deadletterqueue.topic.name",
        "dead-letter topic for `errors.tolerance=all`",
        "a topic name",
        "none (bad records are skipped)",
        _topic,
    ),
    SinkKey(
        "s3.multipart.cleanup.on.start",
        "when partitions are assigned (at start and at each rebalance), abort the multipart uploads "
        "a crashed sink left for them under the prefix",
        "`true` or `false`",
        "true",
        _bool,
    ),
)
SINK_INDEX: dict[str, SinkKey] = {key.name: key for key in SINK_KEYS}
# Prefixes whose keys are the connector's: an unknown key under them is a likely typo.
SINK_PREFIXES = (
    "file.",
    "format.",
    "errors.",
    "offset.",
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "rotate.",
    "s3.multipart.",
)
# Confluent's S3 sink names some settings differently: say which key tierstore reads instead.
CONFLUENT_KEYS: dict[str, str] = {
    "flush.size": "use file.max.records",
    "rotate.schedule.interval.ms": "it rotates by the wall clock, which a replay cannot repeat; "
    "rotate.interval.ms rotates by record time and offset.flush.interval.ms bounds how long data waits",
    "s3.bucket.name": "use aws.s3.bucket.name",
    "s3.region": "use aws.s3.region",
    "store.url": "use aws.s3.endpoint",
    "topics.dir": "use aws.s3.prefix",
    "s3.part.size": "use aws.s3.part.size.bytes",
    "s3.compression.type": "use file.compression.type",
    "s3.compression.level": "use file.compression.level",
    "s3.ssea.name": "use aws.s3.sse.algorithm",
    "s3.sse.kms.key.id": "use aws.s3.sse.kms.key.id",
    "format.class": "use format.output.type (csv, jsonl, json, parquet)",
    "partitioner.class": "use file.name.template",
    "storage.class": "tierstore writes to S3 itself; remove the key",
}
# Kafka Connect keys tierstore knows and refuses, with why.
REFUSED = {
    "transforms": "single message transforms are not run by tierstore; remove the key",
    "predicates": "single message transforms are not run by tierstore; remove the key",
}


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkReport:
    """What ``sink validate`` prints: every problem, and the config when there is no error."""

    source: str
    problems: list[Problem]
    config: SinkConfig | None

    @property
    def ok(self) -> bool:
        return not errors_of(self.problems)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.source,
            "ok": self.ok,
            "errors": len(errors_of(self.problems)),
            "warnings": len(warnings_of(self.problems)),
            "problems": [problem.as_dict() for problem in self.problems],
        }


def _unwrap(values: Mapping[str, object]) -> dict[str, object]:
    inner = values.get("config")
    if not isinstance(inner, Mapping):
        return dict(values)
    config = {str(key): value for key, value in inner.items()}
    if "name" in values and "name" not in config:
        config["name"] = values["name"]
    return config


def _closest(key: str) -> str | None:
    matches = difflib.get_close_matches(key, list(SINK_INDEX), n=1, cutoff=0.6)
    return matches[0] if matches else None


class _Reader:
    def __init__(self, values: Mapping[str, object], source: str) -> None:
        self.values = values
        self.source = source
        self.problems: list[Problem] = []
        self.parsed: dict[str, object] = {}

    def error(self, key: str | None, message: str) -> None:
        self.problems.append(Problem("error", key, message, self.source))

    def warn(self, key: str | None, message: str) -> None:
        self.problems.append(Problem("warning", key, message, self.source))

    def read_keys(self) -> None:
        for key, raw in self.values.items():
            spec = SINK_INDEX.get(key)
            if spec is not None and spec.parse is not None:
                try:
                    self.parsed[key] = spec.parse(raw)
                except InvalidValueError as error:
                    self.error(key, f"{raw!r} {error.reason}" if _echoable(raw) else error.reason)
                continue
            if key in REFUSED:
                if raw not in (None, "", []):
                    self.error(key, REFUSED[key])
                continue
            if key.startswith(("transforms.", "predicates.")):
                continue  # reported once, on transforms/predicates
            if key.startswith(KAFKA_PREFIX):
                setting = key[len(KAFKA_PREFIX) :]
                if setting in _OWNED_BY_SINK:
                    self.error(key, f"cannot be set: {_OWNED_BY_SINK[setting]}; remove the key")
                elif not isinstance(raw, str | int | float | bool):
                    self.error(key, "is not a single value; librdkafka settings are strings")
                continue
            if key in CONFLUENT_KEYS:
                self.warn(key, f"is a Confluent S3 sink key tierstore does not read; {CONFLUENT_KEYS[key]}")
                continue
            if key.startswith(SINK_PREFIXES):
                suggestion = _closest(key)
                hint = f"did you mean {suggestion}?" if suggestion else "it is ignored"
                self.warn(key, f"unknown key; {hint}")

    def get(self, key: str, default: object) -> object:
        return self.parsed.get(key, default)


def _echoable(raw: object) -> bool:
    return isinstance(raw, str | int | float | bool) and len(str(raw)) <= 200


def _kafka_settings(values: Mapping[str, object], name: str, bootstrap: str | None) -> dict[str, str]:
    kafka: dict[str, str] = {}
    if bootstrap:
        kafka["bootstrap.servers"] = bootstrap
    kafka["group.id"] = name
    for key, raw in values.items():
        if key.startswith(KAFKA_PREFIX) and key[len(KAFKA_PREFIX) :] not in _OWNED_BY_SINK:
            text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
            kafka[key[len(KAFKA_PREFIX) :]] = text
    if bootstrap:
        kafka["bootstrap.servers"] = bootstrap
    return kafka


def _evaluate(
    values: Mapping[str, object],
    source: str,
    bootstrap_servers: str | None,
    document_problems: list[Problem],
    *,
    require_bootstrap: bool = True,
) -> SinkReport:
    problems = list(document_problems)
    store: StoreSettings | None = None
    try:
        loaded = settings_from_mapping(values, "kafka-connect", source)
        store = loaded.settings
        problems.extend(loaded.warnings)
    except ConfigProblems as error:
        problems.extend(error.problems)

    # Keys the connector reader judges itself get its warning, not the store dialect's as well.
    problems = [
        problem
        for problem in problems
        if problem.is_error
        or problem.key is None
        or not (problem.key in CONFLUENT_KEYS or problem.key.startswith(SINK_PREFIXES))
    ]
    reader = _Reader(values, source)
    reader.read_keys()

    name = cast(str | None, reader.get("name", None))
    if "name" not in values:
        reader.error("name", "is required: the connector name, also the Kafka consumer group")
    elif name == "":
        reader.error("name", "is empty; give the connector a name (it is the consumer group too)")

    topics = cast(tuple[str, ...], reader.get("topics", ()))
    topics_regex = cast(str | None, reader.get("topics.regex", None))
    if "topics" in values and "topics.regex" in values:
        reader.error("topics.regex", "is set together with topics; keep one of them")
    elif "topics" not in values and "topics.regex" not in values:
        reader.error(None, "no topics: set topics (names separated by commas) or topics.regex")

    if bootstrap_servers is not None:
        try:
            bootstrap_servers = cast(str, _brokers(bootstrap_servers))
        except InvalidValueError as error:
            reader.error("--bootstrap-servers", f"{bootstrap_servers!r} {error.reason}")
            bootstrap_servers = None
    bootstrap = bootstrap_servers or cast(str | None, reader.get("bootstrap.servers", None))
    given_elsewhere = "bootstrap.servers" in values or f"{KAFKA_PREFIX}bootstrap.servers" in values
    if require_bootstrap and not bootstrap and not given_elsewhere:
        reader.error(
            "bootstrap.servers", "is not set: give the brokers here or with --bootstrap-servers HOST:PORT"
        )

    compression = cast(CompressionType, reader.get("file.compression.type", "gzip"))
    output_format = cast(OutputFormat, reader.get("format.output.type", "csv"))
    level = cast(int | None, reader.get("file.compression.level", None))
    if level is not None:
        span = LEVELS.get(compression)
        if span is None:
            reader.error("file.compression.level", f"is set, but {compression} has no levels; remove the key")
        elif not span[0] <= level <= span[1]:
            reader.error(
                "file.compression.level",
                f"{level} is out of range for {compression}; use {span[0]} to {span[1]}",
            )
    timezone = cast(tzinfo, reader.get("file.name.timestamp.timezone", UTC))
    extension = "" if output_format == "parquet" else EXTENSIONS[compression]
    template: FileNameTemplate | None = None
    template_text = cast(str | None, reader.get("file.name.template", None))
    try:
        if template_text is None:
            template = FileNameTemplate.default(extension, timezone=timezone)
        else:
            template = FileNameTemplate.parse(template_text, timezone=timezone)
    except TemplateError as error:
        for problem in error.problems:
            reader.error("file.name.template", f"{template_text!r}: {problem}")
    if (
        template is not None
        and template_text is not None
        and EXTENSIONS[compression]
        and output_format != "parquet"
        and not template_text.endswith(EXTENSIONS[compression])
    ):
        reader.warn(
            "file.name.template",
            f"names will not end in {EXTENSIONS[compression]} although files are {compression}-compressed; "
            f"add {EXTENSIONS[compression]} to the template so readers can tell",
        )
    if template is not None and template_text is not None:
        ends_in = [ext for ext in EXTENSIONS.values() if ext and template_text.endswith(ext)]
        expected = "" if output_format == "parquet" else EXTENSIONS[compression]
        if ends_in and ends_in[0] != expected:
            what = (
                "Parquet files carry no outer compression"
                if output_format == "parquet"
                else (f"files are {compression}-compressed" if expected else "files are not compressed")
            )
            reader.warn(
                "file.name.template",
                f"names end in {ends_in[0]} but {what}; readers that go by the extension will fail",
            )
    if template is not None and "topic" not in template.placeholders and (topics_regex or len(topics) > 1):
        reader.error(
            "file.name.template",
            "has no {{topic}} but the sink reads more than one topic: files of equal partitions and "
            "offsets in two topics would share a name; add {{topic}}",
        )
    if template is not None and "key" in template.placeholders:
        reader.warn(
            "file.name.template",
            "holds {{key}}: a file is named after its first record's key and holds the records that "
            "follow it, whatever their keys",
        )

    key_kind = reader.get("key.converter", "bytearray")
    value_kind = reader.get("value.converter", "bytearray")
    for side, kind in (("key", key_kind), ("value", value_kind)):
        flag = f"{side}.converter.schemas.enable"
        if flag in values and kind != "json":
            reader.warn(
                flag, f"applies only to the JSON converter; {side}.converter is not JSON, so it is ignored"
            )
    key_converter = Converter(
        cast(ConverterKind, key_kind), bool(reader.get("key.converter.schemas.enable", True))
    )
    value_converter = Converter(
        cast(ConverterKind, value_kind), bool(reader.get("value.converter.schemas.enable", True))
    )

    fields = cast(tuple[OutputField, ...], reader.get("format.output.fields", ("value",)))
    encoding = cast(ValueEncoding, reader.get("format.output.fields.value.encoding", "base64"))
    if output_format == "parquet" and "format.output.fields.value.encoding" in values:
        reader.warn(
            "format.output.fields.value.encoding", "does not apply to parquet, which stores bytes as bytes"
        )

    tolerance = cast(ErrorsTolerance, reader.get("errors.tolerance", "none"))
    dlq = cast(str | None, reader.get("errors.deadletterqueue.topic.name", None))
    if dlq and tolerance == "none":
        reader.warn(
            "errors.deadletterqueue.topic.name",
            "is used only with errors.tolerance=all; with none the sink stops at a bad record",
        )
    if tolerance == "all" and not dlq:
        reader.warn(
            "errors.tolerance",
            "is all without errors.deadletterqueue.topic.name: records a converter cannot read are "
            "skipped and lost; set a dead-letter topic to keep them",
        )
    if dlq and (dlq in topics or (topics_regex and re.fullmatch(topics_regex, dlq))):
        reader.error(
            "errors.deadletterqueue.topic.name", f"{dlq!r} is also a topic the sink reads; use another topic"
        )

    max_records = cast(int, reader.get("file.max.records", 0))
    max_bytes = cast(int, reader.get("file.max.bytes", 0))
    rotate = cast(int, reader.get("rotate.interval.ms", 0))
    problems.extend(reader.problems)
    problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))

    config: SinkConfig | None = None
    if not errors_of(problems) and store is not None and template is not None and name:
        config = SinkConfig(
            name=name,
            topics=topics,
            topics_regex=topics_regex,
            key_converter=key_converter,
            value_converter=value_converter,
            store=store,
            file_name_template=template,
            compression=compression,
            output_format=output_format,
            output_fields=fields,
            value_encoding=encoding,
            max_records=max_records or None,
            max_bytes=max_bytes or None,
            rotate_interval_ms=rotate or None,
            flush_interval_ms=cast(int, reader.get("offset.flush.interval.ms", DEFAULT_FLUSH_INTERVAL_MS)),
            errors_tolerance=tolerance,
            dlq_topic=dlq,
            cleanup_on_start=bool(reader.get("s3.multipart.cleanup.on.start", True)),
            kafka=_kafka_settings(values, name, bootstrap),
            warnings=tuple(warnings_of(problems)),
            compression_level=level,
            tasks=cast(int, reader.get("tasks.max", 1)),
        )
    return SinkReport(source, problems, config)


def check_sink_config(
    path: Path, *, bootstrap_servers: str | None = None, require_bootstrap: bool = True
) -> SinkReport:
    """Every problem of a sink config file (store and connector keys); never raises for its content.

    ``require_bootstrap=False`` when no broker will be contacted (``sink iam-policy``).
    """
    source = str(path)
    try:
        text = read_text(path)
        # Kafka Connect standalone takes a connector's config as a .properties file.
        properties = path.suffix.lower() == ".properties"
        document = read_properties(text, source) if properties else read_json(text, source)
    except UnreadableError as error:
        return SinkReport(source, [error.problem], None)
    report = _evaluate(
        _unwrap(document.values),
        source,
        bootstrap_servers,
        document.problems,
        require_bootstrap=require_bootstrap,
    )
    if not document.lines:
        return report
    # A properties file has lines: put each problem on its key's line, in file order.
    placed = [
        replace(problem, line=document.lines.get(problem.key))
        if problem.line is None and problem.key is not None
        else problem
        for problem in report.problems
    ]
    placed.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return replace(report, problems=placed)


def sink_config_from_mapping(
    values: Mapping[str, object], *, source: str = "sink config", bootstrap_servers: str | None = None
) -> SinkConfig:
    """A :class:`SinkConfig` from already-parsed values (either shape); raises :class:`ConfigProblems`."""
    report = _evaluate(_unwrap(values), source, bootstrap_servers, [])
    if report.config is None:
        raise ConfigProblems(report.problems, source)
    return report.config


def load_sink_config(
    path: Path, *, bootstrap_servers: str | None = None, require_bootstrap: bool = True
) -> SinkConfig:
    """Read a sink config file; raises :class:`ConfigProblems` listing every problem if any is an error.

    ``bootstrap_servers`` (the ``--bootstrap-servers`` option) takes precedence over the file's
    ``bootstrap.servers``.
    """
    report = check_sink_config(path, bootstrap_servers=bootstrap_servers, require_bootstrap=require_bootstrap)
    if report.config is None:
        raise ConfigProblems(report.problems, report.source)
    return report.config
