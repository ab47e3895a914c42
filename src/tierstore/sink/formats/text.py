"""The text formats: CSV, JSON lines and one JSON array per file. All stream record by record."""

from __future__ import annotations

import csv
import io
import json

from tierstore.sink.formats.record import (
    OutputField,
    SinkRecord,
    ValueEncoding,
    json_headers,
    record_object,
    text_field,
)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class CsvEncoder:
    """One CSV row per record, columns in ``format.output.fields`` order, no header row (as the
    Aiven connector writes it). Rows end in ``\\n``; cells are quoted only when they must be
    (RFC 4180). A null key or value is an empty cell; headers are a JSON array in one cell."""

    buffered_bytes = 0

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        self.fields = fields
        self.encoding = encoding
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def header(self) -> bytes:
        return b""

    def _cell(self, record: SinkRecord, name: OutputField) -> str:
        if name == "key":
            return text_field(record.key, self.encoding, record, "key")
        if name == "value":
            return text_field(record.value, self.encoding, record, "value")
        if name == "offset":
            return str(record.offset)
        if name == "timestamp":
            return "" if record.timestamp_ms is None else str(record.timestamp_ms)
        return _dumps(json_headers(record, self.encoding))

    def encode(self, record: SinkRecord) -> bytes:
        row = [self._cell(record, name) for name in self.fields]
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(row)
        return self._buffer.getvalue().encode("utf-8")

    def finish(self) -> bytes:
        return b""


class JsonLinesEncoder:
    """One JSON object per line (``jsonl``)."""

    buffered_bytes = 0

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        self.fields = fields
        self.encoding = encoding

    def header(self) -> bytes:
        return b""

    def encode(self, record: SinkRecord) -> bytes:
        return (_dumps(record_object(record, self.fields, self.encoding)) + "\n").encode("utf-8")

    def finish(self) -> bytes:
        return b""


class JsonArrayEncoder:
    """One JSON array per file, streamed: ``[``, the objects separated by ``,\\n``, ``]``."""

    buffered_bytes = 0

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        self.fields = fields
        self.encoding = encoding
        self._first = True

    def header(self) -> bytes:
        return b"[\n"

    def encode(self, record: SinkRecord) -> bytes:
        text = _dumps(record_object(record, self.fields, self.encoding))
        if self._first:
            self._first = False
            return text.encode("utf-8")
        return (",\n" + text).encode("utf-8")

    def finish(self) -> bytes:
        return b"\n]\n"
