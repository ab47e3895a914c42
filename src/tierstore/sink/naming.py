"""Object names from ``file.name.template``: deterministic, so a replayed file lands on its own key.

The template language is the Aiven S3 sink connector's: ``{{topic}}``, ``{{partition}}``,
``{{start_offset}}`` (the offset of the file's first record), ``{{timestamp:unit=…}}`` and
``{{key}}``, with ``padding=true`` on partition (10 digits) and start offset (20 digits) so names
sort in offset order. Exactly-once rests on one property: the same records give the same name, so
a file re-delivered after a crash overwrites the object it would have written. Hence:

- ``{{partition}}`` and ``{{start_offset}}`` are required: without them two files of one partition
  (or of two partitions) could share a name and one would overwrite the other.
- ``{{timestamp}}`` is the *record* time of the file's first record (never the wall clock, which
  would give a replayed file another name), in ``file.name.timestamp.timezone`` (UTC by default).
- ``{{key}}`` is the first record's key.

Rendered names are relative to ``aws.s3.prefix``, as :class:`tierstore.storage.Store` keys are.
:meth:`FileNameTemplate.owner_of` reads a name back (topic, partition) through a regex compiled from
the same template, so the runtime can tell which multipart uploads left by a crash belong to the
partitions it has been assigned.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal

DEFAULT_TEMPLATE = "{{topic}}-{{partition}}-{{start_offset}}"
PARTITION_DIGITS = 10
OFFSET_DIGITS = 20

# The unit names are Java DateTimeFormatter patterns, as in the Aiven connector.
TIMESTAMP_UNITS: Mapping[str, str] = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}
PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "topic": (),
    "partition": ("padding",),
    "start_offset": ("padding",),
    "timestamp": ("unit",),
    "key": (),
}
ACCEPTED_PLACEHOLDERS = (
    "{{topic}}, {{partition}}, {{partition:padding=true}}, {{start_offset}}, "
    "{{start_offset:padding=true}}, {{timestamp:unit=yyyy|MM|dd|HH}}, {{key}}"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}:\s]*)\s*(?::([^{}]*))?\}\}")
# Kafka topic names: letters, digits, '.', '_' and '-' (at most 249 of them).
_TOPIC_PATTERN = r"[A-Za-z0-9._-]+"

Part = tuple[Literal["text"], str] | tuple[Literal["var"], str, str]


class TemplateError(ValueError):
    """A template that cannot be used; ``problems`` lists every reason, each a full sentence."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _parse_parameter(name: str, text: str | None, problems: list[str]) -> str:
    """The parameter value of one placeholder (``padding``/``unit``), checked; ``""`` if absent."""
    if text is None or not text.strip():
        if name == "timestamp":
            problems.append("{{timestamp}} needs a unit: use {{timestamp:unit=yyyy|MM|dd|HH}}")
        return ""
    parameter, sep, value = text.strip().partition("=")
    parameter, value = parameter.strip(), value.strip()
    allowed = PLACEHOLDERS[name]
    if not sep or parameter not in allowed:
        if allowed:
            problems.append(
                f"{{{{{name}}}}} has an unknown parameter {text.strip()!r}; it takes "
                + " or ".join(f"{p}=" for p in allowed)
            )
        else:
            problems.append(f"{{{{{name}}}}} takes no parameter ({text.strip()!r} given)")
        return ""
    if parameter == "padding":
        if value not in ("true", "false"):
            problems.append(f"{{{{{name}:padding={value}}}}}: padding is true or false")
            return ""
        return value
    if value not in TIMESTAMP_UNITS:
        problems.append(
            f"{{{{timestamp:unit={value}}}}}: the unit is one of {', '.join(TIMESTAMP_UNITS)} "
            "(year, month, day, hour)"
        )
        return ""
    return value


