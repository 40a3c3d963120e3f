"""Pruning the outbox's history: delivered rows older than the retention go, in small batches,
each its own short write transaction, so a prune never holds the write lock for long (the
engine and the console keep writing between two batches).

What stays: queued and failed rows, the daily counters (`daily_stats`, `daily_stream_stats`),
runs, and the delivered state row (identify, user update, import row) that a failed older
version of the same contact needs to be refused a retry (state/versions.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, not_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from console.core.vocab import STATE_KINDS, OutboxStatus
from state.db import IN_CHUNK, Store
from state.models import OutboxRow, table_of

OUTBOX = table_of(OutboxRow)
PRUNE_BATCH = IN_CHUNK
"""Rows deleted per transaction (their ids bound in one IN list): a few milliseconds of write
lock on SQLite."""


@dataclass(frozen=True)
class Pruned:
    rows: int
    batches: int
    seconds: float


def _deletable(before_day: str) -> ColumnElement[bool]:
    failed = OUTBOX.alias("failed")
    older_failure = exists().where(
        # The literal status keeps the partial index over failed rows usable on SQLite.
        failed.c.status == OutboxStatus.FAILED.value,
        failed.c.email == OUTBOX.c.email,
        failed.c.destination_id == OUTBOX.c.destination_id,
        failed.c.id < OUTBOX.c.id,
        failed.c.kind.in_(sorted(STATE_KINDS)),
    )
    return and_(
        OUTBOX.c.status == OutboxStatus.DELIVERED.value,
        OUTBOX.c.day < before_day,
        not_(and_(OUTBOX.c.kind.in_(sorted(STATE_KINDS)), older_failure)),
    )


def prune_delivered(store: Store, before_day: str, *, batch: int = PRUNE_BATCH) -> Pruned:
    """Delete delivered rows whose day is before `before_day` (YYYY-MM-DD), batch by batch
    in (status, day, destination, id) order, the order of the index that finds them."""
    started = time.monotonic()
    key = (OUTBOX.c.day, OUTBOX.c.destination_id, OUTBOX.c.id)
    after: tuple[str, int, int] | None = None
    rows = batches = 0
    while True:
        conditions = [_deletable(before_day)]
        if after is not None:
            conditions.append(tuple_(*key) > tuple_(*after))
        with store.write() as conn:
            found = conn.execute(select(*key).where(*conditions).order_by(*key).limit(batch)).all()
            if not found:
                break
            ids = [row.id for row in found]
            rows += conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(ids))).rowcount
        batches += 1
        last = found[-1]
        after = (last.day, last.destination_id, last.id)
        if len(found) < batch:
            break
    return Pruned(rows, batches, time.monotonic() - started)


def _raw_sqlite(store: Store, *statements: str) -> None:
    """Run statements that must not be inside a transaction (checkpoint, VACUUM) on a raw
    connection (the store's connect hook leaves transaction control to us)."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement in statements:
            cursor.execute(statement)
            cursor.fetchall()
        cursor.close()
    finally:
        raw.close()


def checkpoint(store: Store) -> None:
    """Copy the WAL into the database file and truncate it to nothing (SQLite only)."""
    if store.engine.dialect.name == "sqlite":
        _raw_sqlite(store, "PRAGMA wal_checkpoint(TRUNCATE)")


def vacuum(store: Store) -> None:
    """Rebuild the database file without free space (SQLite: `VACUUM`, then truncate the WAL
    it went through; PostgreSQL: `VACUUM`, which makes dead rows' space reusable)."""
    if store.engine.dialect.name == "sqlite":
        _raw_sqlite(store, "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")
