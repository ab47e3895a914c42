"""Converters: bytes to the objects written, and poison records named by topic, partition, offset."""

from __future__ import annotations

import pytest

from tierstore.sink.converters import ConversionError, Converter, converter_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("org.apache.kafka.connect.converters.ByteArrayConverter", "bytearray"),
        ("org.apache.kafka.connect.storage.StringConverter", "string"),
        ("org.apache.kafka.connect.json.JsonConverter", "json"),
        ("ByteArray", "bytearray"),
        ("String", "string"),
        ("JSON", "json"),
        (" JsonConverter ", "json"),
        ("io.confluent.connect.avro.AvroConverter", None),
    ],
)
def test_class_and_short_names(name: str, kind: str | None) -> None:
    assert converter_kind(name) == kind


def test_bytearray_passes_bytes_through() -> None:
    converter = Converter("bytearray")
    assert converter.convert(b"\x00\xff raw") == b"\x00\xff raw"
    assert converter.convert(None) is None
    assert converter.convert(b"") == b""


def test_string_decodes_utf8() -> None:
    converter = Converter("string")
    assert converter.convert("caf\u00e9 \u2713".encode()) == "caf\u00e9 \u2713"
    assert converter.convert(None) is None


def test_json_with_schemas_unwraps_the_envelope() -> None:
    converter = Converter("json", schemas_enable=True)
    envelope = b'{"schema": {"type": "struct", "fields": []}, "payload": {"id": 7, "tags": ["a"]}}'
    assert converter.convert(envelope) == {"id": 7, "tags": ["a"]}
    assert converter.convert(b'{"schema": {"type": "string"}, "payload": null}') is None
    assert converter.convert(None) is None


def test_json_without_schemas_takes_the_document() -> None:
    converter = Converter("json", schemas_enable=False)
    assert converter.convert(b'{"id": 7}') == {"id": 7}
    assert converter.convert(b"[1, 2.5, true]") == [1, 2.5, True]
    assert converter.convert(b'"text"') == "text"


@pytest.mark.parametrize(
    ("converter", "raw", "needle"),
    [
        (Converter("string"), b"\xff\xfe PAYLOAD", "not UTF-8 text (bad byte at offset 0)"),
        (Converter("json", schemas_enable=False), b"{PAYLOAD", "not valid JSON"),
        (Converter("json", schemas_enable=False), b"\xc3\x28PAYLOAD", "not UTF-8"),
        (Converter("json", schemas_enable=True), b'{"id": 7}', '{"schema": …, "payload": …}'),
        (Converter("json", schemas_enable=True), b"[1]", "set schemas.enable to false"),
    ],
)
def test_poison_records_raise_conversion_error_naming_the_record(
    converter: Converter, raw: bytes, needle: str
) -> None:
    with pytest.raises(ConversionError) as raised:
        converter.convert(raw, topic="events", partition=2, offset=41)
    error = raised.value
    assert (error.topic, error.partition, error.offset) == ("events", 2, 41)
    assert str(error).startswith(f"record events[2]@41: {converter.name}: ")
    assert needle in error.reason
    # The record's bytes are never quoted in the message.
    assert "PAYLOAD" not in str(error)


def test_error_can_be_placed_later() -> None:
    with pytest.raises(ConversionError) as raised:
        Converter("string").convert(b"\xff")
    assert str(raised.value).startswith("StringConverter: ")
    placed = raised.value.at("clicks", 0, 9)
    assert str(placed).startswith("record clicks[0]@9: StringConverter: not UTF-8")


@pytest.mark.parametrize("raw", [b"NaN", b'{"x": Infinity}', b"[-Infinity]"])
def test_json_refuses_python_only_constants(raw: bytes) -> None:
    """Python's json reads NaN and Infinity; JSON has neither, and the file written must be JSON."""
    with pytest.raises(ConversionError) as raised:
        Converter("json", schemas_enable=False).convert(raw, topic="t", partition=0, offset=1)
    assert "not valid JSON" in raised.value.reason


def test_conversion_error_is_a_tierstore_error() -> None:
    """So an unhandled one reaches the CLI as one line, not a traceback."""
    from tierstore.errors import TierstoreError

    assert issubclass(ConversionError, TierstoreError)


def test_json_lone_surrogate_is_a_poison_record_but_pairs_are_text() -> None:
    """JSON may spell a lone UTF-16 surrogate (\\ud800); Python reads it into a str no UTF-8 file
    can hold, so it is refused at conversion rather than failing later inside an encoder."""
    converter = Converter("json", schemas_enable=False)
    assert converter.convert(b'"\\ud83d\\ude00 and \\\\ud800"') == "\U0001f600 and \\ud800"
    with pytest.raises(ConversionError) as raised:
        converter.convert(b'{"name": "x\\udc00"}', topic="t", partition=1, offset=2)
    assert "lone UTF-16 surrogate" in raised.value.reason