@dataclass(frozen=True)
class FileNameTemplate:
    """A parsed ``file.name.template``; see the module docstring for the rules."""

    text: str
    parts: tuple[Part, ...]
    extension: str = ""
    timezone: tzinfo = UTC
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", self._compile())

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, extension: str = "", timezone: tzinfo = UTC) -> FileNameTemplate:
        """Read a template; raises :class:`TemplateError` with every problem found."""
        problems: list[str] = []
        parts: list[Part] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            if match.start() > position:
                parts.append(("text", text[position : match.start()]))
            position = match.end()
            name = match.group(1)
            if name not in PLACEHOLDERS:
                problems.append(f"unknown placeholder {{{{{name}}}}}; use {ACCEPTED_PLACEHOLDERS}")
                continue
            parts.append(("var", name, _parse_parameter(name, match.group(2), problems)))
        if position < len(text):
            parts.append(("text", text[position:]))
        literal = "".join(part[1] for part in parts if part[0] == "text")
        if "{{" in literal or "}}" in literal:
            problems.append("has an unbalanced '{{' or '}}'; placeholders look like {{topic}}")
        used = [part[1] for part in parts if part[0] == "var"]
        for required in ("partition", "start_offset"):
            if required not in used:
                problems.append(
                    f"has no {{{{{required}}}}}: without the partition and the start offset in every "
                    "name, two files could get the same name and the sink cannot be exactly-once; "
                    f"the default is {DEFAULT_TEMPLATE}"
                )
        for name in set(used):
            if used.count(name) > 1 and name in ("partition", "start_offset", "topic"):
                problems.append(f"uses {{{{{name}}}}} more than once; once is enough")
        if text.startswith("/"):
            problems.append("starts with '/'; names are relative to aws.s3.prefix")
        if not text.strip():
            problems.append(f"is empty; the default is {DEFAULT_TEMPLATE}")
        if problems:
            raise TemplateError(problems)
        return cls(text, tuple(parts), extension, timezone)

    @classmethod
    def default(cls, extension: str = "", *, timezone: tzinfo = UTC) -> FileNameTemplate:
        """The Aiven connector's default, ``{{topic}}-{{partition}}-{{start_offset}}`` + extension."""
        return cls.parse(DEFAULT_TEMPLATE, extension=extension, timezone=timezone)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(part[1] for part in self.parts if part[0] == "var")

    # -- rendering --------------------------------------------------------------------------

    def render(
        self, topic: str, partition: int, start_offset: int, timestamp_ms: int | None, key: object
    ) -> str:
        """The object name (relative to the prefix) of the file whose first record is given.

        ``timestamp_ms`` and ``key`` are the first record's; a record without a timestamp
        (``None`` or negative, as Kafka marks it) counts as 1970-01-01T00:00Z, so the name stays
        deterministic.
        """
        out: list[str] = []
        moment: datetime | None = None
        for part in self.parts:
            if part[0] == "text":
                out.append(part[1])
                continue
            _, name, parameter = part
            if name == "topic":
                out.append(topic)
            elif name == "partition":
                out.append(f"{partition:0{PARTITION_DIGITS}d}" if parameter == "true" else str(partition))
            elif name == "start_offset":
                out.append(f"{start_offset:0{OFFSET_DIGITS}d}" if parameter == "true" else str(start_offset))
            elif name == "timestamp":
                if moment is None:
                    millis = timestamp_ms if timestamp_ms is not None and timestamp_ms >= 0 else 0
                    moment = datetime.fromtimestamp(millis / 1000, tz=self.timezone)
                out.append(moment.strftime(TIMESTAMP_UNITS[parameter]))
            else:
                out.append(key_text(key))
        return "".join(out) + self.extension

    # -- reading names back -----------------------------------------------------------------

    def _compile(self) -> re.Pattern[str]:
        pattern: list[str] = []
        for part in self.parts:
            if part[0] == "text":
                pattern.append(re.escape(part[1]))
                continue
            _, name, parameter = part
            if name == "topic":
                pattern.append(f"(?P<topic>{_TOPIC_PATTERN})")
            elif name == "partition":
                digits = f"\\d{{{PARTITION_DIGITS}}}" if parameter == "true" else r"\d+"
                pattern.append(f"(?P<partition>{digits})")
            elif name == "start_offset":
                digits = f"\\d{{{OFFSET_DIGITS}}}" if parameter == "true" else r"\d+"
                pattern.append(f"(?P<start_offset>{digits})")
            elif name == "timestamp":
                pattern.append(r"\d{4}" if parameter == "yyyy" else r"\d{2}")
            else:
                pattern.append(r".*?")
        return re.compile("".join(pattern) + re.escape(self.extension))

    def _match(self, key: str) -> re.Match[str] | None:
        return self._regex.fullmatch(key)

    def owner_of(self, key: str) -> tuple[str, int] | None:
        """(topic, partition) of a name this template could have rendered, else ``None``.

        ``key`` is relative to the prefix, as ``Store.list_multipart_uploads`` returns it. A
        template without ``{{topic}}`` gives the topic as ``""``: the runtime then matches on the
        partition only, which is right when the sink reads one topic (the only case in which such
        a template is safe).
        """
        match = self._match(key)
        if match is None:
            return None
        topic = match.groupdict().get("topic") or ""
        return topic, int(match.group("partition"))

    def start_offset_of(self, key: str) -> int | None:
        """The start offset a name carries, or ``None`` if this template did not render it."""
        match = self._match(key)
        return None if match is None else int(match.group("start_offset"))


def key_text(key: object) -> str:
    """A record key as it appears in a name: text as is, bytes as UTF-8 (else URL-safe base64)."""
    if key is None:
        return "null"
    if isinstance(key, str):
        return key
    if isinstance(key, bytes | bytearray):
        try:
            return bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return base64.urlsafe_b64encode(bytes(key)).decode("ascii")
    return json.dumps(key, separators=(",", ":"), sort_keys=True)
