"""The integration dates of a destination (seed 002: "you will see the integration date"):
created, last changed and by whom, enabled since. Written with the destination by
`state.destinations`; read here for the settings panel."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from state.models import Destination, DestinationStamp, table_of

DESTINATIONS = table_of(Destination)
STAMPS = table_of(DestinationStamp)


@dataclass(frozen=True)
class DestinationDates:
    created_at: str
    changed_at: str
    changed_by: str | None
    """None: changed before who changes it was recorded."""
    enabled_since: str | None
    """None while off, or when it was switched on before this was recorded (`recorded`)."""
    recorded: bool
    """Whether the destination has been saved since stamps were kept."""


def destination_dates(conn: Connection, destination_id: int) -> DestinationDates | None:
    row = conn.execute(
        select(
            DESTINATIONS.c.created_at,
            DESTINATIONS.c.updated_at,
            STAMPS.c.changed_by,
            STAMPS.c.enabled_since,
            STAMPS.c.destination_id.is_not(None).label("recorded"),
        )
        .select_from(DESTINATIONS.outerjoin(STAMPS, STAMPS.c.destination_id == DESTINATIONS.c.id))
        .where(DESTINATIONS.c.id == destination_id)
    ).first()
    if row is None:
        return None
    return DestinationDates(
        row.created_at, row.updated_at, row.changed_by, row.enabled_since, bool(row.recorded)
    )
