"""Read-only questions a dry run and the console's live counts ask of the store: which planned
messageIds a destination's outbox holds already, how many of its queued rows are due now, and
how many source rows a stream holds. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, func, select

from console.core import clock
from console.core.vocab import OutboxStatus
from state.db import IN_CHUNK
from state.models import OutboxRow, table_of
from state.sources import SOURCES

OUTBOX = table_of(OutboxRow)

_KNOWN_IDS = select(OUTBOX.c.message_id).where(
    OUTBOX.c.destination_id == bindparam("destination_id"),
    OUTBOX.c.message_id.in_(bindparam("ids", expanding=True)),
)


def known_message_ids(
    conn: Connection, destination_id: int, message_ids: Iterable[str]
) -> set[str]:
    """Those of `message_ids` already in the destination's outbox (whatever their status): a
    real run's `queue_rows` would not queue them again."""
    wanted = list(dict.fromkeys(message_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), IN_CHUNK):
        found.update(
            conn.execute(
                _KNOWN_IDS,
                {"destination_id": destination_id, "ids": wanted[start : start + IN_CHUNK]},
            ).scalars()
        )
    return found


def queued_later(conn: Connection, destination_id: int) -> int:
    """Queued rows of the destination not due yet (retries waiting for their time)."""
    return int(
        conn.execute(
            select(func.count()).where(
                OUTBOX.c.destination_id == destination_id,
                OUTBOX.c.status == OutboxStatus.QUEUED,
                OUTBOX.c.next_attempt_at > clock.now_iso(),
            )
        ).scalar_one()
    )


def rows_after(conn: Connection, stream: str, after_seq: int) -> int:
    """How many rows of `contacts` or `events` lie past `after_seq` (what a plan reads)."""
    table = SOURCES[stream]
    return int(conn.execute(select(func.count()).where(table.c.seq > after_seq)).scalar_one())


def seq_range(conn: Connection, stream: str) -> tuple[int, int]:
    """The lowest and highest `seq` of `contacts` or `events` ((0, 0) when empty)."""
    table = SOURCES[stream]
    low, high = conn.execute(select(func.min(table.c.seq), func.max(table.c.seq))).one()
    return int(low or 0), int(high or 0)
