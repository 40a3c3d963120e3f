"""What the operator watches besides deliveries, as read for the screens and `--run-once`:
a destination's import jobs, each destination's alert state, and how many of a run's
completions were events. Reads only; the writers are `state.import_jobs` and `state.alerts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from console.core.vocab import OutboxStatus, RowKind
from state.import_jobs import ImportJobRow as ImportJobRow  # what the screens list
from state.import_jobs import import_jobs_for
from state.models import AlertState, Destination, OutboxRow, table_of

DESTINATIONS = table_of(Destination)
OUTBOX = table_of(OutboxRow)
ALERT_STATES = table_of(AlertState)


def destination_import_jobs(
    conn: Connection, destination: str, limit: int = 50
) -> list[ImportJobRow] | None:
    """A destination's import jobs, newest first; None when no destination has that name."""
    destination_id = conn.execute(
        select(DESTINATIONS.c.id).where(DESTINATIONS.c.name == destination)
    ).scalar()
    if destination_id is None:
        return None
    return import_jobs_for(conn, destination_id, limit)


@dataclass(frozen=True)
class AlertStateRow:
    destination: str
    failing: bool
    reason: str | None
    changed_at: str
    run_id: int | None


def alert_states(conn: Connection) -> list[AlertStateRow]:
    """Each destination's alert state, by destination name (destinations no run has ended
    for since alerts came are not listed)."""
    stmt = (
        select(
            DESTINATIONS.c.name,
            ALERT_STATES.c.failing,
            ALERT_STATES.c.reason,
            ALERT_STATES.c.changed_at,
            ALERT_STATES.c.run_id,
        )
        .join(ALERT_STATES, ALERT_STATES.c.destination_id == DESTINATIONS.c.id)
        .order_by(DESTINATIONS.c.name)
    )
    return [AlertStateRow(*row) for row in conn.execute(stmt)]


def events_delivered_by_run(conn: Connection, run_ids: Sequence[int]) -> dict[int, int]:
    """Per run, the events it delivered (track and ReSci event rows it booked delivered); the
    rest of a run's completions are contacts (`--run-once --json` splits them as the summary
    does)."""
    if not run_ids:
        return {}
    stmt = (
        select(OUTBOX.c.run_id, func.count())
        .where(
            OUTBOX.c.run_id.in_(list(run_ids)),
            OUTBOX.c.status == OutboxStatus.DELIVERED,
            OUTBOX.c.kind.in_((RowKind.TRACK, RowKind.EVENT)),
        )
        .group_by(OUTBOX.c.run_id)
    )
    return {int(run_id): int(count) for run_id, count in conn.execute(stmt)}
