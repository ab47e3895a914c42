"""Last-Modified as the gateway writes it: the same text as the standard library's IMF-fixdate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from tierstore.server.s3.handlers.conditions import http_date

WHEN = [
    datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC),
    datetime(2026, 12, 7, 23, 59, 59, 999_999, tzinfo=UTC),  # microseconds dropped, not rounded
    datetime(2024, 2, 29, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),  # another zone: in GMT
    datetime(1999, 1, 3, 12, 5, 9, tzinfo=timezone(timedelta(hours=9, minutes=30))),
]


@pytest.mark.parametrize("when", WHEN, ids=str)
def test_http_date_is_the_imf_fixdate_of_the_second(when: datetime) -> None:
    expected = format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)
    assert http_date(when) == expected


def test_every_day_and_month_is_named_in_english() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    for offset in range(0, 366, 3):
        when = day + timedelta(days=offset, hours=offset % 24)
        assert http_date(when) == format_datetime(when, usegmt=True)
