"""Every format x every compression, encoded by tierstore and read back only with other code:
Python's gzip, csv and json modules, cramjam and pyarrow. Checked field by field."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.sink import runtime_support as rs

from tierstore.sink.compression import COMPRESSION_TYPES, CompressionType, compressor_for
from tierstore.sink.converters import ConversionError, ConverterKind
from tierstore.sink.formats import OutputField, SinkRecord, ValueEncoding, make_encoder

ALL_FIELDS: tuple[OutputField, ...] = ("key", "value", "offset", "timestamp", "headers")
BASE_MS = 1_709_249_400_000


def _records(count: int = 60) -> list[SinkRecord]:
    """Bytes keys and values with the awkward cases: nulls, empty values, commas, quotes,
    newlines, non-ASCII, and binary that is not UTF-8; headers with null values too."""
    records = []
    for offset in range(count):
        key = None if offset % 7 == 0 else f"key-{offset}".encode()
        if offset % 11 == 0:
            value: bytes | None = None
        elif offset % 5 == 0:
            value = b""
        else:
            value = f'v{offset}, "quoted"\nline two, caf\u00e9 \u2713'.encode()
        headers: tuple[tuple[str, bytes | None], ...] = (("trace", f"t{offset}".encode()), ("empty", None))
        records.append(SinkRecord("events", 3, 1000 + offset, BASE_MS + offset, key, value, headers))
    return records


BINARY = SinkRecord("events", 3, 999, BASE_MS, b"\x00\xff", bytes(range(256)), (("bin", b"\xfe\x00"),))


def _file(
    output_format: str,
    compression: CompressionType,
    records: Sequence[SinkRecord],
    *,
    fields: tuple[OutputField, ...] = ALL_FIELDS,
    encoding: ValueEncoding = "base64",
    key_kind: ConverterKind = "bytearray",
    value_kind: ConverterKind = "bytearray",
) -> bytes:
    """The bytes of one file as the runtime builds it: encoder, then compressor (parquet: none)."""
    encoder = make_encoder(
        output_format,  # type: ignore[arg-type]
        fields,
        value_encoding=encoding,
        compression=compression,
        key_kind=key_kind,
        value_kind=value_kind,
    )
    compressor = compressor_for("none" if output_format == "parquet" else compression)
    out = bytearray(compressor.compress(encoder.header()))
    for record in records:
        out += compressor.compress(encoder.encode(record))
    out += compressor.compress(encoder.finish())
    out += compressor.finish()
    return bytes(out)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _expected_headers(record: SinkRecord) -> list[dict[str, Any]]:
    return [{"key": k, "value": _b64(v)} for k, v in record.headers]


@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_jsonl(compression: CompressionType) -> None:
    records = [*_records(), BINARY]
    text = rs.decompress(_file("jsonl", compression, records), compression).decode()
    lines = text.splitlines()
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=True):
        row = json.loads(line)
        assert list(row) == list(ALL_FIELDS)  # in the configured order
        assert row["key"] == _b64(record.key)  # type: ignore[arg-type]
        assert row["value"] == _b64(record.value)  # type: ignore[arg-type]
        assert base64.b64decode(row["value"] or "") == (record.value or b"")
        assert row["offset"] == record.offset
        assert row["timestamp"] == record.timestamp_ms
        assert row["headers"] == _expected_headers(record)


@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_json_array(compression: CompressionType) -> None:
    records = [*_records(), BINARY]
    data = json.loads(rs.decompress(_file("json", compression, records), compression))
    assert isinstance(data, list) and len(data) == len(records)
    for row, record in zip(data, records, strict=True):
        assert row == {
            "key": _b64(record.key),  # type: ignore[arg-type]
            "value": _b64(record.value),  # type: ignore[arg-type]
            "offset": record.offset,
            "timestamp": record.timestamp_ms,
            "headers": _expected_headers(record),
        }


def test_json_array_of_an_empty_file_is_valid_json() -> None:
    assert json.loads(_file("json", "none", [])) == []


@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_csv(compression: CompressionType) -> None:
    records = [*_records(), BINARY]
    text = rs.decompress(_file("csv", compression, records), compression).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(records)  # no header row, as in the Aiven connector
    for row, record in zip(rows, records, strict=True):
        key, value, offset, timestamp, headers = row
        assert key == (_b64(record.key) or "")  # type: ignore[arg-type]
        assert base64.b64decode(value) == (record.value or b"")  # type: ignore[arg-type]
        assert int(offset) == record.offset
        assert int(timestamp) == record.timestamp_ms
        assert json.loads(headers) == _expected_headers(record)


@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_parquet(compression: CompressionType) -> None:
    records = [*_records(), BINARY]
    data = _file("parquet", compression, records)
    assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"  # no outer compression
    parquet = pq.ParquetFile(io.BytesIO(data))
    codec = parquet.metadata.row_group(0).column(1).compression
    assert codec == {"none": "UNCOMPRESSED", "gzip": "GZIP", "snappy": "SNAPPY", "zstd": "ZSTD"}[compression]
    table = parquet.read()
    assert table.column_names == list(ALL_FIELDS)
    assert str(table.schema.field("value").type) == "binary"
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"
    for row, record in zip(table.to_pylist(), records, strict=True):
        assert row["key"] == record.key
        assert row["value"] == record.value
        assert row["offset"] == record.offset
        assert int(row["timestamp"].timestamp() * 1000) == record.timestamp_ms
        assert row["headers"] == [{"key": k, "value": v} for k, v in record.headers]


def test_parquet_types_follow_the_converters() -> None:
    records = [
        SinkRecord("t", 0, 0, BASE_MS, "k1", {"id": 1, "tags": ["a"]}, ()),
        SinkRecord("t", 0, 1, None, None, None, ()),
        SinkRecord("t", 0, 2, BASE_MS, "k3", [1, 2], ()),
    ]
    data = _file("parquet", "snappy", records, key_kind="string", value_kind="json")
    table = pq.read_table(io.BytesIO(data))
    assert str(table.schema.field("key").type) == "string"
    assert str(table.schema.field("value").type) == "string"
    rows = table.to_pylist()
    assert [row["key"] for row in rows] == ["k1", None, "k3"]
    assert json.loads(rows[0]["value"]) == {"id": 1, "tags": ["a"]}
    assert rows[1]["value"] is None and rows[1]["timestamp"] is None
    assert json.loads(rows[2]["value"]) == [1, 2]


def test_parquet_streams_row_groups_while_records_arrive() -> None:
    encoder = make_encoder("parquet", ("offset", "value"), compression="zstd")
    header = encoder.header()
    emitted = [
        encoder.encode(SinkRecord("t", 0, n, BASE_MS, None, os.urandom(32), ())) for n in range(25_000)
    ]
    tail = encoder.finish()
    non_empty = [index for index, chunk in enumerate(emitted) if chunk]
    # A row group leaves as soon as it holds 10,000 rows; between groups encode() only buffers.
    assert non_empty == [9_999, 19_999]
    assert encoder.buffered_bytes > 0 or tail  # the last 5,000 rows left with finish()
    data = header + b"".join(emitted) + tail
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [
        10_000,
        10_000,
        5_000,
    ]
    assert parquet.read(columns=["offset"]).column("offset").to_pylist() == list(range(25_000))


def test_parquet_row_groups_are_bounded_by_bytes_too() -> None:
    encoder = make_encoder("parquet", ("value",), compression="none")
    encoder.header()
    sizes = [
        len(encoder.encode(SinkRecord("t", 0, n, BASE_MS, None, os.urandom(1024 * 1024), ())))
        for n in range(10)
    ]
    assert sizes[7] > 8 * 1024 * 1024  # the eighth MiB closes a row group of about 8 MiB
    assert [n for n, size in enumerate(sizes) if size] == [7]


@pytest.mark.parametrize("output_format", ["csv", "jsonl", "json"])
def test_value_encoding_none_writes_text(output_format: str) -> None:
    records = [SinkRecord("t", 0, 5, BASE_MS, b"k", 'caf\u00e9, "x"'.encode(), (("h", b"hv"),))]
    text = _file(output_format, "none", records, encoding="none").decode()
    if output_format == "csv":
        (row,) = list(csv.reader(io.StringIO(text, newline="")))
        assert row[:2] == ["k", 'caf\u00e9, "x"']
        assert json.loads(row[4]) == [{"key": "h", "value": "hv"}]
    else:
        (row_object,) = json.loads(text) if output_format == "json" else [json.loads(text)]
        assert row_object["key"] == "k" and row_object["value"] == 'caf\u00e9, "x"'
        assert row_object["headers"] == [{"key": "h", "value": "hv"}]


@pytest.mark.parametrize("output_format", ["csv", "jsonl", "json"])
def test_value_encoding_none_refuses_bytes_that_are_not_text(output_format: str) -> None:
    encoder = make_encoder(output_format, ALL_FIELDS, value_encoding="none")  # type: ignore[arg-type]
    encoder.header()
    with pytest.raises(ConversionError) as raised:
        encoder.encode(BINARY)
    message = str(raised.value)
    assert "events[3]@999" in message and "encoding=none" in message


@pytest.mark.parametrize("output_format", ["csv", "jsonl", "json"])
def test_text_and_json_values_are_written_as_such(output_format: str) -> None:
    records = [
        SinkRecord("t", 0, 0, BASE_MS, "user-1", {"n": 1, "s": "a,b"}, ()),
        SinkRecord("t", 0, 1, BASE_MS, "user-2", "plain text", ()),
        SinkRecord("t", 0, 2, BASE_MS, None, None, ()),
    ]
    text = _file(
        output_format, "none", records, fields=("key", "value"), key_kind="string", value_kind="json"
    ).decode()
    if output_format == "csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows == [["user-1", '{"n":1,"s":"a,b"}'], ["user-2", "plain text"], ["", ""]]
    else:
        parsed = (
            json.loads(text) if output_format == "json" else [json.loads(line) for line in text.splitlines()]
        )
        assert parsed == [
            {"key": "user-1", "value": {"n": 1, "s": "a,b"}},
            {"key": "user-2", "value": "plain text"},
            {"key": None, "value": None},
        ]


@pytest.mark.parametrize("output_format", ["csv", "jsonl", "json", "parquet"])
@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_same_records_give_the_same_bytes(output_format: str, compression: CompressionType) -> None:
    """A re-delivered file must overwrite its object with the same content."""
    records = _records(40)
    assert _file(output_format, compression, records) == _file(output_format, compression, records)


@pytest.mark.parametrize("compression", ["gzip", "snappy", "zstd"])
def test_compressors_stream_in_bounded_pieces(compression: CompressionType) -> None:
    """Compressed bytes leave while input arrives, so a file of any size needs bounded memory."""
    compressor = compressor_for(compression)
    blocks = [os.urandom(64 * 1024) for _ in range(64)]  # 4 MiB of incompressible input
    pieces = [compressor.compress(block) for block in blocks]
    tail = compressor.finish()
    produced_before_finish = sum(len(piece) for piece in pieces)
    assert produced_before_finish > 3 * 1024 * 1024
    assert max(len(piece) for piece in pieces) < 512 * 1024
    assert rs.decompress(b"".join(pieces) + tail, compression) == b"".join(blocks)


def test_gzip_output_has_no_time_in_its_header() -> None:
    data = _file("jsonl", "gzip", _records(3))
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\x00\x00\x00\x00"  # MTIME = 0


def test_snappy_is_the_framing_format() -> None:
    data = _file("csv", "snappy", _records(3))
    assert data[:10] == b"\xff\x06\x00\x00sNaPpY"  # the framing format's stream identifier


def test_csv_single_empty_cell_is_a_row_not_a_blank_line() -> None:
    records = [SinkRecord("t", 0, n, BASE_MS, None, value, ()) for n, value in enumerate([b"", None, b"x"])]
    text = _file("csv", "none", records, fields=("value",), encoding="none").decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [[""], [""], ["x"]]


@pytest.mark.parametrize(("compression", "levels"), [("gzip", (1, 9)), ("zstd", (1, 19))])
def test_compression_levels(compression: CompressionType, levels: tuple[int, int]) -> None:
    data = b"".join(f'{{"offset":{n},"value":"{n % 97}-{n % 13}"}}\n'.encode() for n in range(20_000))
    sizes = []
    for level in levels:
        compressor = compressor_for(compression, level)
        out = compressor.compress(data) + compressor.finish()
        assert rs.decompress(out, compression) == data
        sizes.append(len(out))
    assert sizes[1] < sizes[0]  # the higher level compresses more


def test_file_compressor_follows_the_config() -> None:
    from tests.sink.sink_samples import MINIMAL

    from tierstore.sink.config import sink_config_from_mapping
    from tierstore.sink.formats import encoder_for

    gzip_fast = sink_config_from_mapping({**MINIMAL, "file.compression.level": "1"})
    assert gzip_fast.compression_level == 1
    compressor = gzip_fast.file_compressor()
    assert gzip.decompress(compressor.compress(b"abc" * 1000) + compressor.finish()) == b"abc" * 1000
    parquet = sink_config_from_mapping(
        {
            **MINIMAL,
            "format.output.type": "parquet",
            "file.compression.type": "zstd",
            "file.compression.level": "9",
        }
    )
    outer = parquet.file_compressor()
    assert outer.compress(b"PAR1") == b"PAR1"  # Parquet gets no outer compression
    encoder = encoder_for(parquet)
    data = (
        encoder.header() + encoder.encode(SinkRecord("t", 0, 0, BASE_MS, None, b"v", ())) + encoder.finish()
    )
    parquet_file = pq.ParquetFile(io.BytesIO(data))
    assert parquet_file.metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize("compression", COMPRESSION_TYPES)
def test_output_does_not_depend_on_how_the_input_is_cut(compression: CompressionType) -> None:
    """A replayed file may reach the compressor in other pieces (another batch size); the
    object must still be the same bytes."""
    data = b"".join(f'{{"offset":{n},"value":"{n * 7919 % 10007}"}}\n'.encode() for n in range(30_000))

    def compressed(step: int) -> bytes:
        compressor = compressor_for(compression)
        out = b"".join(compressor.compress(data[i : i + step]) for i in range(0, len(data), step))
        return out + compressor.finish()

    assert compressed(37) == compressed(4096) == compressed(len(data))


@pytest.mark.parametrize("compression", ["gzip", "snappy", "zstd"])
def test_compressed_bytes_do_not_depend_on_how_input_is_cut(compression: CompressionType) -> None:
    """The text lane hands a compressor blocks of records, the record path one record at a time,
    and a replay may cut a file differently from the first run: the object must still be the same."""
    lines = [json.dumps({"n": n, "pad": "x" * (n % 97)}).encode() + b"\n" for n in range(20_000)]

    def compressed(pieces: list[bytes]) -> bytes:
        compressor = compressor_for(compression)
        return b"".join([compressor.compress(piece) for piece in pieces]) + compressor.finish()

    whole = b"".join(lines)
    by_record = compressed(lines)
    assert len(whole) > 4 * 256 * 1024  # several of the compressors' chunks
    assert by_record == compressed([whole])
    assert by_record == compressed(
        [whole[start : start + 100_003] for start in range(0, len(whole), 100_003)]
    )
    assert rs.decompress(by_record, compression) == whole
