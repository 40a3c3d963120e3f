"""History's pages: the runs, newest first, and the outbox rows a run last changed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, or_, select

from console.core import clock
from console.core.vocab import RunStatus
from state.destinations import destination_names
from state.failures import FAILURE_COLUMNS, FailureRow, failure_row
from state.models import OutboxRow, SyncRun, table_of

OUTBOX = table_of(OutboxRow)
RUNS = table_of(SyncRun)


@dataclass(frozen=True)
class RunRow:
    id: int
    destination: str
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    added: int
    changed: int
    removed: int
    delivered: int
    rejected: int
    suppressed: int
    skipped: int
    filtered: int
    requests: int
    message: str | None

    @property
    def duration_seconds(self) -> float | None:
        if not self.finished_at:
            return None
        return (
            clock.parse_iso(self.finished_at) - clock.parse_iso(self.started_at)
        ).total_seconds()


def runs_page(
    conn: Connection,
    destination: str | None = None,
    *,
    limit: int = 50,
    after: int | None = None,
    outcome: str | None = None,
    hide_empty: bool = False,
) -> list[RunRow]:
    """Runs newest first, starting just past run id `after` (keyset paging), or from the
    newest; `outcome` keeps the runs of that status (`RunStatus`), `hide_empty` leaves out the
    runs that found nothing to do: ended `ok` with no request sent, nothing delivered and
    nothing failed."""
    names = destination_names(conn)
    stmt = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
    if after is not None:
        stmt = stmt.where(RUNS.c.id < after)
    if outcome:
        stmt = stmt.where(RUNS.c.status == outcome)
    if hide_empty:
        stmt = stmt.where(
            or_(
                RUNS.c.status != RunStatus.OK,
                RUNS.c.requests != 0,
                RUNS.c.delivered != 0,
                RUNS.c.rejected != 0,
            )
        )
    if destination:
        ids = [i for i, n in names.items() if n == destination]
        stmt = stmt.where(RUNS.c.destination_id.in_(ids))
    return [
        RunRow(
            r.id,
            names.get(r.destination_id, "?"),
            r.trigger,
            r.status,
            r.started_at,
            r.finished_at,
            r.added,
            r.changed,
            r.removed,
            r.delivered,
            r.rejected,
            r.suppressed,
            r.skipped,
            r.filtered,
            r.requests,
            r.message,
        )
        for r in conn.execute(stmt)
    ]


def run_rows_page(
    conn: Connection,
    run_id: int,
    *,
    limit: int = 50,
    after: int | None = None,
    status: str | None = None,
) -> list[FailureRow]:
    """Outbox rows last changed by a run (its deliveries and failures), by id, starting just
    past row id `after` (keyset paging); `status` keeps the rows in that `OutboxStatus`."""
    names = destination_names(conn)
    stmt = (
        select(*FAILURE_COLUMNS, OUTBOX.c.status)
        .where(OUTBOX.c.run_id == run_id)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    if status:
        stmt = stmt.where(OUTBOX.c.status == status)
    if after is not None:
        stmt = stmt.where(OUTBOX.c.id > after)
    return [failure_row(r, names, f"{r.kind} ({r.status})") for r in conn.execute(stmt)]
