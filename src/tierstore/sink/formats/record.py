"""The record an encoder writes, and how its fields look in the text formats.

The helpers here run once per record and field, so they are written for speed: type checks by
``type() is``, the C string quoting of the :mod:`json` module, and ``binascii`` for base64.
"""

from __future__ import annotations

import json
from binascii import b2a_base64
from json.encoder import encode_basestring
from typing import Literal, NamedTuple

from tierstore.sink.converters import ConversionError

OutputField = Literal["key", "value", "offset", "timestamp", "headers"]
OUTPUT_FIELDS: tuple[OutputField, ...] = ("key", "value", "offset", "timestamp", "headers")
ValueEncoding = Literal["base64", "none"]
OutputFormat = Literal["csv", "jsonl", "json", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("csv", "jsonl", "json", "parquet")

Header = tuple[str, bytes | None]

# One encoder for every JSON value that is not a plain string: compact, UTF-8 as is.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SinkRecord(NamedTuple):
    """One Kafka record after conversion: ``key``/``value`` are what the converters returned
    (bytes, str, a JSON value, or ``None`` for a null), ``headers`` are as Kafka delivered them.

    Immutable like a frozen dataclass, but a named tuple: one is built per record, and a frozen
    dataclass's ``__init__`` costs four times as much.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: object
    value: object
    headers: tuple[Header, ...] = ()


def base64_text(data: bytes) -> str:
    return b2a_base64(data, newline=False).decode("ascii")


def utf8_text(data: bytes, record: SinkRecord, what: str) -> str:
    """Bytes as UTF-8 text, which they must be (``value.encoding=none``)."""
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


def bytes_text(data: bytes, encoding: ValueEncoding, record: SinkRecord, what: str) -> str:
    """Bytes as text: base64, or (encoding ``none``) UTF-8."""
    if encoding == "base64":
        return base64_text(data)
    return utf8_text(data, record, what)


def json_text(value: object, encoding: ValueEncoding, record: SinkRecord, what: str) -> str:
    """A key or value as JSON text: bytes become a string (see :func:`bytes_text`), the rest as is."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)  # type: ignore[arg-type]
    if kind is bytes:
        if encoding == "base64":
            return '"' + b2a_base64(value, newline=False).decode("ascii") + '"'  # type: ignore[arg-type]
        return encode_basestring(utf8_text(value, record, what))  # type: ignore[arg-type]
    if value is None:
        return "null"
    if isinstance(value, bytes | bytearray):
        return json_text(bytes(value), encoding, record, what)
    return dumps(value)


def headers_json(record: SinkRecord, encoding: ValueEncoding) -> str:
    """Headers as ``[{"key":…,"value":…}]``; values are bytes, so they follow the encoding."""
    if not record.headers:
        return "[]"
    items = []
    for name, data in record.headers:
        text = "null" if data is None else json_text(data, encoding, record, f"header {name!r}")
        items.append('{"key":' + encode_basestring(name) + ',"value":' + text + "}")
    return "[" + ",".join(items) + "]"


def text_cell(value: object, encoding: ValueEncoding, record: SinkRecord, what: str) -> str:
    """A key or value as one CSV cell's text: bytes per the encoding, text as is, JSON values as JSON."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bytes:
        if encoding == "base64":
            return b2a_base64(value, newline=False).decode("ascii")  # type: ignore[arg-type]
        return utf8_text(value, record, what)  # type: ignore[arg-type]
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes_text(bytes(value), encoding, record, what)
    return dumps(value)
