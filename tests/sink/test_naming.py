"""File names: rendered deterministically, read back by owner_of/start_offset_of, bad templates refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tierstore.sink.naming import DEFAULT_TEMPLATE, FileNameTemplate, TemplateError

# 2024-02-29T23:30:00Z: a leap day, half an hour before midnight UTC (already March 1 in Berlin).
LEAP_NIGHT_MS = int(datetime(2024, 2, 29, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)


def test_default_template_is_aivens() -> None:
    template = FileNameTemplate.default(".gz")
    assert template.text == DEFAULT_TEMPLATE
    assert template.render("events", 2, 1500, LEAP_NIGHT_MS, b"k") == "events-2-1500.gz"


def test_padding_is_ten_digits_for_partitions_and_twenty_for_offsets() -> None:
    template = FileNameTemplate.parse(
        "{{topic}}/{{partition:padding=true}}/{{start_offset:padding=true}}.csv"
    )
    name = template.render("events", 7, 123, None, None)
    assert name == "events/0000000007/00000000000000000123.csv"
    largest = template.render("events", 2**31 - 1, 2**63 - 1, None, None)
    assert largest == "events/2147483647/09223372036854775807.csv"
    # Padded names sort in offset order, which is why padding exists.
    names = [template.render("t", 0, offset, None, None) for offset in (5, 40, 300, 2000)]
    assert names == sorted(names)
    assert (
        FileNameTemplate.parse("{{topic}}-{{partition:padding=false}}-{{start_offset}}").render(
            "t", 7, 9, None, None
        )
        == "t-7-9"
    )


def test_timestamp_units_come_from_the_first_record_in_the_configured_zone() -> None:
    text = (
        "{{timestamp:unit=yyyy}}/{{timestamp:unit=MM}}/{{timestamp:unit=dd}}/{{timestamp:unit=HH}}/"
        "{{topic}}-{{partition}}-{{start_offset}}"
    )
    utc = FileNameTemplate.parse(text)
    assert utc.render("t", 0, 0, LEAP_NIGHT_MS, None) == "2024/02/29/23/t-0-0"
    berlin = FileNameTemplate.parse(text, timezone=ZoneInfo("Europe/Berlin"))
    assert berlin.render("t", 0, 0, LEAP_NIGHT_MS, None) == "2024/03/01/00/t-0-0"
    # No timestamp (Kafka's -1, or None) is the epoch: still a deterministic name.
    assert utc.render("t", 0, 0, -1, None) == utc.render("t", 0, 0, None, None) == "1970/01/01/00/t-0-0"


def test_rendering_is_deterministic() -> None:
    template = FileNameTemplate.parse(
        "{{topic}}/{{timestamp:unit=HH}}/{{partition}}-{{start_offset}}-{{key}}.json"
    )
    first = template.render("t", 1, 2, LEAP_NIGHT_MS, b"user-1")
    assert all(template.render("t", 1, 2, LEAP_NIGHT_MS, b"user-1") == first for _ in range(3))
    assert first == "t/23/1-2-user-1.json"


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (None, "null"),
        ("text-key", "text-key"),
        (b"bytes-key", "bytes-key"),
        (b"\xff\xfe", "__4="),  # not UTF-8: URL-safe base64
        ({"id": 5, "a": [1]}, '{"a":[1],"id":5}'),
    ],
)
def test_key_placeholder(key: object, text: str) -> None:
    template = FileNameTemplate.parse("{{key}}/{{partition}}-{{start_offset}}")
    assert template.render("t", 0, 1, None, key) == f"{text}/0-1"


TEMPLATES = [
    "{{topic}}-{{partition}}-{{start_offset}}",
    "{{topic}}/{{partition:padding=true}}/{{start_offset:padding=true}}.jsonl.gz",
    "{{timestamp:unit=yyyy}}/{{timestamp:unit=MM}}/{{topic}}+{{partition}}+{{start_offset}}",
    "{{partition}}_{{start_offset}}-{{topic}}",
    "{{key}}/{{topic}}-{{partition}}-{{start_offset}}",
]


@pytest.mark.parametrize("text", TEMPLATES)
@pytest.mark.parametrize("extension", ["", ".gz"])
@pytest.mark.parametrize(
    ("topic", "partition", "offset"),
    [("events", 0, 0), ("my-topic-1-2", 12, 345), ("a.b_c-9", 2**31 - 1, 2**63 - 1)],
)
def test_owner_of_round_trips(text: str, extension: str, topic: str, partition: int, offset: int) -> None:
    template = FileNameTemplate.parse(text, extension=extension)
    name = template.render(topic, partition, offset, LEAP_NIGHT_MS, b"k-1")
    assert template.owner_of(name) == (topic, partition)
    assert template.start_offset_of(name) == offset


def test_owner_of_rejects_names_of_other_templates() -> None:
    template = FileNameTemplate.parse(
        "{{topic}}/{{partition:padding=true}}/{{start_offset:padding=true}}.csv", extension=""
    )
    assert template.owner_of("events/0000000001/00000000000000000042.csv") == ("events", 1)
    for foreign in (
        "events/1/00000000000000000042.csv",  # not padded
        "events/0000000001/00000000000000000042.csv.gz",  # another extension
        "other/dir/events/0000000001/00000000000000000042.csv",
        "events/0000000001/00000000000000000042",
        "",
    ):
        assert template.owner_of(foreign) is None
        assert template.start_offset_of(foreign) is None
    gz = FileNameTemplate.default(".gz")
    assert gz.owner_of("events-3-10.gz") == ("events", 3)
    assert gz.owner_of("events-3-10") is None


def test_template_without_topic_owns_by_partition_only() -> None:
    template = FileNameTemplate.parse("{{partition}}/{{start_offset}}.csv")
    assert template.owner_of("4/99.csv") == ("", 4)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("{{topic}}-{{start_offset}}", ["has no {{partition}}"]),
        ("{{topic}}-{{partition}}", ["has no {{start_offset}}"]),
        (
            "{{topic}}-{{partition}}-{{offset}}",
            ["unknown placeholder {{offset}}", "{{start_offset:padding=true}}"],
        ),
        ("{{topic}}-{{partition}}-{{start_offset:pad=true}}", ["unknown parameter 'pad=true'", "padding="]),
        ("{{topic:upper=true}}-{{partition}}-{{start_offset}}", ["{{topic}} takes no parameter"]),
        ("{{timestamp:unit=ss}}-{{partition}}-{{start_offset}}", ["yyyy, MM, dd, HH"]),
        ("{{timestamp}}-{{partition}}-{{start_offset}}", ["needs a unit"]),
        ("{{topic}}-{{partition}}-{{start_offset}", ["unbalanced"]),
        ("{{partition}}-{{partition}}-{{start_offset}}", ["more than once"]),
        ("/{{partition}}-{{start_offset}}", ["relative to aws.s3.prefix"]),
        ("", ["is empty", "has no {{partition}}"]),
    ],
)
def test_bad_templates_name_every_problem(text: str, needles: list[str]) -> None:
    with pytest.raises(TemplateError) as raised:
        FileNameTemplate.parse(text)
    joined = " | ".join(raised.value.problems)
    for needle in needles:
        assert needle in joined, joined


def test_spaces_inside_braces_are_allowed_as_in_aiven() -> None:
    template = FileNameTemplate.parse("{{ topic }}-{{ partition }}-{{ start_offset }}")
    assert template.render("t", 1, 2, None, None) == "t-1-2"
