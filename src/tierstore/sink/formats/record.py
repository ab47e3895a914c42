"""The record an encoder writes, and how its fields look in the text formats."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Literal

from tierstore.sink.converters import ConversionError

OutputField = Literal["key", "value", "offset", "timestamp", "headers"]
OUTPUT_FIELDS: tuple[OutputField, ...] = ("key", "value", "offset", "timestamp", "headers")
ValueEncoding = Literal["base64", "none"]
OutputFormat = Literal["csv", "jsonl", "json", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("csv", "jsonl", "json", "parquet")

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One Kafka record after conversion: ``key``/``value`` are what the converters returned
    (bytes, str, a JSON value, or ``None`` for a null), ``headers`` are as Kafka delivered them."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: object
    value: object
    headers: tuple[Header, ...] = ()


def bytes_text(data: bytes, encoding: ValueEncoding, record: SinkRecord, what: str) -> str:
    """Bytes as text: base64, or (encoding ``none``) UTF-8, which they must then be."""
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConversionError(
            f"the {what} is not UTF-8 text (bad byte at offset {error.start}), so it cannot be "
            "written with format.output.fields.value.encoding=none; use base64",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        ) from error


def json_field(value: object, encoding: ValueEncoding, record: SinkRecord, what: str) -> object:
    """A key or value as a JSON value: bytes become text (see :func:`bytes_text`), the rest as is."""
    if isinstance(value, bytes | bytearray):
        return bytes_text(bytes(value), encoding, record, what)
    return value


def json_headers(record: SinkRecord, encoding: ValueEncoding) -> list[dict[str, object]]:
    """Headers as ``[{"key": …, "value": …}]``; values are bytes, so they follow the encoding."""
    return [
        {
            "key": name,
            "value": None if data is None else bytes_text(data, encoding, record, f"header {name!r}"),
        }
        for name, data in record.headers
    ]


def text_field(value: object, encoding: ValueEncoding, record: SinkRecord, what: str) -> str:
    """A key or value as one CSV cell: bytes per the encoding, text as is, JSON values as JSON."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes_text(bytes(value), encoding, record, what)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def record_object(
    record: SinkRecord, fields: tuple[OutputField, ...], encoding: ValueEncoding
) -> dict[str, object]:
    """The JSON object of one record: the configured fields, in their order."""
    out: dict[str, object] = {}
    for name in fields:
        if name == "key":
            out["key"] = json_field(record.key, encoding, record, "key")
        elif name == "value":
            out["value"] = json_field(record.value, encoding, record, "value")
        elif name == "offset":
            out["offset"] = record.offset
        elif name == "timestamp":
            out["timestamp"] = record.timestamp_ms
        else:
            out["headers"] = json_headers(record, encoding)
    return out
