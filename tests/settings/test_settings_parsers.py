"""Value parsers and the properties reader, case by case."""

from __future__ import annotations

import pytest

from tierstore.settings import parsers as p
from tierstore.settings.parsers import InvalidValueError
from tierstore.settings.readers import read_properties
from tierstore.settings.secret import Secret

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("16MB", 16 * MiB),
        ("16MiB", 16 * MiB),
        ("16mb", 16 * MiB),
        ("16 M", 16 * MiB),
        ("16777216", 16 * MiB),
        (16777216, 16 * MiB),
        ("1.5GB", 1536 * MiB),
        ("5GiB", 5 * 1024 * MiB),
    ],
)
def test_sizes(raw: object, size: int) -> None:
    assert p.PART_SIZE(raw) == size


@pytest.mark.parametrize("raw", ["16 megs", "MB", "-16MB", "16PB", True, "1e6"])
def test_not_sizes(raw: object) -> None:
    with pytest.raises(InvalidValueError, match="is not a size"):
        p.PART_SIZE(raw)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1min", 60.0),
        ("50sec", 50.0),
        ("1h", 3600.0),
        (1500, 1.5),
    ],
)
def test_durations_plain_numbers_in_the_dialect_unit(raw: object, seconds: float) -> None:
    assert p.duration(plain_unit=0.001)(raw) == seconds


def test_durations_plain_seconds_and_range() -> None:
    assert p.ROLE_DURATION("3600") == 3600
    assert p.ROLE_DURATION("30m") == 1800
    assert p.ROLE_DURATION(43200) == 43200
    for bad, reason in (("899", "out of range"), ("12h1s", "not a duration"), ("900.5", "whole number")):
        with pytest.raises(InvalidValueError, match=reason):
            p.ROLE_DURATION(bad)
    with pytest.raises(InvalidValueError, match="out of range"):
        p.duration(plain_unit=1.0)("0s")


def test_booleans_are_true_or_false_only() -> None:
    assert p.BOOL("TRUE") is True
    assert p.BOOL(False) is False
    for bad in ("yes", "1", 1, "on"):
        with pytest.raises(InvalidValueError, match="use true or false"):
            p.BOOL(bad)
    with pytest.raises(InvalidValueError, match="has no value"):
        p.BOOL(None)


def test_ports_and_integers() -> None:
    assert p.PORT("8080") == 8080
    assert p.PORT(65535) == 65535
    for bad in ("0", "65536", "http", True, 80.0):
        with pytest.raises(InvalidValueError, match="is not a port"):
            p.PORT(bad)
    assert p.retries_as_attempts()("0") == 1


def test_octal_modes() -> None:
    assert p.OCTAL_MODE("0700") == 0o700
    assert p.OCTAL_MODE("755") == 0o755
    assert p.OCTAL_MODE(750) == 0o750  # a YAML/JSON number is read by its digits
    for bad in ("0800", "rwx", "07000", True):
        with pytest.raises(InvalidValueError, match="octal"):
            p.OCTAL_MODE(bad)


def test_id_mappings() -> None:
    assert p.ID_MAPPING("id1=user1;id2=user2;") == {"id1": "user1", "id2": "user2"}
    assert p.ID_MAPPING({"id1": "user1"}) == {"id1": "user1"}
    for bad, reason in (("id1:user1", "id1=user1"), ("id1=", "empty"), ("a=b;a=c", "twice")):
        with pytest.raises(InvalidValueError, match=reason):
            p.ID_MAPPING(bad)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/writer",
        "arn:aws:iam::123456789012:role/path/to/writer",
        "arn:aws-cn:iam::123456789012:role/writer",
        "arn:minio:iam:::role/writer",
        "arn:aws:iam::role/writer",
    ],
)
def test_role_arns(arn: str) -> None:
    assert p.ROLE_ARN(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345:role/x",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:user/x",
        "role/x",
        "arn:aws:iam::role",
    ],
)
def test_not_role_arns(arn: str) -> None:
    with pytest.raises(InvalidValueError, match="is not a role ARN"):
        p.ROLE_ARN(arn)


