"""Value parsers: each validates one raw setting value and converts it, or says what is accepted.

A parser takes the value as the dialect delivered it (a string from a properties file, or a
YAML/JSON scalar) and raises :class:`InvalidValueError` with a reason that reads after the value,
e.g. ``"is not a boolean; use true or false"``. The caller puts the key and the value (or
"the value given", for secrets) in front, so parsers never see key names and never print values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from tierstore.settings.model import (
    GiB,
    MiB,
    StoreLocation,
    format_size,
    parse_location,
    validate_bucket_name,
)
from tierstore.settings.secret import Secret

T = TypeVar("T")


class InvalidValueError(ValueError):
    """A value a parser cannot accept. ``echo=False`` when the value itself must not be shown."""

    def __init__(self, reason: str, *, echo: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.echo = echo


@dataclass(frozen=True)
class ValueParser(Generic[T]):
    """A named conversion with the documentation and examples the README and tests use."""

    accepts: str
    convert: Callable[[object], T]
    example: str
    invalid_example: str

    def __call__(self, raw: object) -> T:
        if raw is None:
            raise InvalidValueError("has no value; give one or remove the key")
        return self.convert(raw)


def _scalar_text(raw: object, what: str) -> str:
    """The text of a scalar; YAML and JSON hand over numbers and booleans as such."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw).strip()
    raise InvalidValueError(f"is not {what}; give a single value, not a list or mapping")


# --- booleans and numbers ---------------------------------------------------------------


def _to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else None
    # Only true/false: Java's Boolean.parseBoolean reads every other word as false, which
    # silently turns "yes" into "no"; refusing it is kinder.
    if text == "true":
        return True
    if text == "false":
        return False
    raise InvalidValueError("is not a boolean; use true or false")


BOOL: ValueParser[bool] = ValueParser("`true` or `false`", _to_bool, "true", "yes please")


def _whole_number(raw: object, what: str) -> int:
    if isinstance(raw, bool):
        raise InvalidValueError(f"is not {what}")
    if isinstance(raw, int):
        return raw
    text = raw.strip() if isinstance(raw, str) else ""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise InvalidValueError(f"is not {what}")


def integer(low: int, high: int, example: int) -> ValueParser[int]:
    def convert(raw: object) -> int:
        value = _whole_number(raw, f"a whole number; use one from {low} to {high}")
        if not low <= value <= high:
            raise InvalidValueError(f"is out of range; use a whole number from {low} to {high}")
        return value

    return ValueParser(f"whole number {low} to {high}", convert, str(example), "many")


def retries_as_attempts(high: int = 99) -> ValueParser[int]:
    """A retry count (how many times to try again) as the number of attempts (one more)."""

    def convert(raw: object) -> int:
        value = _whole_number(raw, f"a retry count; use a whole number from 0 to {high}")
        if not 0 <= value <= high:
            raise InvalidValueError(f"is out of range; use a whole number of retries from 0 to {high}")
        return value + 1

    return ValueParser(f"whole number of retries 0 to {high} (attempts = retries + 1)", convert, "4", "-1")


def _to_port(raw: object) -> int:
    value = _whole_number(raw, "a port; use a number from 1 to 65535")
    if not 1 <= value <= 65535:
        raise InvalidValueError("is not a port; use a number from 1 to 65535")
    return value


PORT: ValueParser[int] = ValueParser("port 1 to 65535", _to_port, "3128", "70000")


def _to_fraction(raw: object) -> float:
    # Strictly inside (0, 1): 0 would renew credentials as soon as they arrive, 1 only at expiry.
    advice = "use a number between 0 and 1, e.g. 0.75"
    if isinstance(raw, bool):
        raise InvalidValueError(f"is not a fraction; {advice}")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = raw.strip() if isinstance(raw, str) else ""
        if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", text):
            raise InvalidValueError(f"is not a fraction; {advice}")
        value = float(text)
    if not 0.0 < value < 1.0:  # also false for NaN
        raise InvalidValueError(f"is out of range; {advice}")
    return value


