"""The text formats: CSV, JSON lines and one JSON array per file. All stream record by record.

Each encoder turns ``format.output.fields`` into a tuple of small functions once, in
``__init__``, so encoding a record is one call per field and one string join: no dict per record,
no ``csv`` writer round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring

from tierstore.sink.formats.record import (
    OutputField,
    SinkRecord,
    ValueEncoding,
    headers_json,
    json_text,
    text_cell,
)

FieldText = Callable[[SinkRecord], str]


def _json_fields(fields: tuple[OutputField, ...], encoding: ValueEncoding) -> tuple[FieldText, ...]:
    def key(record: SinkRecord) -> str:
        text = record.key
        if type(text) is str:  # the String converter's: straight to the C quoting
            return encode_basestring(text)
        return json_text(text, encoding, record, "key")

    def value(record: SinkRecord) -> str:
        text = record.value
        if type(text) is str:
            return encode_basestring(text)
        return json_text(text, encoding, record, "value")

    def offset(record: SinkRecord) -> str:
        return str(record.offset)

    def timestamp(record: SinkRecord) -> str:
        return "null" if record.timestamp_ms is None else str(record.timestamp_ms)

    def headers(record: SinkRecord) -> str:
        return headers_json(record, encoding)

    table: dict[OutputField, FieldText] = {
        "key": key,
        "value": value,
        "offset": offset,
        "timestamp": timestamp,
        "headers": headers,
    }
    return tuple(table[name] for name in fields)


def _json_object_text(
    fields: tuple[OutputField, ...], encoding: ValueEncoding, suffix: str
) -> Callable[[SinkRecord], str]:
    """One function for a record's whole JSON object followed by ``suffix``: the labels are
    folded into the constants and, for a lone key or value field, the string case is inline, so
    a record costs one Python call (this runs once per record)."""
    texts = _json_fields(fields, encoding)
    # '{"key":', ',"value":', …: the text before each field's value.
    labels = tuple(("{" if index == 0 else ",") + f'"{name}":' for index, name in enumerate(fields))
    end = "}" + suffix
    if len(fields) == 1:
        (label,), (text,) = labels, texts
        if fields[0] in ("key", "value"):
            index = SinkRecord._fields.index(fields[0])

            def lone(record: SinkRecord) -> str:
                data = record[index]
                if type(data) is str:
                    return label + encode_basestring(data) + end
                return label + text(record) + end

            return lone

        def single(record: SinkRecord) -> str:
            return label + text(record) + end

        return single
    pairs = tuple(zip(labels, texts, strict=True))

    def several(record: SinkRecord) -> str:
        return "".join([label + text(record) for label, text in pairs]) + end

    return several


class _JsonObjects:
    """One compact JSON object per record, keys in field order."""

    buffered_bytes = 0
    _suffix = ""

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        self.fields = fields
        self.encoding = encoding
        self._object = _json_object_text(fields, encoding, self._suffix)


def _json_line(fields: tuple[OutputField, ...], encoding: ValueEncoding) -> Callable[[SinkRecord], bytes]:
    """A record's JSON line as bytes, in one Python call for a lone key or value field."""
    line = _json_object_text(fields, encoding, "\n")
    if len(fields) == 1 and fields[0] in ("key", "value"):
        index = SinkRecord._fields.index(fields[0])
        label = '{"' + fields[0] + '":'

        def lone(record: SinkRecord) -> bytes:
            data = record[index]
            if type(data) is str:
                return f"{label}{encode_basestring(data)}}}\n".encode()
            return line(record).encode()

        return lone

    def encoded(record: SinkRecord) -> bytes:
        return line(record).encode()

    return encoded


def json_lines_of_texts(field: OutputField) -> Callable[[list[str]], bytes]:
    """The JSON lines of records whose one output field holds text, many records in one call.

    The bytes are those :class:`JsonLinesEncoder` writes record by record; here the quoting runs
    in C over the whole block (``map`` and ``str.join``), with no Python call per record.
    """
    head = '{"' + field + '":'
    between = "}\n" + head

    def lines(texts: list[str]) -> bytes:
        return (head + between.join(map(encode_basestring, texts)) + "}\n").encode()

    return lines


class JsonLinesEncoder(_JsonObjects):
    """One JSON object per line (``jsonl``)."""

    _suffix = "\n"
    # A plain function, not a method: the runtime calls it once per record.
    encode: Callable[[SinkRecord], bytes]

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        super().__init__(fields, encoding)
        self.encode = _json_line(fields, encoding)

    def header(self) -> bytes:
        return b""

    def finish(self) -> bytes:
        return b""


class JsonArrayEncoder(_JsonObjects):
    """One JSON array per file, streamed: ``[``, the objects separated by ``,\\n``, ``]``."""

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        super().__init__(fields, encoding)
        self._separator = ""

    def header(self) -> bytes:
        return b"[\n"

    def encode(self, record: SinkRecord) -> bytes:
        text = self._separator + self._object(record)
        self._separator = ",\n"
        return text.encode("utf-8")

    def finish(self) -> bytes:
        return b"\n]\n"


def _quoted(cell: str) -> str:
    """RFC 4180 quoting, only when the cell needs it (as Python's csv QUOTE_MINIMAL does)."""
    if '"' in cell or "," in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


class CsvEncoder:
    """One CSV row per record, columns in ``format.output.fields`` order, no header row (as the
    Aiven connector writes it). Rows end in ``\\n``; cells are quoted only when they must be
    (RFC 4180). A null key or value is an empty cell; headers are a JSON array in one cell."""

    buffered_bytes = 0

    def __init__(self, fields: tuple[OutputField, ...], encoding: ValueEncoding) -> None:
        self.fields = fields
        self.encoding = encoding
        self._cells = self._cell_functions()
        # A row of one empty cell would be an empty line, which CSV readers skip: quote it.
        self._single = len(fields) == 1

    def _cell_functions(self) -> tuple[FieldText, ...]:
        encoding = self.encoding

        def key(record: SinkRecord) -> str:
            return _quoted(text_cell(record.key, encoding, record, "key"))

        def value(record: SinkRecord) -> str:
            return _quoted(text_cell(record.value, encoding, record, "value"))

        def offset(record: SinkRecord) -> str:
            return str(record.offset)

        def timestamp(record: SinkRecord) -> str:
            return "" if record.timestamp_ms is None else str(record.timestamp_ms)

        def headers(record: SinkRecord) -> str:
            return _quoted(headers_json(record, encoding))

        table: dict[OutputField, FieldText] = {
            "key": key,
            "value": value,
            "offset": offset,
            "timestamp": timestamp,
            "headers": headers,
        }
        return tuple(table[name] for name in self.fields)

    def header(self) -> bytes:
        return b""

    def encode(self, record: SinkRecord) -> bytes:
        row = ",".join([cell(record) for cell in self._cells])
        if self._single and not row:
            row = '""'
        return (row + "\n").encode("utf-8")

    def finish(self) -> bytes:
        return b""
