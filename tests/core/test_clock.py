"""`clock.iso`: the one timestamp format the store keeps and the destinations receive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from console.core.clock import iso


def test_years_before_1000_keep_four_digits() -> None:
    # strftime("%Y") gives "999" / "1" on glibc: a year Segment and text ordering misread.
    assert iso(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"
    assert iso(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"


def test_iso_is_utc_with_milliseconds() -> None:
    moment = datetime(2024, 4, 16, 18, 54, 9, 697_999, tzinfo=timezone(timedelta(hours=2)))
    assert iso(moment) == "2024-04-16T16:54:09.697Z"
