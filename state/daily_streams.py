"""Completions per day split into contacts and events (`daily_stream_stats`), counted in the
transaction that books the deliveries, so the summary never scans the outbox for them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, or_, select

from console.core.vocab import STATE_KINDS
from state.db import conflict_insert
from state.models import DailyStreamStat, OutboxRow, table_of

STREAM_STATS = table_of(DailyStreamStat)
OUTBOX = table_of(OutboxRow)
CONTACTS, EVENTS = "contacts", "events"
RUNS_PER_READ = 200


def stream_of(kind: str) -> str:
    """Contact state (identify, user update, import row) is `contacts`; the rest `events`."""
    return CONTACTS if kind in STATE_KINDS else EVENTS


def bump_stream_completions(
    conn: Connection, destination_id: int, day: str, counts: dict[str, int]
) -> None:
    for stream, added in counts.items():
        if not added:
            continue
        stmt = conflict_insert(conn, STREAM_STATS).values(
            destination_id=destination_id, day=day, stream=stream, completions=added
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["destination_id", "day", "stream"],
                set_={"completions": STREAM_STATS.c.completions + added},
            )
        )


def count_delivered_streams(conn: Connection, id_runs: Sequence[tuple[int, int]]) -> dict[str, int]:
    """How many of the rows in these id ranges are contacts and events (one grouped read over
    the primary key; a batch's ids are a few runs of consecutive numbers)."""
    counts: dict[str, int] = {}
    # A few ranges per statement: SQLite limits how deep an expression (an OR chain) may be.
    for start in range(0, len(id_runs), RUNS_PER_READ):
        ranges = id_runs[start : start + RUNS_PER_READ]
        stmt = (
            select(OUTBOX.c.kind, func.count())
            .where(or_(*(OUTBOX.c.id.between(low, high) for low, high in ranges)))
            .group_by(OUTBOX.c.kind)
        )
        for kind, number in conn.execute(stmt):
            counts[stream_of(kind)] = counts.get(stream_of(kind), 0) + int(number)
    return counts
