"""Kafka Connect converters: the bytes of a record's key or value turned into the object written.

Three, named as Kafka Connect names them (the short names work too):

- ``ByteArray`` (``org.apache.kafka.connect.converters.ByteArrayConverter``): the bytes as they are.
- ``String`` (``org.apache.kafka.connect.storage.StringConverter``): UTF-8 text.
- ``JSON`` (``org.apache.kafka.connect.json.JsonConverter``): a JSON document. With
  ``*.converter.schemas.enable=true`` (Kafka Connect's default) every message is the envelope
  ``{"schema": …, "payload": …}`` and the payload is what is written; with ``false`` the message
  is the document itself.

A tombstone (no bytes at all) converts to ``None`` with every converter. Bytes a converter cannot
read (invalid UTF-8, invalid JSON, a missing envelope) are a poison record: :class:`ConversionError`,
which the runtime routes to the dead-letter topic or stops on, as ``errors.tolerance`` says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from tierstore.errors import TierstoreError

ConverterKind = Literal["bytearray", "string", "json"]

CONVERTER_CLASSES: Mapping[str, ConverterKind] = {
    "org.apache.kafka.connect.converters.ByteArrayConverter": "bytearray",
    "org.apache.kafka.connect.storage.StringConverter": "string",
    "org.apache.kafka.connect.json.JsonConverter": "json",
    "ByteArray": "bytearray",
    "ByteArrayConverter": "bytearray",
    "String": "string",
    "StringConverter": "string",
    "JSON": "json",
    "Json": "json",
    "JsonConverter": "json",
}


class ConversionError(TierstoreError, ValueError):
    """A record's key or value that its converter cannot read (a poison record).

    ``topic``/``partition``/``offset`` are filled in when the caller knows them; the message then
    names them, so a stopped sink says which record to look at. The record's bytes are never
    quoted: they may hold anything.
    """

    def __init__(
        self,
        reason: str,
        *,
        converter: str = "",
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.converter = converter
        self.topic = topic
        self.partition = partition
        self.offset = offset
        super().__init__(self._message())

    def _message(self) -> str:
        where = ""
        if self.topic is not None:
            where = f"record {self.topic}"
            if self.partition is not None:
                where += f"[{self.partition}]"
            if self.offset is not None:
                where += f"@{self.offset}"
            where += ": "
        by = f"{self.converter}: " if self.converter else ""
        return f"{where}{by}{self.reason}"

    def at(self, topic: str, partition: int, offset: int) -> ConversionError:
        """The same error, placed at a record (for the runtime, which knows where it came from)."""
        return ConversionError(
            self.reason, converter=self.converter, topic=topic, partition=partition, offset=offset
        )


@dataclass(frozen=True)
class Converter:
    """One side (key or value) of a record: how its bytes become the object written."""

    kind: ConverterKind
    schemas_enable: bool = True

    @property
    def name(self) -> str:
        return {"bytearray": "ByteArrayConverter", "string": "StringConverter", "json": "JsonConverter"}[
            self.kind
        ]

    def convert(
        self,
        raw: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> object:
        """The object for ``raw``: bytes, str, or a JSON value; ``None`` for a tombstone."""
        if raw is None:
            return None
        if type(raw) is not bytes:
            raw = bytes(raw)
        kind = self.kind
        if kind == "bytearray":
            return raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConversionError(
                f"not UTF-8 text (bad byte at offset {error.start})",
                converter=self.name,
                topic=topic,
                partition=partition,
                offset=offset,
            ) from error
        if kind == "string":
            return text
        try:
            document = _DECODER.decode(text)
        except json.JSONDecodeError as error:
            raise ConversionError(
                f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})",
                converter=self.name,
                topic=topic,
                partition=partition,
                offset=offset,
            ) from error
        if "\\u" in text and _LONE_SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
            raise ConversionError(
                "holds a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair), which is "
                "not Unicode text and cannot be written as UTF-8",
                converter=self.name,
                topic=topic,
                partition=partition,
                offset=offset,
            )
        if not self.schemas_enable:
            return document
        if not isinstance(document, dict) or set(document) != {"schema", "payload"}:
            raise ConversionError(
                'with schemas.enable=true a message must be {"schema": …, "payload": …}; '
                "set schemas.enable to false for plain JSON",
                converter=self.name,
                topic=topic,
                partition=partition,
                offset=offset,
            )
        return document["payload"]

    def fast(self) -> Callable[[bytes | None], object]:
        """:meth:`convert` for the per-record loop: the same result and the same errors, with the
        common case (bytes that are text, for the String converter; any bytes, for ByteArray)
        done in one plain call; anything else goes through :meth:`convert`."""
        convert = self.convert
        if self.kind == "string":

            def string(raw: bytes | None) -> object:
                if type(raw) is bytes:
                    try:
                        return raw.decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # convert raises the ConversionError
                return convert(raw)

            return string
        if self.kind == "bytearray":

            def as_is(raw: bytes | None) -> object:
                return raw if type(raw) is bytes else convert(raw)

            return as_is
        return convert


def _refuse_constant(name: str) -> object:
    # Python reads NaN and Infinity, which JSON (and Kafka's JsonConverter) does not have; let
    # them through and the file written would not be JSON either.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


# A \uD800-\uDFFF escape: the only way JSON text can smuggle in a string Python cannot encode.
_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(document: object) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# One decoder for all records: json.loads with an argument would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def converter_kind(name: str) -> ConverterKind | None:
    """The converter a class name (or short name) stands for, or ``None`` if tierstore has none."""
    return CONVERTER_CLASSES.get(name.strip())


ACCEPTED_CONVERTERS = (
    "org.apache.kafka.connect.converters.ByteArrayConverter (or ByteArray), "
    "org.apache.kafka.connect.storage.StringConverter (or String), "
    "org.apache.kafka.connect.json.JsonConverter (or JSON)"
)
