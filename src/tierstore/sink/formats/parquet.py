"""Parquet, streamed row group by row group through pyarrow's ``ParquetWriter``.

Rows are gathered column by column until a row group is full (:data:`ROW_GROUP_ROWS` rows or
about :data:`ROW_GROUP_BYTES` of data), then written; the writer's output goes to an in-memory
sink that is drained after every row group, so memory stays bounded by one row group whatever the
file's size. ``file.compression.type`` becomes the column-chunk codec (no outer compression).

Column types follow the converters, so the schema is the same for every file of a sink:
``key``/``value`` are ``binary`` for ByteArray, ``string`` for String and ``string`` holding the JSON
text for JSON (a JSON value has no one Parquet type); ``offset`` is ``int64``; ``timestamp`` is
``timestamp[ms, UTC]``; ``headers`` is ``list<struct<key: string, value: binary>>``.
``format.output.fields.value.encoding`` does not apply: Parquet stores bytes as bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from tierstore.sink.converters import ConverterKind
from tierstore.sink.formats.record import OutputField, SinkRecord, dumps

ROW_GROUP_ROWS = 10_000
ROW_GROUP_BYTES = 8 * 1024 * 1024
PER_ROW_OVERHEAD = 24

ParquetCodec = Literal["NONE", "GZIP", "SNAPPY", "ZSTD"]
CODECS: dict[str, ParquetCodec] = {"none": "NONE", "gzip": "GZIP", "snappy": "SNAPPY", "zstd": "ZSTD"}

HEADER_TYPE = pa.list_(
    pa.struct([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.binary())])
)


def _as_bytes(value: object) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else str(value).encode("utf-8")


def _column_type(kind: ConverterKind) -> pa.DataType:
    return pa.binary() if kind == "bytearray" else pa.string()


def parquet_schema(
    fields: tuple[OutputField, ...], key_kind: ConverterKind, value_kind: ConverterKind
) -> pa.Schema:
    types: dict[OutputField, pa.DataType] = {
        "key": _column_type(key_kind),
        "value": _column_type(value_kind),
        "offset": pa.int64(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "headers": HEADER_TYPE,
    }
    return pa.schema([pa.field(name, types[name], nullable=name != "offset") for name in fields])


class _DrainableSink:
    """A write-only file for pyarrow whose written bytes are taken out with :meth:`drain`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class ParquetEncoder:
    """One Parquet file, written a row group at a time (see the module docstring)."""

    def __init__(
        self,
        fields: tuple[OutputField, ...],
        key_kind: ConverterKind,
        value_kind: ConverterKind,
        compression: str,
        *,
        compression_level: int | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        self.fields = fields
        self.key_kind = key_kind
        self.value_kind = value_kind
        self.schema = parquet_schema(fields, key_kind, value_kind)
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self._sink = _DrainableSink()
        self._writer = pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"),
            self.schema,
            compression=CODECS[compression],
            compression_level=compression_level if compression in ("gzip", "zstd") else None,
            write_statistics=True,
        )
        self._columns: dict[OutputField, list[object]] = {name: [] for name in fields}
        self._append = self._appenders()
        self._rows = 0
        self._bytes = 0

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    def header(self) -> bytes:
        return self._sink.drain()

    def _appenders(self) -> tuple[Callable[[SinkRecord], int], ...]:
        """One function per field: appends the record's cell to its column, returns its size."""
        columns = self._columns

        def cell_of(kind: ConverterKind) -> Callable[[object], object]:
            if kind == "bytearray":
                return lambda value: value if value is None or type(value) is bytes else _as_bytes(value)
            if kind == "string":
                return lambda value: value if value is None or type(value) is str else dumps(value)
            return lambda value: None if value is None else dumps(value)

        def sized(column: list[object], get: Callable[[SinkRecord], object]) -> Callable[[SinkRecord], int]:
            def append(record: SinkRecord) -> int:
                cell = get(record)
                column.append(cell)
                return len(cell) if isinstance(cell, bytes | str) else 0

            return append

        key_cell, value_cell = cell_of(self.key_kind), cell_of(self.value_kind)
        getters: dict[OutputField, Callable[[SinkRecord], object]] = {
            "key": lambda record: key_cell(record.key),
            "value": lambda record: value_cell(record.value),
            "offset": lambda record: record.offset,
            "timestamp": lambda record: (
                record.timestamp_ms if record.timestamp_ms is not None and record.timestamp_ms >= 0 else None
            ),
            "headers": lambda record: [{"key": key, "value": value} for key, value in record.headers],
        }
        appenders = [sized(columns[name], getters[name]) for name in self.fields]
        if "headers" in self.fields:
            headers_column = columns["headers"]

            def headers_size(record: SinkRecord) -> int:
                headers_column.append([{"key": key, "value": value} for key, value in record.headers])
                return sum(len(key) + len(value or b"") for key, value in record.headers)

            appenders[self.fields.index("headers")] = headers_size
        return tuple(appenders)

    def encode(self, record: SinkRecord) -> bytes:
        size = PER_ROW_OVERHEAD
        for append in self._append:
            size += append(record)
        self._rows += 1
        self._bytes += size
        if self._rows >= self.row_group_rows or self._bytes >= self.row_group_bytes:
            return self._flush_row_group()
        return b""

    def _flush_row_group(self) -> bytes:
        if self._rows:
            table = pa.Table.from_pydict(dict(self._columns), schema=self.schema)
            self._writer.write_table(table, row_group_size=self._rows)
            for column in self._columns.values():
                column.clear()
            self._rows = 0
            self._bytes = 0
        return self._sink.drain()

    def finish(self) -> bytes:
        out = self._flush_row_group()
        self._writer.close()
        return out + self._sink.drain()
