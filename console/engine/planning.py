"""The plan step for kinds with a pure planner: read source chunks past the destination's cursor,
hand them to the planner, and persist what it returns together with the cursor.

Chunks are read and queued in write transactions together with the cursor, so a crash either
queues a chunk and moves the cursor, or does neither. One transaction takes several chunks
(CHUNKS_PER_TRANSACTION, 20,000 rows; only one chunk is in memory at a time): the rows' index
entries land on random pages (messageId, email), and committing every 5,000 rows wrote most of
those pages again each time (planning 1,000,000 events went from about 55 s to 32 s). Larger
transactions gained little more and raised the peak memory of a run (SQLite's page cache).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from console.core import clock
from console.core.identity import email_md5
from console.core.vocab import STATE_KINDS
from console.destinations.kind import ChunkPlanner, PlannedChunk
from console.engine.destinations import DestinationRecord
from console.engine.runs import RunCounts
from state.cursors import get_cursor, set_cursor
from state.db import Connection, Store
from state.outbox import ClaimedRow, bump_stats, queue_rows
from state.runs import save_progress
from state.sharing import lock_plan
from state.sources import read_chunk, suppressed_hashes

CHUNK = 5000
CHUNKS_PER_TRANSACTION = 4


def plan_chunks(
    planner: ChunkPlanner,
    store: Store,
    destination: DestinationRecord,
    run_id: int,
    counts: RunCounts,
    stop: threading.Event | None = None,
) -> None:
    """Plan every stream the planner reads for these settings, up to the newest source row,
    or until `stop` is set (the run was cancelled: planning a million events takes half a
    minute, and a Ctrl-C should not wait for it); each transaction is whole either way.
    Of workers sharing the destination, one plans at a time (`WorkerLocks.take_planning`)."""
    for stream in planner.streams(destination.settings):
        more = True
        while more and not (stop and stop.is_set()):
            # The run's counts take a transaction's once it committed: a write that fails
            # (disk full) rolls its rows back, and History must not count them as added.
            planned = RunCounts()
            with store.write() as conn:
                lock_plan(conn, destination.id)
                chunks = 0
                while chunks < CHUNKS_PER_TRANSACTION and _plan_chunk(
                    planner, conn, destination, stream, run_id, planned, counts
                ):
                    chunks += 1
                more = chunks == CHUNKS_PER_TRANSACTION
            counts.add(planned)


def _plan_chunk(
    planner: ChunkPlanner,
    conn: Connection,
    destination: DestinationRecord,
    stream: str,
    run_id: int,
    counts: RunCounts,
    committed: RunCounts,
) -> bool:
    """Queue the next chunk of `stream` and move the cursor; False when none were left.
    `counts` takes this transaction's numbers; `committed` holds the run's so far."""
    settings = destination.settings
    cursor = get_cursor(conn, destination.id, stream)
    rows = read_chunk(conn, stream, cursor, CHUNK)
    if not rows:
        return False
    planned = plan_rows(planner, conn, settings, stream, rows)
    counts.added += queue_rows(conn, destination.id, run_id, planned.messages)
    counts.rejected += sum(1 for m in planned.messages if m.problem)
    counts.filtered += planned.filtered
    counts.suppressed += planned.suppressed
    counts.skipped += planned.skipped
    bump_stats(
        conn,
        destination.id,
        clock.today(),
        suppressed=planned.suppressed,
        skipped=planned.skipped,
    )
    set_cursor(conn, destination.id, stream, rows[-1]["seq"])
    # History shows the counts while the plan step goes, not only once it has finished
    # (a large plan step left them behind the store for a minute and more).
    save_progress(conn, run_id, (committed + counts).as_row())
    return True


def plan_rows(
    planner: ChunkPlanner,
    conn: Connection,
    settings: Any,
    stream: str,
    rows: Sequence[dict[str, Any]],
) -> PlannedChunk:
    """What the planner makes of one chunk, the chunk's suppressed emails looked up first when
    it wants them (a real run and a dry run plan alike)."""
    suppressed: set[str] = set()
    if planner.wants_suppressions(settings):
        # Contacts and events alike (an event's contact may be suppressed); events without
        # an email have nothing to match.
        suppressed = suppressed_hashes(
            conn, (email_md5(row["email"]) for row in rows if row.get("email"))
        )
    return planner.plan(stream, settings, rows, suppressed)


def newly_suppressed(conn: Connection, rows: Sequence[ClaimedRow]) -> list[int]:
    """Ids of claimed contact-state rows (identify, user update) whose email is on the
    suppression list now. Suppression is applied when a contact is planned, but a suppression
    imported later must still stop the rows queued before it, so it is checked again as a row
    leaves. Only for destinations whose planner wants suppressions (the caller decides)."""
    hashes = {row.id: email_md5(row.email) for row in rows if row.kind in STATE_KINDS and row.email}
    if not hashes:
        return []
    listed = suppressed_hashes(conn, hashes.values())
    return [row_id for row_id, md5 in hashes.items() if md5 in listed]
