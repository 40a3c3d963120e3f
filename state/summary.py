"""The Sync summary: the last days with activity for the chart (`daily_summary`), and the full
history (seed 002: "View Full History"), every day a destination did something, newest first,
one page at a time (keyset on day and destination), within an optional date range. Completions come split into contacts and events; today's row carries what waits:
the queued rows and the users of a ReSci backfill not imported yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from console.core import clock
from console.core.vocab import ImportJobStatus, OutboxStatus
from state.destinations import destination_names
from state.models import DailyStat, DailyStreamStat, ImportJob, OutboxRow, table_of

OUTBOX = table_of(OutboxRow)
STATS = table_of(DailyStat)
STREAMS = table_of(DailyStreamStat)
JOBS = table_of(ImportJob)


@dataclass(frozen=True)
class SummaryRow:
    date: str
    destination: str
    completions: int
    failures: int
    suppressed: int
    queued: int
    contacts: int = 0
    """Of the completions, contacts (identify, user updates, imported users); `events` the
    rest. Days before the split was counted have neither."""
    events: int = 0
    destination_id: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "date": self.date,
            "destination": self.destination,
            "completions": self.completions,
            "contacts": self.contacts,
            "events": self.events,
            "failures": self.failures,
            "suppressed": self.suppressed,
            "queued": self.queued,
        }


def _queued_by_destination(conn: Connection) -> dict[int, int]:
    return dict(
        conn.execute(
            select(OUTBOX.c.destination_id, func.count())
            .where(OUTBOX.c.status == OutboxStatus.QUEUED)
            .group_by(OUTBOX.c.destination_id)
        ).all()
    )


PENDING_JOBS = [status.value for status in ImportJobStatus if status.pending]


def waiting_by_destination(conn: Connection) -> dict[int, int]:
    """Rows queued now, plus the users of ReSci backfills still being imported."""
    waiting = _queued_by_destination(conn)
    pending = conn.execute(
        select(JOBS.c.destination_id, func.sum(JOBS.c.rows))
        .where(JOBS.c.status.in_(PENDING_JOBS))
        .group_by(JOBS.c.destination_id)
    )
    for destination_id, rows in pending:
        waiting[destination_id] = waiting.get(destination_id, 0) + int(rows or 0)
    return waiting


def daily_summary(
    conn: Connection, destination: str | None = None, days: int = 30
) -> list[SummaryRow]:
    """One row per destination and day, newest first, for the last `days` days with activity
    (the chart; `state.summary` pages the full history). `queued` is what waits now (queued rows
    and a pending backfill's users), shown on today's row (a queue has no history)."""
    names = destination_names(conn)
    stmt = select(
        STATS.c.destination_id,
        STATS.c.day,
        STATS.c.completions,
        STATS.c.failures,
        STATS.c.suppressed,
    ).order_by(STATS.c.day.desc(), STATS.c.destination_id)
    if destination is not None:
        ids = [i for i, n in names.items() if n == destination]
        stmt = stmt.where(STATS.c.destination_id.in_(ids))
    today = clock.today()
    queued = waiting_by_destination(conn)
    rows: list[SummaryRow] = []
    seen_today: set[int] = set()
    cutoff_days: list[str] = []
    for dest_id, day, completions, failures, suppressed in conn.execute(stmt):
        if day not in cutoff_days:
            if len(cutoff_days) >= days:
                break
            cutoff_days.append(day)
        if day == today:
            seen_today.add(dest_id)
        rows.append(
            SummaryRow(
                day,
                names.get(dest_id, f"#{dest_id}"),
                completions,
                failures,
                suppressed,
                queued.get(dest_id, 0) if day == today else 0,
            )
        )
    # A destination with queued rows but no activity yet today still shows what waits.
    for dest_id, count in queued.items():
        if dest_id not in seen_today and (destination is None or names.get(dest_id) == destination):
            rows.insert(0, SummaryRow(today, names.get(dest_id, f"#{dest_id}"), 0, 0, 0, count))
    return rows


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
    names = destination_names(conn)
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