FRACTION: ValueParser[float] = ValueParser(
    "number between 0 and 1 (exclusive), such as `0.75`", _to_fraction, "0.8", "75%"
)


# --- sizes --------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": MiB,
    "mb": MiB,
    "mib": MiB,
    "g": GiB,
    "gb": GiB,
    "gib": GiB,
    "t": 1024 * GiB,
    "tb": 1024 * GiB,
    "tib": 1024 * GiB,
}
# A number and an optional unit word, as in "16MB", "1.5 GiB", "500ms", "2 min".
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_size(raw: object) -> int:
    """Bytes from a number or a number with a binary unit (``16MB`` = ``16MiB``); not range-checked."""
    reason = (
        "is not a size; use bytes (16777216) or a number with K, KB, MB, GB "
        "(binary, as in Hadoop and Alluxio: 16MB = 16MiB = 16777216 bytes)"
    )
    if isinstance(raw, bool):
        raise InvalidValueError(reason)
    if isinstance(raw, int):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else ""
    match = _AMOUNT.fullmatch(text)
    if not match or match.group(2) not in _SIZE_UNITS:
        raise InvalidValueError(reason)
    # Decimal, so "1.5GB" is exactly 1536 MiB rather than a float's approximation.
    return int(Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)])


def size(low: int, high: int, *, what: str = "size") -> ValueParser[int]:
    def convert(raw: object) -> int:
        value = parse_size(raw)
        if value < low:
            raise InvalidValueError(f"is below the {format_size(low)} minimum {what}")
        if value > high:
            raise InvalidValueError(f"is above the {format_size(high)} maximum {what}")
        return value

    accepts = f"size {format_size(low)} to {format_size(high)}: bytes or `16MB`/`16MiB`/`64M` (binary units)"
    return ValueParser(accepts, convert, "32MB", "1MB")


PART_SIZE = size(5 * MiB, 5 * GiB, what="part size S3 accepts")
# At least two parts of S3's smallest size; whether it holds two parts of the size in use is
# checked beside the part size (tierstore.settings.builder).
BUFFER_MAX = replace(
    size(10 * MiB, 4096 * GiB, what="buffer cap (two parts of at least 5 MiB)"),
    accepts="size of at least two parts (one uploading, one being filled): bytes or `256MB`/`1GiB` "
    "(binary units)",
    example="256MB",
)


# --- durations ----------------------------------------------------------------------------

