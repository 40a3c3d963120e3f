"""The Sync summary's full history (seed 002: "View Full History"): every day a destination did
something, newest first, one page at a time (keyset on day and destination), within an optional
date range. Completions come split into contacts and events; today's row carries what waits:
the queued rows and the users of a ReSci backfill not imported yet."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from console.core import clock
from state.models import DailyStat, DailyStreamStat, Destination, table_of
from state.queries import SummaryRow, waiting_by_destination

STATS = table_of(DailyStat)
STREAMS = table_of(DailyStreamStat)
DESTINATIONS = table_of(Destination)

SummaryPosition = tuple[str, int]
"""(day, destination id) of the last row of a page; the next page starts past it."""


def summary_position(row: SummaryRow) -> SummaryPosition:
    return (row.date, row.destination_id)


def summary_page(
    conn: Connection,
    destination: str | None = None,
    *,
    since: str | None = None,
    until: str | None = None,
    after: SummaryPosition | None = None,
    limit: int = 100,
) -> list[SummaryRow]:
    """At most `limit` rows past `after`, days from `since` to `until` (inclusive,
    YYYY-MM-DD; None: unbounded)."""
    names = dict(conn.execute(select(DESTINATIONS.c.id, DESTINATIONS.c.name)).all())
    conditions: list[ColumnElement[bool]] = []
    if destination is not None:
        conditions.append(
            STATS.c.destination_id.in_([i for i, n in names.items() if n == destination])
        )
    if since is not None:
        conditions.append(STATS.c.day >= since)
    if until is not None:
        conditions.append(STATS.c.day <= until)
    if after is not None:
        day, destination_id = after
        conditions.append(
            or_(
                STATS.c.day < day, and_(STATS.c.day == day, STATS.c.destination_id > destination_id)
            )
        )
    stats = conn.execute(
        select(
            STATS.c.destination_id,
            STATS.c.day,
            STATS.c.completions,
            STATS.c.failures,
            STATS.c.suppressed,
        )
        .where(*conditions)
        .order_by(STATS.c.day.desc(), STATS.c.destination_id)
        .limit(limit)
    ).all()
    split = _split(conn, [(row.destination_id, row.day) for row in stats])
    today = clock.today()
    waiting = waiting_by_destination(conn)
    rows = [
        SummaryRow(
            row.day,
            names.get(row.destination_id, f"#{row.destination_id}"),
            row.completions,
            row.failures,
            row.suppressed,
            waiting.get(row.destination_id, 0) if row.day == today else 0,
            contacts=split.get((row.destination_id, row.day, "contacts"), 0),
            events=split.get((row.destination_id, row.day, "events"), 0),
            destination_id=row.destination_id,
        )
        for row in stats
    ]
    in_range = (since is None or since <= today) and (until is None or today <= until)
    if after is None and in_range:
        # A destination with rows waiting but no activity yet today still shows what waits.
        seen = {row.destination_id for row in rows if row.date == today}
        idle = [
            SummaryRow(today, names[i], 0, 0, 0, count, destination_id=i)
            for i, count in sorted(waiting.items())
            if count
            and i in names
            and i not in seen
            and (destination is None or names[i] == destination)
        ]
        rows = idle + rows
    return rows


def _split(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str, str], int]:
    """(destination id, day, stream) -> completions, for the page's rows."""
    if not keys:
        return {}
    days = [day for _, day in keys]
    stmt = select(
        STREAMS.c.destination_id, STREAMS.c.day, STREAMS.c.stream, STREAMS.c.completions
    ).where(
        STREAMS.c.destination_id.in_({i for i, _ in keys}),
        STREAMS.c.day >= min(days),
        STREAMS.c.day <= max(days),
    )
    return {(r.destination_id, r.day, r.stream): r.completions for r in conn.execute(stmt)}
