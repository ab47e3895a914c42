"""Record encoders, one per ``format.output.type``: csv, jsonl, json and parquet.

``encoder_for(config)`` gives a fresh encoder for one file; see :class:`RecordEncoder` for the
protocol the runtime drives (``header()``, ``encode(record)``, ``finish()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tierstore.sink.converters import ConverterKind
from tierstore.sink.formats.base import RecordEncoder
from tierstore.sink.formats.parquet import ParquetEncoder
from tierstore.sink.formats.record import (
    OUTPUT_FIELDS,
    OUTPUT_FORMATS,
    OutputField,
    OutputFormat,
    SinkRecord,
    ValueEncoding,
)
from tierstore.sink.formats.text import (
    CsvEncoder,
    JsonArrayEncoder,
    JsonLinesEncoder,
    json_lines_of_texts,
)

if TYPE_CHECKING:
    from tierstore.sink.config import SinkConfig


def make_encoder(
    output_format: OutputFormat,
    fields: tuple[OutputField, ...],
    *,
    value_encoding: ValueEncoding = "base64",
    compression: str = "none",
    compression_level: int | None = None,
    key_kind: ConverterKind = "bytearray",
    value_kind: ConverterKind = "bytearray",
) -> RecordEncoder:
    """An encoder from its parts; ``compression`` matters only to Parquet (its column codec)."""
    if output_format == "csv":
        return CsvEncoder(fields, value_encoding)
    if output_format == "jsonl":
        return JsonLinesEncoder(fields, value_encoding)
    if output_format == "json":
        return JsonArrayEncoder(fields, value_encoding)
    return ParquetEncoder(fields, key_kind, value_kind, compression, compression_level=compression_level)


def encoder_for(config: SinkConfig) -> RecordEncoder:
    """A fresh encoder for one file of the sink ``config`` describes."""
    return make_encoder(
        config.output_format,
        config.output_fields,
        value_encoding=config.value_encoding,
        compression=config.compression,
        compression_level=config.compression_level,
        key_kind=config.key_converter.kind,
        value_kind=config.value_converter.kind,
    )


def text_lines_for(config: SinkConfig) -> Callable[[list[str]], bytes] | None:
    """For the task's text lane: a function writing many records at once, when every record's
    output is its value as UTF-8 text (JSON lines of the value alone, from the String converter
    or from ByteArray with ``format.output.fields.value.encoding=none``); ``None`` otherwise."""
    kind = config.value_converter.kind
    text_values = kind == "string" or (kind == "bytearray" and config.value_encoding == "none")
    if config.output_format == "jsonl" and config.output_fields == ("value",) and text_values:
        return json_lines_of_texts("value")
    return None


__all__ = [
    "OUTPUT_FIELDS",
    "OUTPUT_FORMATS",
    "CsvEncoder",
    "JsonArrayEncoder",
    "JsonLinesEncoder",
    "OutputField",
    "OutputFormat",
    "ParquetEncoder",
    "RecordEncoder",
    "SinkRecord",
    "ValueEncoding",
    "encoder_for",
    "make_encoder",
    "text_lines_for",
]