def test_endpoints() -> None:
    assert p.ENDPOINT("https://s3.example.com/") == "https://s3.example.com"
    assert p.ENDPOINT("127.0.0.1:8333") == "127.0.0.1:8333"
    assert p.ENDPOINT("http://[::1]:9000") == "http://[::1]:9000"
    for bad in ("ftp://x", "http://", "http://host:99999", "http://host/?a=b", "not a host"):
        with pytest.raises(InvalidValueError, match="is not an endpoint"):
            p.ENDPOINT(bad)
    with pytest.raises(InvalidValueError) as caught:
        p.ENDPOINT("http://user:pw@host")
    assert caught.value.echo is False


def test_choices_are_case_and_dash_insensitive() -> None:
    assert p.CHECKSUM_MODE("WHEN-REQUIRED") == "when_required"
    assert p.RETRY_MODE("Adaptive") == "adaptive"
    with pytest.raises(InvalidValueError, match="use when_supported or when_required"):
        p.CHECKSUM_MODE("always")


def test_secrets_and_policies() -> None:
    assert p.SECRET("abc") == Secret("abc")
    with pytest.raises(InvalidValueError) as caught:
        p.SECRET("abc ")
    assert caught.value.echo is False
    assert p.POLICY('{"Version": "2012-10-17"}') == '{"Version":"2012-10-17"}'
    with pytest.raises(InvalidValueError, match="JSON object"):
        p.POLICY("[1]")


def test_properties_syntax_follows_java() -> None:
    document = read_properties(
        "# comment\n"
        "! also a comment\n"
        "a=1\n"
        "b: 2\n"
        "c 3\n"
        "  d = spaced = value\n"
        "e=first \\\n"
        "   second\n"
        "f\\:g=escaped colon\n"
        "h=tab\\there \\u0041\n"
        "i\n",
        "x.properties",
    )
    assert document.values == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "spaced = value",
        "e": "first second",
        "f:g": "escaped colon",
        "h": "tab\there A",
        "i": "",
    }
    assert document.lines["e"] == 7
    assert document.lines["h"] == 10
    assert document.problems == []


@pytest.mark.parametrize(("raw", "value"), [("0.75", 0.75), (".5", 0.5), (" 0.9 ", 0.9), (0.25, 0.25)])
def test_fractions(raw: object, value: float) -> None:
    assert p.FRACTION(raw) == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0", "is out of range"),
        ("1", "is out of range"),
        ("1.0", "is out of range"),
        (0, "is out of range"),
        (1, "is out of range"),
        (1.5, "is out of range"),
        (float("nan"), "is out of range"),
        ("75%", "is not a fraction"),
        ("-0.5", "is not a fraction"),
        ("nan", "is not a fraction"),
        ("three quarters", "is not a fraction"),
        (True, "is not a fraction"),
        ([0.5], "is not a fraction"),
    ],
)
def test_not_fractions(raw: object, reason: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        p.FRACTION(raw)
    assert caught.value.reason == f"{reason}; use a number between 0 and 1, e.g. 0.75"


def test_refresh_margin_is_a_duration_in_plain_seconds_that_may_be_zero() -> None:
    assert p.REFRESH_MARGIN("0") == 0.0
    assert p.REFRESH_MARGIN(0) == 0.0
    assert p.REFRESH_MARGIN(90) == 90.0
    assert p.REFRESH_MARGIN("2m") == 120.0
    assert p.REFRESH_MARGIN("500ms") == 0.5
    for bad, reason in (("-1", "not a duration"), (-1, "not a duration"), ("soon", "not a duration")):
        with pytest.raises(InvalidValueError, match=reason):
            p.REFRESH_MARGIN(bad)
    with pytest.raises(InvalidValueError, match="out of range; use 0 to 86400 seconds"):
        p.REFRESH_MARGIN("2d")
