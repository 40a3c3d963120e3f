"""The one place the store and the engine read the time from, so tests and snapshots can freeze it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_zone: tzinfo = UTC
"""The operator's time zone: where a day starts for daily counters, failure days and
"today" (`--tz` / the `timezone` setting). Stored timestamps stay UTC whatever it is."""


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _now()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests, snapshots); `None` restores the real one."""
    global _now
    _now = clock or (lambda: datetime.now(UTC))


def iso(moment: datetime) -> str:
    """`2024-04-16T16:54:09.697Z`: the seed's timestamp format, millisecond precision, UTC."""
    # Not strftime("%Y"): glibc does not zero-pad years before 1000 ("1-01-01T..."), which
    # Segment and the store's text ordering would both misread.
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def now_iso() -> str:
    return iso(now())


def zone_named(name: str) -> tzinfo:
    """`UTC`, `Europe/Paris` ... as a time zone; raises ValueError naming the bad name."""
    text = name.strip()
    if text.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        ) from None


def set_zone(zone: tzinfo | None) -> None:
    """Where a day starts from now on (None: UTC, the default)."""
    global _zone
    _zone = zone or UTC


def zone() -> tzinfo:
    return _zone


def zone_name() -> str:
    return "UTC" if _zone is UTC else str(_zone)


def today() -> str:
    """The operator's day (`YYYY-MM-DD` in the operator's time zone, UTC by default): the day
    daily counters and failures are booked on as they happen."""
    return now().astimezone(_zone).strftime("%Y-%m-%d")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (a trailing `Z` allowed); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