_DURATION_UNITS = {
    "ms": 0.001,
    "milli": 0.001,
    "millis": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_UNIT_NAMES = {0.001: "milliseconds", 1.0: "seconds"}


def _parse_seconds(raw: object, plain_unit: float) -> float:
    unit_name = _UNIT_NAMES.get(plain_unit, "seconds")
    reason = (
        "is not a duration; use a number with a unit such as 500ms, 30s, 2m or 1h "
        f"(a plain number is {unit_name})"
    )
    if isinstance(raw, bool):
        raise InvalidValueError(reason)
    if isinstance(raw, int | float):
        if raw < 0:
            raise InvalidValueError(reason)
        return float(raw) * plain_unit
    text = raw.strip().lower() if isinstance(raw, str) else ""
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise InvalidValueError(reason)
    unit = match.group(2)
    factor = plain_unit if unit == "" else _DURATION_UNITS.get(unit)
    if factor is None:
        raise InvalidValueError(reason)
    return float(match.group(1)) * factor


def duration(
    *, plain_unit: float, high_seconds: float = 86400.0, zero_ok: bool = False
) -> ValueParser[float]:
    """A positive duration in seconds; ``plain_unit`` is what a bare number means (0.001 = ms).

    ``zero_ok``: 0 is accepted too (a margin that may be none at all).
    """

    def convert(raw: object) -> float:
        seconds = _parse_seconds(raw, plain_unit)
        if zero_ok and not 0 <= seconds <= high_seconds:
            raise InvalidValueError(f"is out of range; use 0 to {high_seconds:g} seconds")
        if not zero_ok and not 0 < seconds <= high_seconds:
            raise InvalidValueError(f"is out of range; use more than 0 and at most {high_seconds:g} seconds")
        return seconds

    unit_name = _UNIT_NAMES.get(plain_unit, "seconds")
    zero = " (0 allowed)" if zero_ok else ""
    return ValueParser(
        f"duration such as `500ms`, `30s`, `2m`{zero}; a plain number is {unit_name}", convert, "30s", "soon"
    )


def _spoken(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def duration_whole_seconds(low: int, high: int) -> ValueParser[int]:
    def convert(raw: object) -> int:
        seconds = _parse_seconds(raw, 1.0)
        if seconds != int(seconds):
            raise InvalidValueError("is not a whole number of seconds")
        if not low <= seconds <= high:
            raise InvalidValueError(
                f"is out of range; use {low} to {high} seconds ({_spoken(low)} to {_spoken(high)})"
            )
        return int(seconds)

    return ValueParser(
        f"{low} to {high} seconds: a plain number of seconds or `30m`, `1h`", convert, "3600", "60"
    )


ROLE_DURATION = duration_whole_seconds(900, 43200)
# How long before expiry session credentials are renewed at the latest; plain numbers are seconds.
REFRESH_MARGIN = duration(plain_unit=1.0, zero_ok=True)


# --- choices, modes and mappings ----------------------------------------------------------


def choice(options: Mapping[str, T], accepts: str, *, what: str) -> ValueParser[T]:
    """One of a fixed set of spellings (case-insensitive, ``-`` and ``_`` alike) mapped to a value."""

    def normal(text: str) -> str:
        return text.strip().lower().replace("-", "_")

    table = {normal(name): value for name, value in options.items()}

    def convert(raw: object) -> T:
        text = _scalar_text(raw, what)
        if normal(text) not in table:
            raise InvalidValueError(f"is not {what}; use {accepts}")
        return table[normal(text)]

    return ValueParser(accepts.replace(" or ", ", "), convert, next(iter(options)), "sometimes")


CHECKSUM_MODE = choice(
    {"when_supported": "when_supported", "when_required": "when_required"},
    "when_supported or when_required",
    what="a checksum mode",
)
RETRY_MODE = choice(
    {"standard": "standard", "adaptive": "adaptive", "legacy": "legacy"},
    "standard, adaptive or legacy",
    what="a retry mode",
)


def _to_octal_mode(raw: object) -> int:
    # A YAML or JSON number such as 700 is read by its digits: people write modes in octal.
    reason = "is not a permission mode; use octal digits such as 0700 or 0755"
    text = _scalar_text(raw, "a permission mode") if not isinstance(raw, bool) else ""
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise InvalidValueError(reason)
    return int(text, 8)


OCTAL_MODE: ValueParser[int] = ValueParser("octal mode such as `0700`", _to_octal_mode, "0700", "0800")


def _to_id_mapping(raw: object) -> dict[str, str]:
    reason = "is not an id-to-name mapping; use id1=user1;id2=user2"
    if isinstance(raw, Mapping):
        pairs = [(str(key).strip(), str(value).strip()) for key, value in raw.items()]
    elif isinstance(raw, str):
        pairs = []
        for entry in raw.split(";"):
            if not entry.strip():
                continue
            owner, equals, name = entry.partition("=")
            if not equals:
                raise InvalidValueError(reason)
            pairs.append((owner.strip(), name.strip()))
    else:
        raise InvalidValueError(reason)
    result: dict[str, str] = {}
    for owner, name in pairs:
        if not owner or not name:
            raise InvalidValueError(f"{reason} (an id or a name is empty)")
        if owner in result:
            raise InvalidValueError(f"maps id {owner!r} twice; give each id once")
        result[owner] = name
    return result


ID_MAPPING: ValueParser[dict[str, str]] = ValueParser(
    "`id1=user1;id2=user2`", _to_id_mapping, "79a1b2c3=hdfs;5c4d3e2f=alluxio", "79a1b2c3:hdfs"
)


# --- names, text and secrets --------------------------------------------------------------


def pattern(regex: str, accepts: str, example: str, invalid_example: str, *, what: str) -> ValueParser[str]:
    compiled = re.compile(regex)

    def convert(raw: object) -> str:
        text = _scalar_text(raw, what)
        if not compiled.fullmatch(text):
            raise InvalidValueError(f"is not {what}; use {accepts}")
        return text

    return ValueParser(accepts, convert, example, invalid_example)


REGION = pattern(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
    "a region name such as us-east-1 (letters, digits, '-', '_', '.')",
    "us-east-1",
    "us east 1",
    what="a region name",
)
SESSION_NAME = pattern(
    r"[\w+=,.@-]{2,64}",
    "2 to 64 characters of letters, digits and +=,.@_-",
    "tierstore-ingest",
    "no spaces allowed",
    what="a role session name",
)
EXTERNAL_ID = pattern(
    r"[\w+=,.@:/-]{2,1224}",
    "2 to 1224 characters of letters, digits and +=,.@:/_-",
    "team-42",
    "x",
    what="an external id",
)
KEY_ID = pattern(
    r"\S{1,128}",
    "an id without spaces",
    "AKIAEXAMPLEKEYID",
    "AKIA EXAMPLE",
    what="an access key id",
)
KMS_KEY_ID = pattern(
    r"[\w:/.+=,@-]{1,2048}",
    "a KMS key id, alias (alias/NAME) or key ARN",
    "alias/tierstore",
    "my key",
    what="a KMS key id",
)
USERNAME = pattern(r"\S+", "a user name without spaces", "proxyuser", "two words", what="a user name")

_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def _is_host(text: str) -> bool:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:  # an IPv6 address
        return bool(re.fullmatch(r"[0-9A-Fa-f:.]+", text))
    return len(text) <= 253 and bool(_HOST.fullmatch(text))


def _to_host(raw: object) -> str:
    text = _scalar_text(raw, "a host name")
    if "://" in text or "@" in text:
        # The text may carry credentials (http://user:pass@proxy), so it is not echoed.
        raise InvalidValueError(
            "is not a host name; give the host only (such as proxy.example.com), without scheme or user",
            echo=False,
        )
    if not _is_host(text):
        raise InvalidValueError("is not a host name; use a name such as proxy.example.com or an IP address")
    return text


HOST: ValueParser[str] = ValueParser("host name or IP address", _to_host, "proxy.internal", "bad host!")


def _secret(raw: object) -> Secret:
    if not isinstance(raw, str):
        # YAML turns 0123 into 83 and yes into true: a secret must arrive exactly as written.
        raise InvalidValueError("is not text; quote it so it is read exactly as written", echo=False)
    text = raw
    if not text:
        raise InvalidValueError("is empty", echo=False)
    if any(character.isspace() for character in text):
        # In a properties file trailing spaces belong to the value; a secret never has them.
        raise InvalidValueError("contains whitespace (look for trailing spaces)", echo=False)
    return Secret(text)


SECRET: ValueParser[Secret] = ValueParser(
    "text without spaces (quoted in YAML if it looks like a number)", _secret, "s3cr3t-example", "two words"
)


def _policy(raw: object) -> str:
    # Compact JSON: STS limits the packed policy size, and indentation would count against it.
    if isinstance(raw, Mapping):
        return json.dumps(raw, separators=(",", ":"), sort_keys=True)
    if not isinstance(raw, str):
        raise InvalidValueError("is not a JSON policy document")
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidValueError(
            f"is not a JSON policy document ({error.msg} at column {error.colno})"
        ) from error
    if not isinstance(document, dict):
        raise InvalidValueError("is not a JSON policy document; it must be a JSON object")
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


POLICY: ValueParser[str] = ValueParser(
    "an IAM policy as a JSON object",
    _policy,
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
    "allow everything",
)


_ARN = re.compile(
    r"arn:(?P<partition>[a-z][a-z0-9-]*):iam:"
    r"(?::(?P<account>\d{12})?:|:)"
    r"role/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})"
)


def _role_arn(raw: object) -> str:
    text = _scalar_text(raw, "a role ARN")
    # Besides AWS's arn:aws:iam::123456789012:role/NAME, S3-compatible stores name roles with an
    # empty account (MinIO: arn:minio:iam:::role/NAME) or none at all (SeaweedFS: arn:aws:iam::role/NAME).
    if not _ARN.fullmatch(text):
        raise InvalidValueError(
            "is not a role ARN; use arn:aws:iam::ACCOUNT:role/NAME (ACCOUNT is 12 digits)"
        )
    return text


ROLE_ARN: ValueParser[str] = ValueParser(
    "`arn:aws:iam::ACCOUNT:role/NAME` (12-digit account; S3-compatible stores may leave it empty)",
    _role_arn,
    "arn:aws:iam::123456789012:role/tierstore-writer",
    "arn:aws:iam::role",
)


def _endpoint(raw: object) -> str:
    """An http(s) URL, or a bare ``host[:port]`` whose scheme the dialect decides."""
    text = _scalar_text(raw, "an endpoint URL")
    has_scheme = "://" in text
    parts = urlsplit(text if has_scheme else f"//{text}")
    if parts.username is not None or parts.password is not None:
        raise InvalidValueError(
            "holds credentials; give the endpoint without user:password@ and the keys in their own settings",
            echo=False,
        )
    reason = "is not an endpoint; use a URL such as https://s3.example.com or http://127.0.0.1:8333"
    if has_scheme and parts.scheme.lower() not in ("http", "https"):
        raise InvalidValueError(f"{reason} (only http and https)")
    host = parts.hostname or ""
    if not host or not _is_host(host) or parts.query or parts.fragment:
        raise InvalidValueError(reason)
    try:
        port = parts.port
    except ValueError as error:
        raise InvalidValueError(f"{reason} (the port must be 1 to 65535)") from error
    if port is not None and not 1 <= port <= 65535:
        raise InvalidValueError(f"{reason} (the port must be 1 to 65535)")
    return text.rstrip("/")


ENDPOINT: ValueParser[str] = ValueParser(
    "URL `http(s)://host[:port]` (or `host[:port]`)", _endpoint, "http://127.0.0.1:8333", "ftp://nope"
)


def _location(raw: object) -> StoreLocation:
    text = _scalar_text(raw, "a location")
    if "@" in urlsplit(text).netloc:
        # parse_location would quote the user:password@ part back in its complaint.
        raise InvalidValueError("holds credentials; give the keys in their own settings", echo=False)
    try:
        return parse_location(text)
    except ValueError as error:
        raise InvalidValueError(f"is not a store location: {error}") from error


LOCATION: ValueParser[StoreLocation] = ValueParser(
    "`s3://BUCKET/PREFIX`, `s3a://BUCKET/PREFIX` or `file:///DIR`",
    _location,
    "s3://warehouse/tables",
    "hdfs://namenode/x",
)


def _bucket(raw: object) -> str:
    text = _scalar_text(raw, "a bucket name")
    try:
        validate_bucket_name(text)
    except ValueError as error:
        raise InvalidValueError(f"is not a bucket name: {error}") from error
    return text


BUCKET: ValueParser[str] = ValueParser(
    "bucket name: 3 to 63 lower-case letters, digits, '.', '-'", _bucket, "warehouse", "My_Bucket"
)


def _prefix(raw: object) -> str:
    text = _scalar_text(raw, "a key prefix")
    if any(ord(character) < 32 for character in text):
        raise InvalidValueError("is not a key prefix; it holds control characters")
    return text.strip("/")


PREFIX: ValueParser[str] = ValueParser("key prefix such as `tables/`", _prefix, "tables/", "bad\tprefix")


AnyParser = ValueParser[Any]
